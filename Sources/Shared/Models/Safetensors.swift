import Foundation
import SeerTensor

/// Why a safetensors file could not be written or read, naming the file and the field at fault.
public struct SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The file being read or written.
    public let path: String
    /// What is wrong with it, naming the tensor or field at fault.
    public let reason: String

    /// An error about `path`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// "safetensors file PATH: REASON".
    public var description: String { "safetensors file \(path): \(reason)" }
    public var errorDescription: String? { description }
}

/// Checkpoints in the safetensors format (float32 only), readable by Python's `safetensors` package.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON header padded with spaces so the data
/// starts 8-byte aligned, then each tensor's little-endian float32 bytes at its `data_offsets`.
public enum Safetensors {
    private static let metadataKey = "__metadata__"

    /// Writes `tensors` in the given order with string `metadata`, replacing `url` atomically.
    ///
    /// The bytes go to a temporary file in the same directory, are flushed to disk, and are renamed over `url`,
    /// so a crash mid-write leaves either the old checkpoint or the new one, never a torn file.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
                             to url: URL) throws {
        let bytes = try encode(tensors, metadata: metadata, path: url.path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try bytes.write(to: temporary, options: .withoutOverwriting)
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError(path: url.path, reason: "cannot write temporary file \(temporary.path): "
                                   + error.localizedDescription)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError(path: url.path, reason: "cannot rename \(temporary.path) into place: \(reason)")
        }
    }

    /// Reads every tensor, the tensors' names in file (data offset) order, and the string metadata.
    public static func read(from url: URL) throws
        -> (tensors: [String: Tensor], order: [String], metadata: [String: String]) {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw SafetensorsError(path: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try decode(bytes, path: url.path)
    }

    /// The complete file contents for `tensors` and `metadata`; `path` only names the target in errors.
    static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String], path: String) throws -> Data {
        func fail(_ reason: String) -> SafetensorsError { SafetensorsError(path: path, reason: reason) }
        var seen = Set<String>()
        var entries = [String]()
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\(jsonString(metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in tensors {
            guard !name.isEmpty else { throw fail("a tensor has an empty name") }
            guard name != metadataKey else { throw fail("a tensor may not be named \(metadataKey), which holds the metadata") }
            guard seen.insert(name).inserted else { throw fail("tensor name '\(name)' appears twice") }
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.reduce(1, *) == tensor.data.count else {
                throw fail("tensor '\(name)' has shape \(tensor.shape) but \(tensor.data.count) values")
            }
            let end = offset + 4 * tensor.data.count
            entries.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                           + "\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        // Python's safetensors pads the same way: data then starts 8-byte aligned for zero-copy float loads.
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var file = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: header)
        for (_, tensor) in tensors {
            #if _endian(big)
            let littleEndian = tensor.data.map { $0.bitPattern.littleEndian }
            littleEndian.withUnsafeBytes { file.append(contentsOf: $0) }
            #else
            tensor.data.withUnsafeBytes { file.append(contentsOf: $0) }
            #endif
        }
        return file
    }

    /// Parses and validates a whole file held in memory; `path` only names the source in errors.
    static func decode(_ bytes: Data, path: String) throws
        -> (tensors: [String: Tensor], order: [String], metadata: [String: String]) {
        func fail(_ reason: String) -> SafetensorsError { SafetensorsError(path: path, reason: reason) }
        guard bytes.count >= 8 else {
            throw fail("the file is \(bytes.count) bytes, too short for the 8-byte header length")
        }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("the header length \(headerLength) runs past the end of the \(bytes.count)-byte file")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let headerBytes = bytes.subdata(in: (bytes.startIndex + 8)..<(bytes.startIndex + dataStart))
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw fail("the header does not start with '{', so it is not a JSON object")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: headerBytes)
        } catch let error as DecodingError {
            throw fail("the header is invalid: \(describe(error))")
        } catch {
            throw fail("the header is not valid JSON: \(error.localizedDescription)")
        }

        struct Entry { let name: String; let shape: [Int]; let begin: Int; let end: Int }
        var entries = [Entry]()
        for (name, entry) in header.tensors {
            guard entry.dtype == "F32" else {
                throw fail("tensor '\(name)' has dtype \(entry.dtype); only F32 is supported")
            }
            let shape = entry.shape, offsets = entry.dataOffsets
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has shape \(shape) with a negative dimension")
            }
            guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("tensor '\(name)' has data_offsets \(offsets); expected [begin, end] with 0 <= begin <= end")
            }
            guard offsets[1] <= dataSize else {
                throw fail("tensor '\(name)' has data_offsets [\(offsets[0]), \(offsets[1])] beyond the "
                           + "\(dataSize)-byte data section")
            }
            var byteCount = 4
            for size in shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: size)
                guard !overflow else { throw fail("tensor '\(name)' has shape \(shape), too large to address") }
                byteCount = product
            }
            guard offsets[1] - offsets[0] == byteCount else {
                throw fail("tensor '\(name)' has shape \(shape) (\(byteCount) bytes of F32) but data_offsets "
                           + "[\(offsets[0]), \(offsets[1])] span \(offsets[1] - offsets[0]) bytes")
            }
            entries.append(Entry(name: name, shape: shape, begin: offsets[0], end: offsets[1]))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }

        // Like Python's safetensors: the tensors must tile the data section exactly, with no overlap and no gap.
        var covered = 0
        var previous: Entry?
        for entry in entries {
            if entry.begin < covered, let previous {
                throw fail("tensor '\(entry.name)' bytes [\(entry.begin), \(entry.end)) overlap tensor "
                           + "'\(previous.name)' bytes [\(previous.begin), \(previous.end))")
            }
            if entry.begin > covered {
                throw fail("bytes [\(covered), \(entry.begin)) of the data section belong to no tensor")
            }
            covered = entry.end
            previous = entry
        }
        guard covered == dataSize else {
            throw fail("bytes [\(covered), \(dataSize)) of the data section belong to no tensor")
        }

        var tensors = [String: Tensor]()
        bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            for entry in entries {
                let count = (entry.end - entry.begin) / 4
                let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(
                        from: UnsafeRawBufferPointer(rebasing: data[entry.begin..<entry.end]))
                    initialized = count
                }
                #if _endian(big)
                tensors[entry.name] = Tensor(shape: entry.shape,
                                             data: values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) })
                #else
                tensors[entry.name] = Tensor(shape: entry.shape, data: values)
                #endif
            }
        }
        return (tensors, entries.map(\.name), header.metadata)
    }

    /// The header as JSON decodes it: string metadata and one entry per tensor name.
    private struct Header: Decodable {
        struct TensorEntry: Decodable {
            let dtype: String
            let shape: [Int]
            let dataOffsets: [Int]

            enum CodingKeys: String, CodingKey {
                case dtype, shape
                case dataOffsets = "data_offsets"
            }

            init(from decoder: Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                dtype = try container.decode(String.self, forKey: .dtype)
                shape = try container.decode([ExactInteger].self, forKey: .shape).map(\.value)
                dataOffsets = try container.decode([ExactInteger].self, forKey: .dataOffsets).map(\.value)
            }
        }

        /// An integer that must be exact; Foundation's own failure for 1.5 or 1e30 as Int says only "not valid JSON".
        struct ExactInteger: Decodable {
            let value: Int

            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let value = try? container.decode(Int.self) {
                    self.value = value
                    return
                }
                let found = (try? container.decode(Double.self)).map { "\($0)" } ?? "a non-number"
                throw DecodingError.typeMismatch(Int.self, .init(
                    codingPath: decoder.codingPath, debugDescription: "expected an integer that fits in Int, found \(found)"))
            }
        }

        struct NameKey: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        var metadata: [String: String] = [:]
        var tensors: [(name: String, entry: TensorEntry)] = []

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: NameKey.self)
            for key in container.allKeys {
                if key.stringValue == Safetensors.metadataKey {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    tensors.append((key.stringValue, try container.decode(TensorEntry.self, forKey: key)))
                }
            }
        }
    }

    /// "at 'w'.shape[1]: expected Int, ..." rather than DecodingError's nested dump.
    private static func describe(_ error: DecodingError) -> String {
        let (path, detail): ([CodingKey], String)
        switch error {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            (path, detail) = (context.codingPath, context.debugDescription)
        case let .keyNotFound(key, context):
            (path, detail) = (context.codingPath, "missing field '\(key.stringValue)'")
        @unknown default:
            return "\(error)"
        }
        guard let first = path.first else { return detail }
        let location = path.dropFirst().reduce("'\(first.stringValue)'") { text, key in
            key.intValue.map { "\(text)[\($0)]" } ?? "\(text).\(key.stringValue)"
        }
        return "at \(location): \(detail)"
    }

    /// A JSON string literal, escaping what JSON requires so any tensor name or metadata text survives.
    private static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
