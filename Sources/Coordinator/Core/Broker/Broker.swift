import Foundation
import GRDB
import SeerTransport
import SeerWire

/// How the broker's ROUTER authenticates agents.
public enum BrokerSecurity: Sendable {
    /// CURVE server with `serverKeys`; only agents whose public key is in `allowedAgentKeys` get through ZAP.
    case curve(serverKeys: CurveKeyPair, allowedAgentKeys: Set<String>)
    /// Plain TCP, no authentication: tests and closed lab networks only, and only when asked for.
    case plain
}

/// Everything needed to run a broker.
public struct BrokerOptions: Sendable {
    /// Where to bind, e.g. "tcp://*:5555"; port 0 or "*" picks a free port (see `Broker.endpoint`).
    public var endpoint: String
    /// CURVE (default in the CLI) or plain.
    public var security: BrokerSecurity
    /// Heartbeats, liveness, retries.
    public var configuration: BrokerConfiguration
    /// Messages read per poll-loop iteration before the iteration's store changes are committed.
    public var maxMessagesPerIteration: Int
    /// Receives one line per noteworthy event (registrations, expiries, refused messages, rate-limited).
    public var log: @Sendable (String) -> Void

    /// Options with the protocol's default timing.
    public init(endpoint: String, security: BrokerSecurity, configuration: BrokerConfiguration = BrokerConfiguration(),
                maxMessagesPerIteration: Int = 1024, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.endpoint = endpoint
        self.security = security
        self.configuration = configuration
        self.maxMessagesPerIteration = maxMessagesPerIteration
        self.log = log
    }
}

/// A job to submit: what `Broker.submit` takes.
public struct JobRequest: Equatable, Sendable {
    /// Device class to run on.
    public var deviceKey: String
    /// Job kind.
    public var kind: JobKind
    /// JOB payload.
    public var payload: JobPayload
    /// Dispatches allowed (nil: the broker's default, 3).
    public var maxAttempts: Int?
    /// Caller-chosen id, so a restarted campaign can resubmit without duplicates; nil: a fresh id.
    public var id: JobID?
    /// With `id`: when a job of that id already failed for good, run it again from its first attempt (a resumed
    /// campaign retrying what failed) instead of reporting the old failure. A queued, running or done job is never
    /// run again either way.
    public var rerunIfFailed: Bool
    /// Who submits it (a campaign's name): the jobs waiting for one device key are served owner by owner in turn.
    public var owner: String?

    /// Memberwise initializer.
    public init(deviceKey: String, kind: JobKind, payload: JobPayload, maxAttempts: Int? = nil, id: JobID? = nil,
                rerunIfFailed: Bool = false, owner: String? = nil) {
        self.deviceKey = deviceKey
        self.kind = kind
        self.payload = payload
        self.maxAttempts = maxAttempts
        self.id = id
        self.rerunIfFailed = rerunIfFailed
        self.owner = owner
    }
}

/// Why a broker call failed.
public enum BrokerError: Error, Equatable, CustomStringConvertible {
    /// The job would not make a valid JOB message.
    case invalidJob(String)
    /// The broker was stopped (or never started); no new work is accepted.
    case stopped
    /// Committing a poll-loop iteration's changes to the database at `path` failed (`attempts` tries, the last for
    /// `reason`), so the broker stopped: what those changes recorded was never handed to anyone.
    case storeWriteFailed(path: String, changes: Int, attempts: Int, reason: String)

    public var description: String {
        switch self {
        case let .invalidJob(reason): return "invalid job: \(reason)"
        case .stopped: return "the broker is stopped"
        case let .storeWriteFailed(path, changes, attempts, reason):
            return "the broker stopped: writing \(changes) change(s) to \(path) failed "
                + "(\(attempts) attempt\(attempts == 1 ? "" : "s")): \(reason)"
        }
    }
}

/// How the poll loop commits its store changes: a transient failure (SQLite busy or locked: another connection
/// holds the write lock past the busy timeout) is retried up to `maxAttempts` writes in all; any other failure,
/// or the last transient one, is final, and the broker stops rather than report changes that are not on disk.
struct StoreWriteRetry {
    /// Writes tried at most, the first included.
    var maxAttempts = 3

