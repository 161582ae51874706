import CZeroMQ
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The socket types Seer uses (ROUTER/DEALER for coordinator/agents, REP for ZAP, REQ and PAIR for tests and pipes).
public enum ZMQSocketType: Sendable, CaseIterable {
    /// Exclusive pair, for inproc pipes between threads.
    case pair
    /// Strict request/reply client.
    case req
    /// Strict request/reply server (the ZAP handler).
    case rep
    /// Asynchronous client: the agent side.
    case dealer
    /// Addressed asynchronous server: the coordinator side.
    case router

    var rawValue: Int32 {
        switch self {
        case .pair: return ZMQ_PAIR
        case .req: return ZMQ_REQ
        case .rep: return ZMQ_REP
        case .dealer: return ZMQ_DEALER
        case .router: return ZMQ_ROUTER
        }
    }
}

/// Flags for `send` and `receive`.
public struct ZMQFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// Do not block: `send` returns false and `receive` returns nil instead of waiting (EAGAIN).
    public static let dontWait = ZMQFlags(rawValue: ZMQ_DONTWAIT)
}

/// A received multipart message with the connection metadata libzmq attached to it.
public struct ZMQIncoming: Sendable, Equatable {
    /// All frames; on a ROUTER the first one is the sender's routing id.
    public var frames: [[UInt8]]
    /// The ZAP "User-Id" of the connection (the authenticator sets the client's Z85 public key), if any.
    public var userID: String?
    /// The peer's IP address as libzmq reports it ("Peer-Address"), if any.
    public var peerAddress: String?
}

/// One libzmq socket: bind/connect, multipart send/receive, and the options Seer needs.
///
/// Like every libzmq socket it must be used by one thread at a time; it may be handed to another
/// thread (hence `@unchecked Sendable`), which libzmq allows with a full memory barrier in between.
/// New sockets get linger 0: libzmq's default (wait forever) makes context termination hang
/// whenever a peer has gone away with messages still queued for it.
public final class ZMQSocket: @unchecked Sendable {
    /// The context this socket lives on; retained so the context outlives the socket.
    public let context: ZMQContext
    /// The socket type it was created with.
    public let type: ZMQSocketType
    /// nil once closed; every call then fails with ENOTSOCK instead of touching freed memory.
    private(set) var handle: UnsafeMutableRawPointer?
    /// ZMQ_ROUTER_HANDOVER and ZMQ_HEARTBEAT_IVL as set through this wrapper: see `refuseCrashingCombination`.
    private var routerHandover = false
    private var heartbeatInterval: Int32 = 0

