/// When an agent that keeps failing jobs is benched, and for how long.
///
/// An agent with a broken data directory or a full disk fails every job at once; left in the idle line it would use
/// up every attempt of every queued job in a fraction of a second. Benched, it gets no jobs for a back-off interval
/// that doubles with each quarantine in a row, while the other agents of its key carry on.
public struct QuarantinePolicy: Equatable, Sendable {
    /// Failed attempts in a row (no RESULT in between) that bench an agent; 0 turns quarantine off.
    public var afterFailures: Int
    /// The first quarantine's length; each further one in a row doubles it, up to `maxBackoffMs`.
    public var backoffMs: Int64
    /// The longest quarantine.
    public var maxBackoffMs: Int64

    /// Three failures in a row bench an agent for 30 s, then 1, 2, 4, 8 and at most 10 minutes.
    public init(afterFailures: Int = 3, backoffMs: Int64 = 30_000, maxBackoffMs: Int64 = 600_000) {
        self.afterFailures = afterFailures
        self.backoffMs = backoffMs
        self.maxBackoffMs = maxBackoffMs
    }

    /// No quarantine at all.
    public static let off = QuarantinePolicy(afterFailures: 0)

    /// The length of the quarantine that follows `earlier` quarantines in a row.
    func backoff(after earlier: Int) -> Int64 {
        var ms = max(backoffMs, 1)
        for _ in 0..<min(earlier, 62) where ms < maxBackoffMs { ms *= 2 }
        return min(ms, max(maxBackoffMs, backoffMs))
    }
}

/// One agent's run of failures, kept by agent id so that an agent that crashes and re-registers stays benched.
struct AgentHealth: Equatable {
    /// Failed attempts since the last RESULT (or since the last quarantine began, on probation).
    var failuresInARow = 0
    /// Quarantines since the last RESULT.
    var quarantines = 0
    /// Broker clock at which the current quarantine ends; nil when not benched.
    var quarantinedUntil: Int64?

    /// Whether the agent is benched at `now`.
    func isQuarantined(at now: Int64) -> Bool { quarantinedUntil.map { now < $0 } ?? false }

    /// A RESULT: the agent works, its record is clean again.
    mutating func succeeded() { self = AgentHealth() }

    /// A failed attempt at `now`; returns the quarantine's length when this failure benches the agent.
    ///
    /// An agent back from quarantine is on probation: its next failure benches it again, for twice as long.
    mutating func failed(now: Int64, policy: QuarantinePolicy) -> Int64? {
        failuresInARow += 1
        guard policy.afterFailures > 0, failuresInARow >= policy.afterFailures else { return nil }
        let length = policy.backoff(after: quarantines)
        quarantines += 1
        quarantinedUntil = now + length
        failuresInARow = policy.afterFailures - 1
        return length
    }
}
