import Foundation
import SeerWire

/// A profile to report in PROFILE, with the reading that decided it.
public struct ProfileReport: Equatable, Sendable {
    /// The profile now in force (PROFILE `profile`).
    public let profile: String
    /// The reading behind it (PROFILE `capacity_percent`, `status`).
    public let reading: BatteryReading
    /// The profile it replaces; nil for the first report.
    public let previousProfile: String?
}

/// What the worker loop should do after feeding the watcher one poll.
public enum BatteryWatchEvent: Equatable, Sendable {
    /// Send PROFILE: the first profile, or a change (a recovery that also changes the profile is this too).
    case report(ProfileReport)
    /// Reading failed after good readings (or before the first): log it; nothing to send. Not repeated until recovery.
    case readFailed(BatteryError)
    /// The first good reading after failures, profile unchanged: log it; nothing to send.
    case recovered(BatteryReading)
}

/// Decides, poll by poll, when the power profile changes; pure, with the clock passed in.
///
/// Hysteresis: on battery, leaving the current profile across a threshold T needs the capacity to pass it
/// by the margin: below T - margin to step down, at least T + margin (at most 100) to step up. A battery
/// hovering around 60% with threshold 60 so stays in one profile. Status is not damped: plugging in switches
/// to the first profile at once, and unplugging then starts from the first profile with the margin applied.
/// A change must also persist for `settleMs` (0: report at once) so a loose connector toggling "charging"
/// does not trigger a redeploy per toggle. The first profile is reported right away.
public struct BatteryWatcher: Sendable {
    /// The profile list.
    public let thresholds: ProfileThresholds
    /// Capacity points a threshold must be passed by before the profile changes.
    public let hysteresisPercent: Double
    /// How long a new profile must hold before it is reported.
    public let settleMs: Int64
    /// Time between polls, for `isDue`.
    public let pollIntervalMs: Int64

    /// Enough to absorb the 1-point jitter of a battery gauge at a threshold.
    public static let defaultHysteresisPercent = 2.0
    /// A change should reach the coordinator within about a second; three small sysfs reads a second cost nothing.
    public static let defaultPollIntervalMs: Int64 = 1_000

    /// Index into `thresholds.levels` of the profile last reported; nil before the first reading.
    private var level: Int?
    /// A change seen but not yet held for `settleMs`: its level and when it was first seen.
    private var pending: (level: Int, sinceMs: Int64)?
    private var lastPollMs: Int64?
    /// True from a failed read until the next good one.
    public private(set) var failing = false
    /// The last good reading.
    public private(set) var lastReading: BatteryReading?

    /// A watcher; the settings are checked against the thresholds (every threshold must be reachable downward).
    public init(thresholds: ProfileThresholds, hysteresisPercent: Double = defaultHysteresisPercent,
                settleMs: Int64 = 0, pollIntervalMs: Int64 = defaultPollIntervalMs) throws(ProfileThresholdsError) {
        guard hysteresisPercent.isFinite, hysteresisPercent >= 0, hysteresisPercent < 50 else {
            throw ProfileThresholdsError("hysteresis must be at least 0 and below 50 points, "
                                         + "got \(BatteryReading.format(hysteresisPercent))")
        }
        for level in thresholds.levels {
            guard let minimum = level.minimumPercent else { continue }
            // The battery must be able to drop below the threshold by the margin, or the profile could never change.
            guard minimum - hysteresisPercent > 0 else {
                throw ProfileThresholdsError("threshold \(level.profile)@\(BatteryReading.format(minimum)) is within the "
                                             + "hysteresis (\(BatteryReading.format(hysteresisPercent)) points) of 0: "
                                             + "the capacity could never fall below it by the margin; raise it or lower the hysteresis")
            }
        }
        guard settleMs >= 0 else { throw ProfileThresholdsError("settle time must be at least 0 ms, got \(settleMs)") }
        guard pollIntervalMs > 0 else { throw ProfileThresholdsError("poll interval must be positive, got \(pollIntervalMs) ms") }
        self.thresholds = thresholds
        self.hysteresisPercent = hysteresisPercent
        self.settleMs = settleMs
        self.pollIntervalMs = pollIntervalMs
    }

    /// The profile last reported; nil until the first good reading.
    public var profile: String? { level.map { thresholds.levels[$0].profile } }

    /// The profile in force with the latest reading: what to send again after re-registering with a coordinator.
    public var currentReport: ProfileReport? {
        guard let profile, let lastReading else { return nil }
        return ProfileReport(profile: profile, reading: lastReading, previousProfile: nil)
    }

    /// True when the next poll is due (always before the first).
    public func isDue(nowMs: Int64) -> Bool {
        guard let lastPollMs else { return true }
        return nowMs - lastPollMs >= pollIntervalMs
    }

    /// Feeds one poll's outcome, e.g. `watcher.observe(Result { try source.read() }, nowMs: now)`.
    public mutating func observe(_ outcome: Result<BatteryReading, BatteryError>, nowMs: Int64) -> BatteryWatchEvent? {
        switch outcome {
        case let .success(reading): return observe(reading, nowMs: nowMs)
        case let .failure(error): return observe(failure: error, nowMs: nowMs)
        }
    }

    /// Feeds a failed read; the profile in force stays.
    public mutating func observe(failure: BatteryError, nowMs: Int64) -> BatteryWatchEvent? {
        lastPollMs = nowMs
        guard !failing else { return nil }
        failing = true
        return .readFailed(failure)
    }

    /// Feeds a good reading.
    public mutating func observe(_ reading: BatteryReading, nowMs: Int64) -> BatteryWatchEvent? {
        lastPollMs = nowMs
        let recovered = failing
        failing = false
        lastReading = reading
        guard let current = level else {
            let first = thresholds.level(for: reading)
            level = first
            return .report(ProfileReport(profile: thresholds.levels[first].profile, reading: reading, previousProfile: nil))
        }
        let target = reading.onExternalPower ? 0 : damped(from: current, capacity: reading.capacityPercent)
        let quiet: BatteryWatchEvent? = recovered ? .recovered(reading) : nil
        guard target != current else {
            pending = nil
            return quiet
        }
        if settleMs > 0 {
            guard let waiting = pending, waiting.level == target else {
                pending = (target, nowMs)
                return quiet
            }
            guard nowMs - waiting.sinceMs >= settleMs else { return quiet }
        }
        pending = nil
        level = target
        return .report(ProfileReport(profile: thresholds.levels[target].profile, reading: reading,
                                     previousProfile: thresholds.levels[current].profile))
    }

    /// The level for `capacity` when `current` is in force: only thresholds passed by the margin count.
    ///
    /// `down` counts the thresholds the capacity lies more than the margin below: it has clearly left those
    /// levels, so it is at least at level `down`. `up` counts the thresholds it does not clear by the margin: it
    /// has not clearly reached any level above `up`. Since down <= up, the current level stays whenever it lies
    /// between them and otherwise moves to the nearer bound.
    func damped(from current: Int, capacity: Double) -> Int {
        let margin = hysteresisPercent
        let down = thresholds.thresholds.filter { capacity < $0 - margin }.count
        let up = thresholds.thresholds.filter { capacity < min($0 + margin, 100) }.count
        return min(max(current, down), up)
    }
}
