import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import XCTest
@testable import SeerSearch

final class SensitivityTests: XCTestCase {
    /// Accuracies of a made-up network: each variable costs (top - level) x (1 + its index mod 3) points.
    func measuredTable(_ encoding: PolicyEncoding) throws -> SensitivityTable {
        var accuracies: [SensitivityProbe: Double] = [.reference: 90]
        for probe in SensitivityTable.probes(for: encoding) where probe.variable != nil {
            let v = probe.variable!
            accuracies[probe] = 90 - Double(encoding.variables[v].topLevel - probe.level) * Double(1 + v % 3)
        }
        return try SensitivityTable(encoding: encoding, accuracies: accuracies)
    }

    func testProbesLowerOneVariableEachAndTheTableReadsThemBack() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet8"))
        let probes = SensitivityTable.probes(for: encoding)
        XCTAssertEqual(probes.count, 1 + encoding.variables.reduce(0) { $0 + $1.topLevel })
        XCTAssertEqual(Set(probes).count, probes.count)
        for probe in probes {
            let levels = probe.levels(in: encoding)
            let lowered = levels.indices.filter { levels[$0] != encoding.variables[$0].topLevel }
            XCTAssertEqual(lowered, probe.variable.map { [$0] } ?? [], "\(probe)")
        }
        let table = try measuredTable(encoding)
        XCTAssertEqual(table.reference, 90)
        for v in encoding.variables.indices {
            XCTAssertEqual(table.drops[v][encoding.variables[v].topLevel], 0)
            XCTAssertEqual(table.drops[v][0], Double(encoding.variables[v].topLevel * (1 + v % 3)))
        }
        XCTAssertEqual(table.additiveDrop(levels: encoding.maximumLevels), 0)
    }

    func testAMissingProbeIsNamed() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet8"))
        var accuracies: [SensitivityProbe: Double] = [.reference: 90]
        for probe in SensitivityTable.probes(for: encoding).dropLast() where probe.variable != nil { accuracies[probe] = 80 }
        XCTAssertThrowsError(try SensitivityTable(encoding: encoding, accuracies: accuracies)) { error in
            let last = encoding.variables[encoding.variables.count - 1]
            XCTAssertTrue("\(error)".contains("\(last.name) at level \(last.topLevel - 1)"), "\(error)")
        }
        XCTAssertThrowsError(try SensitivityTable(encoding: encoding, accuracies: [:])) { error in
            XCTAssertTrue("\(error)".contains("reference"), "\(error)")
        }
    }

    func testThePriorSumsToTheAdditiveDropAtEveryDiscretePolicy() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet8"))
        let table = try measuredTable(encoding)
        let prior = table.prior(for: encoding)
        let map = PolicyFeatureMap(schema: encoding.schema, options: .baseOnly, prior: prior)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20 {
            let levels = encoding.variables.map { rng.nextInt(below: $0.levels.count) }
            let u = map.base(encoding.features(levels: levels))
            let total = prior.presentKinds.reduce(0) { $0 + prior.sum($1, base: u) }
            XCTAssertEqual(total, table.additiveDrop(levels: levels), accuracy: 1e-9)
        }
        XCTAssertEqual(prior.presentKinds, [.prune, .weightBits, .activationBits])
        XCTAssertEqual(map.names.last, "prior(total)")
        XCTAssertEqual(map.priorFeatureIndices, [map.outputCount - 1])
        for _ in 0..<5 {
            let levels = encoding.variables.map { rng.nextInt(below: $0.levels.count) }
            XCTAssertEqual(map.features(encoding.features(levels: levels)).last!, table.additiveDrop(levels: levels), accuracy: 1e-9)
        }
    }

    func testPriorFeaturesPullBackLikeFiniteDifferences() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet8"))
        let map = PolicyFeatureMap(schema: encoding.schema, options: .standard, prior: try measuredTable(encoding).prior(for: encoding))
        var rng = SplitMix64(seed: 5)
        let weights = (0..<map.outputCount).map { _ in rng.nextGaussian() }
        // A point between the knots, where the curves are differentiable.
        let x = encoding.features(relaxation: encoding.variables.map { v in
            v.lowerBound + (0.13 + 0.7 * rng.nextUniform()) * (v.upperBound - v.lowerBound) })
        let f: ([Double]) -> Double = { x in zip(map.features(x), weights).reduce(0) { $0 + $1.0 * $1.1 } }
        let analytic = map.pullbackToRaw(x, baseGradient: map.pullbackToBase(base: map.base(x), featureGradient: weights))
        let h = 1e-6
        for j in x.indices {
            var up = x, down = x
            up[j] += h
            down[j] -= h
            let numeric = (f(up) - f(down)) / (2 * h)
            XCTAssertEqual(analytic[j], numeric, accuracy: 1e-4 * max(1, abs(numeric)), "column \(j)")
        }
    }

    func testAPriorStaysInTheStoredPredictor() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet8"))
        let table = try measuredTable(encoding)
        let bitops = try LayerwiseComplexity(model: try zoo("resnet8"), encoding: encoding, metric: .bitops)
        let sampler = try PolicySampler(encoding: encoding, complexity: bitops, band: 0.3...1.0)
        var rng = SplitMix64(seed: 8)
        let levels = try sampler.randomLevels(count: 24, near: [0.3 * bitops.value(encoding.relaxation(levels: encoding.maximumLevels))],
                                              rng: &rng)
        // Accuracy is the prior's additive model, scaled: a predictor with the prior recovers it from 24 rows.
        let targets = levels.map { 92 - 0.3 * table.additiveDrop(levels: $0) }
        var predictor = EnsemblePredictor(schema: encoding.schema, configuration: EnsembleConfiguration(members: 3, mlp: nil),
                                          prior: table.prior(for: encoding))
        try predictor.fit(features: levels.map(encoding.features(levels:)), targets: targets, seed: 1)
        let restored = try EnsemblePredictor.load(json: try predictor.jsonData())
        var errors: [Double] = []
        for _ in 0..<20 {
            let probe = encoding.variables.map { rng.nextInt(below: $0.levels.count) }
            let x = encoding.features(levels: probe)
            XCTAssertEqual(restored.predict(x).mean, predictor.predict(x).mean, accuracy: 1e-9)
            errors.append(abs(predictor.predict(x).mean - (92 - 0.3 * table.additiveDrop(levels: probe))))
        }
        XCTAssertLessThan(errors.reduce(0, +) / Double(errors.count), 0.5, "\(errors)")
    }
}

