import SeerWire

/// Agent timing: heartbeats, liveness, reconnect backoff and the job-deadline backstop.
public struct AgentSessionConfiguration: Equatable, Sendable {
    /// Send a HEARTBEAT after this long without sending anything.
    public var heartbeatIntervalMs: Int64
    /// The coordinator is dead after `heartbeatIntervalMs * liveness` of silence.
    public var liveness: Int
    /// First reconnect delay...
    public var reconnectInitialMs: Int64
    /// ...doubling up to this.
    public var reconnectMaxMs: Int64
    /// How long past `timeouts.total_ms` the agent waits for its executor before reporting `timeout` itself.
    public var deadlineSlackMs: Int64

    /// The protocol defaults (1 s, 3, 1 s doubling to 32 s) and a 500 ms backstop slack.
    public init(heartbeatIntervalMs: Int64 = Int64(SeerProtocol.heartbeatIntervalMs),
                liveness: Int = SeerProtocol.heartbeatLiveness,
                reconnectInitialMs: Int64 = Int64(SeerProtocol.reconnectInitialMs),
                reconnectMaxMs: Int64 = Int64(SeerProtocol.reconnectMaxMs),
                deadlineSlackMs: Int64 = 500) {
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.liveness = liveness
        self.reconnectInitialMs = reconnectInitialMs
        self.reconnectMaxMs = reconnectMaxMs
        self.deadlineSlackMs = deadlineSlackMs
    }

    /// Silence after which the coordinator is dead.
    public var expiryMs: Int64 { heartbeatIntervalMs * Int64(max(liveness, 1)) }
}

/// How a job ended on the job thread.
public enum JobCompletion: Equatable, Sendable {
    /// Measurements to send as RESULT.
    case result(ResultPayload)
    /// A failure to send as ERROR.
    case failure(ExecutorError)
    /// A deploy's outcome to send as DEPLOYED.
    case deployed(DeployedBody)
}

/// Why the agent stops.
public enum AgentExit: Equatable, Sendable {
    /// Asked to (signal, `stop()`).
    case stopped
    /// The coordinator refused its READY (`unauthorized`, `unsupported_version`); retrying would not help.
    case refused(ErrorCode, String)
}

/// What can happen to an agent; the worker's poll loop turns sockets, the job thread and the clock into these.
public enum AgentEvent: Equatable, Sendable {
    /// The worker starts: connect and register.
    case start
    /// A decoded message from the coordinator.
    case received(Message)
    /// Bytes from the coordinator that did not decode (already answered by the worker): still a sign of life.
    case receivedUndecodable
    /// The job thread finished `jobID` (or a deploy).
    case jobFinished(String, JobCompletion)
    /// The battery watcher chose a profile (reported now if registered, and again after every registration).
    case profileChanged(profile: String, capacityPercent: Double, status: BatteryStatus)
    /// Time passed.
    case tick
    /// Stop: say DISCONNECT and exit.
    case shutdown
}

/// What the session wants done, in order.
public enum AgentAction: Equatable, Sendable {
    /// Close any current socket and open a fresh DEALER connected to the coordinator.
    case connect
    /// Close the socket; `flush` lets queued messages (a final DISCONNECT) leave first.
    case close(flush: Bool)
    /// Send a message to the coordinator.
    case send(Message)
    /// Hand the job to the job thread.
    case startJob(JobBody)
    /// Hand the deploy to the job thread.
    case startDeploy(DeployBody)
    /// Set the running job's cancellation flag.
    case cancelJob(String)
    /// Leave the poll loop.
    case exit(AgentExit)
    /// One log line.
    case log(String)
}

/// The agent's session logic as a pure state machine (Paranoid Pirate): events and a clock in, actions out.
///
/// Phases: `connecting` (READY sent, waiting for the coordinator's HEARTBEAT), `registered`, and
/// `waiting` (socket closed, reconnect at a time). Silence for `interval x liveness` or a
/// DISCONNECT closes the socket and reconnects after a delay that starts at `reconnectInitialMs`
/// and doubles per consecutive failure up to `reconnectMaxMs`; acceptance resets it. One job at a
/// time; a job abandoned (coordinator lost, deadline passed) still occupies the job thread until it
/// returns, and heartbeats keep naming it so the coordinator does not send another.
public struct AgentSession {
    /// The READY this agent sends.
    public let ready: ReadyBody
    /// Timing.
    public let configuration: AgentSessionConfiguration

    /// Where the session is.
    public enum Phase: Equatable, Sendable {
        /// Nothing done yet.
        case idle
        /// READY sent on a fresh socket; waiting for acceptance.
        case connecting
        /// Accepted by the coordinator.
        case registered
        /// Socket closed; reconnect at the given clock value.
        case waiting(until: Int64)
        /// Exited.
        case exited
    }