    /// Whether `error` may go away by itself.
    static func isTransient(_ error: Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// Runs `write` until it succeeds, fails for good, or `maxAttempts` are spent; returns the attempts made, or
    /// throws `.storeWriteFailed` naming them and the last error.
    @discardableResult
    func run(path: String, changes: Int, _ write: () throws -> Void) throws -> Int {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try write()
                return attempt
            } catch {
                guard Self.isTransient(error), attempt < maxAttempts else {
                    throw BrokerError.storeWriteFailed(path: path, changes: changes, attempts: attempt, reason: "\(error)")
                }
            }
        }
    }
}

/// What agents said about their devices: the deployment side of the fabric.
public enum DeviceEvent: Equatable, Sendable {
    /// An agent's power profile changed (PROFILE).
    case profileChanged(agentID: String, ProfileBody)
    /// A deploy ended (DEPLOYED, or a failure the broker saw).
    case deployFinished(agentID: String, DeployedBody)
}

/// What the broker has done so far, as of its last poll-loop iteration.
public struct BrokerStats: Equatable, Sendable {
    /// Job and agent totals from the state machine.
    public var counters = BrokerCounters()
    /// Registered agents.
    public var agents = 0
    /// Jobs waiting in queues.
    public var queued = 0
    /// Jobs on agents.
    public var running = 0
    /// Messages received on the ROUTER.
    public var received = 0
    /// Messages refused as malformed, oversized, of another version, or in the wrong direction.
    public var rejected = 0
    /// Sends that failed (peer gone or clogged).
    public var sendFailures = 0
    /// Batched store writes that failed (after their retries); the first one stops the broker.
    public var storeErrors = 0
}

/// The coordinator's job broker: owns the ROUTER socket and its poll loop, feeds `BrokerCore`,
/// executes its actions, and persists every job transition through `SeerStore`.
///
/// Threads: one poll-loop thread owns the ROUTER, the ZAP handler's REP socket and `BrokerCore`
/// (one poll loop per socket owner, no locks around protocol state). Other threads talk to it
/// through a **locked queue plus a wake-up**: `submit` appends to the queue under a lock and pokes
/// an inproc PAIR pipe the loop polls (`Waker`); results come back through a condition variable
/// that `waitForCompletion` sleeps on. Each loop iteration reads up to `maxMessagesPerIteration`
/// messages and commits all their store changes in **one transaction** before waking waiters, so
/// an outcome handed to a caller is already on disk.
public final class Broker: @unchecked Sendable {
    /// The endpoint actually bound, with the real port (e.g. "tcp://127.0.0.1:43125").
    public let endpoint: String
    /// The job store.
    public let store: SeerStore
    /// The options it was created with.
    public let options: BrokerOptions

    private enum Command {
        case submit([JobSubmission])
        case cancel([JobID], reason: String)
        case deploy(agentID: String, DeployBody)
        case allow(String)
        case revoke(String)
        case stop
    }

    // Poll-loop state: touched only by the loop thread (and by init before it starts).
    private var core: BrokerCore
    private let context: ZMQContext
    private let router: ZMQSocket
    private let zap: ZAPAuthenticator?
    private let waker: Waker
    private var pendingChanges: [StoreChange] = []
    private var pendingFinished: [(JobID, JobOutcome)] = []
    private var pendingDeviceEvents: [DeviceEvent] = []
    private var followUps: [BrokerEvent] = []
    private var loopStats = BrokerStats()
    private var publishedAgentsVersion = -1
    private var publishedAgentSetVersion = -1
    private var publishedAgentsAt: Int64 = 0
    private var limiter = LogLimiter()

    // Shared state, under `shared`.
    private let shared = NSCondition()
    private var inbox: [Command] = []
    private var outcomes: [JobID: JobOutcome] = [:]
    private var waiters: [Waiter] = []
    private var deviceEvents: [DeviceEvent] = []

