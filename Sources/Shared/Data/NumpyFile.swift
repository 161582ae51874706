import Foundation
import SeerTensor

/// Why a `.npy` file could not be read.
public struct NumpyFileError: Error, Equatable, CustomStringConvertible, LocalizedError {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
    public var errorDescription: String? { description }
}

/// NumPy's `.npy` format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html), version 1, 2 or 3:
/// magic, a header length, a Python-literal header dict (`descr`, `fortran_order`, `shape`), then the C-order data.
/// `read` gives float32 (uint8, integers and float64 converted); `parse` keeps the stored type (npz datasets keep uint8).
public enum NumpyFile {
    /// The elements of a parsed array, in C order, in the type they were stored as (integers widened to Int64).
    public enum Elements: Equatable, Sendable {
        case uint8([UInt8])
        case float32([Float])
        case float64([Double])
        case integers([Int64])

        /// Every element as float32.
        public var floats: [Float] {
            switch self {
            case .uint8(let v): return v.map(Float.init)
            case .float32(let v): return v
            case .float64(let v): return v.map(Float.init)
            case .integers(let v): return v.map(Float.init)
            }
        }
    }

    /// A parsed array: its shape, its NumPy type code (`<f4`, `|u1`, ...) and its elements.
    public struct ParsedArray: Equatable, Sendable {
        public let shape: [Int]
        public let descr: String
        public let elements: Elements
    }

    /// The array in `url` as a float32 tensor of its shape.
    public static func read(_ url: URL) throws -> Tensor {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch {
            throw NumpyFileError(path: url.path, reason: error.localizedDescription)
        }
        let array = try parse(bytes[...], name: url.path)
        return Tensor(shape: array.shape, data: array.elements.floats)
    }

    /// Parses `.npy` bytes; `name` names the source in errors (a file, or `archive.npz:x_train.npy`).
    public static func parse(_ bytes: ArraySlice<UInt8>, name: String) throws -> ParsedArray {
        func fail(_ reason: String) -> NumpyFileError { NumpyFileError(path: name, reason: reason) }
        let b = bytes.startIndex
        guard bytes.count >= 10, bytes[b] == 0x93, Swift.Array(bytes[(b + 1)...(b + 5)]) == Swift.Array("NUMPY".utf8) else {
            throw fail("not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[b + 6]
        let lengthBytes = major == 1 ? 2 : 4
        guard [1, 2, 3].contains(major), bytes.count >= 8 + lengthBytes else { throw fail("unsupported .npy version \(major)") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[b + 8 + $1]) << (8 * $1) }
        let start = b + 8 + lengthBytes + headerLength
        guard start <= bytes.endIndex, let header = String(bytes: bytes[(b + 8 + lengthBytes)..<start], encoding: .utf8) else {
            throw fail("truncated header")
        }
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) else {
            throw fail("header without descr: \(header)")
        }
        guard field("fortran_order", in: header) == "False" else { throw fail("Fortran-order arrays are not supported") }
        guard let shapeText = field("shape", in: header) else { throw fail("header without shape: \(header)") }
        let dimensionTexts = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = dimensionTexts.compactMap { Int($0) }
        guard shape.count == dimensionTexts.count, shape.allSatisfy({ $0 >= 0 }) else { throw fail("bad shape \(shapeText)") }
        let count = shape.reduce(1, *)
        let payload = bytes[start...]
        func need(_ size: Int) throws {
            guard payload.count == count * size else {
                throw fail("\(payload.count) data bytes for shape \(shape) of \(descr) (expected \(count * size))")
            }
        }
        let elements: Elements
        switch descr {
        case "<f4", "=f4":
            try need(4)
            elements = .float32(littleEndian(payload, 4).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) })
        case "<f8", "=f8":
            try need(8)
            elements = .float64(littleEndian(payload, 8).map { Double(bitPattern: $0) })
        case "|u1", "<u1", "u1":
            try need(1)
            elements = .uint8(Swift.Array(payload))
        case "|i1", "<i1", "i1":
            try need(1)
            elements = .integers(payload.map { Int64(Int8(bitPattern: $0)) })
        case "<i2", "<u2", "<i4", "<u4", "<i8", "<u8":
            let size = Int(descr.last!.wholeNumberValue!)
            try need(size)
            let signed = descr.dropFirst().first == "i"
            elements = .integers(littleEndian(payload, size).map { raw in
                guard signed else { return Int64(truncatingIfNeeded: raw) }
                let shift = UInt64(64 - 8 * size)
                return Int64(bitPattern: raw << shift) >> Int64(shift)
            })
        default: throw fail("element type \(descr) is not supported (float32, float64, uint8 or little-endian integers)")
        }
        return ParsedArray(shape: shape, descr: descr, elements: elements)
    }

    /// Writes `tensor` as a float32 `.npy` array of its shape.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64 as NumPy writes it.
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * tensor.count)
        for v in tensor.data { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: url, options: .atomic)
    }

    /// The text after `'key':` up to the next top-level comma (a tuple counts as one value).
    private static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        var depth = 0, value = ""
        for ch in header[range.upperBound...] {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if (ch == "," && depth == 0) || ch == "}" { break }
            value.append(ch)
        }
        return value.trimmingCharacters(in: .whitespaces)
    }

    private static func littleEndian(_ b: ArraySlice<UInt8>, _ size: Int) -> [UInt64] {
        stride(from: b.startIndex, to: b.endIndex, by: size).map { i in
            (0..<size).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
        }
    }
}
