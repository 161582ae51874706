import SeerCompression
import SeerModels
import SeerPredictor
import XCTest
@testable import SeerSearch

final class SamplingTests: XCTestCase {
    func knownProblem() throws -> (SearchProblem<KnownPredictor, LayerwiseComplexity>, full: Double, column: Int) {
        let model = try zoo("resnet8")
        let encoding = PolicyEncoding(model: model)
        let bitops = try LayerwiseComplexity(model: model, encoding: encoding, metric: .bitops)
        let column = encoding.schema.index(layer: 2, kind: .wbits)!
        let predictor = KnownPredictor(schema: encoding.schema, uncertainColumn: column)
        return (try SearchProblem(encoding: encoding, predictor: predictor, complexity: bitops), try fullBitOPs(model), column)
    }

    func testRandomPoliciesAreDistinctInBandAndSeeded() throws {
        let (problem, full, _) = try knownProblem()
        let sampler = try PolicySampler(encoding: problem.encoding, complexity: problem.complexity)
        let budgets = [0.1 * full, 0.4 * full]
        let policies = try sampler.randomPolicies(count: 40, near: budgets, seed: 1)
        XCTAssertEqual(policies.count, 40)
        XCTAssertEqual(Set(policies).count, 40)
        for policy in policies {
            let cost = problem.cost(levels: try problem.encoding.levels(of: policy))
            XCTAssertTrue(budgets.contains { cost >= 0.7 * $0 && cost <= $0 }, "cost \(cost) out of band")
        }
        XCTAssertEqual(try sampler.randomPolicies(count: 40, near: budgets, seed: 1), policies)
        XCTAssertNotEqual(try sampler.randomPolicies(count: 40, near: budgets, seed: 2), policies)
        let more = try sampler.randomPolicies(count: 10, near: budgets, seed: 1, exclude: Set(policies))
        XCTAssertTrue(Set(more).isDisjoint(with: policies))

        // A band only the most compressed corner reaches still fills, through the random walk fallback.
        let corner = try sampler.randomPolicies(count: 5, near: [1.2 * problem.minimumCost], seed: 3)
        XCTAssertEqual(corner.count, 5)
        XCTAssertThrowsError(try sampler.randomPolicies(count: 5, near: [0.5 * problem.minimumCost], seed: 3)) { error in
            XCTAssertTrue("\(error)".contains("no policy reaches 0.7...1.0 x any BitOPs budget"), "\(error)")
        }
        XCTAssertThrowsError(try sampler.randomPolicies(count: 5, near: [], seed: 3))
        XCTAssertThrowsError(try PolicySampler(encoding: problem.encoding, complexity: problem.complexity, band: 0...1))
    }

    func testInformativeSamplingPrefersUncertainUnmeasuredPoliciesInBand() throws {
        let (problem, full, column) = try knownProblem()
        let budgets = [0.15 * full, 0.3 * full]
        let settings = InformativeSampler.Settings(population: 24, iterations: 6, seed: 4)
        let first = try InformativeSampler(settings: settings).sample(problem, budgets: budgets, count: 10)
        XCTAssertEqual(first.count, 10)
        XCTAssertEqual(Set(first.map(\.policy)).count, 10)
        for p in first {
            XCTAssertTrue(budgets.contains { p.complexity >= 0.7 * $0 && p.complexity <= $0 })
            XCTAssertEqual(p.complexity, problem.cost(levels: p.levels), accuracy: 1e-6)
            let view = AcquisitionView(predict: problem.predict(levels:), extrapolation: problem.extrapolation(levels:))
            XCTAssertEqual(p.score, p.std + UncertaintyAcquisition.sensitivity(p.levels, view), accuracy: 1e-12)
        }
        XCTAssertEqual(first.map(\.score), first.map(\.score).sorted(by: >))
        // The spread is 3 only where that layer's weights are at 2 bits; about 1 in 6 random policies are.
        let uncertain = first.filter { problem.encoding.features(levels: $0.levels)[column] == 2 }
        XCTAssertEqual(uncertain.count, 10, "all sampled policies sit where the ensemble disagrees")
        let sampler = try PolicySampler(encoding: problem.encoding, complexity: problem.complexity)
        let random = try sampler.randomPolicies(count: 60, near: budgets, seed: 4)
        let randomUncertain = try random.filter { try problem.encoding.features(of: $0)[column] == 2 }.count
        XCTAssertLessThan(randomUncertain, 30)

        // Deterministic, and already measured policies never come back.
        let again = try InformativeSampler(settings: settings).sample(problem, budgets: budgets, count: 10)
        XCTAssertEqual(again.map(\.policy), first.map(\.policy))
        let next = try InformativeSampler(settings: settings).sample(problem, budgets: budgets, count: 10,
                                                                      exclude: Set(first.map(\.policy)))
        XCTAssertEqual(next.count, 10)
        XCTAssertTrue(Set(next.map(\.policy)).isDisjoint(with: first.map(\.policy)))
    }

    func testSensitivityCountsCounterfactualSteps() throws {
        // With spread switched off, the score is the mean absolute change over one-level-down steps.
        let (problem, full, _) = try knownProblem()
        let settings = InformativeSampler.Settings(population: 8, iterations: 1, seed: 2)
        let sampled = try InformativeSampler(settings: settings, acquisition: UncertaintyAcquisition(stdWeight: 0))
            .sample(problem, budgets: [0.3 * full], count: 3)
        for p in sampled {
            let here = problem.predict(levels: p.levels).mean
            var changes: [Double] = []
            for v in p.levels.indices where p.levels[v] > 0 {
                var lowered = p.levels
                lowered[v] -= 1
                changes.append(abs(here - problem.predict(levels: lowered).mean))
            }
            XCTAssertEqual(p.score, changes.reduce(0, +) / Double(changes.count), accuracy: 1e-12)
        }
    }
}