    init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.last("zmq_socket(\(type))")
        }
        self.context = context
        self.type = type
        self.handle = handle
        try setLinger(milliseconds: 0)
    }

    deinit { close() }

    /// Closes the socket now (idempotent); later calls fail with ENOTSOCK.
    public func close() {
        guard let handle else { return }
        _ = zmq_close(handle)
        self.handle = nil
    }

    /// Whether `close()` has not been called yet.
    public var isOpen: Bool { handle != nil }

    func liveHandle(_ operation: @autoclosure () -> String) throws -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(errno: ENOTSOCK, operation: operation() + " on a closed socket") }
        return handle
    }

    // MARK: Endpoints

    /// Binds to `endpoint`, e.g. "tcp://127.0.0.1:*" (ephemeral port; read it back with `lastEndpoint()`).
    public func bind(_ endpoint: String) throws {
        let h = try liveHandle("zmq_bind(\(endpoint))")
        guard zmq_bind(h, endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    /// Connects to `endpoint`; libzmq connects (and reconnects) in the background.
    public func connect(_ endpoint: String) throws {
        let h = try liveHandle("zmq_connect(\(endpoint))")
        guard zmq_connect(h, endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// Stops listening on a bound `endpoint`.
    public func unbind(_ endpoint: String) throws {
        let h = try liveHandle("zmq_unbind(\(endpoint))")
        guard zmq_unbind(h, endpoint) == 0 else { throw ZMQError.last("zmq_unbind(\(endpoint))") }
    }

    /// Drops the connection to a connected `endpoint`.
    public func disconnect(_ endpoint: String) throws {
        let h = try liveHandle("zmq_disconnect(\(endpoint))")
        guard zmq_disconnect(h, endpoint) == 0 else { throw ZMQError.last("zmq_disconnect(\(endpoint))") }
    }

    /// The endpoint last bound or connected, with the real port after binding to ":*" (ZMQ_LAST_ENDPOINT).
    public func lastEndpoint() throws -> String {
        let bytes = try bytesOption(ZMQ_LAST_ENDPOINT, capacity: 1024, name: "ZMQ_LAST_ENDPOINT")
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: Send and receive

    /// Sends `frames` as one multipart message; returns false if it would block under `.dontWait` (or timed out, ZMQ_SNDTIMEO).
    ///
    /// Fails with EINVAL for an empty frame list, EHOSTUNREACH on a ROUTER_MANDATORY socket whose
    /// first frame names no connected peer.
    @discardableResult
    public func send(_ frames: [[UInt8]], flags: ZMQFlags = []) throws -> Bool {
        let h = try liveHandle("send")
        guard !frames.isEmpty else { throw ZMQError(errno: EINVAL, operation: "send: a message needs at least one frame") }
        let msg = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        defer { msg.deallocate() }
        for (index, frame) in frames.enumerated() {
            let last = index == frames.count - 1
            guard zmq_msg_init_size(msg, frame.count) == 0 else { throw ZMQError.last("zmq_msg_init_size") }
            if !frame.isEmpty, let data = zmq_msg_data(msg) {
                frame.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            let rc = zmq_msg_send(msg, h, flags.rawValue | (last ? 0 : ZMQ_SNDMORE))
            if rc == -1 {
                let error = ZMQError.last("zmq_msg_send(frame \(index + 1) of \(frames.count))")
                _ = zmq_msg_close(msg)  // ownership passes to libzmq only on success
                // libzmq delivers multipart messages atomically: once the first frame is queued the rest
                // cannot hit the high-water mark, so EAGAIN can only mean "nothing was sent".
                if error.isAgain && index == 0 { return false }
                throw error
            }
        }
        return true
    }

    /// Sends `frames` (as `Data`) as one multipart message; see `send(_:flags:)` for [[UInt8]].
    @discardableResult
    public func send(_ frames: [Data], flags: ZMQFlags = []) throws -> Bool {
        try send(frames.map { [UInt8]($0) }, flags: flags)
    }

    /// Receives one whole multipart message; nil when `.dontWait` is given (or a receive timeout set) and none is queued.
    ///
    /// `maxTotalBytes` / `maxFrames` guard memory even where ZMQ_MAXMSGSIZE does not apply (inproc,
    /// or many small frames): an oversized message is still read to its end, so the socket stays in
    /// step, and then reported as EMSGSIZE.
    public func receive(flags: ZMQFlags = [], maxTotalBytes: Int? = nil, maxFrames: Int? = nil) throws -> [[UInt8]]? {
        try receiveIncoming(flags: flags, maxTotalBytes: maxTotalBytes, maxFrames: maxFrames)?.frames
    }

    /// Like `receive(flags:maxTotalBytes:maxFrames:)`, frames as `Data`.
    public func receiveData(flags: ZMQFlags = [], maxTotalBytes: Int? = nil, maxFrames: Int? = nil) throws -> [Data]? {
        try receive(flags: flags, maxTotalBytes: maxTotalBytes, maxFrames: maxFrames)?.map { Data($0) }
    }

    /// Like `receive(flags:maxTotalBytes:maxFrames:)`, plus the ZAP User-Id and peer address of the sender.
    public func receiveIncoming(flags: ZMQFlags = [], maxTotalBytes: Int? = nil, maxFrames: Int? = nil) throws -> ZMQIncoming? {
        let h = try liveHandle("receive")
        let msg = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        defer { msg.deallocate() }
        var incoming = ZMQIncoming(frames: [], userID: nil, peerAddress: nil)
        var total = 0, count = 0
        var more = true
        while more {
            _ = zmq_msg_init(msg)
            defer { _ = zmq_msg_close(msg) }
            // Only the first frame can be absent; the rest of a multipart message arrive with it.
            let rc = zmq_msg_recv(msg, h, count == 0 ? flags.rawValue : 0)
            if rc == -1 {
                let error = ZMQError.last("zmq_msg_recv")
                if count == 0 && error.isAgain { return nil }
                throw error
            }
            let size = zmq_msg_size(msg)
            total += size
            count += 1
            more = zmq_msg_more(msg) != 0
            let within = (maxTotalBytes.map { total <= $0 } ?? true) && (maxFrames.map { count <= $0 } ?? true)
            if within {
                if size > 0, let data = zmq_msg_data(msg) {
                    incoming.frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
                } else {
                    incoming.frames.append([])
                }
            } else {
                incoming.frames.removeAll()  // keep draining, but stop holding memory
            }
            if !more {
                // Metadata lives on messages that came through a pipe, i.e. not the ROUTER's own id frame.
                incoming.userID = Self.property(msg, "User-Id")
                incoming.peerAddress = Self.property(msg, "Peer-Address")
            }
        }
        if let limit = maxTotalBytes, total > limit {
            throw ZMQError(errno: EMSGSIZE, operation: "receive: message of \(total) bytes exceeds the \(limit)-byte limit")
        }
        if let limit = maxFrames, count > limit {
            throw ZMQError(errno: EMSGSIZE, operation: "receive: message of \(count) frames exceeds the \(limit)-frame limit")
        }
        return incoming
    }

    private static func property(_ msg: UnsafeMutablePointer<zmq_msg_t>, _ name: String) -> String? {
        // zmq_msg_gets sets EINVAL when absent; harmless since the error is not read afterwards.
        guard let value = zmq_msg_gets(msg, name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    // MARK: Raw options

    /// Sets an int option (see zmq_setsockopt) not covered by a typed setter.
    ///
    /// Refuses ZMQ_ROUTER_HANDOVER together with ZMTP heartbeats (ZMQ_HEARTBEAT_IVL), in either order: see
    /// `refuseCrashingCombination`.
    public func setOption(_ option: Int32, int value: Int32, name: String? = nil) throws {
        let h = try liveHandle("zmq_setsockopt")
        try refuseCrashingCombination(option, value)
        var v = value
        guard zmq_setsockopt(h, option, &v, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(name ?? String(option)), \(value))")
        }
        if option == ZMQ_ROUTER_HANDOVER { routerHandover = value != 0 }
        if option == ZMQ_HEARTBEAT_IVL { heartbeatInterval = value }
    }

    /// libzmq 4.3.4 and 4.3.5 abort the whole process (`Assertion failed: !_io_error
    /// (src/stream_engine_base.cpp:331)`) on a ROUTER with both options once a second connection takes over a
    /// routing id: the handed-over connection's engine outlives its pipe, stops reading, and its next heartbeat
    /// timer writes on an engine already marked failed. Any peer that can connect could crash the process that way,
    /// so the wrapper does not allow the pair at all (EINVAL, naming both options).
    private func refuseCrashingCombination(_ option: Int32, _ value: Int32) throws {
        let handoverAfterHeartbeats = option == ZMQ_ROUTER_HANDOVER && value != 0 && heartbeatInterval > 0
        let heartbeatsAfterHandover = option == ZMQ_HEARTBEAT_IVL && value > 0 && routerHandover
        guard handoverAfterHeartbeats || heartbeatsAfterHandover else { return }
        throw ZMQError(errno: EINVAL, operation: "zmq_setsockopt: ZMQ_ROUTER_HANDOVER together with ZMTP heartbeats "
                       + "(ZMQ_HEARTBEAT_IVL) makes libzmq 4.3 abort when a routing id is taken over; set one or the other")
    }

    /// Sets an int64 option (see zmq_setsockopt), e.g. ZMQ_MAXMSGSIZE.
    public func setOption(_ option: Int32, int64 value: Int64, name: String? = nil) throws {
        let h = try liveHandle("zmq_setsockopt")
        var v = value
        guard zmq_setsockopt(h, option, &v, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(name ?? String(option)), \(value))")
        }
    }

    /// Sets a binary option (see zmq_setsockopt), e.g. ZMQ_ROUTING_ID.
    public func setOption(_ option: Int32, bytes value: [UInt8], name: String? = nil) throws {
        let h = try liveHandle("zmq_setsockopt")
        let rc = value.withUnsafeBytes { zmq_setsockopt(h, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZMQError.last("zmq_setsockopt(\(name ?? String(option)), \(value.count) bytes)") }
    }

    /// Reads an int option (see zmq_getsockopt).
    public func intOption(_ option: Int32, name: String? = nil) throws -> Int32 {
        let h = try liveHandle("zmq_getsockopt")
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(h, option, &v, &size) == 0 else { throw ZMQError.last("zmq_getsockopt(\(name ?? String(option)))") }
        return v
    }

    /// Reads an int64 option (see zmq_getsockopt).
    public func int64Option(_ option: Int32, name: String? = nil) throws -> Int64 {
        let h = try liveHandle("zmq_getsockopt")
        var v: Int64 = 0
        var size = MemoryLayout<Int64>.size
        guard zmq_getsockopt(h, option, &v, &size) == 0 else { throw ZMQError.last("zmq_getsockopt(\(name ?? String(option)))") }
        return v
    }

    /// Reads a binary option of at most `capacity` bytes (see zmq_getsockopt).
    public func bytesOption(_ option: Int32, capacity: Int = 256, name: String? = nil) throws -> [UInt8] {
        let h = try liveHandle("zmq_getsockopt")
        var buffer = [UInt8](repeating: 0, count: capacity)
        var size = capacity
        let rc = buffer.withUnsafeMutableBytes { zmq_getsockopt(h, option, $0.baseAddress, &size) }
        guard rc == 0 else { throw ZMQError.last("zmq_getsockopt(\(name ?? String(option)))") }
        return Array(buffer.prefix(size))
    }

    // MARK: Typed options

    /// How long close waits to flush unsent messages (ZMQ_LINGER; -1 forever, 0 drop at once).
    public func setLinger(milliseconds: Int32) throws {
        try setOption(ZMQ_LINGER, int: milliseconds, name: "ZMQ_LINGER")
    }

    /// The routing id this socket presents to a ROUTER peer (ZMQ_ROUTING_ID): 1...255 bytes, not starting with 0.
    public func setRoutingID(_ id: [UInt8]) throws {
        try setOption(ZMQ_ROUTING_ID, bytes: id, name: "ZMQ_ROUTING_ID")
    }

    /// The routing id set with `setRoutingID`, empty if none (ZMQ_ROUTING_ID).
    public func routingID() throws -> [UInt8] {
        try bytesOption(ZMQ_ROUTING_ID, capacity: 256, name: "ZMQ_ROUTING_ID")
    }

    /// Outgoing queue limit in messages per peer (ZMQ_SNDHWM; 0 unlimited).
    public func setSendHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_SNDHWM, int: messages, name: "ZMQ_SNDHWM")
    }

    /// Incoming queue limit in messages per peer (ZMQ_RCVHWM; 0 unlimited).
    public func setReceiveHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_RCVHWM, int: messages, name: "ZMQ_RCVHWM")
    }

    /// Largest acceptable single frame (ZMQ_MAXMSGSIZE; -1 unlimited); a peer sending more is disconnected.
    ///
    /// Enforced by the TCP/IPC decoder, so it does not apply to inproc; use `receive(maxTotalBytes:)` there.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        try setOption(ZMQ_MAXMSGSIZE, int64: bytes, name: "ZMQ_MAXMSGSIZE")
    }

    /// On a ROUTER, fail sends to unknown routing ids with EHOSTUNREACH instead of dropping them (ZMQ_ROUTER_MANDATORY).
    public func setRouterMandatory(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, int: on ? 1 : 0, name: "ZMQ_ROUTER_MANDATORY")
    }

    /// On a ROUTER, let a reconnecting peer take over its routing id from the stale connection (ZMQ_ROUTER_HANDOVER).
    ///
    /// Not together with `setHeartbeat` (it throws): libzmq 4.3 aborts on that pair. It also lets any peer that can
    /// connect take a routing id away from the connection holding it.
    public func setRouterHandover(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_HANDOVER, int: on ? 1 : 0, name: "ZMQ_ROUTER_HANDOVER")
    }

    /// ZMTP-level heartbeats: PING every `interval`, ask the peer to drop us after `timeToLive`,
    /// drop the connection after `timeout` without traffic (ZMQ_HEARTBEAT_IVL/TTL/TIMEOUT, milliseconds).
    /// Not on a ROUTER with `setRouterHandover(true)` (it throws): libzmq 4.3 aborts on that pair.
    public func setHeartbeat(intervalMilliseconds: Int32, timeToLiveMilliseconds: Int32, timeoutMilliseconds: Int32) throws {
        try setOption(ZMQ_HEARTBEAT_IVL, int: intervalMilliseconds, name: "ZMQ_HEARTBEAT_IVL")
        try setOption(ZMQ_HEARTBEAT_TTL, int: timeToLiveMilliseconds, name: "ZMQ_HEARTBEAT_TTL")
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, int: timeoutMilliseconds, name: "ZMQ_HEARTBEAT_TIMEOUT")
    }

    /// Reconnect backoff: first retry after `initial`, doubling up to `maximum` (ZMQ_RECONNECT_IVL/_MAX, milliseconds).
    public func setReconnectInterval(initialMilliseconds: Int32, maximumMilliseconds: Int32) throws {
        try setOption(ZMQ_RECONNECT_IVL, int: initialMilliseconds, name: "ZMQ_RECONNECT_IVL")
        try setOption(ZMQ_RECONNECT_IVL_MAX, int: maximumMilliseconds, name: "ZMQ_RECONNECT_IVL_MAX")
    }

    /// Blocking receive gives up after this long, as if `.dontWait` (ZMQ_RCVTIMEO; -1 forever).
    public func setReceiveTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_RCVTIMEO, int: milliseconds, name: "ZMQ_RCVTIMEO")
    }

    /// Blocking send gives up after this long, as if `.dontWait` (ZMQ_SNDTIMEO; -1 forever).
    public func setSendTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_SNDTIMEO, int: milliseconds, name: "ZMQ_SNDTIMEO")
    }

    /// Makes this socket a CURVE server (ZMQ_CURVE_SERVER): it then needs its secret key and, for authentication, a ZAP handler.
    public func setCurveServer(_ on: Bool) throws {
        try setOption(ZMQ_CURVE_SERVER, int: on ? 1 : 0, name: "ZMQ_CURVE_SERVER")
    }

    /// This socket's long-term CURVE public key, 40-character Z85 (ZMQ_CURVE_PUBLICKEY).
    public func setCurvePublicKey(_ z85: String) throws {
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Z85.keyOptionBytes(z85, role: "public key"), name: "ZMQ_CURVE_PUBLICKEY")
    }

    /// This socket's long-term CURVE secret key, 40-character Z85 (ZMQ_CURVE_SECRETKEY).
    public func setCurveSecretKey(_ z85: String) throws {
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Z85.keyOptionBytes(z85, role: "secret key"), name: "ZMQ_CURVE_SECRETKEY")
    }

    /// On a CURVE client, the server's public key it expects, 40-character Z85 (ZMQ_CURVE_SERVERKEY).
    public func setCurveServerKey(_ z85: String) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Z85.keyOptionBytes(z85, role: "server key"), name: "ZMQ_CURVE_SERVERKEY")
    }

    /// Sets up a CURVE server with `keys`; clients are then vetted by the context's ZAP handler, if any.
    public func makeCurveServer(keys: CurveKeyPair) throws {
        try setCurveServer(true)
        try setCurvePublicKey(keys.publicKey)
        try setCurveSecretKey(keys.secretKey)
    }

    /// Sets up a CURVE client with its own `keys` that only talks to the server holding `serverPublicKey`.
    public func makeCurveClient(keys: CurveKeyPair, serverPublicKey: String) throws {
        try setCurveServerKey(serverPublicKey)
        try setCurvePublicKey(keys.publicKey)
        try setCurveSecretKey(keys.secretKey)
    }

    /// The ZAP domain sent in this server socket's authentication requests (ZMQ_ZAP_DOMAIN).
    public func setZAPDomain(_ domain: String) throws {
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8), name: "ZMQ_ZAP_DOMAIN")
    }
}