    /// One `waitForCompletion` call: the jobs it still waits for and the outcomes collected so far (under `shared`).
    private final class Waiter {
        var remaining = Set<JobID>()
        var found: [JobID: JobOutcome] = [:]
    }
    private var unfinished: Set<JobID> = []
    private var agentList: [AgentSnapshot] = []
    private var published = BrokerStats()
    private var phase = Phase.created
    /// Why the broker stopped by itself (a failed store write), under `shared`.
    private var stoppedBy: BrokerError?
    private var loopStarted = false
    private let loopExited = DispatchSemaphore(value: 0)
    private let idPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    private var nextID = 0

    private enum Phase { case created, running, stopped }

    /// Outcomes kept in memory for later waiters; beyond this the cache is emptied (the store keeps them all).
    private static let maxCachedOutcomes = 200_000

    /// Binds the ROUTER (and the ZAP handler under CURVE) and restores unfinished jobs from `store`;
    /// call `start()` to begin serving. Jobs left `running` by a previous coordinator are queued again.
    public init(store: SeerStore, options: BrokerOptions) throws {
        self.store = store
        self.options = options
        try store.recoverInterruptedJobs()
        let restored = try store.unfinishedJobs()
        core = BrokerCore(configuration: options.configuration, restoring: restored,
                          keyBindings: try store.agentKeyBindings())
        unfinished = Set(restored.map(\.id))
        if !restored.isEmpty { options.log("restored \(restored.count) unfinished job(s) from \(store.path)") }

        context = try ZMQContext()
        if case let .curve(_, allowed) = options.security {
            // Bound before the ROUTER so no handshake can slip through unauthenticated.
            zap = try ZAPAuthenticator(context: context, allowedKeys: allowed, domain: SeerProtocol.zapDomain,
                                       log: options.log)
        } else {
            zap = nil
        }
        router = try context.socket(.router)
        try router.setMaxMessageSize(SeerProtocol.transportMaxFrameBytes)
        try router.setRouterMandatory(true)
        // No ZMQ_ROUTER_HANDOVER: with the ZMTP heartbeats below it makes libzmq 4.3 abort the coordinator as soon as
        // any peer reuses a connected agent's routing id, and it would let an allow-listed key take another agent's
        // routing id (and its JOBs) away from it. Without it libzmq ignores a second connection with a routing id in
        // use; an agent that reconnects while its old connection is still open is heard once that connection is
        // closed or dropped by the heartbeats (3 s), and its own retry (a fresh socket and READY) gets through then.
        try router.setHeartbeat(intervalMilliseconds: Int32(SeerProtocol.zmtpHeartbeatIntervalMs),
                                timeToLiveMilliseconds: Int32(SeerProtocol.zmtpHeartbeatTTLMs),
                                timeoutMilliseconds: Int32(SeerProtocol.zmtpHeartbeatTimeoutMs))
        if case let .curve(keys, _) = options.security {
            try router.makeCurveServer(keys: keys)
            try router.setZAPDomain(SeerProtocol.zapDomain)
        }
        try router.bind(Self.bindable(options.endpoint))
        endpoint = try router.lastEndpoint()
        waker = try Waker(context: context)
    }

    /// libzmq spells "any port" as "*"; accept the common ":0" too.
    static func bindable(_ endpoint: String) -> String {
        endpoint.hasSuffix(":0") ? String(endpoint.dropLast()) + "*" : endpoint
    }

    deinit {
        stop()
    }

    // MARK: Life cycle

