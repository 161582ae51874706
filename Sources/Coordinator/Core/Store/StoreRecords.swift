import Foundation
import GRDB
import SeerWire

/// A job's id: chosen by the coordinator (or the caller of `submit`), unique across the store's lifetime.
public typealias JobID = String

/// Where a job is in its life; `done` and `failed` are final.
public enum JobState: String, Codable, Sendable, CaseIterable {
    /// Waiting in its device key's FIFO queue for an idle agent.
    case queued
    /// Sent to an agent; a RESULT or ERROR is awaited.
    case running
    /// Finished with a result.
    case done
    /// Finished without a result: a non-retryable error, or out of attempts.
    case failed
}

/// What a caller asks to run: the fields of a JOB plus how often it may be tried.
public struct JobSubmission: Equatable, Sendable {
    /// Unique job id.
    public var id: JobID
    /// Device class it must run on.
    public var deviceKey: String
    /// What to do.
    public var kind: JobKind
    /// What to do it with.
    public var payload: JobPayload
    /// Dispatches allowed before the job fails with its last error (>= 1).
    public var maxAttempts: Int
    /// Who submitted it (a campaign's name): the jobs of one device key are served owner by owner in turn.
    public var owner: String?

    /// Memberwise initializer.
    public init(id: JobID, deviceKey: String, kind: JobKind, payload: JobPayload, maxAttempts: Int, owner: String? = nil) {
        self.id = id
        self.deviceKey = deviceKey
        self.kind = kind
        self.payload = payload
        self.maxAttempts = maxAttempts
        self.owner = owner
    }
}

/// How a job ended.
public enum JobOutcome: Equatable, Sendable {
    /// An agent measured it.
    case done(result: ResultPayload, agentID: String, attempts: Int)
    /// It failed for good: `code` and `message` are the last error.
    case failed(code: ErrorCode, message: String, attempts: Int)

    /// The measurements, if the job succeeded.
    public var result: ResultPayload? {
        if case let .done(result, _, _) = self { return result }
        return nil
    }

    /// Whether the job succeeded.
    public var isDone: Bool { result != nil }

    /// Dispatches it took.
    public var attempts: Int {
        switch self {
        case let .done(_, _, attempts), let .failed(_, _, attempts): return attempts
        }
    }
}

/// One row of table `job`.
public struct JobRecord: Codable, Equatable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job"

    /// Primary key.
    public var id: JobID
    /// Device class the job runs on.
    public var deviceKey: String
    /// Job kind.
    public var kind: JobKind
    /// The JOB payload (JSON column).
    public var payload: JobPayload
    /// Life-cycle state.
    public var state: JobState
    /// Dispatches so far.
    public var attempts: Int
    /// Dispatches allowed.
    public var maxAttempts: Int
    /// Agent running it (running) or that finished it (done).
    public var agentID: String?
    /// The last error's message, kept across retries.
    public var lastError: String?
    /// The last error's code.
    public var lastErrorCode: ErrorCode?
    /// The measurements (JSON column), once done.
    public var result: ResultPayload?
    /// When it was submitted.
    public var createdAt: Date
    /// When its row last changed.
    public var updatedAt: Date
    /// When it reached done or failed.
    public var finishedAt: Date?
    /// Who submitted it (`JobSubmission.owner`).
    public var owner: String?

    enum CodingKeys: String, CodingKey {
        case id, deviceKey = "device_key", kind, payload, state, attempts, maxAttempts = "max_attempts"
        case agentID = "agent_id", lastError = "last_error", lastErrorCode = "last_error_code", result
        case createdAt = "created_at", updatedAt = "updated_at", finishedAt = "finished_at", owner
    }

    /// Query columns.
    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let deviceKey = Column(CodingKeys.deviceKey)
        public static let state = Column(CodingKeys.state)
        public static let createdAt = Column(CodingKeys.createdAt)
        public static let updatedAt = Column(CodingKeys.updatedAt)
    }

    /// A fresh queued row for `submission`.
    public init(submission: JobSubmission, at now: Date) {
        id = submission.id
        deviceKey = submission.deviceKey
        kind = submission.kind
        payload = submission.payload
        state = .queued
        attempts = 0
        maxAttempts = submission.maxAttempts
        owner = submission.owner
        createdAt = now
        updatedAt = now
    }

    /// The submission this row was made from.
    public var submission: JobSubmission {
        JobSubmission(id: id, deviceKey: deviceKey, kind: kind, payload: payload, maxAttempts: maxAttempts, owner: owner)
    }

    /// How the job ended, or nil while it is queued or running.
    public var outcome: JobOutcome? {
        switch state {
        case .queued, .running: return nil
        case .done:
            // A done row always has a result; a hand-edited one without is reported, not trusted.
            guard let result else {
                return .failed(code: .runtimeError, message: "job \(id) is done but its result column is empty", attempts: attempts)
            }
            return .done(result: result, agentID: agentID ?? "", attempts: attempts)
        case .failed:
            return .failed(code: lastErrorCode ?? .runtimeError, message: lastError ?? "", attempts: attempts)
        }
    }
}

