import CZlib
import Foundation
import XCTest
@testable import SeerData

/// Writes `bytes` gzipped to `path` with zlib's own gz writer, independent of the reader under test.
func writeGzip(_ bytes: [UInt8], to path: String) throws {
    guard let file = gzopen(path, "wb") else { throw DataError.invalidRequest("gzopen failed for \(path)") }
    let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    let closed = gzclose(file)
    guard Int(written) == bytes.count || bytes.isEmpty, closed == Z_OK else {
        throw DataError.invalidRequest("gzwrite failed for \(path)")
    }
}

/// An IDX file's bytes: big-endian magic, big-endian dimensions, then the payload as given.
func idxBytes(magic: UInt32, dimensions: [Int], payload: [UInt8]) -> [UInt8] {
    func bigEndian(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
    return bigEndian(magic) + dimensions.flatMap { bigEndian(UInt32($0)) } + payload
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

final class IDXReaderTests: XCTestCase {
    func testImagesAndLabelsRoundTrip() throws {
        let dir = try temporaryDirectory(self)
        let pixels = (0..<(3 * 4 * 5)).map { UInt8($0 * 4 % 256) }
        let imagesPath = dir + "/images.gz", labelsPath = dir + "/labels.gz"
        try writeGzip(idxBytes(magic: 0x803, dimensions: [3, 4, 5], payload: pixels), to: imagesPath)
        try writeGzip(idxBytes(magic: 0x801, dimensions: [3], payload: [7, 0, 9]), to: labelsPath)

        let images = try IDXReader.readImages(path: imagesPath)
        XCTAssertEqual(images.dimensions, [3, 4, 5])
        XCTAssertEqual(images.bytes, pixels)
        let labels = try IDXReader.readLabels(path: labelsPath)
        XCTAssertEqual(labels, IDXArray(dimensions: [3], bytes: [7, 0, 9]))
    }

    func testLargePayloadSpanningManyInflateChunks() throws {
        let dir = try temporaryDirectory(self)
        var rng = SystemRandomNumberGenerator()
        let pixels = (0..<(100 * 28 * 28)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try writeGzip(idxBytes(magic: 0x803, dimensions: [100, 28, 28], payload: pixels), to: dir + "/big.gz")
        XCTAssertEqual(try IDXReader.readImages(path: dir + "/big.gz").bytes, pixels)
    }

    func testZeroImagesIsValid() throws {
        let dir = try temporaryDirectory(self)
        try writeGzip(idxBytes(magic: 0x803, dimensions: [0, 28, 28], payload: []), to: dir + "/empty.gz")
        XCTAssertEqual(try IDXReader.readImages(path: dir + "/empty.gz").dimensions, [0, 28, 28])
    }

    func testTruncatedPayloadNamesFileAndByteCounts() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/short-images.gz"
        // Claims 5 images of 2x2 (16 + 20 bytes) but holds only 3 (16 + 12 bytes).
        try writeGzip(idxBytes(magic: 0x803, dimensions: [5, 2, 2], payload: [UInt8](repeating: 1, count: 12)), to: path)
        XCTAssertThrowsError(try IDXReader.readImages(path: path)) { error in
            XCTAssertEqual(error as? DataError, .truncated(path: path, expectedBytes: 36, foundBytes: 28))
            let message = "\(error)"
            XCTAssertTrue(message.contains("short-images.gz") && message.contains("36") && message.contains("28"), message)
        }
    }

    func testTruncatedHeaderIsAnError() throws {
        let dir = try temporaryDirectory(self)
        try writeGzip([0, 0, 8, 3, 0, 0], to: dir + "/header.gz")
        XCTAssertThrowsError(try IDXReader.readImages(path: dir + "/header.gz")) { error in
            guard case .badIDXHeader? = error as? DataError else { return XCTFail("\(error)") }
        }
    }

    func testTrailingBytesAreAnError() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/long-labels.gz"
        try writeGzip(idxBytes(magic: 0x801, dimensions: [2], payload: [1, 2, 3]), to: path)
        XCTAssertThrowsError(try IDXReader.readLabels(path: path)) { error in
            XCTAssertEqual(error as? DataError, .trailingBytes(path: path, expectedBytes: 10))
        }
    }

    func testWrongMagicIsAnError() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/labels.gz"
        try writeGzip(idxBytes(magic: 0x801, dimensions: [2], payload: [1, 2]), to: path)
        XCTAssertThrowsError(try IDXReader.readImages(path: path)) { error in
            guard case .badIDXHeader? = error as? DataError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("0x00000801") && "\(error)".contains("0x00000803"), "\(error)")
        }
    }

    func testCorruptGzipNamesFile() throws {
        let dir = try temporaryDirectory(self)
        let good = dir + "/good.gz"
        let pixels = (0..<(10 * 28 * 28)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try writeGzip(idxBytes(magic: 0x803, dimensions: [10, 28, 28], payload: pixels), to: good)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
        for i in stride(from: 20, to: bytes.count - 20, by: 7) { bytes[i] ^= 0x5a }
        let bad = dir + "/corrupt.gz"
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try IDXReader.readImages(path: bad)) { error in
            guard case .corruptGzip(let path, _)? = error as? DataError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, bad)
            XCTAssertTrue("\(error)".contains("corrupt.gz"))
        }
    }

    func testUncompressedIDXIsRejectedNotPassedThrough() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/plain.gz"
        try Data(idxBytes(magic: 0x801, dimensions: [2], payload: [1, 2])).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try IDXReader.readLabels(path: path)) { error in
            guard case .corruptGzip? = error as? DataError else { return XCTFail("\(error)") }
        }
    }

    func testCompressedFileCutShortIsAnError() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/cut.gz"
        try writeGzip(idxBytes(magic: 0x801, dimensions: [1000], payload: (0..<1000).map { UInt8($0 % 10) }), to: path)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        try Data(bytes[0..<(bytes.count / 2)]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try IDXReader.readLabels(path: path)) { error in
            guard case .corruptGzip? = error as? DataError else { return XCTFail("\(error)") }
        }
    }

    func testConcatenatedGzipMembersReadAsOneStreamButGarbageAfterIsAnError() throws {
        let dir = try temporaryDirectory(self)
        let whole = idxBytes(magic: 0x801, dimensions: [6], payload: [1, 2, 3, 4, 5, 6])
        try writeGzip(Array(whole[0..<7]), to: dir + "/a.gz")
        try writeGzip(Array(whole[7...]), to: dir + "/b.gz")
        let first = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.gz"))
        let second = try Data(contentsOf: URL(fileURLWithPath: dir + "/b.gz"))
        try (first + second).write(to: URL(fileURLWithPath: dir + "/both.gz"))
        XCTAssertEqual(try IDXReader.readLabels(path: dir + "/both.gz").bytes, [1, 2, 3, 4, 5, 6])

        try (first + second + Data([0, 0, 0])).write(to: URL(fileURLWithPath: dir + "/garbage.gz"))
        XCTAssertThrowsError(try IDXReader.readLabels(path: dir + "/garbage.gz")) { error in
            guard case .corruptGzip? = error as? DataError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("3 bytes"), "\(error)")
        }
    }

    func testEmptyAndMissingFilesAreErrors() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/empty.gz", contents: Data()))
        XCTAssertThrowsError(try IDXReader.readLabels(path: dir + "/empty.gz")) { error in
            XCTAssertTrue("\(error)".contains("empty"), "\(error)")
        }
        XCTAssertThrowsError(try IDXReader.readLabels(path: dir + "/absent.gz")) { error in
            guard case .unreadableFile? = error as? DataError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try IDXReader.readLabels(path: dir)) { error in
            guard case .unreadableFile? = error as? DataError else { return XCTFail("\(error)") }
        }
    }

    func testHeaderDeclaringAnAbsurdSizeIsTruncatedNotAHugeAllocation() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/huge.gz"
        try writeGzip(idxBytes(magic: 0x803, dimensions: [0xFFFF_FFFF, 0xFFFF, 0x7F], payload: [1, 2, 3]), to: path)
        XCTAssertThrowsError(try IDXReader.readImages(path: path)) { error in
            guard case .truncated? = error as? DataError else { return XCTFail("\(error)") }
        }
        // 2^32 * 2^16 * 2^16 elements do not fit in Int at all.
        try writeGzip(idxBytes(magic: 0x803, dimensions: [0xFFFF_FFFF, 0xFFFF, 0xFFFF], payload: [1, 2, 3]), to: path)
        XCTAssertThrowsError(try IDXReader.readImages(path: path)) { error in
            guard case .badIDXHeader? = error as? DataError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("overflow"), "\(error)")
        }
    }

    /// Arbitrary and mutated byte sequences must give a value or a `DataError`, never a crash.
    func testRandomAndMutatedBytesNeverCrash() throws {
        var rng = SeededGeneratorForTests(seed: 42)
        let valid = try gzipInMemory(idxBytes(magic: 0x801, dimensions: [64], payload: (0..<64).map { UInt8($0 % 10) }))
        for round in 0..<2000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<rng.below(200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            case 1:
                bytes = valid
                for _ in 0..<(1 + rng.below(4)) { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            default:
                bytes = Array(valid[0..<rng.below(valid.count + 1)])
            }
            do {
                let decoded = try IDXReader.decode(gzipped: bytes, magic: IDXReader.labelsMagic, path: "fuzz")
                XCTAssertEqual(decoded.bytes.count, decoded.dimensions.reduce(1, *))
            } catch {
                XCTAssertTrue(error is DataError, "round \(round): \(error)")
            }
        }
    }

    private func gzipInMemory(_ bytes: [UInt8]) throws -> [UInt8] {
        let dir = try temporaryDirectory(self)
        try writeGzip(bytes, to: dir + "/x.gz")
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/x.gz")))
    }
}

/// SplitMix64, so the fuzz test does not depend on the generator under test elsewhere.
struct SeededGeneratorForTests {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