final class AcquisitionTests: XCTestCase {
    func testLogErrorExpectedImprovementMatchesANumericIntegralAndIsBounded() {
        // A = 100 - exp(-T), T ~ N(mean, sigma^2): integrate max(0, A - incumbent) over T numerically.
        for (errorRate, sigma, incumbent) in [(9.0, 0.1, 90.5), (12.0, 0.3, 90.0), (40.0, 1.0, 92.0), (8.0, 0.05, 91.0)] {
            let mean = -log(errorRate)
            var integral = 0.0
            let step = 1e-4
            var t = mean - 12 * sigma
            while t < mean + 12 * sigma {
                let z = (t - mean) / sigma
                integral += max(0, 100 - exp(-t) - incumbent) * exp(-0.5 * z * z) / (sigma * (2 * Double.pi).squareRoot()) * step
                t += step
            }
            let closed = ExpectedImprovement.expectedImprovement(logErrorMean: mean, sigma: sigma, incumbent: incumbent)
            XCTAssertEqual(closed, integral, accuracy: 1e-6 + 1e-4 * integral, "error rate \(errorRate), sigma \(sigma)")
        }
        // However uncertain, a policy cannot gain more than the incumbent's error rate; with no spread, its own gain.
        XCTAssertLessThanOrEqual(ExpectedImprovement.expectedImprovement(logErrorMean: -log(50), sigma: 5, incumbent: 92), 8)
        XCTAssertEqual(ExpectedImprovement.expectedImprovement(logErrorMean: -log(6), sigma: 0, incumbent: 92), 2, accuracy: 1e-12)
        // Through the view: a collapsed prediction with a huge spread in points scores far below a good, certain one.
        let view = AcquisitionView(predict: { $0 == [0] ? (50, 30) : (91, 0.5) }, extrapolation: { _ in 1 }, scale: .logError)
        let ei = ExpectedImprovement(incumbent: 92)
        XCTAssertLessThan(ei.score([0], view), 8)
        XCTAssertGreaterThan(ei.score([1], view), 0)
    }

