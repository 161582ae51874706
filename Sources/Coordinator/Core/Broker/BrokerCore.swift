import SeerWire

/// A ZeroMQ routing id: the first frame of every message on the coordinator's ROUTER.
public typealias RoutingID = [UInt8]

/// Broker timing and retry policy.
public struct BrokerConfiguration: Equatable, Sendable {
    /// Send a HEARTBEAT to an agent after this long without sending it anything.
    public var heartbeatIntervalMs: Int64
    /// An agent silent for `heartbeatIntervalMs * liveness` is expired.
    public var liveness: Int
    /// Dispatches allowed per job when the submitter gives no limit.
    public var defaultMaxAttempts: Int
    /// Extra time past a job's `timeouts.total_ms` before the broker gives up on its answer.
    public var jobGraceMs: Int64
    /// When agents are benched for failing jobs in a row.
    public var quarantine: QuarantinePolicy

    /// The protocol defaults: 1 s heartbeats, liveness 3, 3 attempts, 10 s grace; quarantine after 3 failures in a row.
    public init(heartbeatIntervalMs: Int64 = Int64(SeerProtocol.heartbeatIntervalMs),
                liveness: Int = SeerProtocol.heartbeatLiveness,
                defaultMaxAttempts: Int = 3,
                jobGraceMs: Int64 = Int64(SeerProtocol.jobGraceMs),
                quarantine: QuarantinePolicy = QuarantinePolicy()) {
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.liveness = liveness
        self.defaultMaxAttempts = defaultMaxAttempts
        self.jobGraceMs = jobGraceMs
        self.quarantine = quarantine
    }

    /// Silence after which an agent is dead.
    public var expiryMs: Int64 { heartbeatIntervalMs * Int64(max(liveness, 1)) }
}

/// Who sent a message: its routing id and, under CURVE, the Z85 public key ZAP admitted it with.
public struct BrokerPeer: Hashable, Sendable {
    /// The ROUTER routing id.
    public var routingID: RoutingID
    /// The CURVE public key (ZAP User-Id); nil over plain TCP.
    public var publicKey: String?

    /// Memberwise initializer.
    public init(routingID: RoutingID, publicKey: String? = nil) {
        self.routingID = routingID
        self.publicKey = publicKey
    }
}

/// Everything that can happen to the broker; the poll loop turns sockets and clocks into these.
public enum BrokerEvent: Equatable, Sendable {
    /// READY from an agent.
    case agentReady(BrokerPeer, ReadyBody)
    /// HEARTBEAT from an agent.
    case heartbeat(BrokerPeer, HeartbeatBody)
    /// RESULT from an agent.
    case result(BrokerPeer, ResultBody)
    /// ERROR from an agent.
    case error(BrokerPeer, ErrorBody)
    /// DISCONNECT from an agent.
    case disconnect(BrokerPeer, DisconnectBody)
    /// PROFILE from an agent: its power profile changed.
    case profile(BrokerPeer, ProfileBody)
    /// DEPLOYED from an agent.
    case deployed(BrokerPeer, DeployedBody)
    /// Install a model on agent `agentID` as soon as it is registered and idle; a newer one for the same agent
    /// replaces one not yet sent.
    case deploy(agentID: String, DeployBody)
    /// A new job from the coordinator's own code.
    case submit(JobSubmission)
    /// Withdraw these jobs while they wait in their queue: each fails as cancelled, for `reason`. A job already on an
    /// agent runs to its end and is recorded as usual.
    case cancel([JobID], reason: String)
    /// A send to `routingID` failed (peer gone or clogged); `jobID` if that message was a JOB.
    case unreachable(RoutingID, jobID: JobID?)
    /// Time passed: heartbeats, expiries and job deadlines are due.
    case tick
    /// The coordinator is stopping: say DISCONNECT to every agent, put running jobs back.
    case shutdown
}

/// What the broker wants done; the poll loop executes these in order.
public enum BrokerAction: Equatable, Sendable {
    /// Send `message` to the agent with `routingID`.
    case send(RoutingID, Message)
    /// Persist a state change (batched per poll-loop iteration).
    case store(StoreChange)
    /// A job reached its final state; wake whoever waits for it (after the change is committed).
    case finished(JobID, JobOutcome)
    /// A deploy ended: the agent's DEPLOYED, or a failure the broker saw (agent lost, timed out, superseded).
    case deployFinished(agentID: String, DeployedBody)
    /// An agent reported a power profile change.
    case profileChanged(agentID: String, ProfileBody)
    /// Something worth one log line.
    case log(String)
}

