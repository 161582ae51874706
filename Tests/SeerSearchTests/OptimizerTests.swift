import SeerCompression
import SeerModels
import SeerPredictor
import XCTest
@testable import SeerSearch

final class OptimizerTests: XCTestCase {
    func testOptimizerIsFeasibleAndBeatsRandomPolicies() throws {
        let fractions = [0.15, 0.3]
        let (problem, _, full) = try syntheticProblem("resnet20", budgets: fractions)
        let sampler = try PolicySampler(encoding: problem.encoding, complexity: problem.complexity, band: 0.01...1.0)
        for fraction in fractions {
            let budget = fraction * full
            let result = try PolicyOptimizer().optimize(problem, budget: budget)
            XCTAssertLessThanOrEqual(result.complexity, budget)
            XCTAssertEqual(result.complexity, Double(try Complexity.compute(model: try zoo("resnet20"), policy: result.policy).bitops),
                           accuracy: 1e-6 * budget)
            XCTAssertEqual(result.predictedMean, problem.predict(levels: result.levels).mean, accuracy: 1e-9)
            XCTAssertEqual(result.policy, problem.encoding.policy(levels: result.levels))

            let again = try PolicyOptimizer().optimize(problem, budget: budget)
            XCTAssertEqual(again.levels, result.levels, "deterministic for a seed")

            var rng = SplitMix64(seed: 99)
            let random = try sampler.randomLevels(count: 200, near: [budget], rng: &rng)
            XCTAssertEqual(random.count, 200)
            let bestRandom = random.map { problem.predict(levels: $0).mean }.max()!
            XCTAssertGreaterThanOrEqual(result.predictedMean, bestRandom, "budget \(fraction)")
        }
    }

    func testPessimismKeepsThePickWhereTheRowsSupportIt() throws {
        // 30 rows, as a small campaign measures: the plain optimizer goes where the fit extrapolates; with pessimism
        // the pick has a smaller extrapolation error, stays within budget, and its objective (prediction minus
        // pessimism x extrapolation) is at least that of the plain pick.
        let (problem, _, full) = try syntheticProblem("resnet8", budgets: [0.2], rows: 30, seed: 5)
        let budget = 0.2 * full
        func extrapolation(_ r: SearchResult) -> Double {
            problem.predictor.extrapolation(problem.encoding.features(levels: r.levels))
        }
        let plain = try PolicyOptimizer().optimize(problem, budget: budget)
        let careful = try PolicyOptimizer(settings: PolicyOptimizer.Settings(pessimism: 3)).optimize(problem, budget: budget)
        XCTAssertGreaterThan(extrapolation(plain), 0)
        XCTAssertLessThan(extrapolation(careful), extrapolation(plain))
        XCTAssertLessThanOrEqual(careful.complexity, budget)
        XCTAssertGreaterThanOrEqual(careful.predictedMean - 3 * extrapolation(careful),
                                    plain.predictedMean - 3 * extrapolation(plain))
        XCTAssertEqual(careful.predictedMean, problem.predict(levels: careful.levels).mean, accuracy: 1e-9,
                       "the result reports the plain prediction")
    }

    func testBudgetBelowMinimumNamesBothNumbers() throws {
        let (problem, _, _) = try syntheticProblem("resnet8", budgets: [0.2], rows: 60)
        let minimum = problem.minimumCost
        XCTAssertThrowsError(try PolicyOptimizer().optimize(problem, budget: minimum / 2)) { error in
            XCTAssertEqual(error as? SearchError, .budgetBelowMinimum(metric: "BitOPs", budget: minimum / 2, minimum: minimum))
            let message = "\(error)"
            XCTAssertTrue(message.contains("BitOPs budget \(formatCount(minimum / 2))"), message)
            XCTAssertTrue(message.contains("smallest reachable BitOPs \(formatCount(minimum))"), message)
        }
        XCTAssertThrowsError(try EvolutionarySearch().search(problem, budget: minimum / 2))
        XCTAssertThrowsError(try PolicyOptimizer().optimize(problem, budget: -1)) { error in
            XCTAssertEqual("\(error)", "BitOPs budget -1.0 must be a positive finite number")
        }
        // A budget of exactly the minimum admits the cheapest policy only.
        let tight = try PolicyOptimizer().optimize(problem, budget: minimum)
        XCTAssertEqual(tight.levels, problem.encoding.minimumLevels)
    }

