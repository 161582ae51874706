import Foundation

/// Why a protobuf message could not be decoded.
public struct ProtoDecodingError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A minimal protocol-buffers reader: walks the fields of one message (the wire format the export side's
/// `ProtoWriter` writes, https://protobuf.dev/programming-guides/encoding/).
///
/// Unknown fields are skipped by wire type, so a reader decodes only the fields it needs. Repeated scalars are
/// accepted packed and unpacked alike (ONNX's proto2 schema packs some and not others, and writers differ).
struct ProtoReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int
    /// What is being decoded, for error messages ("ModelProto.graph.node[3]").
    let context: String

    init(_ bytes: ArraySlice<UInt8>, context: String) {
        self.bytes = bytes
        position = bytes.startIndex
        self.context = context
    }

    func fail(_ what: String) -> ProtoDecodingError { ProtoDecodingError(message: "\(context): \(what)") }

    /// The next field number and value, or nil at the end of the message.
    mutating func next() throws -> (field: Int, value: Value)? {
        guard position < bytes.endIndex else { return nil }
        let key = try readVarint()
        let field = Int(key >> 3)
        guard field > 0 else { throw fail("field number 0 at byte \(position - bytes.startIndex)") }
        switch key & 7 {
        case 0: return (field, .varint(try readVarint()))
        case 1: return (field, .fixed64(UInt64(littleEndianBytes: try take(8))))
        case 2:
            let length = try readVarint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw fail("field \(field) claims \(length) bytes, \(bytes.endIndex - position) remain (truncated file?)")
            }
            return (field, .bytes(try take(Int(length))))
        case 5: return (field, .fixed32(UInt32(truncatingIfNeeded: UInt64(littleEndianBytes: try take(4)))))
        case let wire: throw fail("field \(field) has unsupported wire type \(wire)")
        }
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard bytes.endIndex - position >= n else { throw fail("truncated: \(n) bytes needed at \(position - bytes.startIndex)") }
        defer { position += n }
        return bytes[position..<position + n]
    }

    private mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard position < bytes.endIndex else { throw fail("truncated varint") }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw fail("varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    // MARK: typed views of a value

    func string(_ value: Value, _ name: String) throws -> String {
        guard case .bytes(let b) = value else { throw fail("\(name) is not length-delimited") }
        guard let s = String(bytes: b, encoding: .utf8) else { throw fail("\(name) is not UTF-8") }
        return s
    }

    func message(_ value: Value, _ name: String) throws -> ProtoReader {
        guard case .bytes(let b) = value else { throw fail("\(name) is not a message") }
        return ProtoReader(b, context: context + "." + name)
    }

    func int(_ value: Value, _ name: String) throws -> Int64 {
        guard case .varint(let v) = value else { throw fail("\(name) is not a varint") }
        return Int64(bitPattern: v)
    }

    func float(_ value: Value, _ name: String) throws -> Float {
        guard case .fixed32(let v) = value else { throw fail("\(name) is not a 32-bit float") }
        return Float(bitPattern: v)
    }

    /// A repeated int64/int32 field's values, packed or one per occurrence.
    func ints(_ value: Value, _ name: String) throws -> [Int64] {
        switch value {
        case .varint(let v): return [Int64(bitPattern: v)]
        case .bytes(let b):
            var inner = ProtoReader(b, context: context + "." + name)
            var out: [Int64] = []
            while inner.position < b.endIndex { out.append(Int64(bitPattern: try inner.readVarint())) }
            return out
        default: throw fail("\(name) is not a repeated integer")
        }
    }

    /// A repeated float field's values, packed or one per occurrence.
    func floats(_ value: Value, _ name: String) throws -> [Float] {
        switch value {
        case .fixed32(let v): return [Float(bitPattern: v)]
        case .bytes(let b):
            guard b.count % 4 == 0 else { throw fail("packed \(name) is \(b.count) bytes, not whole floats") }
            return littleEndianFloats(b)
        default: throw fail("\(name) is not a repeated float")
        }
    }

    /// A repeated double field's values, packed or one per occurrence.
    func doubles(_ value: Value, _ name: String) throws -> [Double] {
        switch value {
        case .fixed64(let v): return [Double(bitPattern: v)]
        case .bytes(let b):
            guard b.count % 8 == 0 else { throw fail("packed \(name) is \(b.count) bytes, not whole doubles") }
            return stride(from: b.startIndex, to: b.endIndex, by: 8).map {
                Double(bitPattern: UInt64(littleEndianBytes: b[$0..<$0 + 8]))
            }
        default: throw fail("\(name) is not a repeated double")
        }
    }
}

/// Little-endian float32 values from raw bytes (ONNX `raw_data` and external data are little-endian).
func littleEndianFloats(_ b: ArraySlice<UInt8>) -> [Float] {
    [Float](unsafeUninitializedCapacity: b.count / 4) { out, count in
        b.withUnsafeBytes { raw in
            for i in 0..<(b.count / 4) {
                out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
        count = b.count / 4
    }
}

extension UInt64 {
    init(littleEndianBytes b: ArraySlice<UInt8>) {
        var v: UInt64 = 0
        for (i, byte) in b.enumerated() { v |= UInt64(byte) << (8 * UInt64(i)) }
        self = v
    }
}
