import Foundation
import SeerPredictor

/// A seeded stand-in for measured accuracy over an encoding's actual layout, to benchmark and test searches before
/// real measurements exist. The damage model is `SyntheticPolicyModel`'s, applied to the encoding's schema:
///
/// per searchable layer i (kept fraction k_i = 1 - prune_i, 1 where prune is fixed; sensitivities drawn from the seed)
/// - quantization noise `q_i = sw_i 4^-(wbits-2) + sa_i 4^-(abits-2)`, amplified by pruning: `q_i (1 + 1.5 (1 - k_i))`;
/// - pruning damage `sp_i (1 - k_i)^1.5 + c_i (1 - k_{i-1})(1 - k_i)` (i-1 the previous searchable layer);
/// - accuracy `92 - 12 (1 - exp(-D / (2 L)))` with D the sum of all damages over L layers.
public struct SyntheticAccuracy: Sendable {
    let columns: [(prune: Int?, wbits: Int, abits: Int)]
    let weightSensitivity: [Double]
    let activationSensitivity: [Double]
    let pruneSensitivity: [Double]
    let crossSensitivity: [Double]
    /// The encoding's column layout, which `accuracy(features:)` reads.
    public let schema: PolicySchema

    /// Sensitivities drawn from `seed` for every searchable layer of `encoding`.
    public init(encoding: PolicyEncoding, seed: UInt64 = 1) {
        let schema = encoding.schema
        let count = encoding.layers.count
        columns = (0..<count).map { i in
            (schema.index(layer: i, kind: .prune), schema.index(layer: i, kind: .wbits)!, schema.index(layer: i, kind: .abits)!)
        }
        var rng = SplitMix64(seed: SplitMix64.derive(seed, 0x5EED))
        func draw(_ lo: Double, _ hi: Double) -> [Double] { (0..<count).map { _ in lo + (hi - lo) * rng.nextUniform() } }
        weightSensitivity = draw(0.2, 1.5)
        activationSensitivity = draw(0.1, 1.0)
        pruneSensitivity = draw(0.3, 2.5)
        crossSensitivity = draw(0, 1.5)
        self.schema = schema
    }

    /// Noise-free accuracy (percent) of a feature row laid out as the encoding's schema.
    public func accuracy(features row: [Double]) -> Double {
        var damage = 0.0, previousKept = 1.0
        for (i, c) in columns.enumerated() {
            let kept = c.prune.map { 1 - row[$0] } ?? 1
            let q = weightSensitivity[i] * pow(4, -(row[c.wbits] - 2)) + activationSensitivity[i] * pow(4, -(row[c.abits] - 2))
            damage += q * (1 + 1.5 * (1 - kept))
            damage += pruneSensitivity[i] * pow(1 - kept, 1.5) + crossSensitivity[i] * (1 - previousKept) * (1 - kept)
            previousKept = kept
        }
        return 92 - 12 * (1 - exp(-damage / (2 * Double(columns.count))))
    }

    /// A table of `rows` with accuracies plus Gaussian noise of standard deviation `noise`.
    public func table(rows: [[Double]], noise: Double = 0.15, seed: UInt64) -> PolicyTable {
        var rng = SplitMix64(seed: seed)
        return PolicyTable(schema: schema, features: rows, targets: rows.map { accuracy(features: $0) + noise * rng.nextGaussian() })
    }
}
