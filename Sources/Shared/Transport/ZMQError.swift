import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the errno it left, the call that failed, and libzmq's text for it.
public struct ZMQError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The errno value (POSIX or libzmq's own, such as ETERM).
    public let errno: Int32
    /// What was being done, e.g. `zmq_bind(tcp://nowhere:1)`.
    public let operation: String

    /// Creates an error for `operation` with an explicit errno.
    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// libzmq's description of `errno` (zmq_strerror).
    public var text: String { String(cString: zmq_strerror(errno)) }

    /// True for EAGAIN: nothing to receive / cannot send now under DONTWAIT, or a socket timeout.
    public var isAgain: Bool { errno == EAGAIN }
    /// True for EINTR: a signal interrupted a blocking call.
    public var isInterrupted: Bool { errno == EINTR }
    /// True for ETERM: the context was shut down; the socket must be closed.
    public var isTerminated: Bool { errno == ETERM }
    /// True for EHOSTUNREACH: ROUTER_MANDATORY and no peer has that routing id.
    public var isHostUnreachable: Bool { errno == EHOSTUNREACH }
    /// True for EMSGSIZE: a received message exceeded the caller's size guard.
    public var isTooLarge: Bool { errno == EMSGSIZE }

    public var description: String { "\(operation): \(text) (errno \(errno))" }

    /// Captures zmq_errno() right after a failed call; must be called before any other libzmq call.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        let code = zmq_errno()
        return ZMQError(errno: code, operation: operation())
    }
}
