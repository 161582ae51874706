import Foundation
import SeerModels

/// A policy with values for every compressible layer of one model, in topological order (the stem included).
///
/// Produced by `Policy.resolve(for:space:)`; campaigns store and dedupe these. Encodes as
/// `{"model": "resnet20", "layers": [{"layer": "stem.conv", "wbits": 8, "abits": 8, "prune": 0}, ...]}`.
public struct ResolvedPolicy: Codable, Hashable, Sendable {
    /// One layer's values.
    public struct Entry: Codable, Hashable, Sendable {
        public let layer: String
        public let policy: LayerPolicy

        public init(layer: String, policy: LayerPolicy) {
            self.layer = layer
            self.policy = policy
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.strictContainer(allowed: ["layer"] + LayerPolicy.keys,
                                                expected: "a mapping of layer, wbits, abits, prune")
            guard let layer = try c.field(String.self, "layer", expected: "a layer name") else {
                throw PolicyError.missingField(fieldPath(decoder.codingPath, "layer"))
            }
            self.layer = layer
            policy = try LayerPolicy(fieldsOf: c)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: AnyCodingKey.self)
            try c.encode(layer, forKey: AnyCodingKey("layer"))
            try c.encode(policy.wbits, forKey: AnyCodingKey("wbits"))
            try c.encode(policy.abits, forKey: AnyCodingKey("abits"))
            try c.encode(policy.prune, forKey: AnyCodingKey("prune"))
        }
    }

    /// Zoo name of the model the policy was resolved for.
    public let model: String
    public let entries: [Entry]

    init(model: String, checkedEntries: [Entry]) {
        self.model = model
        entries = checkedEntries
    }

    /// Entries as given; duplicate layers, bit-widths outside 2...8 and ratios outside [0, 1) are errors.
    /// Whether they fit a model and a search space is `check(against:space:)`'s question.
    public init(model: String, entries: [Entry]) throws {
        var seen = Set<String>()
        for entry in entries {
            let field = { (key: String) in "layers.\(entry.layer).\(key)" }
            guard seen.insert(entry.layer).inserted else {
                throw PolicyError.malformed("layers.\(entry.layer): listed more than once")
            }
            for (key, bits) in [("wbits", entry.policy.wbits), ("abits", entry.policy.abits)]
            where !SearchSpace.bitRange.contains(bits) {
                throw PolicyError.outsideSpace(field: field(key), value: String(bits),
                                               allowed: SearchSpace.bitRange.map(String.init))
            }
            guard entry.policy.prune >= 0 && entry.policy.prune < 1 else {
                throw PolicyError.outsideSpace(field: field("prune"), value: formatRatio(entry.policy.prune),
                                               allowed: ["a ratio in [0, 1)"])
            }
        }
        self.init(model: model, checkedEntries: entries)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.strictContainer(allowed: ["model", "layers"], expected: "a mapping of model and layers")
        guard let model = try c.field(String.self, "model", expected: "a zoo model name") else {
            throw PolicyError.missingField(fieldPath(decoder.codingPath, "model"))
        }
        guard let entries = try c.field([Entry].self, "layers", expected: "a list of layer entries") else {
            throw PolicyError.missingField(fieldPath(decoder.codingPath, "layers"))
        }
        try self.init(model: model, entries: entries)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(model, forKey: AnyCodingKey("model"))
        try c.encode(entries, forKey: AnyCodingKey("layers"))
    }

    /// The stem's name: the first entry, as a resolved policy lists its model's compressible layers in topological
    /// order (see `Model.stemLayerName`).
    public var stemLayer: String? { entries.first?.layer }

    /// Layer names in topological order.
    public var layerNames: [String] { entries.map(\.layer) }

    /// The values of `layer`, nil when the policy does not list it.
    public subscript(layer: String) -> LayerPolicy? { entries.first { $0.layer == layer }?.policy }

    /// The policy-file form with every layer listed in full (the default is the most common choice among pruned
    /// layers, so it is a value the space allows and the file reads naturally).
    public func policy() -> Policy {
        let searchable = entries.filter { $0.layer != stemLayer }.map(\.policy)
        let pruned = searchable.filter { $0.prune > 0 }
        let base = mostCommon(pruned.isEmpty ? searchable : pruned) ?? Policy.stemPolicy
        return Policy(default: base,
                      layers: Dictionary(uniqueKeysWithValues: entries.map { ($0.layer, PartialLayerPolicy($0.policy)) }))
    }

    /// Throws unless re-resolving this policy against `model` and `space` gives it back unchanged.
    public func check(against model: Model, space: SearchSpace = .default) throws {
        try checkLayers(of: model)
        let again = try policy().resolve(for: model, space: space)
        guard again == self else {
            throw PolicyError.layerMismatch(model: model.name, reason: "values differ from the resolved policy")
        }
    }

    /// Throws unless the policy lists exactly `model`'s compressible layers, in its topological order.
    func checkLayers(of model: Model) throws {
        let expected = model.compressibleLayers.map(\.name)
        guard layerNames != expected else { return }
        if let missing = expected.first(where: { self[$0] == nil }) {
            throw PolicyError.layerMismatch(model: model.name, reason: "layer \(missing) is missing")
        }
        if let extra = layerNames.first(where: { !expected.contains($0) }) {
            throw PolicyError.layerMismatch(model: model.name, reason: "\(model.name) has no compressible layer \(extra)")
        }
        throw PolicyError.layerMismatch(model: model.name, reason: "layers are not in topological order")
    }

    // MARK: Flat vector for the predictor

    /// Per searchable layer (every layer but the stem) in topological order: prune, wbits, abits.
    /// Layers whose prune is fixed (classifier, depthwise, tied to the stem) always carry prune 0.
    public var vector: [Double] {
        entries.filter { $0.layer != stemLayer }
            .flatMap { [$0.policy.prune, Double($0.policy.wbits), Double($0.policy.abits)] }
    }

    /// Names of `vector`'s components for `model`: `<layer>.prune`, `<layer>.wbits`, `<layer>.abits`.
    public static func vectorLayout(for model: Model) -> [String] {
        model.searchableLayerNames.flatMap { ["\($0).prune", "\($0).wbits", "\($0).abits"] }
    }

    /// The policy `vector` encodes for `model`, checked against `space` like a policy file.
    public init(vector: [Double], model: Model, space: SearchSpace = .default) throws {
        let names = model.searchableLayerNames
        guard vector.count == 3 * names.count else {
            throw PolicyError.vectorLength(expected: 3 * names.count, got: vector.count)
        }
        func bits(_ value: Double, _ field: String) throws -> Int {
            guard value.isFinite, value == value.rounded(), abs(value) <= 64 else {
                throw PolicyError.wrongType(field: field, expected: "an integer bit-width", got: String(value))
            }
            return Int(value)
        }
        var layers: [String: PartialLayerPolicy] = [:]
        for (i, name) in names.enumerated() {
            layers[name] = PartialLayerPolicy(wbits: try bits(vector[3 * i + 1], "layers.\(name).wbits"),
                                              abits: try bits(vector[3 * i + 2], "layers.\(name).abits"),
                                              prune: vector[3 * i])
        }
        // Every layer is listed, so the default only has to pass the space check: use the space's first values.
        let base = LayerPolicy(wbits: space.wbits[0], abits: space.abits[0], prune: space.prune[0])
        self = try Policy(default: base, layers: layers).resolve(for: model, space: space)
    }
}

/// The most frequent element, ties to the earliest.
private func mostCommon<T: Hashable>(_ values: [T]) -> T? {
    var counts: [T: Int] = [:]
    for v in values { counts[v, default: 0] += 1 }
    var best: T?, bestCount = 0
    for v in values where counts[v]! > bestCount { (best, bestCount) = (v, counts[v]!) }
    return best
}