    func testKnownLandscapeSpendsTheBudget() throws {
        // With mean = sum of log2 bits - prune ratios every raise helps, so the result must leave no feasible raise.
        let model = try zoo("resnet8")
        let encoding = PolicyEncoding(model: model)
        let bitops = try LayerwiseComplexity(model: model, encoding: encoding, metric: .bitops)
        let problem = try SearchProblem(encoding: encoding, predictor: KnownPredictor(schema: encoding.schema, uncertainColumn: 1),
                                    complexity: bitops)
        let budget = 0.3 * (try fullBitOPs(model))
        let result = try PolicyOptimizer().optimize(problem, budget: budget)
        XCTAssertLessThanOrEqual(result.complexity, budget)
        for v in result.levels.indices where result.levels[v] < encoding.variables[v].topLevel {
            var raised = result.levels
            raised[v] += 1
            XCTAssertGreaterThan(problem.cost(levels: raised), budget, "\(encoding.variables[v].name) could still rise")
        }
    }

    func testPredictorForAnotherLayoutIsRejected() throws {
        let (problem, _, _) = try syntheticProblem("resnet8", budgets: [0.2], rows: 40)
        let resnet20 = try zoo("resnet20")
        let encoding = PolicyEncoding(model: resnet20)
        let bitops = try LayerwiseComplexity(model: resnet20, encoding: encoding, metric: .bitops)
        XCTAssertThrowsError(try SearchProblem(encoding: encoding, predictor: problem.predictor, complexity: bitops)) { error in
            XCTAssertEqual("\(error)", "predictor does not read resnet20's policy encoding: column 9 is 'prune3', expected 'wbits3'")
        }
    }

    func testEvolutionDefaultsAreTheBaselines() {
        let settings = EvolutionarySearch.Settings()
        XCTAssertEqual(settings.population, 100)
        XCTAssertEqual(settings.iterations, 500)
    }

    func testEvolutionIsDeterministicAndFeasible() throws {
        let (problem, _, full) = try syntheticProblem("resnet8", budgets: [0.25], rows: 80)
        let settings = EvolutionarySearch.Settings(population: 20, iterations: 15, seed: 5)
        let a = try EvolutionarySearch(settings: settings).search(problem, budget: 0.25 * full)
        let b = try EvolutionarySearch(settings: settings).search(problem, budget: 0.25 * full)
        XCTAssertEqual(a.levels, b.levels)
        XCTAssertEqual(a.predictedMean, b.predictedMean)
        XCTAssertLessThanOrEqual(a.complexity, 0.25 * full)
        var other = settings
        other.seed = 6
        let c = try EvolutionarySearch(settings: other).search(problem, budget: 0.25 * full)
        XCTAssertLessThanOrEqual(c.complexity, 0.25 * full)
    }
}

final class WarmStartTests: XCTestCase {
    func testAWarmStartBoundsTheResultFromBelow() throws {
        let (problem, _, full) = try syntheticProblem("resnet8", budgets: [0.2], rows: 80)
        let budget = 0.2 * full
        let sampler = try PolicySampler(encoding: problem.encoding, complexity: problem.complexity, band: 0.6...1.0)
        var rng = SplitMix64(seed: 11)
        let starts = try sampler.randomLevels(count: 5, near: [budget], rng: &rng)
        // A weak optimizer (one start, few steps) with warm starts never ends below the best warm start's prediction.
        let weak = PolicyOptimizer(settings: PolicyOptimizer.Settings(randomStarts: 0, iterations: 2, finishes: 1))
        let result = try weak.optimize(problem, budget: budget, warmStarts: starts)
        let bestStart = starts.map { problem.predict(levels: $0).mean }.max()!
        XCTAssertGreaterThanOrEqual(result.predictedMean, bestStart - 1e-9)
        XCTAssertLessThanOrEqual(result.complexity, budget * (1 + 1e-9))
        // A start over the budget is ignored rather than returned.
        let over = problem.encoding.maximumLevels
        let alone = try weak.optimize(problem, budget: budget, warmStarts: [over])
        XCTAssertLessThanOrEqual(alone.complexity, budget * (1 + 1e-9))
    }
}
