import Foundation
import SeerModels

/// The values a policy may choose per field; campaign configs set it under `space:`.
///
/// Defaults: bit-widths 2...8 without 7 (it sits between 6 and 8 at little difference in cost, and leaving it out
/// keeps the space smaller); pruning in eighths, which keep 16/32/64-channel layers at whole channel counts, up to
/// 3/4, so a 16-channel layer keeps at least 4 channels. Every field may be left out of a config to keep its default.
/// The stem (`stem.conv`) is outside the space: it always stays at 8/8 bits unpruned.
public struct SearchSpace: Codable, Hashable, Sendable {
    /// Allowed weight bit-widths, ascending, each in 2...8.
    public let wbits: [Int]
    /// Allowed activation bit-widths, ascending, each in 2...8.
    public let abits: [Int]
    /// Allowed pruning ratios, ascending, each in [0, 1).
    public let prune: [Double]

    public static let bitRange = 2...8
    public static let `default` = SearchSpace(checkedWbits: [2, 3, 4, 5, 6, 8], abits: [2, 3, 4, 5, 6, 8],
                                              prune: [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75])
    static let keys = ["wbits", "abits", "prune"]
    /// Ratios closer than this to an allowed value count as that value (decimal text of binary fractions).
    static let ratioTolerance = 1e-9

    /// A space of the given values (sorted, duplicates removed); empty lists and out-of-range values are errors.
    public init(wbits: [Int] = SearchSpace.default.wbits, abits: [Int] = SearchSpace.default.abits,
                prune: [Double] = SearchSpace.default.prune) throws {
        try Self.checkBits(wbits, field: "wbits")
        try Self.checkBits(abits, field: "abits")
        guard !prune.isEmpty else { throw PolicyError.invalidSpace(field: "prune", reason: "must list at least one ratio") }
        if let bad = prune.first(where: { !($0 >= 0 && $0 < 1) }) {
            throw PolicyError.invalidSpace(field: "prune", reason: "\(bad) is outside [0, 1)")
        }
        self.init(checkedWbits: wbits, abits: abits, prune: prune)
    }

    private init(checkedWbits wbits: [Int], abits: [Int], prune: [Double]) {
        self.wbits = Array(Set(wbits)).sorted()
        self.abits = Array(Set(abits)).sorted()
        self.prune = Array(Set(prune)).sorted()
    }

    private static func checkBits(_ values: [Int], field: String) throws {
        guard !values.isEmpty else { throw PolicyError.invalidSpace(field: field, reason: "must list at least one bit-width") }
        if let bad = values.first(where: { !bitRange.contains($0) }) {
            throw PolicyError.invalidSpace(field: field, reason: "\(bad) is outside \(bitRange.lowerBound)...\(bitRange.upperBound)")
        }
    }

    /// Decodes a space where every field is optional (absent fields keep their defaults) and unknown keys are errors.
    public init(from decoder: Decoder) throws {
        let c = try decoder.strictContainer(allowed: Self.keys, expected: "a mapping of wbits, abits, prune")
        let d = SearchSpace.default
        try self.init(wbits: try c.field([Int].self, "wbits", expected: "a list of integer bit-widths") ?? d.wbits,
                      abits: try c.field([Int].self, "abits", expected: "a list of integer bit-widths") ?? d.abits,
                      prune: try c.field([Double].self, "prune", expected: "a list of ratios in [0, 1)") ?? d.prune)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(wbits, forKey: AnyCodingKey("wbits"))
        try c.encode(abits, forKey: AnyCodingKey("abits"))
        try c.encode(prune, forKey: AnyCodingKey("prune"))
    }

    /// Reads a space from a YAML or JSON file (YAML is a superset of JSON).
    public static func load(contentsOf url: URL) throws -> SearchSpace {
        try PolicyCoding.decode(SearchSpace.self, contentsOf: url)
    }

    /// The allowed ratio equal to `value` up to `ratioTolerance`, if any.
    func allowedRatio(_ value: Double) -> Double? {
        prune.first { abs($0 - value) <= Self.ratioTolerance }
    }

    /// What each searchable layer of `model` may choose, in topological order; fixed-width layers get `prune: [0]`.
    public func choices(for model: Model) -> [LayerChoices] {
        CompressibleLayer.all(in: model).filter { !$0.isStem }.map { layer in
            LayerChoices(layer: layer.name, wbits: wbits, abits: abits,
                         prune: layer.pruneFixedReason == nil ? prune : [0])
        }
    }
}

/// The values one searchable layer may take.
public struct LayerChoices: Codable, Hashable, Sendable {
    public let layer: String
    public let wbits: [Int]
    public let abits: [Int]
    public let prune: [Double]
}
