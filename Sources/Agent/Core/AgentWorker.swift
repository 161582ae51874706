import Foundation
import SeerTransport
import SeerWire

/// How the agent's DEALER authenticates to the coordinator.
public enum AgentSecurity: Sendable {
    /// CURVE client with the agent's own `keys`, trusting only the coordinator holding `serverKey` (Z85).
    case curve(keys: CurveKeyPair, serverKey: String)
    /// Plain TCP, only when explicitly asked for (tests, closed lab networks).
    case plain
}

/// Everything an agent needs besides its executor.
public struct AgentOptions: Sendable {
    /// The coordinator's endpoint, e.g. "tcp://coordinator:5555".
    public var coordinator: String
    /// CURVE (default in the CLI) or plain.
    public var security: AgentSecurity
    /// Heartbeats, liveness, reconnect backoff.
    public var session: AgentSessionConfiguration
    /// Receives one line per noteworthy event.
    public var log: @Sendable (String) -> Void

    /// Options with the protocol's default timing.
    public init(coordinator: String, security: AgentSecurity, session: AgentSessionConfiguration = AgentSessionConfiguration(),
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.coordinator = coordinator
        self.security = security
        self.session = session
        self.log = log
    }
}

/// A Seer agent: one DEALER socket and its poll loop (the calling thread), plus one job thread.
///
/// The poll loop owns the socket and `AgentSession`; it heartbeats while the job thread runs the
/// executor, so a long fine-tune never looks like death. The job thread and `stop()` reach the
/// loop through a locked queue plus an inproc PAIR wake-up (`Waker`).
public final class AgentWorker: @unchecked Sendable {
    /// What this agent announces.
    public let ready: ReadyBody
    /// Connection options.
    public let options: AgentOptions
    private let executor: any Executor
    private let context: ZMQContext
    private let waker: Waker
    private var socket: ZMQSocket?
    private let runner: JobRunner

    private let lock = NSLock()
    private var stopRequested = false
    private var profileReports: [(String, Double, BatteryStatus)] = []
    /// Outcomes of instant jobs run on the poll thread, fed back to the session right away.
    private var instantCompletions: [(String, JobCompletion)] = []

    /// The READY for an agent `agentID` serving `deviceKey` with `executor`, describing this machine.
    public static func makeReady(agentID: String, deviceKey: String, executor: any Executor,
                                 device: DeviceDescriptor = DeviceInfo.current()) -> ReadyBody {
        ReadyBody(agentID: agentID, deviceKey: deviceKey, executor: executor.kind, device: device,
                  capabilities: executor.capabilities)
    }

    /// An agent announcing `ready` and running jobs with `executor`; `run()` starts it.
    /// With a `deployer`, DEPLOYs are installed (announce the `deploy` capability in `ready`); without, refused.
    public init(ready: ReadyBody, executor: any Executor, options: AgentOptions, deployer: (any Deployer)? = nil) throws {
        // Fail now, with the field named, rather than on every reconnect.
        _ = try WireCodec.encode(.ready(ready))
        self.ready = ready
        self.executor = executor
        self.options = options
        context = try ZMQContext()
        waker = try Waker(context: context)
        runner = JobRunner(executor: executor, deployer: deployer, agentID: ready.agentID, waker: waker)
    }

    /// Reports the device's power profile to the coordinator (now, and again after every reconnect); any thread.
    public func reportProfile(_ profile: String, capacityPercent: Double, status: BatteryStatus) {
        lock.lock()
        profileReports.append((profile, capacityPercent, status))
        lock.unlock()
        waker.wake()
    }

