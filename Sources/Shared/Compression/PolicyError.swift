import Foundation

/// Why a policy, a search space, a `--bits` shorthand or a policy vector was rejected.
///
/// Fields are named by their path in the policy file, e.g. `layers.stage2.block1.conv1.wbits` or `default.prune`.
public enum PolicyError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// A `layers` key that names no layer of the model; `suggestions` are valid names close to it.
    case unknownLayer(name: String, model: String, suggestions: [String])
    /// A `layers` key naming a layer that exists but is neither a convolution nor the classifier.
    case notCompressible(name: String, model: String)
    /// A value the search space does not allow for `field`.
    case outsideSpace(field: String, value: String, allowed: [String])
    /// A value of the wrong type, e.g. a string where a bit-width belongs.
    case wrongType(field: String, expected: String, got: String)
    /// A key the format does not define.
    case unknownKey(field: String, key: String, allowed: [String])
    /// A required key that is absent.
    case missingField(String)
    /// A policy that gives `stem.conv` anything but 8/8 bits unpruned.
    case stemFixed(field: String, value: String)
    /// A non-zero `prune` for a layer whose output channels cannot be chosen by its own ratio.
    case notPrunable(layer: String, reason: String, value: Double)
    /// A malformed `--bits W/A[/PRUNE]` shorthand.
    case invalidShorthand(String, reason: String)
    /// A search space that cannot be searched.
    case invalidSpace(field: String, reason: String)
    /// A policy vector whose length does not match the model's searchable layers.
    case vectorLength(expected: Int, got: Int)
    /// A resolved policy whose layers are not those of the model it is used with.
    case layerMismatch(model: String, reason: String)
    /// A document that is not JSON/YAML of the expected shape.
    case malformed(String)
    /// A policy or space file that cannot be read.
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unknownLayer(let name, let model, let suggestions):
            let hint = suggestions.isEmpty ? "" : "; valid names include \(suggestions.joined(separator: ", "))"
            return "layers.\(name): \(model) has no layer named '\(name)'\(hint)"
        case .notCompressible(let name, let model):
            return "layers.\(name): '\(name)' in \(model) is not compressible; policies address convolutions and the classifier"
        case .outsideSpace(let field, let value, let allowed):
            return "\(field): \(value) is not in the search space; allowed: \(allowed.joined(separator: ", "))"
        case .wrongType(let field, let expected, let got):
            return "\(field): expected \(expected), got \(got)"
        case .unknownKey(let field, let key, let allowed):
            let at = field.isEmpty ? "" : "\(field): "
            return "\(at)unknown key '\(key)'; allowed keys: \(allowed.joined(separator: ", "))"
        case .missingField(let field):
            return "\(field): required but missing"
        case .stemFixed(let field, let value):
            return "\(field): \(value) is not allowed; the stem (the first layer, which sees the raw input) always stays at 8/8 bits unpruned"
        case .notPrunable(let layer, let reason, let value):
            return "layers.\(layer).prune: \(formatRatio(value)) is not allowed; \(layer) cannot be pruned on its own "
                + "(\(reason)), so its prune must be 0 or absent"
        case .invalidShorthand(let text, let reason):
            return "--bits '\(text)': \(reason); expected W/A or W/A/PRUNE, e.g. 4/4 or 8/8/0.5"
        case .invalidSpace(let field, let reason):
            return "search space \(field): \(reason)"
        case .vectorLength(let expected, let got):
            return "policy vector has \(got) values; expected \(expected) (prune, wbits, abits per searchable layer)"
        case .layerMismatch(let model, let reason):
            return "policy does not fit \(model): \(reason)"
        case .malformed(let message):
            return message
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// A ratio as written in policy files: shortest round-tripping decimal, `0` rather than `0.0`.
func formatRatio(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
