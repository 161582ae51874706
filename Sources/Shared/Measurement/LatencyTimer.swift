import Foundation

/// How latency is timed, the way TVM's `time_evaluator` does: one warm-up run, then `repeat` timed repeats of
/// `number` runs each, with `number` raised until one repeat lasts at least `minRepeatMs`.
public struct LatencySettings: Codable, Sendable, Equatable {
    public var number = 1
    public var repeats = 5
    public var minRepeatMs = 50.0
    public var batch = 1

    enum CodingKeys: String, CodingKey, CaseIterable {
        case number, repeats = "repeat", minRepeatMs = "min_repeat_ms", batch
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LatencySettings()
        self.init(number: try c.value(.number, or: d.number), repeats: try c.value(.repeats, or: d.repeats),
                  minRepeatMs: try c.value(.minRepeatMs, or: d.minRepeatMs), batch: try c.value(.batch, or: d.batch))
    }

    public init(number: Int = 1, repeats: Int = 5, minRepeatMs: Double = 50, batch: Int = 1) {
        self.number = number
        self.repeats = repeats
        self.minRepeatMs = minRepeatMs
        self.batch = batch
    }

    /// Checks ranges; the message names the field.
    public func validate() throws {
        guard number >= 1 else { throw MeasurementError.invalidSettings("latency.number must be at least 1, got \(number)") }
        guard repeats >= 1 else { throw MeasurementError.invalidSettings("latency.repeat must be at least 1, got \(repeats)") }
        guard minRepeatMs >= 0, minRepeatMs.isFinite else {
            throw MeasurementError.invalidSettings("latency.min_repeat_ms must be at least 0, got \(minRepeatMs)")
        }
        guard batch >= 1 else { throw MeasurementError.invalidSettings("latency.batch must be at least 1, got \(batch)") }
    }
}

/// Per-run latency over the repeats, in milliseconds.
public struct LatencyStatistics: Codable, Sendable, Equatable {
    public var medianMs: Double
    public var meanMs: Double
    public var minMs: Double
    public var maxMs: Double
    public var stdMs: Double
    public var number: Int
    public var repeats: Int

    enum CodingKeys: String, CodingKey {
        case medianMs = "median_ms", meanMs = "mean_ms", minMs = "min_ms", maxMs = "max_ms", stdMs = "std_ms"
        case number, repeats = "repeat"
    }
}

public enum LatencyTimer {
    /// Times `body` as `settings` says; each repeat's figure is its mean time per run.
    public static func measure(_ settings: LatencySettings, _ body: () -> Void) -> LatencyStatistics {
        body()  // warm-up: first-touch allocations and caches
        var number = settings.number
        // Raise `number` until one repeat reaches min_repeat_ms (TVM doubles similarly).
        while true {
            let t = time(number, body)
            if t * 1000 >= settings.minRepeatMs || number >= 1 << 20 { break }
            let scale = t > 0 ? settings.minRepeatMs / (t * 1000) : 2
            number = max(number * 2, Int((Double(number) * scale * 1.1).rounded(.up)))
        }
        var perRun = [Double]()
        for _ in 0..<settings.repeats { perRun.append(time(number, body) * 1000 / Double(number)) }
        let sorted = perRun.sorted()
        let mean = perRun.reduce(0, +) / Double(perRun.count)
        let variance = perRun.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(perRun.count)
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return LatencyStatistics(medianMs: median, meanMs: mean, minMs: sorted.first!, maxMs: sorted.last!,
                                 stdMs: variance.squareRoot(), number: number, repeats: settings.repeats)
    }

    private static func time(_ number: Int, _ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<number { body() }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

public enum MeasurementError: Error, CustomStringConvertible {
    case invalidSettings(String)

    public var description: String {
        switch self {
        case .invalidSettings(let m): return "invalid measurement settings: \(m)"
        }
    }
}
