import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import SeerPredictor
import SeerSearch
import SeerTensor
import SeerWire

/// `bench/latency-model` for a runtime key (issue 15): the Python onnxruntime agent profiles the table from the kernel
/// descriptions the coordinator sends, then times N random policies exported as QDQ ONNX artifacts (`profile` jobs
/// with `payload.artifact`: latency only); calibration on the even-numbered half, report on the odd (held-out) half.
struct RuntimeLatencyModelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runtime-latency-model")

    @Option(help: "Models, comma-separated.") var models = "resnet8"
    @Option(help: "Random policies per model; half calibrate, half are held out.") var policies = 40
    @Option(help: "Seed of the random policies.") var seed: UInt64 = 1
    @Option(help: "onnxruntime execution provider: cpu, cuda or tensorrt.") var provider = "cpu"
    @Option(help: "onnxruntime intra-op threads.") var threads = 1
    @Option(help: "Python with agents/python's requirements (default: SEER_PYTHON, else .venv/bin/python).") var python: String?

    func validate() throws {
        guard policies >= 4 else { throw ValidationError("--policies must be at least 4 (half calibrate, half test)") }
    }

    func run() throws {
        let scratch = try ScratchBroker(prefix: "seer-runtime-bench")
        defer { scratch.stop() }
        let directory = scratch.directory, store = scratch.store, broker = scratch.broker
        let key = "bench-\(provider)"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: python ?? ProcessInfo.processInfo.environment["SEER_PYTHON"] ?? ".venv/bin/python")
        agent.arguments = ["-m", "seer_runtime_agent", "run", "--coordinator", broker.endpoint, "--key", key, "--id", "\(key)-1",
                           "--provider", provider, "--threads", String(threads), "--plain",
                           "--cache", directory.appendingPathComponent("cache").path]
        agent.environment = ProcessInfo.processInfo.environment.merging(["PYTHONPATH": "agents/python"]) { _, new in new }
        agent.standardOutput = FileHandle.standardError
        try agent.run()
        defer { agent.terminate(); agent.waitUntilExit() }
        let deadline = Date(timeIntervalSinceNow: 120)
        while broker.agents().isEmpty {
            guard agent.isRunning, Date() < deadline else { throw CampaignError.failed("the runtime agent did not register") }
            usleep(100_000)
        }
        let backend = ArtifactMeasurementBackend(wrapping: BrokerMeasurementBackend(broker: broker), runtimeDevices: [key],
                                                 trainingDevice: "none", store: store)
        var result: [String: Any] = ["policies": policies, "seed": seed, "provider": provider, "threads": threads,
                                     "timing": try jsonObject(EvaluationSettings().latency),
                                     "agent": broker.agents().first.map { "\($0.device.os), \($0.device.software)" } ?? ""]
        for name in models.split(separator: ",").map(String.init) {
            result[name] = try evaluate(name, key: key, backend: backend, broker: broker)
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }

    private func evaluate(_ name: String, key: String, backend: ArtifactMeasurementBackend, broker: Broker) throws -> [String: Any] {
        let model = try ModelStore.load(name)
        note("\(name): profiling the table on \(key)")
        let table = try backend.profileLayers(id: "bench:\(name):table", deviceKey: key, model: name)
        note(String(format: "%@: table of %d entries in %.1f s, overhead %.4f ms", name, table.entries.count, table.seconds,
                    table.overheadMs))
        let encoding = PolicyEncoding(model: model, space: .default)
        let latency = try LatencyModel(model: model, encoding: encoding, lookup: table)
        var rng = SplitMix64(seed: seed)
        let levels = (0..<policies).map { _ in encoding.variables.map { rng.nextInt(below: $0.levels.count) } }
        var samples: [LatencySample] = []
        let settings = try JSONDecoder().decode([String: JSONValue].self, from: try EvaluationSettings().jobJSON())
        for (i, l) in levels.enumerated() {
            let policy = encoding.policy(levels: l)
            // Weights do not change the time: pruned and quantized with seeded-noise calibration, no fine-tuning.
            var noise = SeededGenerator(seed: UInt64(i))
            let calibration = Tensor.randomNormal(shape: [16] + model.inputShape, std: 1, using: &noise)
            let compressed = PolicyQuantization.quantize(ChannelPruning.prune(model, policy: policy), policy: policy,
                                                         calibration: calibration)
            let onnx = try OnnxExport.serialize(compressed)
            let artifact = ArtifactReference.inline(onnx, sha256: SHA256.hex(SHA256.hash([UInt8](onnx))))
            let policyJSON = try JSONDecoder().decode([String: JSONValue].self, from: try policy.policy().jsonData())
            let id = try broker.submit(JobRequest(deviceKey: key, kind: .profile, payload: JobPayload(
                model: name, policy: policyJSON, settings: settings, artifact: artifact)))
            var outcome: JobOutcome?
            while outcome == nil { outcome = broker.waitForCompletion(jobIDs: [id], timeout: 1)[id] }
            guard let ms = outcome?.result?.latency?.medianMs else { throw CampaignError.failed("policy \(i): \(outcome!)") }
            samples.append(LatencySample(policy: policy, measuredMs: ms))
            if (i + 1) % 10 == 0 { note("\(name): measured \(i + 1)/\(policies) policies") }
        }
        let fit = samples.indices.filter { $0 % 2 == 0 }.map { samples[$0] }
        let held = samples.indices.filter { $0 % 2 == 1 }.map { samples[$0] }
        let calibration = try latency.fitCalibration(fit)
        let calibrated = latency.calibrated(calibration)
        let heldAccuracy = try calibrated.accuracy(on: held)
        note(String(format: "%@: held-out within +-10%%: calibrated %.0f%%, table + overhead %.0f%%", name,
                    100 * heldAccuracy.withinTolerance, 100 * (try latency.accuracy(on: held)).withinTolerance))
        return [
            "table_entries": table.entries.count, "profile_seconds": table.seconds, "overhead_ms": table.overheadMs,
            "measured_ms_range": [samples.map(\.measuredMs).min()!, samples.map(\.measuredMs).max()!],
            "calibration": try jsonObject(calibration), "held_out": try jsonObject(heldAccuracy),
            "held_out_table_plus_overhead": try jsonObject(try latency.accuracy(on: held)),
            "fit_half": try jsonObject(try calibrated.accuracy(on: fit)),
        ]
    }

    private func jsonObject<T: Encodable>(_ value: T) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
    }

    private func note(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}
