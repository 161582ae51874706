import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerMeasurement
import SeerModels
import SeerSearch

/// `bench/gpu` (issue 15): a latency-budget campaign on a runtime key, on one machine. A coordinator (this process's
/// broker and campaign runner, plain TCP on loopback), one builtin training agent (`seer-agent`, compress jobs) and the
/// Python runtime agent (`agents/python`, onnxruntime with the CUDA execution provider when it has one, else the CPU
/// provider, which the output says). Reports, per measured policy on the runtime key, the latency measured there
/// against the latency model's prediction, and per budget the chosen policy's prediction at pick time against its
/// measurement.
struct GPUCampaignBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gpu")

    @Option(help: "onnxruntime execution provider: auto (cuda when onnxruntime has it, else cpu), cpu, cuda or tensorrt.")
    var provider = "auto"
    @Option(help: "Zoo model of the campaign.") var model = "resnet8"
    @Option(help: "Latency budgets, comma-separated (percent of the unpruned 8/8 model's latency, or ms); auto: two budgets at 40% and 75% of the way from the fastest policy to the 8/8 model, as the profiled table predicts.")
    var budgets = "auto"
    @Option(help: "Random policies measured before the first predictor.") var initial = 8
    @Option(help: "Informative rounds after that.") var rounds = 1
    @Option(help: "Policies per informative round.") var perRound = 4
    @Option(help: "Fine-tuning steps per policy (on the training agent).") var finetuneSteps = 8
    @Option(help: "Validation images per accuracy (on both agents).") var evaluationLimit = 600
    @Option(help: "onnxruntime intra-op threads.") var threads = 1
    @Option(help: "Python with agents/python's requirements (default: SEER_PYTHON, else .venv/bin/python).") var python: String?
    @Option(help: "seer-agent for the training agent (default: next to this program).") var agent: String?

    func validate() throws {
        guard ["auto", "cpu", "cuda", "tensorrt"].contains(provider) else {
            throw ValidationError("--provider must be auto, cpu, cuda or tensorrt (got \(provider))")
        }
        guard initial >= 4 else { throw ValidationError("--initial must be at least 4 (a predictor needs 4 measurements)") }
        guard rounds >= 0, perRound >= 1, finetuneSteps >= 0, evaluationLimit >= 1, threads >= 0 else {
            throw ValidationError("--rounds, --finetune-steps, --threads >= 0; --per-round, --evaluation-limit >= 1")
        }
    }

    func run() throws {
        let started = Date()
        let pythonPath = python ?? ProcessInfo.processInfo.environment["SEER_PYTHON"] ?? ".venv/bin/python"
        let available = try Self.output(pythonPath, ["-c", "import onnxruntime; print(' '.join(onnxruntime.get_available_providers()))"])
            .split(separator: " ").map(String.init)
        let chosen = provider != "auto" ? provider : available.contains("CUDAExecutionProvider") ? "cuda" : "cpu"
        if provider == "auto" && chosen == "cpu" {
            note("onnxruntime here has no CUDA execution provider (it has \(available.joined(separator: ", "))): "
                 + "running on the CPU provider; install onnxruntime-gpu on a GPU host for CUDA")
        }
        let gpu = Self.gpuName()
        note("provider \(chosen); cpu \(HostCPU.description); gpu \(gpu ?? "none")")

        let scratch = try ScratchBroker(prefix: "seer-gpu-bench")
        defer { scratch.stop() }
        let directory = scratch.directory, store = scratch.store, broker = scratch.broker

        let key = "ort-\(chosen)"
        let trainerPath = agent ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("seer-agent").path
        let trainer = try launch(trainerPath, ["run", "--coordinator", broker.endpoint, "--key", "cpu-train", "--id", "trainer-1",
                                               "--executor", "builtin", "--plain", "--quiet"])
        defer { trainer.terminate(); trainer.waitUntilExit() }
        let runtime = try launch(pythonPath, ["-m", "seer_runtime_agent", "run", "--coordinator", broker.endpoint, "--key", key,
                                              "--id", "\(key)-1", "--provider", chosen, "--threads", String(threads), "--plain",
                                              "--cache", directory.appendingPathComponent("cache").path],
                                 environment: ["PYTHONPATH": "agents/python"])
        defer { runtime.terminate(); runtime.waitUntilExit() }
        let deadline = Date(timeIntervalSinceNow: 120)
        while broker.agents().count < 2 {
            guard trainer.isRunning, runtime.isRunning, Date() < deadline else {
                throw CampaignError.failed("the agents did not register (training agent running: \(trainer.isRunning), "
                                           + "runtime agent running: \(runtime.isRunning))")
            }
            usleep(100_000)
        }
        let runtimeAgent = broker.agents().first { $0.deviceKey == key }
        let name = "gpu-\(chosen)"
        let base = try ModelStore.load(model)

        // The table first, as the campaign would profile it (kernels timed by the runtime agent at batch 1, the
        // campaign's latency batch), stored under the campaign so that the campaign uses it; its span sets the
        // automatic budgets: a small CNN at batch 1 is overhead-bound (most of all on a GPU), so fixed percentages
        // can ask for less than the fastest policy costs.
        note("profiling the latency table on \(key)")
        let profiler = ArtifactMeasurementBackend(wrapping: BrokerMeasurementBackend(broker: broker), runtimeDevices: [key],
                                                  trainingDevice: "cpu-train", store: store)
        let table = try profiler.profileLayers(id: "\(name):latency-table:\(key)", deviceKey: key, model: model)
        let tableText = String(decoding: try table.jsonData(), as: UTF8.self)
        try store.database.write { db in
            try db.execute(sql: "INSERT INTO latency_table (campaign_id, device_key, \"table\", created_at) VALUES (?, ?, ?, ?)",
                           arguments: [name, key, tableText, Date()])
        }
        let budgetList: [String]
        if budgets == "auto" {
            let encoding = PolicyEncoding(model: base, space: .default)
            let tableModel = try LatencyModel(model: base, encoding: encoding, lookup: table)
            let fastest = tableModel.value(encoding.relaxation(levels: encoding.minimumLevels))
            let fraction = min(max(fastest / (try tableModel.predict(try Policy(bits: "8/8").resolve(for: base))), 0), 1)
            budgetList = [0.4, 0.75].map { "\"\(Int((100 * (fraction + $0 * (1 - fraction))).rounded()))%\"" }
            note(String(format: "the table puts the fastest policy at %.0f%% of the 8/8 model: budgets %@", 100 * fraction,
                        budgetList.joined(separator: ", ")))
        } else {
            budgetList = budgets.split(separator: ",").map { "\"\($0.trimmingCharacters(in: .whitespaces))\"" }
        }
        let config = try CampaignConfig.parse(yaml: """
            name: \(name)
            model: \(model)
            metric: latency
            latency_device: \(key)
            devices: [\(key)]
            runtime_devices: [\(key)]
            training_device: cpu-train
            budgets: [\(budgetList.joined(separator: ", "))]
            measurement: {finetune_steps: \(finetuneSteps), batch_size: 32, evaluation_limit: \(evaluationLimit),
                          calibration_images: 32, latency: {repeat: 7, min_repeat_ms: 20}}
            sampling: {initial: \(initial), rounds: \(rounds), per_round: \(perRound), refine: 0, sensitivity_images: 0,
                       noise_repeats: 0}
            predictor: {members: 3, hidden: 0}
            """)
        let runner = try CampaignRunner(config: config, store: store, backend: BrokerMeasurementBackend(broker: broker),
                                        resultsDirectory: directory.appendingPathComponent("results"), showProgress: false,
                                        log: { note($0) })
        _ = try runner.run()

        // Two predictions per measured policy: the table the runtime agent profiled (with its overhead, uncalibrated:
        // nothing measured went into it), and the latency model as the campaign would build it now (that table,
        // calibrated on every measurement when the fit is plausible, so in-sample). The chosen policies' predictions
        // are the ones made at pick time, before they were measured, against which the budget was checked.
        let encoding = PolicyEncoding(model: base, space: config.space)
        var modelNotes: [String] = []
        let latencyModel = try CostModels.make(metric: .latency, config: config, base: base, encoding: encoding,
                                               deviceKey: key, store: store, backend: nil, log: { modelNotes.append($0) }).model
        let tableModel = try LatencyModel(model: base, encoding: encoding, lookup: table)
        let artifacts = Dictionary(try ArtifactStore.measurements(prefix: "\(config.name):", in: store).map { ($0.jobID, $0) },
                                   uniquingKeysWith: { a, _ in a })
        var policies: [[String: Any]] = []
        note("job | measured ms | table ms | error | model ms | error | engine / device accuracy %")
        for row in try CampaignStore.measurements(config.name, in: store) where row.deviceKey == key {
            guard let measured = row.latencyMs else {
                note("\(row.jobID): \(row.error ?? "not measured")")
                continue
            }
            let policy = try Policy.decode(json: Data(row.policy.utf8)).resolve(for: base, space: config.space)
            let predicted = latencyModel.value(encoding.relaxation(levels: try encoding.levels(of: policy)))
            let tabled = try tableModel.predict(policy)
            let device = artifacts[row.jobID]?.deviceAccuracy
            note(String(format: "%@ | %.4f | %.4f | %+.1f%% | %.4f | %+.1f%% | %.2f / %@", row.jobID, measured, tabled,
                        (measured / tabled - 1) * 100, predicted, (measured / predicted - 1) * 100, row.accuracy ?? .nan,
                        device.map { String(format: "%.2f", $0) } ?? "-"))
            policies.append(["job": row.jobID, "purpose": row.purpose.rawValue, "round": row.round, "measured_ms": measured,
                             "table_ms": tabled, "model_ms": predicted, "engine_accuracy": row.accuracy ?? NSNull(),
                             "device_accuracy": device ?? NSNull()])
        }
        var choices: [[String: Any]] = []
        let rows = try CampaignStore.measurements(config.name, purpose: .final, in: store)
        for c in try CampaignStore.chosen(config.name, in: store).sorted(by: { $0.budgetValue < $1.budgetValue }) {
            let measured = rows.first { $0.jobID == "\(config.name):final:\(c.budget):validation" }?.latencyMs
            note(String(format: "budget %@ (%.4f ms): chosen policy predicted %.4f ms at pick time, measured %@", c.budget,
                        c.budgetValue, c.complexity, measured.map { String(format: "%.4f ms (%+.1f%%)", $0, ($0 / c.complexity - 1) * 100) } ?? "-"))
            choices.append(["budget": c.budget, "budget_ms": c.budgetValue, "predicted_ms": c.complexity,
                            "measured_ms": measured ?? NSNull(), "validation_accuracy": c.validationAccuracy ?? NSNull(),
                            "test_accuracy": c.testAccuracy ?? NSNull()])
        }
        func within10(_ predictedKey: String) -> Any {
            guard !policies.isEmpty else { return NSNull() }
            let hits = policies.filter { abs(($0["measured_ms"] as! Double) / ($0[predictedKey] as! Double) - 1) <= 0.10 }
            return Double(hits.count) / Double(policies.count)
        }
        let chosenErrors = choices.compactMap { c in (c["measured_ms"] as? Double).map { abs($0 / (c["predicted_ms"] as! Double) - 1) } }
        let accuracyGaps = policies.compactMap { p in (p["device_accuracy"] as? Double).map { abs($0 - (p["engine_accuracy"] as! Double)) } }
        let result: [String: Any] = [
            "provider": chosen, "budgets": budgetList.map { $0.replacingOccurrences(of: "\"", with: "") }, "providers_available": available, "cpu": HostCPU.description, "gpu": gpu ?? NSNull(),
            "load_average": HostCPU.loadAverage, "model": model, "device_key": key,
            "runtime_agent_software": runtimeAgent?.device.software ?? [:],
            "policies_measured": policies.count, "policies": policies, "chosen": choices,
            "table_within_10pct": within10("table_ms"), "model_within_10pct": within10("model_ms"),
            "table_overhead_ms": table.overheadMs, "model_notes": modelNotes,
            "chosen_within_10pct": chosenErrors.isEmpty ? NSNull() : Double(chosenErrors.filter { $0 <= 0.10 }.count) / Double(chosenErrors.count),
            "max_accuracy_gap_points": accuracyGaps.max() ?? NSNull(),
            "seconds": (Date().timeIntervalSince(started) * 10).rounded() / 10,
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }

    private func launch(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = FileHandle.standardError
        try process.run()
        return process
    }

    /// A program's standard output, trimmed; fails naming the program when it cannot run or exits non-zero.
    static func output(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(path) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The first GPU's name and driver from nvidia-smi; nil without one (or without nvidia-smi).
    static func gpuName() -> String? {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/local/nvidia/bin"] {
            let path = directory + "/nvidia-smi"
            guard FileManager.default.isExecutableFile(atPath: path) else { continue }
            let text = try? output(path, ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
            return text?.split(separator: "\n").first.map(String.init)
        }
        return nil
    }
}

private func note(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
