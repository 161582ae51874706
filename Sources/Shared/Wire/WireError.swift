/// Why a frame set is not a valid Seer message (or a message cannot be sent); each maps to an ERROR code.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Wrong number of frames; `expected` says what was needed.
    case frameCount(expected: String, got: Int)
    /// The ROUTER-side routing id frame is empty or longer than 255 bytes.
    case invalidRoutingID(length: Int)
    /// The header frame does not start with the signature (shown printable, truncated).
    case badSignature(found: String)
    /// The header is "SEER<n>" with a version this build does not speak.
    case unsupportedVersion(Int)
    /// The type frame names no message type (shown printable, truncated).
    case unknownType(String)
    /// The message or one frame is over its size limit.
    case tooLarge(bytes: Int, limit: Int)
    /// The body is not UTF-8 JSON, not an object, or nested too deep.
    case malformedJSON(type: MessageType, reason: String)
    /// A required field is absent (dotted path, e.g. "device.cores").
    case missingField(type: MessageType, field: String)
    /// A field has the wrong JSON type or a value out of range.
    case invalidField(type: MessageType, field: String, reason: String)

    /// The ERROR code to answer this with.
    public var code: ErrorCode {
        switch self {
        case .unsupportedVersion: return .unsupportedVersion
        case .unknownType: return .unknownType
        case .tooLarge: return .tooLarge
        case .frameCount, .invalidRoutingID, .badSignature, .malformedJSON, .missingField, .invalidField: return .malformed
        }
    }

    public var description: String {
        switch self {
        case let .frameCount(expected, got): return "expected \(expected) frames, got \(got)"
        case let .invalidRoutingID(length): return "routing id must be 1...\(SeerProtocol.maxIDBytes) bytes, got \(length)"
        case let .badSignature(found): return "header frame \"\(found)\" is not \(SeerProtocol.signature)<version>"
        case let .unsupportedVersion(version):
            return "protocol version \(version) is not supported (this side speaks \(SeerProtocol.version))"
        case let .unknownType(name): return "unknown message type \"\(name)\""
        case let .tooLarge(bytes, limit): return "message of \(bytes) bytes exceeds the \(limit)-byte limit"
        case let .malformedJSON(type, reason): return "\(type.rawValue) body is not valid: \(reason)"
        case let .missingField(type, field): return "\(type.rawValue) body lacks required field \"\(field)\""
        case let .invalidField(type, field, reason): return "\(type.rawValue) field \"\(field)\" \(reason)"
        }
    }

    /// An ERROR message reporting this error, for the peer that sent the bad message.
    public func errorMessage(jobID: String? = nil) -> Message {
        // Bounded so that echoing hostile input cannot make our own reply invalid.
        .error(ErrorBody(jobID: jobID, code: code, message: String(description.prefix(1024))))
    }

    /// Bytes as printable ASCII for error text: never echo raw control bytes into logs.
    static func printable(_ bytes: ArraySlice<UInt8>, limit: Int = 32) -> String {
        var text = String(bytes.prefix(limit).map { (0x20...0x7E).contains($0) ? Character(UnicodeScalar($0)) : "?" })
        if bytes.count > limit { text += "..." }
        return text
    }
}