/// A registered agent as the broker sees it.
public struct AgentSnapshot: Equatable, Sendable {
    /// The agent's id.
    public var agentID: String
    /// Its routing id.
    public var routingID: RoutingID
    /// Device class.
    public var deviceKey: String
    /// Executor kind.
    public var executor: ExecutorKind
    /// CURVE public key; nil over plain TCP.
    public var publicKey: String?
    /// Its device.
    public var device: DeviceDescriptor
    /// Announced capabilities.
    public var capabilities: [String]
    /// The job it is running for us, if any.
    public var currentJob: JobID?
    /// True while it says it is busy with something we no longer track (a job we gave up on).
    public var blocked: Bool
    /// Jobs it finished with a RESULT.
    public var jobsDone: Int
    /// Time between dispatch and answer, summed over its jobs (broker clock, milliseconds).
    public var busyMs: Int64
    /// Broker clock at registration.
    public var registeredAtMs: Int64
    /// Broker clock when it was last heard from.
    public var lastHeardMs: Int64
    /// Failed attempts since its last RESULT.
    public var failuresInARow: Int
    /// Broker clock at which its quarantine ends, while it is benched for failing jobs (`QuarantinePolicy`).
    public var quarantinedUntilMs: Int64?
}

/// Running totals, for summaries and tests.
public struct BrokerCounters: Equatable, Sendable {
    /// JOB messages sent.
    public var dispatched = 0
    /// Jobs finished with a result.
    public var done = 0
    /// Jobs failed for good.
    public var failed = 0
    /// Jobs put back in their queue.
    public var requeued = 0
    /// Agents expired for silence.
    public var expired = 0
    /// READYs refused (version, key binding).
    public var refused = 0
    /// Messages answered with "not registered".
    public var unregistered = 0
    /// Messages dropped because their CURVE key differs from that of the agent holding their routing id.
    public var impostors = 0
    /// Agents benched for failing jobs in a row.
    public var quarantined = 0
}

/// The broker's session logic as a pure state machine: events and a clock in, actions out.
///
/// No sockets, no threads, no wall clock: `handle(_:now:)` takes the time (milliseconds on any
/// monotonic clock) with every event, so every timing rule is unit-tested with a fake clock.
/// Majordomo-style: one queue of jobs and one FIFO of idle agents per device key; a job goes to the
/// agent idle the longest. A key's queue serves its jobs' owners (campaigns) in turn, each owner's in
/// FIFO order (`FairQueue`). Every dispatch counts an attempt; retryable failures requeue the job at
/// the head of its queue until `maxAttempts` is spent, then it fails with its last error. An agent
/// that fails attempts in a row is benched for a while (`QuarantinePolicy`).
public struct BrokerCore {
    /// Timing and retry policy.
    public let configuration: BrokerConfiguration

    private struct AgentState {
        var ready: ReadyBody
        var publicKey: String?
        var registeredAt: Int64
        var lastHeard: Int64
        var lastSent: Int64
        /// Its current work: a job, or (when `deploying`) a deploy id.
        var job: JobID?
        var deploying = false
        var jobDeadline: Int64 = 0
        var dispatchedAt: Int64 = 0
        /// The agent says (HEARTBEAT job_id, ERROR busy) it is busy with work we do not track.
        var blockedBy: JobID?
        var idleToken = 0
        var jobsDone = 0
        var busyMs: Int64 = 0
        var isIdle: Bool { job == nil && blockedBy == nil }
    }

    private struct TrackedJob {
        var submission: JobSubmission
        var attempts: Int
        var lastCode: ErrorCode?
        var lastError: String?
        var runningOn: RoutingID?
        /// Agents an attempt failed on: a retry goes elsewhere while another agent of the key exists.
        var failedOn: Set<String> = []
    }

    private struct IdleTicket {
        var routingID: RoutingID
        var token: Int
    }

    private var agents: [RoutingID: AgentState] = [:]
    private var routingByAgentID: [String: RoutingID] = [:]
    private var idle: [String: FIFOQueue<IdleTicket>] = [:]
    private var jobs: [JobID: TrackedJob] = [:]
    private var queues: [String: FairQueue<JobID>] = [:]
    /// Deploys waiting for their agent (by agent id) to be registered and idle.
    private var pendingDeploys: [String: DeployBody] = [:]
    /// Failure runs and quarantines by agent id; kept when an agent leaves, so re-registering does not end a quarantine.
    private var health: [String: AgentHealth] = [:]
    private var keyBindings: [String: String]
    private var nextToken = 0
    private var now: Int64 = 0
    private var actions: [BrokerAction] = []

    /// Running totals.
    public private(set) var counters = BrokerCounters()
    /// Bumped whenever an agent registers, leaves, or changes between idle and busy.
    public private(set) var agentsVersion = 0
    /// Bumped only when an agent registers or leaves.
    public private(set) var agentSetVersion = 0