    func testExpectedImprovementMatchesItsClosedForm() {
        // Known values: at mean = incumbent, EI = sigma / sqrt(2 pi).
        XCTAssertEqual(ExpectedImprovement.expectedImprovement(mean: 5, sigma: 2, incumbent: 5), 2 / (2 * Double.pi).squareRoot(),
                       accuracy: 1e-12)
        XCTAssertEqual(ExpectedImprovement.expectedImprovement(mean: 7, sigma: 0, incumbent: 5), 2)
        XCTAssertEqual(ExpectedImprovement.expectedImprovement(mean: 3, sigma: 0, incumbent: 5), 0)
        // Far below the incumbent it is nearly nothing however uncertain; above, it grows with both mean and sigma.
        XCTAssertLessThan(ExpectedImprovement.expectedImprovement(mean: 60, sigma: 3, incumbent: 90), 1e-12)
        XCTAssertGreaterThan(ExpectedImprovement.expectedImprovement(mean: 90, sigma: 2, incumbent: 90),
                             ExpectedImprovement.expectedImprovement(mean: 90, sigma: 1, incumbent: 90))
        XCTAssertGreaterThan(ExpectedImprovement.expectedImprovement(mean: 91, sigma: 1, incumbent: 90),
                             ExpectedImprovement.expectedImprovement(mean: 90, sigma: 1, incumbent: 90))
        // Against a numeric integral of max(0, y - incumbent) under the normal density.
        let (mean, sigma, incumbent) = (88.0, 1.5, 89.0)
        var integral = 0.0
        let step = 1e-3
        var y = incumbent
        while y < mean + 12 * sigma {
            integral += (y - incumbent) * exp(-0.5 * pow((y - mean) / sigma, 2)) / (sigma * (2 * Double.pi).squareRoot()) * step
            y += step
        }
        XCTAssertEqual(ExpectedImprovement.expectedImprovement(mean: mean, sigma: sigma, incumbent: incumbent), integral,
                       accuracy: 1e-4)
    }

    func testExpectedImprovementSamplesStayUnderTheBudgetAndApart() throws {
        let full = try fullBitOPs(try zoo("resnet8"))
        let (problem, _, _) = try syntheticProblem("resnet8", budgets: [0.2], rows: 60)
        var settings = InformativeSampler.Settings(population: 24, iterations: 6, band: 0.6...1.0, minimumDistance: 4, seed: 3)
        let budget = 0.2 * full
        let incumbent = 0.0
        let picked = try InformativeSampler(settings: settings, acquisition: ExpectedImprovement(incumbent: incumbent))
            .sample(problem, budgets: [budget], count: 6)
        XCTAssertEqual(picked.count, 6)
        for (i, p) in picked.enumerated() {
            XCTAssertLessThanOrEqual(p.complexity, budget * (1 + 1e-9))
            for q in picked[..<i] { XCTAssertGreaterThanOrEqual(levelDistance(p.levels, q.levels), 4) }
        }
        // Every returned policy keeps its distance from the excluded ones too.
        settings.minimumDistance = 3
        let next = try InformativeSampler(settings: settings, acquisition: ExpectedImprovement(incumbent: incumbent))
            .sample(problem, budgets: [budget], count: 4, exclude: Set(picked.map(\.policy)))
        for p in next { for q in picked { XCTAssertGreaterThanOrEqual(levelDistance(p.levels, q.levels), 3) } }
    }
}
