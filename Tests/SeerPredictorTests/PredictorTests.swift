import Foundation
import XCTest
@testable import SeerPredictor

final class PredictorTests: XCTestCase {
    /// A table with `layers` layers of prune + bits (or wbits/abits) and a known monotone accuracy function.
    private func monotoneTable(layers: Int, rows: Int, separateBits: Bool, noise: Double, seed: UInt64) -> PolicyTable {
        var columns: [PolicyColumn] = []
        for i in 0..<layers {
            columns.append(PolicyColumn(layer: i, kind: .prune))
            if separateBits {
                columns.append(PolicyColumn(layer: i, kind: .wbits))
                columns.append(PolicyColumn(layer: i, kind: .abits))
            } else {
                columns.append(PolicyColumn(layer: i, kind: .bits))
            }
        }
        let schema = try! PolicySchema(columns: columns)
        var rng = SplitMix64(seed: seed)
        var features: [[Double]] = [], targets: [Double] = []
        for _ in 0..<rows {
            let row = columns.map { c -> Double in
                c.kind == .prune ? [0.25, 0.5, 0.75][rng.nextInt(below: 3)] : Double(2 + rng.nextInt(below: 5))
            }
            // Accuracy rises with kept channels and bits, with diminishing returns; layer i weighs (i % 3 + 1).
            var score = 0.0
            for (j, c) in columns.enumerated() {
                let w = Double(c.layer % 3 + 1)
                score += c.kind == .prune ? w * sqrt(1 - row[j]) : 0.5 * w * (1 - pow(2, -row[j]))
            }
            features.append(row)
            targets.append(80 + 10 * tanh(score / Double(3 * layers)) + noise * rng.nextGaussian())
        }
        return PolicyTable(schema: schema, features: features, targets: targets)
    }

    private func heldOutTau<P: PerformancePredictor>(_ model: inout P, _ table: PolicyTable, seed: UInt64) throws -> Double {
        let (train, test) = randomSplit(rows: table.rowCount, holdout: 0.25, seed: seed)
        let trainTable = table.subset(train), testTable = table.subset(test)
        try model.fit(features: trainTable.features, targets: trainTable.targets, seed: seed)
        let predicted = testTable.features.map { model.predict($0).mean }
        return Metrics.kendallTau(predicted, testTable.targets)
    }

    func testRanksKnownMonotoneFunction() throws {
        let table = monotoneTable(layers: 10, rows: 300, separateBits: false, noise: 0.05, seed: 11)
        var model = EnsemblePredictor(schema: table.schema)
        let tau = try heldOutTau(&model, table, seed: 1)
        XCTAssertGreaterThan(tau, 0.8)
        let (_, std) = model.predict(table.features[0])
        XCTAssertGreaterThan(std, 0, "ensemble members should disagree a little")
        XCTAssertEqual(model.mlpEpochs.count, EnsembleConfiguration.standard.members)

        let separate = monotoneTable(layers: 6, rows: 240, separateBits: true, noise: 0.05, seed: 12)
        var model2 = EnsemblePredictor(schema: separate.schema)
        XCTAssertGreaterThan(try heldOutTau(&model2, separate, seed: 2), 0.8)
    }

