import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import XCTest
@testable import SeerSearch

func zoo(_ name: String) throws -> Model { try ModelZoo.make(name, seed: 0) }

/// BitOPs of `model` at 8/8 bits unpruned (stem included): budgets are fractions of it.
func fullBitOPs(_ model: Model) throws -> Double {
    Double(try Complexity.compute(model: model, policy: try Policy(bits: "8/8").resolve(for: model)).bitops)
}

/// A search problem on `model`'s real layout: a ridge-only ensemble (fast to fit in debug builds) trained on random
/// policies near `budgets` labelled by `SyntheticAccuracy`.
func syntheticProblem(_ modelName: String, budgets: [Double], rows: Int = 240, seed: UInt64 = 1) throws
    -> (problem: SearchProblem<EnsemblePredictor, LayerwiseComplexity>, truth: SyntheticAccuracy, full: Double) {
    let model = try zoo(modelName)
    let encoding = PolicyEncoding(model: model)
    let bitops = try LayerwiseComplexity(model: model, encoding: encoding, metric: .bitops)
    let full = try fullBitOPs(model)
    let sampler = try PolicySampler(encoding: encoding, complexity: bitops, band: 0.5...1.1)
    var rng = SplitMix64(seed: seed)
    let levels = try sampler.randomLevels(count: rows, near: budgets.map { $0 * full }, rng: &rng)
    let truth = SyntheticAccuracy(encoding: encoding, seed: seed)
    let table = truth.table(rows: levels.map(encoding.features(levels:)), seed: seed)
    var predictor = EnsemblePredictor(schema: encoding.schema, configuration: EnsembleConfiguration(members: 4, mlp: nil))
    try predictor.fit(table, seed: seed)
    return (try SearchProblem(encoding: encoding, predictor: predictor, complexity: bitops), truth, full)
}

/// A predictor with a known landscape: mean = sum of log2 bit-widths minus prune ratios; spread 3 where the wbits
/// column `uncertainColumn` is 2 bits, 0.1 elsewhere.
struct KnownPredictor: PerformancePredictor {
    var name: String { "known" }
    let bitColumns: [Int]
    let pruneColumns: [Int]
    let uncertainColumn: Int

    init(schema: PolicySchema, uncertainColumn: Int) {
        bitColumns = schema.columns.indices.filter { schema.columns[$0].kind.isBitWidth }
        pruneColumns = schema.columns.indices.filter { schema.columns[$0].kind == .prune }
        self.uncertainColumn = uncertainColumn
    }

    mutating func fit(features: [[Double]], targets: [Double], seed: UInt64) throws {}

    func predict(_ x: [Double]) -> (mean: Double, std: Double) {
        let mean = bitColumns.reduce(0) { $0 + log2(x[$1]) } - pruneColumns.reduce(0) { $0 + x[$1] }
        return (mean, abs(x[uncertainColumn] - 2) < 1e-9 ? 3 : 0.1)
    }

    func gradient(_ x: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: x.count)
        for c in bitColumns { g[c] = 1 / (x[c] * M_LN2) }
        for c in pruneColumns { g[c] = -1 }
        return g
    }
}