    /// A broker that resumes `restoring` (unfinished jobs from the store, in submission order; any
    /// still marked running are queued again) and knows which CURVE key each agent id is bound to.
    public init(configuration: BrokerConfiguration = BrokerConfiguration(), restoring: [JobRecord] = [],
                keyBindings: [String: String] = [:]) {
        self.configuration = configuration
        self.keyBindings = keyBindings
        for record in restoring where record.state == .queued || record.state == .running {
            guard jobs[record.id] == nil else { continue }
            jobs[record.id] = TrackedJob(submission: record.submission, attempts: record.attempts,
                                         lastCode: record.lastErrorCode, lastError: record.lastError)
            queues[record.deviceKey, default: FairQueue()].append(record.id, owner: record.owner)
        }
    }

    // MARK: Queries

    /// Jobs waiting for an agent.
    public var queuedCount: Int { queues.values.reduce(0) { $0 + $1.count } }
    /// Jobs on an agent.
    public var runningCount: Int { jobs.values.reduce(0) { $0 + ($1.runningOn == nil ? 0 : 1) } }
    /// Jobs not finished.
    public var unfinishedCount: Int { jobs.count }
    /// Registered agents.
    public var agentCount: Int { agents.count }

    /// The queue of `deviceKey`, head first.
    public func queuedJobs(deviceKey: String) -> [JobID] { queues[deviceKey]?.elements ?? [] }

    /// State and attempts of an unfinished job; nil once it finished (or if unknown).
    public func jobStatus(_ id: JobID) -> (state: JobState, attempts: Int, agentID: String?)? {
        guard let job = jobs[id] else { return nil }
        guard let routingID = job.runningOn else { return (.queued, job.attempts, nil) }
        return (.running, job.attempts, agents[routingID]?.ready.agentID)
    }

    /// Every registered agent, sorted by id.
    public func agentSnapshots() -> [AgentSnapshot] {
        agents.map { routingID, agent in
            AgentSnapshot(agentID: agent.ready.agentID, routingID: routingID, deviceKey: agent.ready.deviceKey,
                          executor: agent.ready.executor, publicKey: agent.publicKey, device: agent.ready.device,
                          capabilities: agent.ready.capabilities, currentJob: agent.job,
                          blocked: agent.blockedBy != nil, jobsDone: agent.jobsDone, busyMs: agent.busyMs,
                          registeredAtMs: agent.registeredAt, lastHeardMs: agent.lastHeard,
                          failuresInARow: health[agent.ready.agentID]?.failuresInARow ?? 0,
                          quarantinedUntilMs: health[agent.ready.agentID]?.quarantinedUntil)
        }.sorted { $0.agentID < $1.agentID }
    }

    /// The earliest clock value at which a `.tick` has something to do, or nil if nothing is pending.
    public func nextDeadline() -> Int64? {
        var next: Int64?
        func consider(_ value: Int64) { next = min(next ?? value, value) }
        for agent in agents.values {
            consider(agent.lastSent + configuration.heartbeatIntervalMs)
            consider(agent.lastHeard + configuration.expiryMs)
            if agent.job != nil { consider(agent.jobDeadline) }
            if let until = health[agent.ready.agentID]?.quarantinedUntil { consider(until) }
        }
        return next
    }

    // MARK: Events

    /// Feeds one event at clock `now` (milliseconds, monotonic); returns the actions to execute in order.
    public mutating func handle(_ event: BrokerEvent, now: Int64) -> [BrokerAction] {
        self.now = max(self.now, now)  // a clock that steps back must not resurrect expired deadlines
        actions.removeAll(keepingCapacity: true)
        switch event {
        case let .agentReady(peer, body): ready(peer, body)
        case let .heartbeat(peer, body): heartbeat(peer, body)
        case let .result(peer, body): result(peer, body)
        case let .error(peer, body): error(peer, body)
        case let .disconnect(peer, body): disconnect(peer, body)
        case let .profile(peer, body): profile(peer, body)
        case let .deployed(peer, body): deployed(peer, body)
        case let .deploy(agentID, body): deploy(agentID: agentID, body)
        case let .submit(submission): submit(submission)
        case let .cancel(ids, reason): cancel(ids, reason: reason)
        case let .unreachable(routingID, jobID): unreachable(routingID, jobID: jobID)
        case .tick: tick()
        case .shutdown: shutdown()
        }
        return actions
    }

    private mutating func emit(_ action: BrokerAction) { actions.append(action) }

    private mutating func send(_ routingID: RoutingID, _ message: Message) {
        emit(.send(routingID, message))
        agents[routingID]?.lastSent = now
    }

    private func name(_ routingID: RoutingID) -> String {
        if let agent = agents[routingID] { return "agent \(agent.ready.agentID)" }
        return "peer \"" + String(decoding: routingID.prefix(64).map { (0x20...0x7E).contains($0) ? $0 : 0x3F }, as: UTF8.self) + "\""
    }