    /// Asks `run()` to send DISCONNECT and return; safe from any thread (e.g. a signal handler's queue).
    public func stop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
        waker.wake()
    }

    private static func monotonicMs() -> Int64 {
        Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
    }

    /// Runs until `stop()` or until the coordinator refuses this agent; returns why it ended.
    public func run() -> AgentExit {
        var session = AgentSession(ready: ready, configuration: options.session)
        runner.start()
        defer {
            runner.shutdown()
            closeSocket(flush: true)
            waker.close()
        }
        let tickMs = max(5, min(options.session.heartbeatIntervalMs / 4, 100))
        var exit = step(.start, &session)
        var stopping = false
        while exit == nil {
            var items = [ZMQPollItem(waker.receiver)]
            if let socket { items.append(ZMQPollItem(socket)) }
            do {
                try zmqPoll(&items, timeoutMilliseconds: Int(tickMs))
            } catch let error as ZMQError where error.isInterrupted {
                continue
            } catch {
                options.log("agent poll failed, stopping: \(error)")
                return .stopped
            }
            if items[0].isReadable {
                waker.drain()
                lock.lock()
                let stop = stopRequested
                let reports = profileReports
                profileReports.removeAll()
                lock.unlock()
                for (profile, capacity, status) in reports {
                    exit = exit ?? step(.profileChanged(profile: profile, capacityPercent: capacity, status: status), &session)
                }
                for (id, completion) in runner.takeCompletions() {
                    exit = exit ?? step(.jobFinished(id, completion), &session)
                }
                if stop && !stopping {
                    stopping = true
                    exit = exit ?? step(.shutdown, &session)
                }
            }
            if exit == nil, items.count > 1, items[1].isReadable, let current = socket {
                exit = receiveBatch(from: current, session: &session)
            }
            if exit == nil {
                exit = step(.tick, &session)
            }
        }
        return exit ?? .stopped
    }

    private func receiveBatch(from current: ZMQSocket, session: inout AgentSession) -> AgentExit? {
        for _ in 0..<256 {
            // The socket may have been replaced by a reconnect while handling the previous message.
            guard socket === current else { return nil }
            let frames: [[UInt8]]
            do {
                guard let received = try current.receive(flags: .dontWait, maxTotalBytes: SeerProtocol.maxDeployMessageBytes,
                                                         maxFrames: 16) else { return nil }
                frames = received
            } catch let error as ZMQError where error.isTooLarge {
                options.log("dropped an oversized message from the coordinator: \(error)")
                continue
            } catch {
                options.log("receive failed: \(error)")
                return nil
            }
            let now = Self.monotonicMs()
            let message: Message
            do {
                message = try WireCodec.decode(frames)
            } catch {
                options.log("refused a message from the coordinator: \(error)")
                // Never answer an ERROR with an ERROR.
                if !(frames.count >= 2 && frames[1] == Array(MessageType.error.rawValue.utf8)) {
                    send(WireCodec.errorReply(for: error, frames: frames))
                }
                if let exit = step(.receivedUndecodable, &session, now: now) { return exit }
                continue
            }
            if let exit = step(.received(message), &session, now: now) { return exit }
        }
        return nil
    }

    /// Feeds `event` to the session and executes its actions, including the completions of instant jobs.
    private func step(_ event: AgentEvent, _ session: inout AgentSession, now: Int64? = nil) -> AgentExit? {
        if let exit = execute(session.handle(event, now: now ?? Self.monotonicMs())) { return exit }
        while !instantCompletions.isEmpty {
            let (id, completion) = instantCompletions.removeFirst()
            if let exit = execute(session.handle(.jobFinished(id, completion), now: Self.monotonicMs())) { return exit }
        }
        return nil
    }

    /// Executes session actions; returns the exit if one was asked for.
    private func execute(_ actions: [AgentAction]) -> AgentExit? {
        for action in actions {
            switch action {
            case .connect: openSocket()
            case let .close(flush): closeSocket(flush: flush)
            case let .send(message): send(message)
            case let .startJob(body) where executor.isInstant(body):
                instantCompletions.append((body.jobID, JobRunner.complete(body, executor: executor, agentID: ready.agentID,
                                                                          cancel: CancellationFlag())))
            case let .startJob(body): runner.submit(.job(body))
            case let .startDeploy(body): runner.submit(.deploy(body))
            case let .cancelJob(id): runner.cancel(id)
            case let .exit(reason): return reason
            case let .log(line): options.log(line)
            }
        }
        return nil
    }

    private func openSocket() {
        closeSocket(flush: false)
        do {
            let dealer = try context.socket(.dealer)
            try dealer.setRoutingID(Array(ready.agentID.utf8))
            try dealer.setLinger(milliseconds: Int32(SeerProtocol.closeLingerMs))
            try dealer.setMaxMessageSize(SeerProtocol.transportMaxFrameBytes)
            try dealer.setReconnectInterval(initialMilliseconds: Int32(SeerProtocol.reconnectInitialMs),
                                            maximumMilliseconds: Int32(SeerProtocol.reconnectMaxMs))
            try dealer.setHeartbeat(intervalMilliseconds: Int32(SeerProtocol.zmtpHeartbeatIntervalMs),
                                    timeToLiveMilliseconds: Int32(SeerProtocol.zmtpHeartbeatTTLMs),
                                    timeoutMilliseconds: Int32(SeerProtocol.zmtpHeartbeatTimeoutMs))
            if case let .curve(keys, serverKey) = options.security {
                try dealer.makeCurveClient(keys: keys, serverPublicKey: serverKey)
            }
            try dealer.connect(options.coordinator)
            socket = dealer
        } catch {
            // The session sees silence and retries with backoff.
            options.log("cannot open a socket to \(options.coordinator): \(error)")
            socket = nil
        }
    }

    private func closeSocket(flush: Bool) {
        guard let current = socket else { return }
        // A fresh socket drops whatever was queued for a coordinator that is gone (Paranoid Pirate).
        if !flush { try? current.setLinger(milliseconds: 0) }
        current.close()
        socket = nil
    }

    private func send(_ message: Message) {
        guard let socket else { return }
        do {
            let frames: [[UInt8]]
            do {
                frames = try WireCodec.encode(message)
            } catch {
                // The checks the coordinator would apply: an executor's invalid result becomes a clear job error.
                guard case let .result(body) = message else { throw error }
                let reason = "the \(executor.kind.rawValue) executor produced an invalid result: \(error)"
                options.log("job \(body.jobID): \(reason)")
                frames = try WireCodec.encode(.error(ErrorBody(jobID: body.jobID, code: .runtimeError, message: String(reason.prefix(4_000)))))
            }
            if try !socket.send(frames, flags: .dontWait) {
                options.log("dropped \(message.type.rawValue): the send queue to the coordinator is full")
            }
        } catch {
            options.log("cannot send \(message.type.rawValue): \(error)")
        }
    }
}

