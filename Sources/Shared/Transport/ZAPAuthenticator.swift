/// ZAP (ZeroMQ RFC 27) constants: the endpoint libzmq asks and the frames it expects back.
public enum ZAP {
    /// The inproc endpoint libzmq sends authentication requests to, per context.
    public static let endpoint = "inproc://zeromq.zap.01"
    /// The only ZAP version there is.
    public static let version = "1.0"
    /// Frames in a request before the mechanism's credentials: version, id, domain, address, identity, mechanism.
    static let fixedRequestFrames = 6
    /// Status codes (RFC 27): success, temporary error, authentication failure, internal error.
    public static let statusOK = "200", statusTemporary = "300", statusDenied = "400", statusInternal = "500"
}

/// One authentication verdict, for logging and tests.
public struct ZAPDecision: Equatable, Sendable {
    /// Whether the connection was let through (status 200).
    public var allowed: Bool
    /// RFC 27 status code sent back.
    public var statusCode: String
    /// Human-readable reason sent back.
    public var statusText: String
    /// Mechanism the client used ("CURVE", "NULL", ...), empty if the request was malformed.
    public var mechanism: String
    /// The client's CURVE public key in Z85, when it presented one.
    public var clientKey: String?
    /// The client's IP address as libzmq reported it.
    public var address: String
    /// The ZAP domain of the server socket that asked.
    public var domain: String
}

/// Answers libzmq's ZAP requests for one context: a CURVE client gets in only if its public key is on the allow-list.
///
/// Driven by its owner's poll loop (register `socket` for `.pollIn`, call `handleRequest()` when it is
/// readable) rather than by a thread of its own, because: Seer's coordinator already runs one
/// Majordomo-style poll loop, and sharing it means no locks around the allow-list, no thread to start
/// and join, and no ordering surprises at shutdown; ZAP traffic is one tiny request per handshake, so
/// it cannot starve the loop. The cost is that handshakes wait while the loop is busy, which the loop
/// must avoid anyway. Only the owner's loop touches the REP socket, so there is one poll loop per socket.
///
/// libzmq only consults ZAP for server-side CURVE/PLAIN sockets (and NULL sockets with a ZAP domain)
/// on the same context, and only while this handler is bound; without it every CURVE client that
/// knows the server key is admitted. Only one handler can be bound per context (EADDRINUSE otherwise).
public final class ZAPAuthenticator {
    /// The REP socket bound to `ZAP.endpoint`; poll it for `.pollIn`.
    public let socket: ZMQSocket
    /// Z85 public keys allowed in.
    public private(set) var allowedKeys: Set<String>
    /// If set, requests from server sockets with another ZAP domain are refused.
    public var domain: String?
    private let log: (String) -> Void

    /// Binds the ZAP endpoint on `context`; `log` receives one line per refused client (and per malformed request).
    public init(context: ZMQContext, allowedKeys: Set<String>, domain: String? = nil,
                log: @escaping (String) -> Void = { _ in }) throws {
        for key in allowedKeys { _ = try Z85.keyBytes(key, role: "allow-list key") }
        self.allowedKeys = allowedKeys
        self.domain = domain
        self.log = log
        socket = try context.socket(.rep)
        try socket.bind(ZAP.endpoint)
    }

    /// Adds a Z85 public key to the allow-list; existing connections are unaffected, new handshakes see it.
    public func allow(_ key: String) throws {
        _ = try Z85.keyBytes(key, role: "allow-list key")
        allowedKeys.insert(key)
    }

    /// Removes a key; already-authenticated connections stay up until they reconnect.
    public func revoke(_ key: String) {
        allowedKeys.remove(key)
    }

    /// Answers one pending request without blocking; nil if none was queued.
    @discardableResult
    public func handleRequest() throws -> ZAPDecision? {
        // 64 KiB is far above any real request (CURVE credentials are 32 bytes) yet bounds a hostile one.
        let frames: [[UInt8]]
        do {
            guard let received = try socket.receive(flags: .dontWait, maxTotalBytes: 64 * 1024, maxFrames: 64) else { return nil }
            frames = received
        } catch let error as ZMQError where error.isTooLarge {
            frames = []  // the REP socket still owes a reply; an empty request gets a 500
        }
        let (reply, decision) = Self.answer(frames, allowedKeys: allowedKeys, domain: domain)
        if !decision.allowed {
            log("ZAP refused \(decision.mechanism.isEmpty ? "malformed request" : decision.mechanism + " client")"
                + (decision.clientKey.map { " key \($0)" } ?? "")
                + (decision.address.isEmpty ? "" : " from \(decision.address)")
                + " (domain \"\(decision.domain)\"): \(decision.statusText)")
        }
        try socket.send(reply)
        return decision
    }

    /// Answers every queued request; returns how many were handled.
    @discardableResult
    public func handlePending() throws -> Int {
        var count = 0
        while try handleRequest() != nil { count += 1 }
        return count
    }

    /// The reply frames and verdict for one ZAP request: pure, no socket, so every branch is testable.
    public static func answer(_ request: [[UInt8]], allowedKeys: Set<String>, domain expectedDomain: String?)
        -> (reply: [[UInt8]], decision: ZAPDecision) {
        func text(_ index: Int) -> String {
            index < request.count ? String(decoding: request[index], as: UTF8.self) : ""
        }
        let requestID = request.count > 1 ? request[1] : []
        var decision = ZAPDecision(allowed: false, statusCode: ZAP.statusInternal, statusText: "", mechanism: "",
                                   clientKey: nil, address: text(3), domain: text(2))
        func finish(_ code: String, _ reason: String, userID: String = "") -> (reply: [[UInt8]], decision: ZAPDecision) {
            decision.statusCode = code
            decision.statusText = reason
            decision.allowed = code == ZAP.statusOK
            let reply = [Array(ZAP.version.utf8), requestID, Array(code.utf8), Array(reason.utf8), Array(userID.utf8), []]
            return (reply, decision)
        }
        guard request.count >= ZAP.fixedRequestFrames else {
            return finish(ZAP.statusInternal, "malformed ZAP request: \(request.count) frames, need at least \(ZAP.fixedRequestFrames)")
        }
        guard text(0) == ZAP.version else { return finish(ZAP.statusInternal, "unsupported ZAP version \"\(text(0))\"") }
        decision.mechanism = text(5)
        if let expectedDomain, decision.domain != expectedDomain {
            return finish(ZAP.statusDenied, "unknown ZAP domain")
        }
        guard decision.mechanism == "CURVE" else {
            return finish(ZAP.statusDenied, "mechanism \(decision.mechanism) not allowed, CURVE required")
        }
        guard request.count == ZAP.fixedRequestFrames + 1, request[6].count == 32, let key = Z85.encode(request[6]) else {
            return finish(ZAP.statusInternal, "malformed CURVE credentials")
        }
        decision.clientKey = key
        guard allowedKeys.contains(key) else { return finish(ZAP.statusDenied, "public key not on the allow-list") }
        // The key as User-Id lets the server read who sent a message (ZMQIncoming.userID).
        return finish(ZAP.statusOK, "OK", userID: key)
    }
}