    /// The registered agent behind `peer`, refreshed as alive; otherwise answers "not registered" and returns nil.
    private mutating func registered(_ peer: BrokerPeer, answering type: MessageType) -> AgentState? {
        guard let agent = agents[peer.routingID] else {
            counters.unregistered += 1
            // Never answer a DISCONNECT: the peer is leaving anyway.
            if type != .disconnect { send(peer.routingID, .disconnect(DisconnectBody(reason: "not registered"))) }
            return nil
        }
        guard agent.publicKey == peer.publicKey else {
            impostor(peer, type, holder: agent)
            return nil
        }
        agents[peer.routingID]!.lastHeard = now
        return agents[peer.routingID]
    }

    // MARK: Agents

    /// A message on the routing id of a registered agent, from a connection with another CURVE key.
    ///
    /// Dropped without an answer and without touching the agent: the ROUTER delivers anything sent to this routing
    /// id to whichever connection holds it, which is normally the registered agent (libzmq ignores a second
    /// connection with a routing id in use), so an ERROR `unauthorized` plus DISCONNECT meant for the impostor
    /// would make the legitimate agent give up for good, and its job with it.
    private mutating func impostor(_ peer: BrokerPeer, _ type: MessageType, holder: AgentState) {
        counters.impostors += 1
        emit(.log("dropped \(type.rawValue) on the routing id of agent \(holder.ready.agentID) from a connection with "
                  + "another CURVE key; the agent keeps its registration"))
    }

    private mutating func ready(_ peer: BrokerPeer, _ body: ReadyBody) {
        let routingID = peer.routingID
        if let holder = agents[routingID], holder.publicKey != peer.publicKey {
            // Checked first: a refusal (version, key binding) would be sent to this routing id, i.e. to the holder.
            impostor(peer, .ready, holder: holder)
            return
        }
        guard body.protocolVersion == SeerProtocol.version else {
            refuse(routingID, .unsupportedVersion,
                   "protocol_version \(body.protocolVersion) is not supported (this coordinator speaks \(SeerProtocol.version))")
            return
        }
        if let key = peer.publicKey, let bound = keyBindings[body.agentID], bound != key {
            refuse(routingID, .unauthorized, "agent_id \(body.agentID) is bound to another CURVE key")
            return
        }
        if let old = agents[routingID] {
            // Same routing id again: the agent restarted; whatever it was running is lost.
            removeAgent(routingID, reason: "agent \(old.ready.agentID) re-registered", code: .runtimeError,
                        refund: false)
        }
        if let otherRoutingID = routingByAgentID[body.agentID], otherRoutingID != routingID {
            removeAgent(otherRoutingID, reason: "agent \(body.agentID) re-registered from another routing id",
                        code: .runtimeError, refund: false)
        }
        if let key = peer.publicKey { keyBindings[body.agentID] = key }
        agents[routingID] = AgentState(ready: body, publicKey: peer.publicKey, registeredAt: now, lastHeard: now,
                                       lastSent: now)
        routingByAgentID[body.agentID] = routingID
        agentsVersion += 1
        agentSetVersion += 1
        emit(.store(.agentRegistered(body, publicKey: peer.publicKey)))
        emit(.log("agent \(body.agentID) registered for \(body.deviceKey) (\(body.executor.rawValue), \(body.device.cores) cores)"))
        send(routingID, .heartbeat(HeartbeatBody()))  // the acceptance
        makeIdle(routingID)
    }

    private mutating func refuse(_ routingID: RoutingID, _ code: ErrorCode, _ message: String) {
        counters.refused += 1
        emit(.log("refused READY from \(name(routingID)): \(message)"))
        send(routingID, .error(ErrorBody(code: code, message: message)))
        send(routingID, .disconnect(DisconnectBody(reason: message)))
    }

    private mutating func heartbeat(_ peer: BrokerPeer, _ body: HeartbeatBody) {
        guard let agent = registered(peer, answering: .heartbeat) else { return }
        let routingID = peer.routingID
        switch (body.jobID, agent.job) {
        case (nil, _):
            // Idle as far as the agent knows: anything it was stuck on is over.
            if agent.blockedBy != nil {
                agents[routingID]!.blockedBy = nil
                makeIdle(routingID)
            }
        case let (reported?, nil):
            // Busy with a job we no longer track (we timed it out, or re-registered it): not idle until it says so.
            if agent.blockedBy != reported {
                agents[routingID]!.blockedBy = reported
                agentsVersion += 1
            }
        case (_?, _?):
            break  // either our job, or an older one that makes it answer ours with "busy"
        }
    }

    private mutating func disconnect(_ peer: BrokerPeer, _ body: DisconnectBody) {
        guard let agent = registered(peer, answering: .disconnect) else { return }
        // A deliberate departure is not the job's fault: its attempt is refunded.
        removeAgent(peer.routingID, reason: "agent \(agent.ready.agentID) disconnected: \(body.reason)",
                    code: .runtimeError, refund: true)
    }