/// The agent's one job thread: runs the executor off the socket thread and posts completions back.
final class JobRunner: @unchecked Sendable {
    /// What the job thread runs.
    enum Work {
        case job(JobBody)
        case deploy(DeployBody)

        var id: String {
            switch self {
            case let .job(body): return body.jobID
            case let .deploy(body): return body.deployID
            }
        }
    }

    private let executor: any Executor
    private let deployer: (any Deployer)?
    private let agentID: String
    /// Weak: a job thread stuck in a hung executor must not keep the ZeroMQ context (and process exit) waiting.
    private weak var waker: Waker?
    private let condition = NSCondition()
    private var pending: (Work, CancellationFlag)?
    private var flags: [String: CancellationFlag] = [:]
    private var completions: [(String, JobCompletion)] = []
    private var finished = false
    private var started = false

    init(executor: any Executor, deployer: (any Deployer)?, agentID: String, waker: Waker) {
        self.executor = executor
        self.deployer = deployer
        self.agentID = agentID
        self.waker = waker
    }

    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !started else { return }
        started = true
        let thread = Thread { [self] in loop() }
        thread.name = "seer-agent-job"
        thread.stackSize = 16 << 20  // executors (fine-tuning) may recurse deeper than a default thread allows
        thread.start()
    }

    func submit(_ work: Work) {
        condition.lock()
        let flag = CancellationFlag()
        flags[work.id] = flag
        pending = (work, flag)
        condition.signal()
        condition.unlock()
    }

    func cancel(_ id: String) {
        condition.lock()
        flags[id]?.cancel()
        condition.unlock()
    }

    func takeCompletions() -> [(String, JobCompletion)] {
        condition.lock()
        defer { condition.unlock() }
        let taken = completions
        completions.removeAll()
        return taken
    }

    /// Lets the thread end after its current job (a hung executor is cancelled, not waited for).
    func shutdown() {
        condition.lock()
        finished = true
        for flag in flags.values { flag.cancel() }
        condition.signal()
        condition.unlock()
    }

    /// Runs `job`; a result that would not pass the wire checks is turned into an ERROR when sent (`AgentWorker.send`).
    static func complete(_ job: JobBody, executor: any Executor, agentID: String, cancel: CancellationFlag) -> JobCompletion {
        do {
            return .result(try executor.run(job, cancel: cancel))
        } catch {
            return .failure(error)
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while pending == nil && !finished { condition.wait() }
            guard let (work, flag) = pending, !finished else {
                condition.unlock()
                return
            }
            pending = nil
            condition.unlock()

            let completion: JobCompletion
            switch work {
            case let .job(job):
                completion = Self.complete(job, executor: executor, agentID: agentID, cancel: flag)
            case let .deploy(body):
                completion = .deployed(deployer?.install(body, cancel: flag)
                    ?? DeployedBody(deployID: body.deployID, agentID: agentID, status: .failed, code: .unsupported,
                                    message: "this agent has no deploy directory"))
            }
            condition.lock()
            flags[work.id] = nil
            completions.append((work.id, completion))
            condition.unlock()
            waker?.wake()
        }
    }
}
