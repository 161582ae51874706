import Foundation

/// A decoded unsigned-byte IDX array: its dimensions and its elements in row-major order.
public struct IDXArray: Sendable, Equatable {
    /// Sizes from the header, outermost first (e.g. [N, rows, columns]).
    public let dimensions: [Int]
    /// The elements in row-major order; exactly the product of `dimensions` of them.
    public let bytes: [UInt8]

    /// Wraps already-decoded data, e.g. synthetic images in tests.
    public init(dimensions: [Int], bytes: [UInt8]) {
        self.dimensions = dimensions
        self.bytes = bytes
    }
}

/// Reads gzipped IDX files (the MNIST family's format), validating the header against the payload exactly.
public enum IDXReader {
    /// Magic of an unsigned-byte array with three dimensions: N images x rows x columns.
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic of an unsigned-byte array with one dimension: N labels.
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Reads a gzipped IDX file of images, giving dimensions [N, rows, columns].
    public static func readImages(path: String) throws -> IDXArray {
        try read(path: path, magic: imagesMagic)
    }

    /// Reads a gzipped IDX file of labels, giving dimensions [N].
    public static func readLabels(path: String) throws -> IDXArray {
        try read(path: path, magic: labelsMagic)
    }

    /// Reads a gzipped IDX file whose magic must equal `magic`.
    public static func read(path: String, magic: UInt32) throws -> IDXArray {
        try decode(gzipped: readFile(path: path), magic: magic, path: path)
    }

    /// The raw bytes of a file, with read failures reported as `DataError` naming the file.
    public static func readFile(path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.unreadableFile(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw DataError.unreadableFile(path: path, reason: "it is a directory") }
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw DataError.unreadableFile(path: path, reason: error.localizedDescription)
        }
    }

    /// Decodes gzipped IDX bytes already in memory; `path` only names the source in errors.
    public static func decode(gzipped: [UInt8], magic: UInt32, path: String) throws -> IDXArray {
        let dimensionCount = Int(magic & 0xff)
        guard magic >> 8 == 0x08, dimensionCount > 0 else {
            throw DataError.invalidRequest("IDXReader: magic \(hex(magic)) is not an unsigned-byte IDX magic")
        }
        return try gzipped.withUnsafeBytes { input in
            let inflater: GzipInflater
            do { inflater = try GzipInflater(input: input) } catch let failure as GzipFailure {
                throw DataError.corruptGzip(path: path, reason: failure.message)
            }
            var decompressedCount = 0

            /// Reads exactly `count` header bytes, or reports how far the file got.
            func readHeader(_ count: Int) throws -> [UInt8] {
                var header = [UInt8](repeating: 0, count: count)
                let got = try header.withUnsafeMutableBytes { try pull(inflater, into: $0, path: path) }
                decompressedCount += got
                guard got == count else {
                    throw DataError.badIDXHeader(
                        path: path, reason: "the decompressed file holds only \(decompressedCount) bytes, "
                            + "less than the \(4 + 4 * dimensionCount)-byte header")
                }
                return header
            }

            let magicBytes = try readHeader(4)
            let foundMagic = magicBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard foundMagic == magic else {
                throw DataError.badIDXHeader(
                    path: path, reason: "magic number is \(hex(foundMagic)), expected \(hex(magic)) "
                        + "(\(describe(magic)))")
            }
            let headerCount = 4 + 4 * dimensionCount
            let dimensionBytes = try readHeader(4 * dimensionCount)
            var dimensions = [Int]()
            var elementCount = 1
            for d in 0..<dimensionCount {
                let size = dimensionBytes[(4 * d)..<(4 * d + 4)].reduce(0) { $0 << 8 | Int($1) }
                dimensions.append(size)
                let (product, overflow) = elementCount.multipliedReportingOverflow(by: size)
                guard !overflow else {
                    throw DataError.badIDXHeader(path: path, reason: "dimensions \(dimensions) overflow the element count")
                }
                elementCount = product
            }
            let declaredTotal = headerCount + elementCount

            // Reserve at most a bounded amount up front: a lying header must not be able to demand huge memory.
            var payload = [UInt8]()
            payload.reserveCapacity(min(elementCount, 1 << 27))
            var chunk = [UInt8](repeating: 0, count: 1 << 18)
            while true {
                let got = try chunk.withUnsafeMutableBytes { try pull(inflater, into: $0, path: path) }
                if got == 0 { break }
                decompressedCount += got
                guard payload.count + got <= elementCount else {
                    throw DataError.trailingBytes(path: path, expectedBytes: declaredTotal)
                }
                payload.append(contentsOf: chunk[0..<got])
            }
            guard payload.count == elementCount else {
                throw DataError.truncated(path: path, expectedBytes: declaredTotal, foundBytes: decompressedCount)
            }
            return IDXArray(dimensions: dimensions, bytes: payload)
        }
    }

    /// One inflater read with zlib failures turned into `DataError`s naming the file.
    private static func pull(_ inflater: GzipInflater, into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        do {
            return try inflater.read(into: buffer)
        } catch let failure as GzipFailure {
            throw DataError.corruptGzip(path: path, reason: failure.message)
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private static func describe(_ magic: UInt32) -> String {
        switch magic {
        case imagesMagic: return "unsigned-byte images N x rows x columns"
        case labelsMagic: return "unsigned-byte labels N"
        default: return "unsigned-byte, \(magic & 0xff) dimensions"
        }
    }
}