    private mutating func unreachable(_ routingID: RoutingID, jobID: JobID?) {
        guard let agent = agents[routingID] else { return }
        // If the lost message was its JOB, the job never reached the agent: no attempt was made.
        let refund = jobID != nil && jobID == agent.job
        removeAgent(routingID, reason: "agent \(agent.ready.agentID) is unreachable", code: .runtimeError, refund: refund)
    }

    /// Forgets an agent; its job (if any) is requeued or failed as a `code` failure.
    private mutating func removeAgent(_ routingID: RoutingID, reason: String, code: ErrorCode, refund: Bool) {
        guard let agent = agents.removeValue(forKey: routingID) else { return }
        if routingByAgentID[agent.ready.agentID] == routingID { routingByAgentID[agent.ready.agentID] = nil }
        agentsVersion += 1
        agentSetVersion += 1
        emit(.store(.agentLeft(agentID: agent.ready.agentID)))
        emit(.log(reason))
        if let jobID = agent.job {
            if agent.deploying {
                deployFailed(jobID, agentID: agent.ready.agentID, code: code, message: reason)
            } else {
                attemptFailed(jobID, on: agent.ready.agentID, code: code, message: reason, retryable: true, refund: refund)
            }
        }
        // One agent fewer may let a retry run on an agent it already failed on.
        dispatch(deviceKey: agent.ready.deviceKey)
    }

    private mutating func makeIdle(_ routingID: RoutingID) {
        guard var agent = agents[routingID], agent.isIdle else { return }
        if let body = pendingDeploys.removeValue(forKey: agent.ready.agentID) {
            sendDeploy(body, to: routingID)
            return
        }
        // Benched: no ticket in the idle line until the quarantine ends (`tick` brings it back).
        if isQuarantined(agent.ready.agentID) { return }
        nextToken += 1
        agent.idleToken = nextToken
        agents[routingID] = agent
        agentsVersion += 1
        idle[agent.ready.deviceKey, default: FIFOQueue()].append(IdleTicket(routingID: routingID, token: nextToken))
        dispatch(deviceKey: agent.ready.deviceKey)
    }

    /// The idle agent of `deviceKey` idle the longest; stale tickets (agent gone, busy, or re-idled) are skipped.
    private mutating func popIdleAgent(_ deviceKey: String) -> IdleTicket? {
        while let ticket = idle[deviceKey]?.popFirst() {
            if let agent = agents[ticket.routingID], agent.isIdle, agent.idleToken == ticket.token,
               agent.ready.deviceKey == deviceKey, !isQuarantined(agent.ready.agentID) {
                return ticket
            }
        }
        return nil
    }

    private func isQuarantined(_ agentID: String) -> Bool { health[agentID]?.isQuarantined(at: now) ?? false }

    /// Counts a failed attempt against `agentID`; benches it when that makes too many in a row.
    private mutating func agentFailed(_ agentID: String, message: String) {
        guard let length = health[agentID, default: AgentHealth()].failed(now: now, policy: configuration.quarantine) else { return }
        counters.quarantined += 1
        agentsVersion += 1
        let failures = health[agentID]!.quarantines == 1 ? configuration.quarantine.afterFailures : 1
        let reason = "\(failures) failed job attempt\(failures == 1 ? "" : "s") in a row, the last: \(message)"
        emit(.store(.agentQuarantined(agentID: agentID, forMs: length, reason: String(reason.prefix(1_000)))))
        emit(.log("agent \(agentID) quarantined for \(length / 1000) s: \(reason)"))
    }

    /// Whether `job` may run on `agentID`: not on an agent it already failed on, unless every agent of its key did.
    private func mayRun(_ job: TrackedJob, on agentID: String) -> Bool {
        guard job.failedOn.contains(agentID) else { return true }
        let key = job.submission.deviceKey
        return !agents.values.contains { $0.ready.deviceKey == key && !job.failedOn.contains($0.ready.agentID) }
    }

    // MARK: Jobs

    private mutating func submit(_ submission: JobSubmission) {
        guard jobs[submission.id] == nil else {
            emit(.log("ignored duplicate submission of job \(submission.id)"))
            return
        }
        var submission = submission
        if submission.maxAttempts < 1 { submission.maxAttempts = configuration.defaultMaxAttempts }
        jobs[submission.id] = TrackedJob(submission: submission, attempts: 0)
        queues[submission.deviceKey, default: FairQueue()].append(submission.id, owner: submission.owner)
        emit(.store(.jobSubmitted(submission)))
        dispatch(deviceKey: submission.deviceKey)
    }

