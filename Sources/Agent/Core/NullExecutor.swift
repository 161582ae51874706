import Foundation
import SeerWire

/// Runs `null` jobs: answers at once, or after `options.sleep_ms`; measures only the fabric's overhead.
///
/// Announced as executor `null` with the single capability `null`, so a coordinator never sends it real measurements.
public final class NullExecutor: Executor {
    public let kind = ExecutorKind.null
    public let capabilities = [JobKind.null.rawValue]

    /// A null executor.
    public init() {}

    /// A null job without a positive `sleep_ms` answers at once.
    public func isInstant(_ job: JobBody) -> Bool {
        guard job.kind == .null else { return false }
        guard let value = job.payload.options?["sleep_ms"] else { return true }
        if case let .number(ms) = value { return ms == 0 }
        return false  // invalid: let run() report it, on the job thread like any other failure
    }

    public func run(_ job: JobBody, cancel: CancellationFlag?) throws(ExecutorError) -> ResultPayload {
        guard job.kind == .null else {
            throw .unsupported("the null executor runs only null jobs, not \(job.kind.rawValue)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var sleepMs = 0.0
        if let value = job.payload.options?["sleep_ms"] {
            guard case let .number(ms) = value, ms >= 0 else {
                throw .badPolicy("options.sleep_ms must be a number of milliseconds >= 0, got \(value)")
            }
            sleepMs = min(ms, 1e9)  // bounded so the nanosecond arithmetic below cannot overflow
        }
        if sleepMs > 0 {
            let deadline = start + UInt64(sleepMs * 1_000_000)
            // Sliced so cancellation and the job's own deadline are honored promptly.
            let limit = start + UInt64(min(job.payload.timeouts.totalMs, 1 << 40)) * 1_000_000
            while true {
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= deadline { break }
                if cancel?.isCancelled == true { throw .runtimeError("cancelled") }
                if now >= limit {
                    throw .timeout("sleep_ms \(Int(sleepMs)) exceeds timeouts.total_ms \(job.payload.timeouts.totalMs)")
                }
                usleep(useconds_t(min((deadline - now) / 1_000, 20_000)))
            }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
        return ResultPayload(timingsMs: ["total": elapsed])
    }
}
