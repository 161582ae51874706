import Foundation

/// How one layer is compressed: weight and activation bit-widths and the pruned fraction of output channels.
///
/// `abits` quantizes the layer's *input* activations (as in HAQ and SeerNet), so a layer's BitOPs are its
/// MACs times `wbits` times `abits`.
public struct LayerPolicy: Codable, Hashable, Sendable, CustomStringConvertible {
    public var wbits: Int
    public var abits: Int
    /// Fraction of output channels removed, in [0, 1).
    public var prune: Double

    static let keys = ["wbits", "abits", "prune"]

    public init(wbits: Int, abits: Int, prune: Double = 0) {
        self.wbits = wbits
        self.abits = abits
        self.prune = prune
    }

    /// Decodes all three fields; a missing one is an error naming it (e.g. `default.prune`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.strictContainer(allowed: Self.keys, expected: "a mapping of wbits, abits, prune")
        try self.init(fieldsOf: c)
    }

    /// All three fields from `c`, which may hold other keys too (a resolved policy's entries name their layer).
    init(fieldsOf c: KeyedDecodingContainer<AnyCodingKey>) throws {
        let partial = try PartialLayerPolicy(fieldsOf: c)
        func required<T>(_ value: T?, _ key: String) throws -> T {
            guard let value else { throw PolicyError.missingField(fieldPath(c.codingPath, key)) }
            return value
        }
        self.init(wbits: try required(partial.wbits, "wbits"), abits: try required(partial.abits, "abits"),
                  prune: try required(partial.prune, "prune"))
    }

    public func encode(to encoder: Encoder) throws {
        try PartialLayerPolicy(self).encode(to: encoder)
    }

    /// `W/A/PRUNE`, the `--bits` shorthand form.
    public var description: String { "\(wbits)/\(abits)/\(formatRatio(prune))" }
}

/// A layer entry of a policy file: any subset of the fields; the rest come from the policy's default.
public struct PartialLayerPolicy: Codable, Hashable, Sendable {
    public var wbits: Int?
    public var abits: Int?
    public var prune: Double?

    public init(wbits: Int? = nil, abits: Int? = nil, prune: Double? = nil) {
        self.wbits = wbits
        self.abits = abits
        self.prune = prune
    }

    /// Every field set from `policy`.
    public init(_ policy: LayerPolicy) {
        self.init(wbits: policy.wbits, abits: policy.abits, prune: policy.prune)
    }

    /// Decodes the fields present; unknown keys and wrongly typed values are errors naming the field.
    public init(from decoder: Decoder) throws {
        let c = try decoder.strictContainer(allowed: LayerPolicy.keys, expected: "a mapping of wbits, abits, prune")
        try self.init(fieldsOf: c)
    }

    init(fieldsOf c: KeyedDecodingContainer<AnyCodingKey>) throws {
        wbits = try c.field(Int.self, "wbits", expected: "an integer bit-width")
        abits = try c.field(Int.self, "abits", expected: "an integer bit-width")
        prune = try c.field(Double.self, "prune", expected: "a pruning ratio (a number in [0, 1))")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encodeIfPresent(wbits, forKey: AnyCodingKey("wbits"))
        try c.encodeIfPresent(abits, forKey: AnyCodingKey("abits"))
        try c.encodeIfPresent(prune, forKey: AnyCodingKey("prune"))
    }

    /// These fields over `base`.
    public func applied(to base: LayerPolicy) -> LayerPolicy {
        LayerPolicy(wbits: wbits ?? base.wbits, abits: abits ?? base.abits, prune: prune ?? base.prune)
    }
}
