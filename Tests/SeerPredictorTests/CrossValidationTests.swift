import Foundation
import XCTest
@testable import SeerPredictor

final class CrossValidationTests: XCTestCase {
    func testBeatsRidgeOnResNet20() throws {
        let table = try PolicyTable(contentsOf: try resnet20URL())
        let seer = try crossValidate(table, splits: 5)
        let ridge = try crossValidate(table, splits: 5, make: { RidgePredictor() })
        XCTAssertEqual(seer.splits, 5)
        XCTAssertEqual(seer.testRows, 80)
        XCTAssertEqual(seer.perSplit.map(\.seed), [0, 1, 2, 3, 4])
        // Measured on these 5 splits: ridge about 0.74, the ensemble about 0.81.
        XCTAssertGreaterThan(ridge.kendallTau, 0.68)
        XCTAssertGreaterThan(seer.kendallTau, ridge.kendallTau + 0.04)
        XCTAssertGreaterThan(seer.kendallTau, 0.78)
        XCTAssertGreaterThan(seer.spearman, ridge.spearman)
        XCTAssertLessThan(seer.rmse, ridge.rmse)
        XCTAssertGreaterThan(seer.meanStd, 0)
    }

    func testHoldsOnSyntheticTableWithOtherLayout() throws {
        // 8 layers, wbits/abits, no pruning on the last layer, an accuracy model the features were not designed on.
        let table = SyntheticPolicyModel(layers: 8, seed: 2).table(rows: 300, seed: 5)
        let seer = try crossValidate(table, splits: 3)
        let ridge = try crossValidate(table, splits: 3, make: { RidgePredictor() })
        XCTAssertGreaterThan(seer.kendallTau, 0.78)
        XCTAssertGreaterThan(seer.kendallTau, ridge.kendallTau + 0.1)
    }

    func testSerialAndConcurrentAgree() throws {
        let table = SyntheticPolicyModel(layers: 4, seed: 3).table(rows: 60, seed: 1)
        let make: @Sendable () -> EnsemblePredictor = {
            EnsemblePredictor(schema: table.schema, configuration: EnsembleConfiguration(members: 3))
        }
        let serial = try crossValidate(table, splits: 4, concurrent: false, make: make)
        let concurrent = try crossValidate(table, splits: 4, concurrent: true, make: make)
        XCTAssertEqual(serial.perSplit.map(\.kendallTau), concurrent.perSplit.map(\.kendallTau))
        XCTAssertEqual(serial.rmse, concurrent.rmse)
    }
}
