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
/// Float32 arrays are read as they are; uint8 and float64 are converted to float32.
public enum NumpyFile {
    /// The array in `url` as a float32 tensor of its shape.
    public static func read(_ url: URL) throws -> Tensor {
        func fail(_ reason: String) -> NumpyFileError { NumpyFileError(path: url.path, reason: reason) }
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch { throw fail(error.localizedDescription) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let lengthBytes = major == 1 ? 2 : 4
        guard [1, 2, 3].contains(major), bytes.count >= 8 + lengthBytes else { throw fail("unsupported .npy version \(major)") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let start = 8 + lengthBytes + headerLength
        guard start <= bytes.count, let header = String(bytes: bytes[(8 + lengthBytes)..<start], encoding: .utf8) else {
            throw fail("truncated header")
        }
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) else {
            throw fail("header without descr: \(header)")
        }
        guard field("fortran_order", in: header) == "False" else { throw fail("Fortran-order arrays are not supported") }
        guard let shapeText = field("shape", in: header) else { throw fail("header without shape: \(header)") }
        let shape = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        let count = shape.reduce(1, *)
        let payload = bytes[start...]
        func need(_ size: Int) throws {
            guard payload.count == count * size else {
                throw fail("\(payload.count) data bytes for shape \(shape) of \(descr) (expected \(count * size))")
            }
        }
        switch descr {
        case "<f4", "=f4":
            try need(4)
            return Tensor(shape: shape, data: littleEndian(payload, 4).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) })
        case "<f8", "=f8":
            try need(8)
            return Tensor(shape: shape, data: littleEndian(payload, 8).map { Float(Double(bitPattern: $0)) })
        case "|u1", "<u1", "u1":
            try need(1)
            return Tensor(shape: shape, data: payload.map(Float.init))
        default: throw fail("element type \(descr) is not supported (float32, float64 or uint8)")
        }
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