    private mutating func cancel(_ ids: [JobID], reason: String) {
        var keys = Set<String>()
        for id in ids {
            guard let job = jobs[id], job.runningOn == nil else { continue }
            jobs[id] = nil
            keys.insert(job.submission.deviceKey)
            counters.failed += 1
            let message = "cancelled: \(reason)"
            emit(.store(.jobFailed(id: id, attempts: job.attempts, code: .runtimeError, message: message)))
            emit(.finished(id, .failed(code: .runtimeError, message: message, attempts: job.attempts)))
        }
        for key in keys {
            // Out of the queue now, so that counts are right; `dispatch` would skip them anyway.
            queues[key]?.removeAll { jobs[$0] == nil }
        }
        if !keys.isEmpty { emit(.log("cancelled queued job(s): \(reason)")) }
    }

    private mutating func dispatch(deviceKey: String) {
        // Idle agents with nothing they may run right now; they go back to the head of the idle line.
        var passed: [IdleTicket] = []
        defer {
            for ticket in passed.reversed() { idle[deviceKey, default: FIFOQueue()].pushFront(ticket) }
        }
        while let head = queues[deviceKey]?.first {
            guard let job = jobs[head], job.runningOn == nil else {
                _ = queues[deviceKey]?.popFirst()  // finished or already running: not ours to send
                continue
            }
            guard let ticket = popIdleAgent(deviceKey), let agentID = agents[ticket.routingID]?.ready.agentID else { return }
            // In turn, except that a retry skips the agent it failed on: the first queued job this agent may run.
            var skipped: [(JobID, String?)] = []
            var chosen: JobID?
            while let next = queues[deviceKey]?.popFirst() {
                guard let tracked = jobs[next.element], tracked.runningOn == nil else { continue }
                if mayRun(tracked, on: agentID) {
                    chosen = next.element
                    break
                }
                skipped.append((next.element, next.owner))
            }
            for (id, owner) in skipped.reversed() { queues[deviceKey]?.pushFront(id, owner: owner) }
            guard let jobID = chosen else {
                passed.append(ticket)
                continue
            }
            assign(jobID, to: ticket.routingID, deviceKey: deviceKey)
        }
    }

    private mutating func assign(_ jobID: JobID, to routingID: RoutingID, deviceKey: String) {
        guard var job = jobs[jobID], var agent = agents[routingID] else { return }
        job.attempts += 1
        job.runningOn = routingID
        jobs[jobID] = job
        agent.job = jobID
        agent.dispatchedAt = now
        agent.jobDeadline = now + Int64(job.submission.payload.timeouts.totalMs) + configuration.jobGraceMs
        agents[routingID] = agent
        agentsVersion += 1
        counters.dispatched += 1
        let body = JobBody(jobID: jobID, deviceKey: deviceKey, kind: job.submission.kind, payload: job.submission.payload)
        send(routingID, .job(body))
        emit(.store(.jobDispatched(id: jobID, agentID: agent.ready.agentID, attempts: job.attempts)))
    }


    private mutating func result(_ peer: BrokerPeer, _ body: ResultBody) {
        guard let agent = registered(peer, answering: .result) else { return }
        let routingID = peer.routingID
        guard agent.job == body.jobID, let job = jobs.removeValue(forKey: body.jobID) else {
            // Late or duplicate: the job finished, was given to another agent, or never existed. Recorded once only.
            if agent.blockedBy == body.jobID {
                agents[routingID]!.blockedBy = nil
                makeIdle(routingID)
            }
            emit(.log("ignored RESULT for job \(body.jobID) from \(agent.ready.agentID): not its current job"))
            send(routingID, .error(ErrorBody(jobID: body.jobID, code: .unknownJob,
                                             message: "job \(body.jobID) is not running on \(agent.ready.agentID)")))
            return
        }
        finishAgentJob(routingID, succeeded: true)
        health[agent.ready.agentID] = nil
        counters.done += 1
        emit(.store(.jobDone(id: body.jobID, agentID: agent.ready.agentID, attempts: job.attempts, result: body.payload)))
        emit(.finished(body.jobID, .done(result: body.payload, agentID: agent.ready.agentID, attempts: job.attempts)))
        makeIdle(routingID)
    }