    private struct RunningJob {
        var id: String
        var deadline: Int64
        var abandoned: Bool
        var isDeploy = false
    }

    /// Current phase.
    public private(set) var phase = Phase.idle
    /// The next reconnect delay.
    public private(set) var backoffMs: Int64
    private var lastHeard: Int64 = 0
    private var lastSent: Int64 = 0
    private var running: RunningJob?
    private var refusal: (ErrorCode, String)?
    /// The profile in force, re-announced after every registration so a restarted coordinator learns it.
    private var profile: ProfileBody?
    private var now: Int64 = 0
    private var actions: [AgentAction] = []

    /// A session announcing `ready`.
    public init(ready: ReadyBody, configuration: AgentSessionConfiguration = AgentSessionConfiguration()) {
        self.ready = ready
        self.configuration = configuration
        backoffMs = configuration.reconnectInitialMs
    }

    /// The job occupying the job thread, if any, and whether its result will be dropped.
    public var currentJob: (id: String, abandoned: Bool)? { running.map { ($0.id, $0.abandoned) } }

    /// Whether the socket is open (connecting or registered).
    public var isConnected: Bool { phase == .connecting || phase == .registered }

    /// Feeds one event at clock `now` (milliseconds, monotonic); returns the actions to execute in order.
    public mutating func handle(_ event: AgentEvent, now: Int64) -> [AgentAction] {
        self.now = max(self.now, now)
        actions.removeAll(keepingCapacity: true)
        guard phase != .exited else { return [] }
        switch event {
        case .start: if phase == .idle { connect() }
        case let .received(message): received(message)
        case .receivedUndecodable: if isConnected { lastHeard = self.now }
        case let .jobFinished(id, completion): finished(id, completion)
        case let .profileChanged(name, capacity, status):
            profile = ProfileBody(agentID: ready.agentID, deviceKey: ready.deviceKey, profile: name,
                                  capacityPercent: capacity, status: status)
            if phase == .registered { send(.profile(profile!)) }
        case .tick: tick()
        case .shutdown: shutdown()
        }
        return actions
    }

    private mutating func send(_ message: Message) {
        actions.append(.send(message))
        lastSent = now
    }

    private mutating func connect() {
        actions.append(.connect)
        phase = .connecting
        refusal = nil
        lastHeard = now
        send(.ready(ready))
    }

    /// Closes the socket and schedules a reconnect; the running job is abandoned (the coordinator requeues it).
    private mutating func dropConnection(_ reason: String) {
        actions.append(.close(flush: false))
        actions.append(.log("\(reason); reconnecting in \(backoffMs) ms"))
        phase = .waiting(until: now + backoffMs)
        backoffMs = min(backoffMs * 2, configuration.reconnectMaxMs)
        abandonJob()
    }

    private mutating func abandonJob() {
        guard let job = running, !job.abandoned else { return }
        running?.abandoned = true
        actions.append(.cancelJob(job.id))
    }

    private mutating func received(_ message: Message) {
        guard isConnected else { return }  // stale bytes from a closed socket cannot arrive; be safe anyway
        lastHeard = now
        switch message {
        case .heartbeat:
            if phase == .connecting { accept() }
        case let .job(body):
            if phase == .connecting { accept() }  // a JOB implies acceptance even if its HEARTBEAT was lost
            job(body)
        case let .error(body):
            if body.jobID == nil, body.code == .unauthorized || body.code == .unsupportedVersion {
                refusal = (body.code, body.message)  // the DISCONNECT that follows ends the agent
            }
            actions.append(.log("coordinator reported \(body.code.rawValue)"
                                + (body.jobID.map { " for \($0)" } ?? "") + ": \(body.message)"))
        case let .disconnect(body):
            if let (code, reason) = refusal {
                actions.append(.close(flush: false))
                actions.append(.log("coordinator refused this agent (\(code.rawValue)): \(reason)"))
                phase = .exited
                abandonJob()
                actions.append(.exit(.refused(code, reason)))
            } else {
                dropConnection("coordinator said DISCONNECT (\(body.reason))")
            }
        case let .deploy(body):
            if phase == .connecting { accept() }
            deploy(body)
        case .ready, .result, .profile, .deployed:
            // PROTOCOL.md section 2, check 7: a type that travels the other way is malformed, answered like any other.
            actions.append(.log("refused \(message.type.rawValue) from the coordinator: agents send it, they do not receive it"))
            send(.error(ErrorBody(code: .malformed, message: "\(message.type.rawValue) is sent by agents, not to them")))
        }
    }

