import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerMeasurement
import SeerModels
import SeerPredictor
import SeerSearch
import SeerTensor

/// How well a per-layer lookup table predicts end-to-end latency of held-out random policies (nn-Meter's +-10%
/// criterion), per model and executor: profile the table, measure N random policies of the default space, fit the
/// calibration on the even-numbered half, report on the odd one.
struct LatencyModelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "latency-model")

    @Option(help: "Models, comma-separated.") var models = "resnet8,resnet20"
    @Option(help: "Executors, comma-separated: builtin, sim-bitfusion, sim-bismo.") var executors = "builtin,sim-bitfusion"
    @Option(help: "Random policies measured per model and executor; half calibrate, half are held out.") var policies = 40
    @Option(help: "Seed of the random policies.") var seed: UInt64 = 1
    @Option(help: "Threads for OpenBLAS and the engine.") var threads = 1
    @Option(help: "Kept-fraction grid of the table.")
    var keeps = LayerProfilerSettings().keeps.map { String(format: "%g", $0) }.joined(separator: ",")

    func validate() throws {
        guard policies >= 4 else { throw ValidationError("--policies must be at least 4 (half calibrate, half test)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        Threads.set(threads)
        var settings = LayerProfilerSettings()
        settings.keeps = keeps.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        try settings.validate()
        var result: [String: Any] = [
            "policies": policies, "seed": seed, "threads": threads, "keeps": settings.keeps,
            "end_to_end_timing": try jsonObject(LatencySettings()), "kernel_timing": try jsonObject(settings.kernelTiming),
            "device": LayerProfiler.hostDescription(),
        ]
        for name in models.split(separator: ",").map(String.init) {
            let model = try ModelZoo.make(name)
            for executor in executors.split(separator: ",").map(String.init) {
                result["\(name)_\(executor)"] = try evaluate(model: model, executor: executor, settings: settings)
            }
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }

    private func evaluate(model: Model, executor: String, settings: LayerProfilerSettings) throws -> [String: Any] {
        let label = "\(model.name) on \(executor)"
        let table = try LayerProfiler.profile(model: model, executor: executor, settings: settings) { done, total, layer in
            if done % 16 == 0 || done == total { note("\(label): profiled \(done)/\(total) grid points (\(layer))") }
        }
        note(String(format: "%@: table of %d entries in %.1f s", label, table.entries.count, table.seconds))
        let encoding = PolicyEncoding(model: model, space: .default)
        let latency = try LatencyModel(model: model, encoding: encoding, lookup: table)
        // Baseline proxy: MACs where bit-widths do not change latency, BitOPs where they do.
        let proxyMetric: ComplexityMetric = table.wbits == nil ? .macs : .bitops
        let proxy = try LayerwiseComplexity(model: model, encoding: encoding, metric: proxyMetric)

        // Random per-variable levels: every group's ratio and every layer's bit-widths drawn uniformly from the space.
        var rng = SplitMix64(seed: seed)
        let levels = (0..<policies).map { _ in encoding.variables.map { rng.nextInt(below: $0.levels.count) } }
        let accelerator = AcceleratorModels.named(executor)
        let start = Date()
        var samples: [LatencySample] = []
        for (i, l) in levels.enumerated() {
            let policy = encoding.policy(levels: l)
            let ms: Double
            if let accelerator {
                ms = accelerator.estimate(try Complexity.compute(model: model, policy: policy)).latencyMs
            } else {
                ms = try LayerProfiler.endToEndLatency(model: model, policy: policy, timing: LatencySettings()).medianMs
            }
            samples.append(LatencySample(policy: policy, measuredMs: ms))
            if (i + 1) % 10 == 0 { note("\(label): measured \(i + 1)/\(policies) policies") }
        }
        let measureSeconds = Date().timeIntervalSince(start)
        // Even-numbered policies calibrate, odd ones are held out: the policies are drawn independently either way,
        // and interleaving spreads slow drifts of a shared machine's load over both halves alike.
        let fit = samples.indices.filter { $0 % 2 == 0 }.map { samples[$0] }
        let held = samples.indices.filter { $0 % 2 == 1 }.map { samples[$0] }

        let raw = latency.calibrated(LatencyCalibration(scale: 1, offsetMs: 0, samples: 0))
        let calibration = try latency.fitCalibration(fit)
        let calibrated = latency.calibrated(calibration)
        // Baseline: the proxy fitted to latency the same way (scale and offset on the same half); a proxy that
        // falls as latency rises has no positive fit, which is itself the finding.
        let proxyOf = { (s: LatencySample) in proxy.value(encoding.relaxation(levels: try encoding.levels(of: s.policy))) }
        var proxyResult: Any
        do {
            let proxyFit = try LatencyCalibration.fit(layerSums: try fit.map(proxyOf), measured: fit.map(\.measuredMs))
            let accuracy = try LatencyAccuracy(predicted: try held.map { proxyFit.scale * (try proxyOf($0)) + proxyFit.offsetMs },
                                               measured: held.map(\.measuredMs))
            proxyResult = try jsonObject(accuracy)
        } catch let error as LatencyModelError {
            proxyResult = ["error": error.description]
        }

        // Cost of one barrier evaluation, at a random interior point.
        let x = encoding.variables.map { $0.lowerBound + 0.37 * ($0.upperBound - $0.lowerBound) }
        let calls = 20_000
        var sink = 0.0
        let t0 = Date()
        for _ in 0..<calls { sink += calibrated.value(x) }
        let valueUs = Date().timeIntervalSince(t0) / Double(calls) * 1e6
        let t1 = Date()
        for _ in 0..<calls { sink += calibrated.gradient(x)[0] }
        let gradientUs = Date().timeIntervalSince(t1) / Double(calls) * 1e6
        precondition(sink.isFinite)

        let heldAccuracy = try calibrated.accuracy(on: held)
        note(String(format: "%@: held-out within +-10%%: calibrated %.0f%%, table sum %.0f%%, table + overhead %.0f%%",
                    label, 100 * heldAccuracy.withinTolerance, 100 * (try raw.accuracy(on: held)).withinTolerance,
                    100 * (try latency.accuracy(on: held)).withinTolerance))
        return [
            "table_entries": table.entries.count, "profile_seconds": table.seconds, "measure_seconds": measureSeconds,
            "reference_ms": table.referenceMs as Any, "overhead_ms": table.overheadMs,
            "measured_ms_range": [samples.map(\.measuredMs).min()!, samples.map(\.measuredMs).max()!],
            "calibration": try jsonObject(calibration),
            "held_out": try jsonObject(heldAccuracy),
            "held_out_table_sum": try jsonObject(try raw.accuracy(on: held)),
            "held_out_table_plus_overhead": try jsonObject(try latency.accuracy(on: held)),
            "proxy": proxyMetric.rawValue, "held_out_proxy_fit": proxyResult,
            "fit_half": try jsonObject(try calibrated.accuracy(on: fit)),
            "value_us": valueUs, "gradient_us": gradientUs,
        ]
    }

    private func jsonObject<T: Encodable>(_ value: T) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
    }

    private func note(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

