import Foundation

/// Polls a battery source on its own thread and hands profile changes to `onReport`.
///
/// Its own thread because a battery command may take up to its timeout: the worker's poll loop must keep
/// heartbeating meanwhile. All decisions are the pure `BatteryWatcher`'s; this only owns the clock and the sleeps.
public final class BatteryPoller: @unchecked Sendable {
    private let source: BatterySource
    private var watcher: BatteryWatcher
    private let onReport: @Sendable (ProfileReport) -> Void
    private let log: @Sendable (String) -> Void
    private let condition = NSCondition()
    private var stopped = false
    private var thread: Thread?

    /// A poller of `source` deciding with `watcher`; nothing runs until `start()`.
    public init(source: BatterySource, watcher: BatteryWatcher, log: @escaping @Sendable (String) -> Void = { _ in },
                onReport: @escaping @Sendable (ProfileReport) -> Void) {
        self.source = source
        self.watcher = watcher
        self.onReport = onReport
        self.log = log
    }

    /// Starts polling: the first reading is taken at once.
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil, !stopped else { return }
        let thread = Thread { [self] in loop() }
        thread.name = "seer-agent-battery"
        self.thread = thread
        thread.start()
    }

    /// Stops after the current read.
    public func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private static func monotonicMs() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000) }

    private func loop() {
        while true {
            let outcome: Result<BatteryReading, BatteryError>
            do { outcome = .success(try source.read()) } catch { outcome = .failure(error) }
            switch watcher.observe(outcome, nowMs: Self.monotonicMs()) {
            case let .report(report)?:
                log("battery \(report.reading): profile \(report.profile)"
                    + (report.previousProfile.map { " (was \($0))" } ?? ""))
                onReport(report)
            case let .readFailed(error)?:
                log("cannot read the battery (\(source)): \(error); keeping profile \(watcher.profile ?? "none")")
            case let .recovered(reading)?:
                log("battery readable again: \(reading)")
            case nil:
                break
            }
            condition.lock()
            let until = Date(timeIntervalSinceNow: Double(watcher.pollIntervalMs) / 1000)
            while !stopped && condition.wait(until: until) {}
            let done = stopped
            condition.unlock()
            if done { return }
        }
    }
}