    func testExtrapolationGrowsAwayFromTheRowsAndItsGradientIsExact() throws {
        // 40 rows of 6 layers: every row is well inside the data; a policy moved far along one column is not.
        let table = monotoneTable(layers: 6, rows: 40, separateBits: true, noise: 0.3, seed: 21)
        var model = EnsemblePredictor(schema: table.schema)
        try model.fit(table, seed: 4)
        let atRows = table.features.map { model.extrapolation($0) }
        let typical = atRows.sorted()[atRows.count / 2]
        XCTAssertGreaterThan(typical, 0)
        XCTAssertLessThan(typical, model.looRMSE, "at its own rows the fit is supported better than its LOO error")
        var far = table.features[0]
        far[0] = 3  // prune ratio 3: far outside the rows' 0.25...0.75
        XCTAssertGreaterThan(model.extrapolation(far), 5 * typical)
        // Analytic gradient against central differences (tolerance: 1e-4 relative to the largest component).
        for x in [table.features[3], table.features[17]] {
            let g = model.extrapolationGradient(x)
            let h = 1e-6
            let numeric = x.indices.map { i -> Double in
                var a = x, b = x
                a[i] += h
                b[i] -= h
                return (model.extrapolation(a) - model.extrapolation(b)) / (2 * h)
            }
            let scale = numeric.map(abs).max()!
            XCTAssertGreaterThan(scale, 0)
            for i in x.indices { XCTAssertEqual(g[i], numeric[i], accuracy: 1e-4 * scale, "column \(i)") }
        }
        // A snapshot stored before the measure existed decodes, with no extrapolation penalty.
        var json = try JSONSerialization.jsonObject(with: model.jsonData()) as! [String: Any]
        json["support"] = nil
        let old = try EnsemblePredictor.load(json: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(old.extrapolation(far), 0)
        XCTAssertEqual(old.predict(far).mean, model.predict(far).mean)
    }

    func testGenericInputsWithoutSchema() throws {
        let table = monotoneTable(layers: 5, rows: 200, separateBits: false, noise: 0.05, seed: 13)
        var model = EnsemblePredictor(schema: nil)
        XCTAssertGreaterThan(try heldOutTau(&model, table, seed: 3), 0.7)
    }

    /// Central differences of `f` at `x`.
    private func numericGradient(_ f: ([Double]) -> Double, at x: [Double], step: Double = 1e-5) -> [Double] {
        x.indices.map { i in
            var plus = x, minus = x
            plus[i] += step; minus[i] -= step
            return (f(plus) - f(minus)) / (2 * step)
        }
    }

    private func assertClose(_ a: [Double], _ b: [Double], tolerance: Double, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let scale = max(b.map(abs).max() ?? 1, 1e-3)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x, y, accuracy: tolerance * scale, file: file, line: line)
        }
    }

    /// A policy off the grid (continuous relaxation), away from the bit clamp.
    private func relaxedPoint(_ schema: PolicySchema, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return schema.columns.map { c in
            c.kind == .prune ? 0.2 + 0.6 * rng.nextUniform() : 2.2 + 4 * rng.nextUniform()
        }
    }

    func testGradientMatchesFiniteDifferences() throws {
        for separate in [false, true] {
            let table = monotoneTable(layers: 4, rows: 120, separateBits: separate, noise: 0.1, seed: 21)
            var configuration = EnsembleConfiguration.standard
            // All engineered feature groups, so the gradient goes through every kind of term.
            configuration.featureCandidates = [FeatureOptions(squares: true, layerInteractions: true, adjacentKept: true,
                                                              aggregates: true)]
            configuration.mlp?.maxEpochs = 40
            configuration.mlp?.patience = 1000   // train the MLPs for a while so their gradient matters
            var model = EnsemblePredictor(schema: table.schema, configuration: configuration)
            try model.fit(features: table.features, targets: table.targets, seed: 5)
            XCTAssertTrue(model.mlpEpochs.contains { $0 > 0 })
            for point in 0..<3 {
                let x = relaxedPoint(table.schema, seed: UInt64(point))
                assertClose(model.gradient(x), numericGradient({ model.predict($0).mean }, at: x), tolerance: 1e-5)
            }
        }
    }

    func testFeatureMapPullbackMatchesFiniteDifferences() {
        let schema = try! PolicySchema(columns: [
            PolicyColumn(layer: 0, kind: .wbits), PolicyColumn(layer: 0, kind: .abits),
            PolicyColumn(layer: 1, kind: .prune), PolicyColumn(layer: 1, kind: .bits),
            PolicyColumn(layer: 3, kind: .prune), PolicyColumn(layer: 3, kind: .wbits), PolicyColumn(layer: 3, kind: .abits),
            PolicyColumn(layer: 4, kind: .prune),
        ])
        let map = PolicyFeatureMap(schema: schema, options: FeatureOptions(squares: true, layerInteractions: true,
                                                                             adjacentKept: true, aggregates: true))
        XCTAssertEqual(map.names.count, map.outputCount)
        var rng = SplitMix64(seed: 9)
        let weights = (0..<map.outputCount).map { _ in rng.nextGaussian() }
        let f: ([Double]) -> Double = { x in zip(map.features(x), weights).reduce(0) { $0 + $1.0 * $1.1 } }
        let x = relaxedPoint(schema, seed: 4)
        let analytic = map.pullbackToRaw(x, baseGradient: map.pullbackToBase(base: map.base(x), featureGradient: weights))
        assertClose(analytic, numericGradient(f, at: x), tolerance: 1e-6)
    }

    func testRidgeGradientAndBaseline() throws {
        let table = monotoneTable(layers: 4, rows: 100, separateBits: false, noise: 0.1, seed: 22)
        var ridge = RidgePredictor()
        try ridge.fit(features: table.features, targets: table.targets, seed: 0)
        let x = relaxedPoint(table.schema, seed: 1)
        assertClose(ridge.gradient(x), numericGradient({ ridge.predict($0).mean }, at: x), tolerance: 1e-6)
        XCTAssertEqual(ridge.predict(x).std, 0)
        var engineered = RidgePredictor(schema: table.schema)
        try engineered.fit(features: table.features, targets: table.targets, seed: 0)
        assertClose(engineered.gradient(x), numericGradient({ engineered.predict($0).mean }, at: x), tolerance: 1e-6)
    }

    func testLogErrorScaleGradientsMatchFiniteDifferences() throws {
        // Targets 80-90%: on the log-error scale the chain rule through 100 - exp(-t) matters (slope 10-20).
        let table = monotoneTable(layers: 4, rows: 60, separateBits: true, noise: 0.2, seed: 31)
        var configuration = EnsembleConfiguration.standard
        configuration.target = .logError
        configuration.mlp?.maxEpochs = 40
        configuration.mlp?.patience = 1000
        configuration.measurementNoise = 0.5
        var model = EnsemblePredictor(schema: table.schema, configuration: configuration)
        try model.fit(features: table.features, targets: table.targets, seed: 7)
        for point in 0..<3 {
            let x = relaxedPoint(table.schema, seed: UInt64(10 + point))
            assertClose(model.gradient(x), numericGradient({ model.predict($0).mean }, at: x), tolerance: 1e-5)
            assertClose(model.extrapolationGradient(x), numericGradient({ model.extrapolation($0) }, at: x), tolerance: 1e-4)
            // The members' mean is taken in accuracy points, and the spread too.
            let members = model.memberPredictions(x)
            XCTAssertEqual(model.predict(x).mean, members.reduce(0, +) / Double(members.count), accuracy: 1e-9)
        }
        let restored = try EnsemblePredictor.load(json: try model.jsonData())
        XCTAssertEqual(restored.configuration.target, .logError)
        XCTAssertEqual(restored.predict(table.features[2]).mean, model.predict(table.features[2]).mean, accuracy: 1e-9)
    }

    func testTargetScalesRoundTripAndOldConfigurationsRegressOnAccuracy() throws {
        for scale in TargetScale.allCases {
            for accuracy in [10.0, 85.5, 99.0] {
                XCTAssertEqual(scale.accuracy(scale.target(accuracy)), accuracy, accuracy: 1e-9)
            }
        }
        // An error rate below the floor is the floor, and says so in the prediction it gives back.
        XCTAssertEqual(TargetScale.logError.accuracy(TargetScale.logError.target(100)), 100 - TargetScale.minimumErrorRate,
                       accuracy: 1e-12)
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(EnsembleConfiguration.standard)) as! [String: Any]
        XCTAssertEqual(json["target"] as? String, "accuracy")
        json["target"] = nil
        let old = try JSONDecoder().decode(EnsembleConfiguration.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(old, EnsembleConfiguration.standard)
    }

    func testLogErrorScaleIsNotPulledByCollapsedPolicies() throws {
        // Accuracy falls 0.8 points per unit of x on [0, 4] (error rate 8% -> 11.2%), plus two collapsed policies at
        // x = 5 (60%). On the accuracy scale the straight line through all rows is dragged by the collapse and
        // mispredicts the good region by points; on the log-error scale it is dragged much less.
        var features: [[Double]] = [], targets: [Double] = []
        for i in 0..<20 {
            let x = Double(i) / 5
            features.append([x])
            targets.append(92 - 0.8 * x)
        }
        for _ in 0..<2 { features.append([5]); targets.append(60) }
        func goodRegionError(_ scale: TargetScale) throws -> Double {
            var configuration = EnsembleConfiguration(members: 1, mlp: nil, target: scale)
            configuration.featureCandidates = [.baseOnly]
            var model = EnsemblePredictor(schema: nil, configuration: configuration)
            try model.fit(features: features, targets: targets, seed: 1)
            return (0..<20).map { abs(model.predict(features[$0]).mean - targets[$0]) }.reduce(0, +) / 20
        }
        XCTAssertLessThan(try goodRegionError(.logError), 0.6 * (try goodRegionError(.accuracy)))  // least squares: 1.7 vs 3.7
    }

    func testSnapshotRoundTrip() throws {
        let table = monotoneTable(layers: 3, rows: 80, separateBits: true, noise: 0.1, seed: 23)
        var model = EnsemblePredictor(schema: table.schema)
        try model.fit(features: table.features, targets: table.targets, seed: 4)
        let restored = try EnsemblePredictor.load(json: try model.jsonData())
        let x = table.features[5]
        XCTAssertEqual(restored.predict(x).mean, model.predict(x).mean, accuracy: 1e-9)
        XCTAssertEqual(restored.predict(x).std, model.predict(x).std, accuracy: 1e-9)
        assertClose(restored.gradient(x), model.gradient(x), tolerance: 1e-9)
        XCTAssertEqual(restored.schema, table.schema)
    }

    func testFitIsDeterministicForASeed() throws {
        let table = monotoneTable(layers: 3, rows: 80, separateBits: false, noise: 0.1, seed: 24)
        var a = EnsemblePredictor(schema: table.schema), b = EnsemblePredictor(schema: table.schema)
        try a.fit(features: table.features, targets: table.targets, seed: 7)
        try b.fit(features: table.features, targets: table.targets, seed: 7)
        XCTAssertEqual(a.predict(table.features[0]).mean, b.predict(table.features[0]).mean)
        XCTAssertEqual(a.predict(table.features[0]).std, b.predict(table.features[0]).std)
    }

    func testFitRejectsBadData() {
        var model = EnsemblePredictor(schema: nil)
        XCTAssertThrowsError(try model.fit(features: [[1], [2]], targets: [1, 2], seed: 0)) {
            XCTAssertEqual($0 as? PredictorError, .tooFewRows(2))
        }
        XCTAssertThrowsError(try model.fit(features: [[1], [2], [3]], targets: [1, 2], seed: 0)) {
            XCTAssertEqual($0 as? PredictorError, .targetCountMismatch(rows: 3, targets: 2))
        }
        XCTAssertThrowsError(try model.fit(features: [[1], [2, 3], [3]], targets: [1, 2, 3], seed: 0)) {
            XCTAssertEqual($0 as? PredictorError, .raggedFeatures(row: 1, expected: 1, found: 2))
        }
        XCTAssertThrowsError(try model.fit(features: [[1], [.nan], [3]], targets: [1, 2, 3], seed: 0)) {
            XCTAssertEqual($0 as? PredictorError, .nonFinite(row: 1))
        }
        let schema = try! PolicySchema(columns: [PolicyColumn(layer: 0, kind: .bits)])
        var withSchema = EnsemblePredictor(schema: schema)
        XCTAssertThrowsError(try withSchema.fit(features: [[1, 1], [2, 2], [3, 3]], targets: [1, 2, 3], seed: 0)) {
            XCTAssertEqual($0 as? PredictorError, .schemaMismatch(expected: 1, found: 2))
        }
    }
}
