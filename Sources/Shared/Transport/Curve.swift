import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a CURVE key was rejected.
public enum CurveKeyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text is not a 40-character Z85 encoding of 32 bytes.
    case invalidZ85(role: String, reason: String)
    /// The public key does not belong to the secret key.
    case mismatchedPair(publicKey: String)
    /// This libzmq was built without CURVE (zmq_has("curve") is false).
    case curveUnavailable

    public var description: String {
        switch self {
        case let .invalidZ85(role, reason): return "invalid CURVE \(role): \(reason)"
        case let .mismatchedPair(publicKey): return "CURVE public key \(publicKey) does not match the secret key"
        case .curveUnavailable: return "libzmq was built without CURVE support"
        }
    }
}

/// Z85 (ZeroMQ RFC 32) text for binary keys, in pure Swift so validation needs no libzmq call.
public enum Z85 {
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    /// Length of a Z85-encoded 32-byte CURVE key.
    public static let keyLength = 40

    /// Encodes `bytes` (length a multiple of 4) as Z85; nil otherwise.
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4 * 5)
        var index = 0
        while index < bytes.count {
            var value = UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16
            value |= UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
            var chunk = [UInt8](repeating: 0, count: 5)
            for position in stride(from: 4, through: 0, by: -1) {
                chunk[position] = alphabet[Int(value % 85)]
                value /= 85
            }
            out += chunk
            index += 4
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes Z85 `text` (length a multiple of 5, alphabet only, no 32-bit overflow); nil otherwise.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 5 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 5 * 4)
        var index = 0
        while index < chars.count {
            var value: UInt64 = 0
            for char in chars[index..<index + 5] {
                let digit = decodeTable[Int(char)]
                guard digit != 0xFF else { return nil }
                value = value * 85 + UInt64(digit)
            }
            // "%%%%%" would be 85^5 - 1 > 2^32 - 1: not an encoding of any 4 bytes.
            guard value <= UInt64(UInt32.max) else { return nil }
            out += [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
            index += 5
        }
        return out
    }

    /// Whether `text` is a well-formed Z85 CURVE key (40 characters encoding 32 bytes).
    public static func isValidKey(_ text: String) -> Bool {
        (try? keyBytes(text, role: "key")) != nil
    }

    /// The 32 raw bytes of Z85 key `text`, or a precise error naming `role`.
    public static func keyBytes(_ text: String, role: String) throws(CurveKeyError) -> [UInt8] {
        let length = text.utf8.count
        guard length == keyLength else {
            throw .invalidZ85(role: role, reason: "expected \(keyLength) characters, got \(length)")
        }
        guard let bytes = decode(text) else {
            throw .invalidZ85(role: role, reason: "contains characters outside the Z85 alphabet or an out-of-range group")
        }
        return bytes
    }

    static func keyOptionBytes(_ text: String, role: String) throws -> [UInt8] {
        // Raw 32 bytes sidestep libzmq's 40-vs-41-byte (NUL-terminated) Z85 option convention.
        try keyBytes(text, role: role)
    }
}

/// A CURVE long-term key pair as 40-character Z85 text, the form config files and allow-lists use.
public struct CurveKeyPair: Equatable, Hashable, Sendable {
    /// Public key, Z85.
    public let publicKey: String
    /// Secret key, Z85; keep it out of logs.
    public let secretKey: String

    /// Wraps existing keys after checking both are valid Z85 and that they belong together.
    public init(publicKey: String, secretKey: String) throws {
        _ = try Z85.keyBytes(publicKey, role: "public key")
        let derived = try Self.publicKey(fromSecret: secretKey)
        guard derived == publicKey else { throw CurveKeyError.mismatchedPair(publicKey: publicKey) }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    private init(unchecked publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh random key pair from libzmq (zmq_curve_keypair).
    public static func generate() throws -> CurveKeyPair {
        guard ZMQContext.has("curve") else { throw CurveKeyError.curveUnavailable }
        var publicText = [CChar](repeating: 0, count: Z85.keyLength + 1)
        var secretText = [CChar](repeating: 0, count: Z85.keyLength + 1)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(unchecked: Self.string(publicText), secretKey: Self.string(secretText))
    }

    /// The public key belonging to Z85 secret key `secret` (zmq_curve_public).
    public static func publicKey(fromSecret secret: String) throws -> String {
        guard ZMQContext.has("curve") else { throw CurveKeyError.curveUnavailable }
        _ = try Z85.keyBytes(secret, role: "secret key")
        var publicText = [CChar](repeating: 0, count: Z85.keyLength + 1)
        guard zmq_curve_public(&publicText, secret) == 0 else { throw ZMQError.last("zmq_curve_public") }
        return string(publicText)
    }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
