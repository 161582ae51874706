// Synthetic policy tables from a plausible nonlinear accuracy model, to check predictors on tables they were not
// tuned on.
import Foundation

/// A seeded synthetic compression-policy table: `layers` layers with separate weight and activation bit-widths and
/// pruning on all layers but the last (the classifier), accuracy from a nonlinear damage model plus noise.
///
/// Model (per layer i, kept fraction k = 1 - prune, random sensitivities drawn from the seed):
/// - quantization noise power `q_i = sw_i 4^-(wbits-2) + sa_i 4^-(abits-2)`, amplified by pruning: `q_i (1 + g (1 - k_i))`;
/// - pruning damage `sp_i (1 - k_i)^1.5 + c_i (1 - k_{i-1})(1 - k_i)`;
/// - accuracy `top - drop * (1 - exp(-D / D0))` with `D` the sum of all damages, plus Gaussian noise.
public struct SyntheticPolicyModel: Codable, Sendable {
    public let layers: Int
    public let noise: Double
    public let pruneLevels: [Double]
    public let bitLevels: [Double]
    let weightSensitivity: [Double]
    let activationSensitivity: [Double]
    let pruneSensitivity: [Double]
    let crossSensitivity: [Double]
    let amplification: Double
    let top: Double
    let drop: Double
    let scale: Double

    public init(layers: Int = 12, seed: UInt64 = 1, noise: Double = 0.15,
                pruneLevels: [Double] = [0, 0.2, 0.4, 0.6], bitLevels: [Double] = [2, 3, 4, 6, 8]) {
        precondition(layers >= 2)
        self.layers = layers
        self.noise = noise
        self.pruneLevels = pruneLevels
        self.bitLevels = bitLevels
        var rng = SplitMix64(seed: SplitMix64.derive(seed, 0x5EED))
        func draw(_ lo: Double, _ hi: Double) -> [Double] { (0..<layers).map { _ in lo + (hi - lo) * rng.nextUniform() } }
        weightSensitivity = draw(0.2, 1.5)
        activationSensitivity = draw(0.1, 1.0)
        pruneSensitivity = draw(0.3, 2.5)
        crossSensitivity = draw(0, 1.5)
        amplification = 1.5
        top = 92
        drop = 12
        // Scale damage so a typical policy sits on the curved part of the saturation.
        scale = Double(layers) * 2
    }

    public var schema: PolicySchema {
        var columns: [PolicyColumn] = []
        for i in 0..<layers {
            if i < layers - 1 { columns.append(PolicyColumn(layer: i, kind: .prune)) }
            columns.append(PolicyColumn(layer: i, kind: .wbits))
            columns.append(PolicyColumn(layer: i, kind: .abits))
        }
        // Schema is valid by construction.
        return try! PolicySchema(columns: columns)
    }

    /// Noise-free accuracy of a raw row laid out as `schema`.
    public func accuracy(_ row: [Double]) -> Double {
        let schema = self.schema
        var damage = 0.0
        var previousKept = 1.0
        for i in 0..<layers {
            let kept = schema.index(layer: i, kind: .prune).map { 1 - row[$0] } ?? 1
            let wb = row[schema.index(layer: i, kind: .wbits)!]
            let ab = row[schema.index(layer: i, kind: .abits)!]
            let q = weightSensitivity[i] * pow(4, -(wb - 2)) + activationSensitivity[i] * pow(4, -(ab - 2))
            damage += q * (1 + amplification * (1 - kept))
            damage += pruneSensitivity[i] * pow(1 - kept, 1.5) + crossSensitivity[i] * (1 - previousKept) * (1 - kept)
            previousKept = kept
        }
        return top - drop * (1 - exp(-damage / scale))
    }

    /// `rows` random policies (levels drawn uniformly per column) with noisy accuracies.
    public func table(rows: Int, seed: UInt64) -> PolicyTable {
        let schema = self.schema
        var rng = SplitMix64(seed: seed)
        var features: [[Double]] = []
        var targets: [Double] = []
        for _ in 0..<rows {
            let row = schema.columns.map { column -> Double in
                let levels = column.kind == .prune ? pruneLevels : bitLevels
                return levels[rng.nextInt(below: levels.count)]
            }
            features.append(row)
            targets.append(accuracy(row) + noise * rng.nextGaussian())
        }
        return PolicyTable(schema: schema, features: features, targets: targets)
    }
}