/// One row of table `agent`: every agent that ever registered, and the CURVE key its id is bound to.
public struct AgentRecord: Codable, Equatable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "agent"

    /// The agent's `agent_id`.
    public var id: String
    /// Device class it serves.
    public var deviceKey: String
    /// How it runs jobs.
    public var executor: ExecutorKind
    /// Z85 CURVE public key it registered with; nil over plain TCP.
    public var publicKey: String?
    /// Its device (JSON column).
    public var descriptor: DeviceDescriptor
    /// Job kinds and features it announced (JSON column).
    public var capabilities: [String]
    /// First registration.
    public var firstSeen: Date
    /// Latest registration or departure.
    public var lastSeen: Date
    /// Whether it is registered right now (as far as this coordinator knows).
    public var connected: Bool
    /// When its quarantine for failing jobs in a row ends (`QuarantinePolicy`); a past time means it is over. A
    /// coordinator that starts clears it: quarantines live in the broker that imposed them.
    public var quarantinedUntil: Date?
    /// Why it was quarantined: how many failures and the last one's message.
    public var quarantineReason: String?

    enum CodingKeys: String, CodingKey {
        case id, deviceKey = "device_key", executor, publicKey = "public_key", descriptor, capabilities
        case firstSeen = "first_seen", lastSeen = "last_seen", connected
        case quarantinedUntil = "quarantined_until", quarantineReason = "quarantine_reason"
    }

    /// Whether it is quarantined at `now`.
    public func isQuarantined(at now: Date = Date()) -> Bool { quarantinedUntil.map { now < $0 } ?? false }

    /// A row for `ready` registered with `publicKey` at `now`.
    public init(ready: ReadyBody, publicKey: String?, at now: Date) {
        id = ready.agentID
        deviceKey = ready.deviceKey
        executor = ready.executor
        self.publicKey = publicKey
        descriptor = ready.device
        capabilities = ready.capabilities
        firstSeen = now
        lastSeen = now
        connected = true
    }
}

/// One state change the broker wants on disk; applied in batches, one transaction per poll-loop iteration.
public enum StoreChange: Equatable, Sendable {
    /// A new job, queued.
    case jobSubmitted(JobSubmission)
    /// The job was sent to `agentID`; `attempts` counts this dispatch.
    case jobDispatched(id: JobID, agentID: String, attempts: Int)
    /// The job is back in its queue after a retryable failure (or a refunded attempt).
    case jobRequeued(id: JobID, attempts: Int, code: ErrorCode?, message: String?)
    /// The job finished with a result.
    case jobDone(id: JobID, agentID: String, attempts: Int, result: ResultPayload)
    /// The job failed for good.
    case jobFailed(id: JobID, attempts: Int, code: ErrorCode, message: String)
    /// An agent registered (or re-registered).
    case agentRegistered(ReadyBody, publicKey: String?)
    /// An agent left, was expired or replaced.
    case agentLeft(agentID: String)
    /// An agent was benched for `forMs` milliseconds from now for failing jobs in a row, for `reason`.
    case agentQuarantined(agentID: String, forMs: Int64, reason: String)
}
