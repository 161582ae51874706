import Foundation

/// Why an ONNX file could not be imported; every case names what is wrong and where.
public enum OnnxImportError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The file cannot be read or is not a ModelProto.
    case unreadable(path: String, reason: String)
    /// An operator Seer has no translation for.
    case unsupportedOperator(op: String, domain: String, node: String, opset: Int64)
    /// A supported operator used in a way the engine cannot run (attribute value, input kind).
    case unsupportedUse(op: String, node: String, opset: Int64, reason: String)
    /// The graph is malformed or outside what Seer imports (inputs, outputs, shapes).
    case invalidGraph(String)
    /// An initializer whose values cannot be read.
    case invalidTensor(name: String, reason: String)
    /// A reference pins a SHA-256 the file does not have.
    case digestMismatch(path: String, expected: String, actual: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot import \(path): \(reason)"
        case let .unsupportedOperator(op, domain, node, opset):
            let qualified = domain.isEmpty ? op : "\(domain).\(op)"
            return "unsupported ONNX operator \(qualified) (node '\(node)', opset \(opset)); "
                + "supported: \(OnnxImporter.supportedOperators.joined(separator: ", "))"
        case let .unsupportedUse(op, node, opset, reason): return "\(op) node '\(node)' (opset \(opset)): \(reason)"
        case let .invalidGraph(reason): return "invalid ONNX graph: \(reason)"
        case let .invalidTensor(name, reason): return "initializer '\(name)': \(reason)"
        case let .digestMismatch(path, expected, actual):
            return "\(path) has SHA-256 \(actual), but the model reference names \(expected): a different file"
        }
    }

    public var errorDescription: String? { description }
}
