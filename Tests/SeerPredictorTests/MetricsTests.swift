import XCTest
@testable import SeerPredictor

final class MetricsTests: XCTestCase {
    func testKendallTauPerfectAndReversed() {
        XCTAssertEqual(Metrics.kendallTau([1, 2, 3, 4], [10, 20, 30, 40]), 1, accuracy: 1e-12)
        XCTAssertEqual(Metrics.kendallTau([1, 2, 3, 4], [4, 3, 2, 1]), -1, accuracy: 1e-12)
        // x=[1,2,3], y=[1,3,2]: pairs (0,1) C, (0,2) C, (1,2) D -> (2 - 1) / 3.
        XCTAssertEqual(Metrics.kendallTau([1, 2, 3], [1, 3, 2]), 1.0 / 3, accuracy: 1e-12)
    }

    func testKendallTauBWithTies() {
        // x=[1,2,2,3], y=[1,3,2,2]. Pairs: (0,1) C, (0,2) C, (0,3) C, (1,2) tied in x, (1,3) D, (2,3) tied in y.
        // tau-b = (3 - 1) / sqrt((6 - 1)(6 - 1)) = 0.4.
        XCTAssertEqual(Metrics.kendallTau([1, 2, 2, 3], [1, 3, 2, 2]), 0.4, accuracy: 1e-12)
        // x=[1,1,2,3,3], y=[2,1,1,3,3]: C=6, D=1, tied x: (0,1),(3,4); tied y: (1,2),(3,4).
        // tau-b = 5 / sqrt((10 - 2)(10 - 2)) = 0.625.
        XCTAssertEqual(Metrics.kendallTau([1, 1, 2, 3, 3], [2, 1, 1, 3, 3]), 0.625, accuracy: 1e-12)
        XCTAssertTrue(Metrics.kendallTau([1, 1, 1], [1, 2, 3]).isNaN)
        XCTAssertTrue(Metrics.kendallTau([1], [1]).isNaN)
    }

    func testAverageRanks() {
        XCTAssertEqual(Metrics.averageRanks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
        XCTAssertEqual(Metrics.averageRanks([3, 3, 3]), [2, 2, 2])
    }

    func testSpearmanWithTies() {
        XCTAssertEqual(Metrics.spearman([1, 2, 3, 4], [1, 4, 9, 16]), 1, accuracy: 1e-12)
        // Ranks x: [1, 2.5, 2.5, 4], y: [1, 4, 2.5, 2.5]; centered: [-1.5, 0, 0, 1.5] and [-1.5, 1.5, 0, 0];
        // covariance 2.25, variances 4.5 and 4.5 -> 0.5.
        XCTAssertEqual(Metrics.spearman([1, 2, 2, 3], [1, 3, 2, 2]), 0.5, accuracy: 1e-12)
        // Ranks x: [1.5,1.5,3,4.5,4.5], y: [3,1.5,1.5,4.5,4.5] -> 0.75.
        XCTAssertEqual(Metrics.spearman([1, 1, 2, 3, 3], [2, 1, 1, 3, 3]), 0.75, accuracy: 1e-12)
    }

    func testRMSE() {
        XCTAssertEqual(Metrics.rmse([1, 2, 3], [1, 2, 5]), (4.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(Metrics.rmse([2], [2]), 0)
    }

    func testSplitMix64ReferenceAndDeterminism() {
        var g = SplitMix64(seed: 0)
        XCTAssertEqual(g.next(), 0xE220_A839_7B1D_CDAF)   // published SplitMix64 reference output for seed 0
        var a = SplitMix64(seed: 7), b = SplitMix64(seed: 7)
        XCTAssertEqual(a.permutation(50), b.permutation(50))
        var c = SplitMix64(seed: 8)
        XCTAssertEqual(c.permutation(50).sorted(), Array(0..<50))
        for _ in 0..<1000 {
            let u = c.nextUniform()
            XCTAssertTrue(u >= 0 && u < 1)
            XCTAssertTrue((0..<7).contains(c.nextInt(below: 7)))
        }
    }

    func testRandomSplitIsDeterministicAndDisjoint() {
        let (train, test) = randomSplit(rows: 400, holdout: 0.2, seed: 3)
        XCTAssertEqual(test.count, 80)
        XCTAssertEqual(train.count, 320)
        XCTAssertEqual(Set(train + test).count, 400)
        XCTAssertEqual(randomSplit(rows: 400, holdout: 0.2, seed: 3).test, test)
        XCTAssertNotEqual(randomSplit(rows: 400, holdout: 0.2, seed: 4).test, test)
    }
}
