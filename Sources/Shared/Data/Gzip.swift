import CZlib

/// Why a gzip stream could not be inflated; the caller adds the file name and what it was decoding.
enum GzipFailure: Error {
    /// zlib rejected the bytes (bad header, bad checksum, invalid deflate data).
    case corrupt(String)
    /// The compressed bytes ran out before the gzip stream ended.
    case cutShort(compressedBytes: Int)
    /// Bytes that are not another gzip member follow the end of the stream.
    case trailingGarbage(byteCount: Int)
    /// zlib could not start (out of memory, version mismatch).
    case setup(String)

    var message: String {
        switch self {
        case let .corrupt(reason): return reason
        case let .cutShort(count):
            return count == 0 ? "the file is empty"
                : "the compressed data ends after \(count) bytes, before the gzip stream does (file cut short?)"
        case let .trailingGarbage(count): return "\(count) bytes that are not gzip data follow the end of the gzip stream"
        case let .setup(reason): return "zlib could not start inflating: \(reason)"
        }
    }
}

/// Pull-style gzip decompressor over an in-memory buffer that must outlive it.
///
/// Working from memory rather than `gzopen` matters: `gzread` silently passes non-gzip bytes through, so a
/// corrupt or plain file would be misread as data instead of being reported.
final class GzipInflater {
    /// Heap-allocated because zlib keeps a back pointer to the stream and refuses to run if it moves.
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeRawBufferPointer
    /// Input bytes already handed to zlib; `avail_in` is 32-bit, so large inputs are fed in slices.
    private var fedCount = 0
    private var finished = false

    init(input: UnsafeRawBufferPointer) throws {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 window bits + 16 selects gzip framing only; zlib or raw deflate data is rejected as corrupt.
        let status = inflateInit2_(stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        // Thrown before the stored properties are set, so `deinit` cannot run and free the stream twice.
        guard status == Z_OK else {
            stream.deallocate()
            throw GzipFailure.setup(Self.describe(status, stream: nil))
        }
        self.stream = stream
        self.input = input
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Fills `destination` as far as the stream allows; returns the byte count, which is short only at the end.
    func read(into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, let base = destination.baseAddress, destination.count > 0 else { return 0 }
        var produced = 0
        while produced < destination.count && !finished {
            if stream.pointee.avail_in == 0 && fedCount < input.count {
                let slice = min(input.count - fedCount, 1 << 30)
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: input.baseAddress!.advanced(by: fedCount).assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = uInt(slice)
                fedCount += slice
            }
            let room = min(destination.count - produced, 1 << 30)
            stream.pointee.next_out = (base + produced).assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(room)
            let status = inflate(stream, Z_NO_FLUSH)
            produced += room - Int(stream.pointee.avail_out)
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                try finishMember()
            case Z_BUF_ERROR where stream.pointee.avail_in == 0 && fedCount == input.count:
                throw GzipFailure.cutShort(compressedBytes: input.count)
            case Z_BUF_ERROR where stream.pointee.avail_in == 0:
                continue
            case Z_BUF_ERROR:
                // Input and output room both available yet no progress: looping again would spin forever.
                throw GzipFailure.corrupt("zlib made no progress")
            default:
                throw GzipFailure.corrupt(Self.describe(status, stream: stream))
            }
        }
        return produced
    }

    /// At the end of one gzip member: stop, or continue into the next member as `gunzip` does.
    private func finishMember() throws {
        let remaining = Int(stream.pointee.avail_in) + (input.count - fedCount)
        if remaining == 0 {
            finished = true
            return
        }
        let next = input.count - remaining
        guard remaining >= 2, input[next] == 0x1f, input[next + 1] == 0x8b else {
            throw GzipFailure.trailingGarbage(byteCount: remaining)
        }
        inflateReset(stream)
    }

    private static func describe(_ status: Int32, stream: UnsafeMutablePointer<z_stream>?) -> String {
        if let message = stream?.pointee.msg { return String(cString: message) }
        switch status {
        case Z_DATA_ERROR: return "invalid compressed data"
        case Z_MEM_ERROR: return "out of memory"
        case Z_VERSION_ERROR: return "incompatible zlib version"
        case Z_STREAM_ERROR: return "invalid stream state"
        default: return "zlib status \(status)"
        }
    }
}