    private mutating func error(_ peer: BrokerPeer, _ body: ErrorBody) {
        guard let agent = registered(peer, answering: .error) else { return }
        let routingID = peer.routingID
        guard let jobID = body.jobID, agent.job == jobID else {
            if let jobID = body.jobID, agent.blockedBy == jobID {
                agents[routingID]!.blockedBy = nil
                makeIdle(routingID)
            }
            // Never answer an ERROR with an ERROR.
            emit(.log("\(agent.ready.agentID) reported \(body.code.rawValue)"
                      + (body.jobID.map { " for job \($0) (not its current job)" } ?? "") + ": \(body.message)"))
            return
        }
        finishAgentJob(routingID, succeeded: false)
        let message = "\(agent.ready.agentID): \(body.message)"
        if agent.deploying {
            if body.code == .busy { agents[routingID]!.blockedBy = "" }
            deployFailed(jobID, agentID: agent.ready.agentID, code: body.code, message: message)
            makeIdle(routingID)
            return
        }
        switch body.code {
        case .busy:
            // The JOB never ran: refund it, and wait for the agent to say it is idle again.
            agents[routingID]!.blockedBy = ""
            attemptFailed(jobID, on: agent.ready.agentID, code: .busy, message: message, retryable: true, refund: true)
        case .badPolicy:
            attemptFailed(jobID, on: agent.ready.agentID, code: body.code, message: message, retryable: false, refund: false)
        case .malformed, .unknownType, .unsupportedVersion, .tooLarge:
            // The agent could not read our JOB; another agent would get the same bytes.
            attemptFailed(jobID, on: agent.ready.agentID, code: body.code, message: message, retryable: false, refund: false)
        case .outOfMemory, .timeout, .runtimeError, .unsupported, .unauthorized, .unknownJob:
            attemptFailed(jobID, on: agent.ready.agentID, code: body.code, message: message, retryable: true, refund: false)
        }
        makeIdle(routingID)
    }

    /// Clears the agent's current job and books its busy time.
    private mutating func finishAgentJob(_ routingID: RoutingID, succeeded: Bool) {
        guard var agent = agents[routingID] else { return }
        agent.busyMs += now - agent.dispatchedAt
        if succeeded { agent.jobsDone += 1 }
        agent.job = nil
        agent.deploying = false
        agents[routingID] = agent
        agentsVersion += 1
    }

    /// One attempt of `jobID` failed: requeue it at the head of its queue, or fail it for good.
    private mutating func attemptFailed(_ jobID: JobID, on agentID: String?, code: ErrorCode, message: String,
                                        retryable: Bool, refund: Bool) {
        guard var job = jobs[jobID] else { return }
        job.runningOn = nil
        if refund { job.attempts = max(job.attempts - 1, 0) }
        if !refund, let agentID { job.failedOn.insert(agentID) }
        // The agent's fault as far as anyone can tell; a refused job (bad_policy, malformed) is the job's.
        if !refund && retryable, let agentID { agentFailed(agentID, message: message) }
        // A refunded "busy" is not the job's fault; keep the error that matters.
        if !refund || job.lastCode == nil {
            job.lastCode = code
            job.lastError = message
        }
        let key = job.submission.deviceKey
        if retryable && job.attempts < job.submission.maxAttempts {
            jobs[jobID] = job
            queues[key, default: FairQueue()].pushFront(jobID, owner: job.submission.owner)
            counters.requeued += 1
            emit(.store(.jobRequeued(id: jobID, attempts: job.attempts, code: job.lastCode, message: job.lastError)))
            dispatch(deviceKey: key)
        } else {
            jobs[jobID] = nil
            counters.failed += 1
            let finalMessage = retryable
                ? "failed after \(job.attempts) attempt\(job.attempts == 1 ? "" : "s"); last error: \(message)"
                : message
            emit(.store(.jobFailed(id: jobID, attempts: job.attempts, code: code, message: finalMessage)))
            emit(.finished(jobID, .failed(code: code, message: finalMessage, attempts: job.attempts)))
            emit(.log("job \(jobID) failed (\(code.rawValue)): \(finalMessage)"))
        }
    }

    // MARK: Deployment

    private mutating func deploy(agentID: String, _ body: DeployBody) {
        if let older = pendingDeploys.updateValue(body, forKey: agentID) {
            deployFailed(older.deployID, agentID: agentID, code: .runtimeError,
                         message: "superseded by deploy \(body.deployID) before agent \(agentID) was free")
        }
        if let routingID = routingByAgentID[agentID], agents[routingID]?.isIdle == true {
            // An idle agent may be waiting in the idle line; it takes the deploy now and its stale ticket is skipped.
            pendingDeploys[agentID] = nil
            sendDeploy(body, to: routingID)
        } else if routingByAgentID[agentID] == nil {
            emit(.log("deploy \(body.deployID) waits for agent \(agentID) to register"))
        }
    }

    private mutating func sendDeploy(_ body: DeployBody, to routingID: RoutingID) {
        guard var agent = agents[routingID] else { return }
        agent.job = body.deployID
        agent.deploying = true
        agent.dispatchedAt = now
        agent.jobDeadline = now + Int64(SeerProtocol.deployTimeoutMs)
        agent.idleToken = -1  // invalidates any ticket in the idle line
        agents[routingID] = agent
        agentsVersion += 1
        emit(.log("deploy \(body.deployID) (\(body.profile)) sent to \(agent.ready.agentID)"))
        send(routingID, .deploy(body))
    }

