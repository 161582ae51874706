import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one libzmq context; terminates it when the last reference (sockets keep one) goes away.
///
/// libzmq contexts are thread-safe, hence `Sendable`. Every `ZMQSocket` retains its context, so
/// `zmq_ctx_term` in `deinit` can never block on a socket that is still open.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// Creates a context with libzmq's defaults (one I/O thread).
    public init() throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
    }

    deinit {
        // EINTR only means a signal arrived while waiting for lingering sockets; keep waiting.
        while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
    }

    /// Makes every blocking call on this context's sockets fail with ETERM, so threads can wind down.
    public func shutdown() {
        _ = zmq_ctx_shutdown(handle)
    }

    /// Opens a socket of `type` on this context.
    public func socket(_ type: ZMQSocketType) throws -> ZMQSocket {
        try ZMQSocket(context: self, type: type)
    }

    /// Whether this libzmq was built with `capability` ("curve", "ipc", ...), via zmq_has.
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) != 0
    }

    /// The linked libzmq version as (major, minor, patch).
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }
}
