import Foundation
import SeerModels

/// A compression policy as written in policy files: a default for every layer and per-layer overrides.
///
/// ```json
/// {"default": {"wbits": 4, "abits": 4, "prune": 0.25}, "layers": {"stage2.block1.conv1": {"wbits": 6}}}
/// ```
/// A layer entry may set any subset of `wbits`, `abits`, `prune`; the rest come from `default`.
/// `resolve(for:space:)` checks the policy against a model and a search space.
public struct Policy: Codable, Hashable, Sendable {
    /// What the stem (`Model.stemLayerName`, the first convolution) always gets, as in SeerNet and HAQ: it sees raw
    /// pixels.
    public static let stemPolicy = LayerPolicy(wbits: 8, abits: 8, prune: 0)
    static let keys = ["default", "layers"]

    public var `default`: LayerPolicy
    /// Overrides by layer name.
    public var layers: [String: PartialLayerPolicy]

    public init(default: LayerPolicy, layers: [String: PartialLayerPolicy] = [:]) {
        self.default = `default`
        self.layers = layers
    }

    /// Parses the `--bits W/A[/PRUNE]` shorthand ("4/4", "8/8/0.5") into a uniform policy.
    ///
    /// Only the syntax is checked here; whether the values are in the search space is checked by `resolve`.
    public init(bits text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 || parts.count == 3 else {
            throw PolicyError.invalidShorthand(text, reason: "has \(parts.count) part\(parts.count == 1 ? "" : "s")")
        }
        guard let wbits = Int(parts[0]) else {
            throw PolicyError.invalidShorthand(text, reason: "W '\(parts[0])' is not an integer bit-width")
        }
        guard let abits = Int(parts[1]) else {
            throw PolicyError.invalidShorthand(text, reason: "A '\(parts[1])' is not an integer bit-width")
        }
        var prune = 0.0
        if parts.count == 3 {
            guard let ratio = Double(parts[2]), ratio.isFinite else {
                throw PolicyError.invalidShorthand(text, reason: "PRUNE '\(parts[2])' is not a number")
            }
            prune = ratio
        }
        self.init(default: LayerPolicy(wbits: wbits, abits: abits, prune: prune))
    }

    /// Decodes `{"default": {...}, "layers": {...}}`; `default` needs all three fields, `layers` may be absent.
    public init(from decoder: Decoder) throws {
        let c = try decoder.strictContainer(allowed: Self.keys, expected: "a policy mapping with default and layers")
        guard let base = try c.field(LayerPolicy.self, "default", expected: "a mapping of wbits, abits, prune") else {
            throw PolicyError.missingField(fieldPath(decoder.codingPath, "default"))
        }
        self.default = base
        layers = try c.field([String: PartialLayerPolicy].self, "layers",
                             expected: "a mapping from layer names to wbits/abits/prune") ?? [:]
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(self.default, forKey: AnyCodingKey("default"))
        try c.encode(layers, forKey: AnyCodingKey("layers"))
    }

    /// Reads a policy file: `.json` as JSON, anything else as YAML.
    public static func load(contentsOf url: URL) throws -> Policy { try PolicyCoding.decode(Policy.self, contentsOf: url) }
    /// Decodes a policy from JSON.
    public static func decode(json data: Data) throws -> Policy { try PolicyCoding.decode(Policy.self, json: data) }
    /// Decodes a policy from YAML.
    public static func decode(yaml text: String) throws -> Policy { try PolicyCoding.decode(Policy.self, yaml: text) }
    /// Pretty-printed JSON with sorted keys, as policy files are written.
    public func jsonData() throws -> Data { try PolicyCoding.jsonData(self) }
    /// YAML with sorted keys.
    public func yamlString() throws -> String { try PolicyCoding.yamlString(self) }

    /// Checks the policy against `model` and `space` and gives every compressible layer its values.
    ///
    /// The stem resolves to 8/8 bits unpruned (naming it with other values is an error). A layer whose own ratio
    /// cannot prune it (`CompressibleLayer.pruneFixedReason`: the classifier, depthwise convolutions, layers tied
    /// to the stem) resolves to `prune` 0: the default's ratio does not apply to it and an override must be 0.
    /// Ratios within 1e-9 of an allowed value resolve to that value, so decimal text of binary fractions matches.
    public func resolve(for model: Model, space: SearchSpace = .default) throws -> ResolvedPolicy {
        let compressible = CompressibleLayer.all(in: model)
        try checkBits(self.default.wbits, field: "default.wbits", allowed: space.wbits)
        try checkBits(self.default.abits, field: "default.abits", allowed: space.abits)
        let defaultPrune = try checkRatio(self.default.prune, field: "default.prune", space: space)
        let names = compressible.map(\.name)
        for key in layers.keys.sorted() where !names.contains(key) {
            if model.graph.layer(named: key) != nil { throw PolicyError.notCompressible(name: key, model: model.name) }
            throw PolicyError.unknownLayer(name: key, model: model.name, suggestions: closestNames(to: key, in: names))
        }
        let entries = try compressible.map { layer -> ResolvedPolicy.Entry in
            let entry = layers[layer.name] ?? PartialLayerPolicy()
            let field = { (key: String) in "layers.\(layer.name).\(key)" }
            if layer.isStem {
                let stem = Self.stemPolicy
                if let w = entry.wbits, w != stem.wbits { throw PolicyError.stemFixed(field: field("wbits"), value: String(w)) }
                if let a = entry.abits, a != stem.abits { throw PolicyError.stemFixed(field: field("abits"), value: String(a)) }
                if let p = entry.prune, p != 0 { throw PolicyError.stemFixed(field: field("prune"), value: formatRatio(p)) }
                return ResolvedPolicy.Entry(layer: layer.name, policy: stem)
            }
            if let w = entry.wbits { try checkBits(w, field: field("wbits"), allowed: space.wbits) }
            if let a = entry.abits { try checkBits(a, field: field("abits"), allowed: space.abits) }
            let prune: Double
            if let reason = layer.pruneFixedReason {
                if let p = entry.prune, p != 0 { throw PolicyError.notPrunable(layer: layer.name, reason: reason, value: p) }
                prune = 0
            } else if let p = entry.prune {
                prune = try checkRatio(p, field: field("prune"), space: space)
            } else {
                prune = defaultPrune
            }
            return ResolvedPolicy.Entry(layer: layer.name, policy: LayerPolicy(
                wbits: entry.wbits ?? self.default.wbits, abits: entry.abits ?? self.default.abits, prune: prune))
        }
        return ResolvedPolicy(model: model.name, checkedEntries: entries)
    }

    private func checkBits(_ value: Int, field: String, allowed: [Int]) throws {
        guard allowed.contains(value) else {
            throw PolicyError.outsideSpace(field: field, value: String(value), allowed: allowed.map(String.init))
        }
    }

    private func checkRatio(_ value: Double, field: String, space: SearchSpace) throws -> Double {
        guard let allowed = space.allowedRatio(value) else {
            throw PolicyError.outsideSpace(field: field, value: formatRatio(value), allowed: space.prune.map(formatRatio))
        }
        return allowed
    }
}

/// Up to `count` names from `candidates` nearest to `name` by edit distance, ties in candidate order.
func closestNames(to name: String, in candidates: [String], count: Int = 5) -> [String] {
    let target = Array(name)
    return candidates.enumerated()
        .map { (index: $0.offset, name: $0.element, distance: editDistance(target, Array($0.element))) }
        .sorted { ($0.distance, $0.index) < ($1.distance, $1.index) }
        .prefix(count).map(\.name)
}

/// Levenshtein distance.
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