    private mutating func deployed(_ peer: BrokerPeer, _ body: DeployedBody) {
        guard let agent = registered(peer, answering: .deployed) else { return }
        let routingID = peer.routingID
        guard agent.deploying, agent.job == body.deployID else {
            emit(.log("ignored DEPLOYED for \(body.deployID) from \(agent.ready.agentID): not its current deploy"))
            send(routingID, .error(ErrorBody(jobID: body.deployID, code: .unknownJob,
                                             message: "deploy \(body.deployID) is not running on \(agent.ready.agentID)")))
            return
        }
        finishAgentJob(routingID, succeeded: body.status == .ok)
        var reported = body
        reported.agentID = agent.ready.agentID
        emit(.deployFinished(agentID: agent.ready.agentID, reported))
        makeIdle(routingID)
    }

    private mutating func deployFailed(_ deployID: String, agentID: String, code: ErrorCode, message: String) {
        emit(.log("deploy \(deployID) on \(agentID) failed (\(code.rawValue)): \(message)"))
        emit(.deployFinished(agentID: agentID, DeployedBody(deployID: deployID, agentID: agentID, status: .failed,
                                                             code: code, message: String(message.prefix(4_000)))))
    }

    private mutating func profile(_ peer: BrokerPeer, _ body: ProfileBody) {
        guard let agent = registered(peer, answering: .profile) else { return }
        // The registration, not the body, says who this is: an agent cannot speak for another.
        var reported = body
        reported.agentID = agent.ready.agentID
        reported.deviceKey = agent.ready.deviceKey
        emit(.log("agent \(agent.ready.agentID) is now on profile \(body.profile) (\(Int(body.capacityPercent))%, \(body.status.rawValue))"))
        emit(.profileChanged(agentID: agent.ready.agentID, reported))
    }

    // MARK: Time

    private mutating func tick() {
        // Sorted so that a tick's actions do not depend on dictionary order (deterministic tests and logs).
        for routingID in agents.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard let agent = agents[routingID] else { continue }
            if now - agent.lastHeard >= configuration.expiryMs {
                counters.expired += 1
                removeAgent(routingID, reason: "agent \(agent.ready.agentID) expired: silent for \(now - agent.lastHeard) ms",
                            code: .runtimeError, refund: false)
                continue
            }
            if let until = health[agent.ready.agentID]?.quarantinedUntil, now >= until {
                health[agent.ready.agentID]!.quarantinedUntil = nil
                agentsVersion += 1
                emit(.log("agent \(agent.ready.agentID) is back from quarantine; one more failure benches it again"))
                makeIdle(routingID)
            }
            if let jobID = agent.job, now >= agent.jobDeadline, agent.deploying {
                finishAgentJob(routingID, succeeded: false)
                agents[routingID]!.blockedBy = jobID
                deployFailed(jobID, agentID: agent.ready.agentID, code: .timeout,
                             message: "\(agent.ready.agentID): no DEPLOYED within \(SeerProtocol.deployTimeoutMs) ms")
            } else if let jobID = agent.job, now >= agent.jobDeadline {
                // No answer within total_ms + grace: the job timed out; the agent stays blocked until it says it is idle.
                finishAgentJob(routingID, succeeded: false)
                agents[routingID]!.blockedBy = jobID
                attemptFailed(jobID, on: agent.ready.agentID, code: .timeout,
                              message: "\(agent.ready.agentID): no answer within total_ms + \(configuration.jobGraceMs) ms grace",
                              retryable: true, refund: false)
            }
            if let current = agents[routingID], now - current.lastSent >= configuration.heartbeatIntervalMs {
                send(routingID, .heartbeat(HeartbeatBody()))
            }
        }
    }

    private mutating func shutdown() {
        for (routingID, agent) in agents.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            send(routingID, .disconnect(DisconnectBody(reason: "coordinator shutting down")))
            if let jobID = agent.job, agent.deploying {
                deployFailed(jobID, agentID: agent.ready.agentID, code: .runtimeError, message: "coordinator shutting down")
            } else if let jobID = agent.job, var job = jobs[jobID] {
                // Back to the queue on disk, uncounted, so the next coordinator resumes it.
                job.runningOn = nil
                job.attempts = max(job.attempts - 1, 0)
                jobs[jobID] = job
                emit(.store(.jobRequeued(id: jobID, attempts: job.attempts, code: nil, message: nil)))
            }
            emit(.store(.agentLeft(agentID: agent.ready.agentID)))
        }
        for (agentID, body) in pendingDeploys.sorted(by: { $0.key < $1.key }) {
            deployFailed(body.deployID, agentID: agentID, code: .runtimeError, message: "coordinator shutting down before agent \(agentID) was free")
        }
        pendingDeploys.removeAll()
        agents.removeAll()
        routingByAgentID.removeAll()
        idle.removeAll()
        agentsVersion += 1
        agentSetVersion += 1
    }
}
