import Foundation

/// A minimal protocol-buffers writer: just the wire types ONNX's messages use.
///
/// Wire format (https://protobuf.dev/programming-guides/encoding/): each field is a key
/// `(field_number << 3) | wire_type` as a varint followed by its value. Wire types used here:
/// 0 varint (int32/int64/enum; negative numbers as 10-byte two's complement), 2 length-delimited
/// (strings, bytes, sub-messages, packed repeated scalars), 5 fixed 32-bit little-endian (float).
/// Fields are written in the order the caller adds them; parsers accept any order.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wire: WireType) {
        precondition(field >= 1 && field < 1 << 29, "protobuf field number \(field) out of range")
        varint(UInt64(field) << 3 | wire.rawValue)
    }

    /// int32 / int64 / enum field (varint; negatives sign-extended to 64 bits, as protobuf does).
    mutating func int(_ field: Int, _ value: Int64) {
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    mutating func int(_ field: Int, _ value: Int) { int(field, Int64(value)) }

    /// float field (fixed32, little-endian IEEE 754).
    mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    /// An embedded message: its encoding as a length-delimited field.
    mutating func message(_ field: Int, _ value: ProtoWriter) { bytes(field, value.bytes) }

    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var sub = ProtoWriter()
        build(&sub)
        message(field, sub)
    }

    /// `repeated int64` written one key per element (what proto2 fields without `[packed = true]` use;
    /// parsers accept both forms).
    mutating func unpackedInts(_ field: Int, _ values: [Int64]) {
        for v in values { int(field, v) }
    }

    /// `repeated float` written one key per element.
    mutating func unpackedFloats(_ field: Int, _ values: [Float]) {
        for v in values { float(field, v) }
    }
}