    /// Starts the poll-loop thread.
    public func start() {
        shared.lock()
        defer { shared.unlock() }
        guard phase == .created else { return }
        phase = .running
        loopStarted = true
        let thread = Thread { [self] in loop() }
        thread.name = "seer-broker"
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// Says DISCONNECT to every agent, puts running jobs back in the queue (on disk), and stops the loop.
    public func stop() {
        shared.lock()
        let wasRunning = phase == .running
        let started = loopStarted
        phase = .stopped
        if wasRunning { inbox.append(.stop) }
        shared.broadcast()
        shared.unlock()
        if wasRunning { waker.wake() }
        if started {
            // The loop closes the sockets; it may also be stopping by itself (a failed store write). Signalled again
            // so that every later stop() returns at once.
            loopExited.wait()
            loopExited.signal()
        } else {
            closeSockets()
        }
    }

    /// Whether the broker is stopped (by `stop()` or by itself): nothing more will finish.
    public var isStopped: Bool {
        shared.lock()
        defer { shared.unlock() }
        return phase == .stopped
    }

    /// Why the broker stopped by itself, if it did: a store write that failed after its retries. Callers waiting
    /// for jobs check it, since nothing more will finish.
    public var failure: BrokerError? {
        shared.lock()
        defer { shared.unlock() }
        return stoppedBy
    }

    // MARK: Client API (any thread)

    /// Queues one job; returns its id. Thread-safe; the job is on disk within one poll-loop iteration.
    @discardableResult
    public func submit(deviceKey: String, kind: JobKind, payload: JobPayload, maxAttempts: Int? = nil,
                       id: JobID? = nil) throws -> JobID {
        try submit([JobRequest(deviceKey: deviceKey, kind: kind, payload: payload, maxAttempts: maxAttempts, id: id)])[0]
    }

    /// Queues one job described by `request`; returns its id.
    @discardableResult
    public func submit(_ request: JobRequest) throws -> JobID {
        try submit([request])[0]
    }

    /// Queues jobs in order (FIFO per device key); returns their ids in the same order.
    ///
    /// A request with a caller-chosen `id` that is already known (queued, running, or finished in
    /// the store) is not run again: its id is returned and `waitForCompletion` reports its outcome.
    public func submit(_ requests: [JobRequest]) throws -> [JobID] {
        var submissions: [JobSubmission] = []
        var ids: [JobID] = []
        submissions.reserveCapacity(requests.count)
        var lastValid: JobRequest?
        var reruns: [JobID] = []
        for request in requests {
            let maxAttempts = request.maxAttempts ?? options.configuration.defaultMaxAttempts
            guard maxAttempts >= 1 else { throw BrokerError.invalidJob("maxAttempts must be at least 1, got \(maxAttempts)") }
            let id = request.id ?? freshID()
            // The exact checks the agent will apply, so a bad job fails here and not on a device. Encoding
            // is the costly part; a run of requests with the same key, kind and payload is checked once.
            if let given = request.id {
                do {
                    _ = try WireCodec.encode(.heartbeat(HeartbeatBody(jobID: given)))
                } catch {
                    throw BrokerError.invalidJob("job id: \(error)")
                }
            }
            if lastValid.map({ $0.deviceKey != request.deviceKey || $0.kind != request.kind || $0.payload != request.payload }) ?? true {
                do {
                    _ = try WireCodec.encode(.job(JobBody(jobID: id, deviceKey: request.deviceKey, kind: request.kind,
                                                          payload: request.payload)))
                } catch {
                    throw BrokerError.invalidJob("\(error)")
                }
                lastValid = request
            }
            ids.append(id)
            if request.id != nil, try isKnown(id) {
                guard request.rerunIfFailed, try isFailed(id) else { continue }
                reruns.append(id)
            }
            submissions.append(JobSubmission(id: id, deviceKey: request.deviceKey, kind: request.kind,
                                             payload: request.payload, maxAttempts: maxAttempts, owner: request.owner))
        }
        if !reruns.isEmpty {
            // Queued again on disk before the loop hears of them, so that its `jobSubmitted` finds the row to keep.
            try store.requeueFailedJobs(reruns)
        }
        shared.lock()
        guard phase != .stopped else {
            let reason = stoppedBy ?? .stopped
            shared.unlock()
            throw reason
        }
        for id in reruns { outcomes[id] = nil }
        for submission in submissions { unfinished.insert(submission.id) }
        if !submissions.isEmpty { inbox.append(.submit(submissions)) }
        shared.unlock()
        waker.wake()
        return ids
    }

    private func freshID() -> JobID {
        shared.lock()
        nextID += 1
        let n = nextID
        shared.unlock()
        return "job-\(idPrefix)-\(n)"
    }

    /// Whether job `id` failed for good (and is not being run again already).
    private func isFailed(_ id: JobID) throws -> Bool {
        shared.lock()
        let pending = unfinished.contains(id)
        shared.unlock()
        return try !pending && store.job(id)?.state == .failed
    }

    private func isKnown(_ id: JobID) throws -> Bool {
        shared.lock()
        let pending = unfinished.contains(id) || outcomes[id] != nil
        shared.unlock()
        return try pending || store.job(id) != nil
    }

    /// Waits until every job in `jobIDs` finished or `timeout` seconds passed; returns the outcomes of those that finished.
    ///
    /// Ids this broker never saw are looked up in the store (jobs finished before a restart);
    /// ids unknown there too are reported as failed with `unknown_job`.
    public func waitForCompletion(jobIDs: [JobID], timeout: TimeInterval) -> [JobID: JobOutcome] {
        let deadline = Date(timeIntervalSinceNow: max(timeout, 0))
        let waiter = Waiter()
        var lookUp: [JobID] = []
        shared.lock()
        for id in jobIDs where waiter.found[id] == nil {
            if let outcome = outcomes.removeValue(forKey: id) {
                waiter.found[id] = outcome
            } else if unfinished.contains(id) {
                waiter.remaining.insert(id)
            } else {
                lookUp.append(id)  // finished and already handed out, or from an earlier run: the store has it
            }
        }
        if !waiter.remaining.isEmpty {
            // The poll loop fills `waiter` as jobs finish and signals only when a waiter is complete,
            // so a caller waiting for 10^5 jobs is woken once, not once per job.
            waiters.append(waiter)
            // stop() wakes everyone: nothing more will finish, so return what there is.
            while !waiter.remaining.isEmpty && phase != .stopped && shared.wait(until: deadline) {}
            waiters.removeAll { $0 === waiter }
        }
        shared.unlock()
        var found = waiter.found
        for id in lookUp {
            found[id] = (try? store.outcome(of: id)) ?? .failed(code: .unknownJob, message: "no finished job \(id) in \(store.path)", attempts: 0)
        }
        return found
    }

    /// Withdraws the jobs of `ids` that are still waiting for an agent: they fail as cancelled (on disk, and for
    /// waiters); those already running finish and are recorded as usual. A stopped campaign's jobs leave the queue.
    public func cancel(_ ids: [JobID], reason: String) {
        guard !ids.isEmpty else { return }
        enqueue(.cancel(ids, reason: reason))
    }

    /// Sends `body` to agent `agentID` when it is registered and idle (a newer deploy for the same agent replaces a
    /// queued one); the outcome arrives as a `DeviceEvent.deployFinished` from `nextDeviceEvents`.
    public func deploy(agentID: String, _ body: DeployBody) throws {
        do {
            _ = try WireCodec.encode(.deploy(body))
        } catch {
            throw BrokerError.invalidJob("deploy \(body.deployID): \(error)")
        }
        shared.lock()
        guard phase != .stopped else {
            let reason = stoppedBy ?? .stopped
            shared.unlock()
            throw reason
        }
        inbox.append(.deploy(agentID: agentID, body))
        shared.unlock()
        waker.wake()
    }

    /// Profile changes and deploy outcomes since the last call, waiting up to `timeout` seconds for the first.
    public func nextDeviceEvents(timeout: TimeInterval) -> [DeviceEvent] {
        let deadline = Date(timeIntervalSinceNow: max(timeout, 0))
        shared.lock()
        defer { shared.unlock() }
        while deviceEvents.isEmpty && phase != .stopped && shared.wait(until: deadline) {}
        let taken = deviceEvents
        deviceEvents.removeAll()
        return taken
    }

    /// The registered agents as of the last poll-loop iteration.
    public func agents() -> [AgentSnapshot] {
        shared.lock()
        defer { shared.unlock() }
        return agentList
    }

    /// Totals as of the last poll-loop iteration.
    public func stats() -> BrokerStats {
        shared.lock()
        defer { shared.unlock() }
        return published
    }

    /// Adds an agent public key to the CURVE allow-list (new handshakes only). No effect over plain TCP.
    public func allow(agentKey: String) throws {
        _ = try Z85.keyBytes(agentKey, role: "agent public key")
        enqueue(.allow(agentKey))
    }

    /// Removes an agent public key from the allow-list; connected agents stay until they reconnect.
    public func revoke(agentKey: String) {
        enqueue(.revoke(agentKey))
    }

    private func enqueue(_ command: Command) {
        shared.lock()
        inbox.append(command)
        shared.unlock()
        waker.wake()
    }

    // MARK: Poll loop

    private static func monotonicMs() -> Int64 {
        Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
    }

    /// The broker clock (monotonic milliseconds) that `AgentSnapshot`'s times are on.
    public static func clockMs() -> Int64 { monotonicMs() }

    private func loop() {
        var items = [ZMQPollItem(router), ZMQPollItem(waker.receiver)]
        if let zap { items.append(ZMQPollItem(zap.socket)) }
        // Fine enough for heartbeats and expiry, coarse enough to cost nothing when idle.
        let tickMs = max(5, min(options.configuration.heartbeatIntervalMs / 4, 100))
        var lastTick = Self.monotonicMs()
        var stopping = false
        while !stopping {
            let timeout = max(0, lastTick + tickMs - Self.monotonicMs())
            do {
                try zmqPoll(&items, timeoutMilliseconds: Int(timeout))
            } catch let error as ZMQError where error.isInterrupted {
                continue
            } catch {
                options.log("broker poll failed, stopping: \(error)")
                break
            }
            let now = Self.monotonicMs()
            if let zap, items[2].isReadable {
                do { try zap.handlePending() } catch { options.log("ZAP handler: \(error)") }
            }
            if items[1].isReadable {
                waker.drain()
                shared.lock()
                let commands = inbox
                inbox.removeAll()
                shared.unlock()
                for command in commands {
                    switch command {
                    case let .submit(submissions):
                        for submission in submissions { feed(.submit(submission), now: now) }
                    case let .cancel(ids, reason): feed(.cancel(ids, reason: reason), now: now)
                    case let .deploy(agentID, body): feed(.deploy(agentID: agentID, body), now: now)
                    case let .allow(key): try? zap?.allow(key)
                    case let .revoke(key): zap?.revoke(key)
                    case .stop: stopping = true
                    }
                }
            }
            if items[0].isReadable { receiveBatch(now: now) }
            if now - lastTick >= tickMs {
                feed(.tick, now: now)
                lastTick = now
            }
            do {
                try flush()
            } catch {
                fail(error)
                break
            }
        }
        let failed = failure != nil
        feed(.shutdown, now: Self.monotonicMs())  // DISCONNECT to every agent, running jobs back to the queue
        if failed {
            // The store refused a write: nothing more is written or handed out. The next coordinator finds the jobs
            // that were running as `running` and queues them again (`recoverInterruptedJobs`).
            pendingChanges.removeAll()
            pendingFinished.removeAll()
            pendingDeviceEvents.removeAll()
        } else {
            do { try flush() } catch { fail(error) }
        }
        closeSockets()
        loopExited.signal()
    }

    /// Stops the broker for a failed store write: no new work, waiters woken with what was committed, the error kept
    /// for `failure`, `submit` and `deploy`.
    private func fail(_ error: Error) {
        let reason = error as? BrokerError
            ?? .storeWriteFailed(path: store.path, changes: 0, attempts: 1, reason: "\(error)")
        options.log("\(reason); stopping the broker")
        shared.lock()
        if stoppedBy == nil { stoppedBy = reason }
        phase = .stopped
        shared.broadcast()
        shared.unlock()
    }

    private func closeSockets() {
        // Linger so the DISCONNECTs just queued still leave; bounded so close never hangs.
        try? router.setLinger(milliseconds: Int32(SeerProtocol.closeLingerMs))
        router.close()
        zap?.socket.close()
        waker.close()
    }

    private func receiveBatch(now: Int64) {
        // Routing id + the largest valid message; anything bigger is drained and dropped by the socket wrapper.
        let limit = SeerProtocol.maxDeployMessageBytes + SeerProtocol.maxIDBytes
        for _ in 0..<max(options.maxMessagesPerIteration, 1) {
            let incoming: ZMQIncoming
            do {
                guard let received = try router.receiveIncoming(flags: .dontWait, maxTotalBytes: limit, maxFrames: 16) else { return }
                incoming = received
            } catch let error as ZMQError where error.isTooLarge {
                loopStats.received += 1
                loopStats.rejected += 1
                limited("dropped a message: \(error)")
                continue
            } catch {
                options.log("broker receive failed: \(error)")
                return
            }
            loopStats.received += 1
            handle(incoming, now: now)
        }
    }

    private func handle(_ incoming: ZMQIncoming, now: Int64) {
        let frames = incoming.frames
        guard let routingID = frames.first, (1...SeerProtocol.maxIDBytes).contains(routingID.count) else {
            loopStats.rejected += 1
            limited("dropped a message without a usable routing id")
            return
        }
        let peer = BrokerPeer(routingID: routingID, publicKey: incoming.userID)
        let message: Message
        do {
            message = try WireCodec.decodeRouted(frames).message
        } catch {
            loopStats.rejected += 1
            let body = Array(frames.dropFirst())
            limited("refused a message from \(Self.printable(routingID)): \(error)")
            // Never answer an ERROR with an ERROR (no loops between two confused peers).
            if body.count >= 2, body[1] == Array(MessageType.error.rawValue.utf8) { return }
            transmit(routingID, WireCodec.errorReply(for: error, frames: body))
            return
        }
        switch message {
        case let .ready(body): feed(.agentReady(peer, body), now: now)
        case let .heartbeat(body): feed(.heartbeat(peer, body), now: now)
        case let .result(body): feed(.result(peer, body), now: now)
        case let .error(body): feed(.error(peer, body), now: now)
        case let .disconnect(body): feed(.disconnect(peer, body), now: now)
        case let .profile(body): feed(.profile(peer, body), now: now)
        case let .deployed(body): feed(.deployed(peer, body), now: now)
        case .job, .deploy:
            loopStats.rejected += 1
            limited("refused \(message.type.rawValue) from \(Self.printable(routingID)): only coordinators send it")
            transmit(routingID, .error(ErrorBody(code: .malformed,
                                                 message: "\(message.type.rawValue) is sent by the coordinator, not to it")))
        }
    }

    /// Runs `event` (and any follow-ups from failed sends) through the core and executes the actions.
    private func feed(_ event: BrokerEvent, now: Int64) {
        followUps.append(event)
        while !followUps.isEmpty {
            let next = followUps.removeFirst()
            for action in core.handle(next, now: now) {
                switch action {
                case let .send(routingID, message):
                    if !transmit(routingID, message) {
                        if case let .job(body) = message {
                            followUps.append(.unreachable(routingID, jobID: body.jobID))
                        } else if lastSendUnreachable {
                            followUps.append(.unreachable(routingID, jobID: nil))
                        }
                    }
                case let .store(change): pendingChanges.append(change)
                case let .finished(id, outcome): pendingFinished.append((id, outcome))
                case let .deployFinished(agentID, body): pendingDeviceEvents.append(.deployFinished(agentID: agentID, body))
                case let .profileChanged(agentID, body): pendingDeviceEvents.append(.profileChanged(agentID: agentID, body))
                case let .log(line): options.log(line)
                }
            }
        }
    }

    private var lastSendUnreachable = false

    /// Sends without blocking; false if the peer is gone (EHOSTUNREACH) or its queue is full.
    @discardableResult
    private func transmit(_ routingID: RoutingID, _ message: Message) -> Bool {
        lastSendUnreachable = false
        do {
            let frames = try WireCodec.encode(message, to: routingID)
            if try router.send(frames, flags: .dontWait) { return true }
            loopStats.sendFailures += 1
            limited("dropped \(message.type.rawValue) to \(Self.printable(routingID)): its send queue is full")
            return false
        } catch let error as ZMQError where error.isHostUnreachable {
            loopStats.sendFailures += 1
            lastSendUnreachable = true
            return false
        } catch {
            loopStats.sendFailures += 1
            options.log("cannot send \(message.type.rawValue) to \(Self.printable(routingID)): \(error)")
            return false
        }
    }

    /// Commits the iteration's store changes in one transaction, then publishes outcomes and snapshots.
    ///
    /// A write that fails (after `StoreWriteRetry`) throws and publishes nothing: an outcome is handed out only once
    /// it is on disk, so the caller stops the broker instead.
    private func flush() throws {
        if !pendingChanges.isEmpty {
            do {
                let changes = pendingChanges
                try StoreWriteRetry().run(path: store.path, changes: changes.count) { try store.apply(changes) }
            } catch {
                loopStats.storeErrors += 1
                shared.lock()
                published.storeErrors = loopStats.storeErrors
                shared.unlock()
                throw error
            }
            pendingChanges.removeAll(keepingCapacity: true)
        }
        loopStats.counters = core.counters
        loopStats.agents = core.agentCount
        loopStats.queued = core.queuedCount
        loopStats.running = core.unfinishedCount - loopStats.queued
        // Registrations show at once; busy/idle flips (every job) at most every 20 ms, which keeps
        // the snapshot off the per-job path at thousands of jobs per second.
        let now = Self.monotonicMs()
        var snapshot: [AgentSnapshot]?
        if core.agentSetVersion != publishedAgentSetVersion
            || (core.agentsVersion != publishedAgentsVersion && now - publishedAgentsAt >= 20) {
            snapshot = core.agentSnapshots()
            publishedAgentsVersion = core.agentsVersion
            publishedAgentSetVersion = core.agentSetVersion
            publishedAgentsAt = now
        }

        shared.lock()
        if !pendingFinished.isEmpty {
            if outcomes.count + pendingFinished.count > Self.maxCachedOutcomes {
                outcomes.removeAll()  // waiters fall back to the store for anything dropped
            }
            var completedWaiter = false
            for (id, outcome) in pendingFinished {
                unfinished.remove(id)
                var claimed = false
                for waiter in waiters where waiter.remaining.remove(id) != nil {
                    waiter.found[id] = outcome
                    claimed = true
                    completedWaiter = completedWaiter || waiter.remaining.isEmpty
                }
                // Kept for a later waitForCompletion; one that already took it leaves the store as the record.
                if !claimed { outcomes[id] = outcome }
            }
            if completedWaiter { shared.broadcast() }
        }
        if let snapshot { agentList = snapshot }
        published = loopStats
        if !pendingDeviceEvents.isEmpty {
            deviceEvents += pendingDeviceEvents
            shared.broadcast()
        }
        shared.unlock()
        pendingFinished.removeAll(keepingCapacity: true)
        pendingDeviceEvents.removeAll(keepingCapacity: true)
    }

    private func limited(_ line: String) {
        if let text = limiter.admit(line, now: Self.monotonicMs()) { options.log(text) }
    }

    static func printable(_ bytes: [UInt8]) -> String {
        "\"" + String(decoding: bytes.prefix(64).map { (0x20...0x7E).contains($0) ? $0 : 0x3F }, as: UTF8.self) + "\""
    }
}

/// At most `burst` lines per second, then one "suppressed N" line: a fuzzing peer must not flood the log.
struct LogLimiter {
    var burst = 20
    private var windowStart: Int64 = 0
    private var inWindow = 0
    private var suppressed = 0

    mutating func admit(_ line: String, now: Int64) -> String? {
        if now - windowStart >= 1000 {
            let note = suppressed > 0 ? " (\(suppressed) similar line(s) suppressed)" : ""
            windowStart = now
            inWindow = 0
            suppressed = 0
            inWindow += 1
            return line + note
        }
        guard inWindow < burst else {
            suppressed += 1
            return nil
        }
        inWindow += 1
        return line
    }
}
