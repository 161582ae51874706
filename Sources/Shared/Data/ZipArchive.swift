import CZlib

/// A zip archive in memory (PKWARE APPNOTE 6.3): the central directory's entries, each extracted on demand, stored or
/// deflated, with its CRC-32 checked. Zip64 sizes and offsets (what NumPy's `savez` writes) are understood.
///
/// Enough for `.npz` files; encryption, multi-disk archives and other compression methods are errors.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
        let flags: UInt16
    }

    /// The three fields zip64 may widen, in the order its extra field lists them.
    private struct Sizes { var compressed: Int, uncompressed: Int, offset: Int }

    let path: String
    let bytes: [UInt8]
    let entries: [Entry]

    init(bytes: [UInt8], path: String) throws {
        self.path = path
        self.bytes = bytes
        func fail(_ reason: String) -> DataError { .badFile(path: path, reason: reason) }
        // The end-of-central-directory record: the last signature within the final 64 KiB + 22 bytes (its comment).
        let eocdSignature: UInt32 = 0x0605_4b50
        let lowest = max(0, bytes.count - 22 - 65_535)
        var eocd: Int?
        var position = bytes.count - 22
        while position >= lowest {
            if Self.u32(bytes, position) == eocdSignature { eocd = position; break }
            position -= 1
        }
        guard let eocd else { throw fail("not a zip archive (no end-of-central-directory record); an .npz is a zip of .npy files") }
        var entryCount = Int(Self.u16(bytes, eocd + 10))
        var directorySize = Int(Self.u32(bytes, eocd + 12))
        var directoryOffset = Int(Self.u32(bytes, eocd + 16))
        // Zip64: a locator just before the record points at the zip64 end-of-central-directory record.
        if eocd >= 20, Self.u32(bytes, eocd - 20) == 0x0706_4b50 {
            let record = Int(Self.u64(bytes, eocd - 20 + 8))
            guard record >= 0, record + 56 <= bytes.count, Self.u32(bytes, record) == 0x0606_4b50 else {
                throw fail("bad zip64 end-of-central-directory record")
            }
            entryCount = Int(Self.u64(bytes, record + 32))
            directorySize = Int(Self.u64(bytes, record + 40))
            directoryOffset = Int(Self.u64(bytes, record + 48))
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset + directorySize <= bytes.count else {
            throw fail("the central directory lies outside the file (truncated?)")
        }
        var entries = [Entry]()
        var cursor = directoryOffset
        for index in 0..<entryCount {
            guard cursor + 46 <= bytes.count, Self.u32(bytes, cursor) == 0x0201_4b50 else {
                throw fail("central directory entry \(index) is damaged")
            }
            let flags = Self.u16(bytes, cursor + 8)
            let method = Self.u16(bytes, cursor + 10)
            let crc = Self.u32(bytes, cursor + 16)
            var sizes = Sizes(compressed: Int(Self.u32(bytes, cursor + 20)), uncompressed: Int(Self.u32(bytes, cursor + 24)),
                              offset: Int(Self.u32(bytes, cursor + 42)))
            let nameLength = Int(Self.u16(bytes, cursor + 28))
            let extraLength = Int(Self.u16(bytes, cursor + 30))
            let commentLength = Int(Self.u16(bytes, cursor + 32))
            let nameStart = cursor + 46
            guard nameStart + nameLength + extraLength <= bytes.count else { throw fail("central directory entry \(index) is cut off") }
            let name = String(decoding: bytes[nameStart..<(nameStart + nameLength)], as: UTF8.self)
            // Zip64 extended information: the 64-bit values of the fields that hold 0xFFFFFFFF, in this order.
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = Self.u16(bytes, extra), size = Int(Self.u16(bytes, extra + 2))
                if id == 0x0001 {
                    var field = extra + 4
                    for value in [\Sizes.uncompressed, \Sizes.compressed, \Sizes.offset]
                    where sizes[keyPath: value] == 0xFFFF_FFFF && field + 8 <= extra + 4 + size {
                        sizes[keyPath: value] = Int(Self.u64(bytes, field))
                        field += 8
                    }
                }
                extra += 4 + size
            }
            entries.append(Entry(name: name, method: method, crc32: crc, compressedSize: sizes.compressed,
                                 uncompressedSize: sizes.uncompressed, localHeaderOffset: sizes.offset, flags: flags))
            cursor = extraEnd + commentLength
        }
        self.entries = entries
    }

    /// The uncompressed bytes of `entry`, CRC-checked.
    func extract(_ entry: Entry) throws -> [UInt8] {
        func fail(_ reason: String) -> DataError { .badFile(path: path, reason: "\(entry.name): \(reason)") }
        guard entry.flags & 1 == 0 else { throw fail("encrypted entries are not supported") }
        let local = entry.localHeaderOffset
        guard local >= 0, local + 30 <= bytes.count, Self.u32(bytes, local) == 0x0403_4b50 else {
            throw fail("its local header is missing or damaged")
        }
        let dataStart = local + 30 + Int(Self.u16(bytes, local + 26)) + Int(Self.u16(bytes, local + 28))
        guard entry.compressedSize >= 0, dataStart + entry.compressedSize <= bytes.count else {
            throw fail("its data run past the end of the file (truncated?)")
        }
        let stored = bytes[dataStart..<(dataStart + entry.compressedSize)]
        let output: [UInt8]
        switch entry.method {
        case 0:
            output = Array(stored)
        case 8:
            // zlib counts in 32 bits; one call inflates the whole entry.
            guard entry.uncompressedSize <= Int(UInt32.max), entry.compressedSize <= Int(UInt32.max) else {
                throw fail("deflated entries over 4 GiB are not supported (store the npz uncompressed: np.savez)")
            }
            output = try Self.inflateRaw(stored, size: entry.uncompressedSize) { fail($0) }
        default:
            throw fail("compression method \(entry.method) is not supported (stored or deflated)")
        }
        guard output.count == entry.uncompressedSize else {
            throw fail("\(output.count) bytes after decompression, the directory says \(entry.uncompressedSize)")
        }
        let crc = output.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        guard crc == entry.crc32 else { throw fail("CRC-32 mismatch (the archive is damaged)") }
        return output
    }

    /// Raw deflate (no zlib or gzip framing) of exactly `size` output bytes.
    private static func inflateRaw(_ input: ArraySlice<UInt8>, size: Int, fail: (String) -> DataError) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        // Heap-allocated: zlib keeps a back pointer to the stream and refuses to run if it moves.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deinitialize(count: 1); stream.deallocate() }
        guard inflateInit2_(stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib could not start inflating")
        }
        defer { inflateEnd(stream) }
        let status: Int32 = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.pointee.avail_in = uInt(source.count)
                stream.pointee.next_out = target.baseAddress
                stream.pointee.avail_out = uInt(target.count)
                return inflate(stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else {
            let reason = stream.pointee.msg.map { String(cString: $0) } ?? (status == Z_BUF_ERROR ? "data cut short or larger than declared" : "zlib status \(status)")
            throw fail("invalid deflate data (\(reason))")
        }
        return Array(output[0..<Int(stream.pointee.total_out)])
    }

    static func u16(_ b: [UInt8], _ i: Int) -> UInt16 { i + 2 <= b.count ? UInt16(b[i]) | UInt16(b[i + 1]) << 8 : 0 }
    static func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        i >= 0 && i + 4 <= b.count ? (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[i + $1]) << (8 * UInt32($1)) } : 0
    }
    static func u64(_ b: [UInt8], _ i: Int) -> UInt64 {
        i >= 0 && i + 8 <= b.count ? (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) } : 0
    }
}