    private mutating func accept() {
        phase = .registered
        backoffMs = configuration.reconnectInitialMs
        actions.append(.log("registered with the coordinator as \(ready.agentID) for \(ready.deviceKey)"))
        if let profile { send(.profile(profile)) }
    }

    private mutating func deploy(_ body: DeployBody) {
        guard ready.capabilities.contains("deploy") else {
            send(.error(ErrorBody(jobID: body.deployID, code: .unsupported, message: "this agent has no deploy directory (--deploy-dir)")))
            return
        }
        if let current = running {
            send(.error(ErrorBody(jobID: body.deployID, code: .busy, message: "running \(current.id)")))
            return
        }
        guard body.deviceKey == ready.deviceKey else {
            send(.deployed(DeployedBody(deployID: body.deployID, agentID: ready.agentID, status: .failed, code: .unsupported,
                                        message: "this agent serves device key \(ready.deviceKey), not \(body.deviceKey)")))
            return
        }
        let deadline = now + Int64(SeerProtocol.deployTimeoutMs) + configuration.deadlineSlackMs
        running = RunningJob(id: body.deployID, deadline: deadline, abandoned: false, isDeploy: true)
        actions.append(.startDeploy(body))
    }

    private mutating func job(_ body: JobBody) {
        if let current = running {
            send(.error(ErrorBody(jobID: body.jobID, code: .busy, message: "running job \(current.id)")))
            return
        }
        guard body.deviceKey == ready.deviceKey else {
            send(.error(ErrorBody(jobID: body.jobID, code: .unsupported,
                                  message: "this agent serves device key \(ready.deviceKey), not \(body.deviceKey)")))
            return
        }
        guard ready.capabilities.isEmpty || ready.capabilities.contains(body.kind.rawValue) else {
            send(.error(ErrorBody(jobID: body.jobID, code: .unsupported,
                                  message: "this agent runs \(ready.capabilities.joined(separator: ", ")) jobs, not \(body.kind.rawValue)")))
            return
        }
        let deadline = now + Int64(body.payload.timeouts.totalMs) + configuration.deadlineSlackMs
        running = RunningJob(id: body.jobID, deadline: deadline, abandoned: false)
        actions.append(.startJob(body))
    }

    private mutating func finished(_ id: String, _ completion: JobCompletion) {
        guard let job = running, job.id == id else {
            actions.append(.log("job thread finished \(id), which is not the current job; dropped"))
            return
        }
        running = nil
        guard !job.abandoned, isConnected else {
            actions.append(.log("dropped the outcome of abandoned job \(id)"))
            return
        }
        switch completion {
        case let .result(payload):
            send(.result(ResultBody(jobID: id, agentID: ready.agentID, payload: payload)))
        case let .failure(error):
            send(.error(ErrorBody(jobID: id, code: error.code, message: String(error.message.prefix(4_000)))))
        case let .deployed(body):
            send(.deployed(body))
        }
    }

    private mutating func tick() {
        switch phase {
        case .idle, .exited:
            return
        case let .waiting(until):
            if now >= until { connect() }
            return
        case .connecting, .registered:
            break
        }
        if now - lastHeard >= configuration.expiryMs {
            dropConnection(phase == .connecting
                           ? "no answer to READY for \(now - lastHeard) ms"
                           : "coordinator silent for \(now - lastHeard) ms")
            return
        }
        if let job = running, !job.abandoned, now >= job.deadline {
            // The executor overran total_ms: report it ourselves; whatever it returns later is dropped.
            running?.abandoned = true
            actions.append(.cancelJob(job.id))
            if job.isDeploy {
                send(.deployed(DeployedBody(deployID: job.id, agentID: ready.agentID, status: .failed, code: .timeout,
                                            message: "the install did not finish within \(SeerProtocol.deployTimeoutMs) ms")))
            } else {
                send(.error(ErrorBody(jobID: job.id, code: .timeout, message: "job exceeded timeouts.total_ms; the executor did not stop in time")))
            }
        }
        if phase == .registered, now - lastSent >= configuration.heartbeatIntervalMs {
            // Name the job while the job thread is occupied, abandoned or not: the coordinator must not send another.
            send(.heartbeat(HeartbeatBody(jobID: running?.id)))
        }
    }

    private mutating func shutdown() {
        if isConnected {
            send(.disconnect(DisconnectBody(reason: "agent shutting down")))
            actions.append(.close(flush: true))
        }
        abandonJob()
        phase = .exited
        actions.append(.exit(.stopped))
    }
}
