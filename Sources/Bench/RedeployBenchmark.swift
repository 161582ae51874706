import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import SeerTransport

/// From a battery change to the new model in place, for prepared profiles, with real processes: `seer-coordinator
/// serve` and `seer-agent run --deploy-dir --battery-file` over CURVE on loopback.
///
/// Three prepared resnet8 profiles (8/8, 6/6 with a quarter of the channels pruned, 4/4 with half pruned; compressed
/// without fine-tuning, which changes nothing about the deploy path). The battery file cycles 80% -> 45% -> 15% -> 80%;
/// each change is timed from the file write to `current/manifest.json` naming the new profile (polled every
/// millisecond) after a random pause, so the figure includes the agent's battery poll interval, PROFILE, the coordinator's planning and
/// store writes, the DEPLOY with the weights inline, checksum, load, the 256-image validation batch and the swap.
struct RedeployBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redeploy")

    @Option(help: "Battery changes to time.") var changes = 12
    @Option(help: "The agent's battery poll interval in milliseconds (its default is 1000).") var batteryIntervalMs = 1_000
    @Option(help: "Zoo model to deploy.") var model = "resnet8"

    static let levels = [(80, "performance"), (45, "balanced"), (15, "saver")]

    func validate() throws {
        guard changes >= 1 else { throw ValidationError("--changes must be at least 1") }
        guard batteryIntervalMs >= 10 else { throw ValidationError("--battery-interval-ms must be at least 10") }
    }

    func run() throws {
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("seer-bench-redeploy-\(UUID().uuidString)")
        try fm.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: work) }
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for product in ["seer-coordinator", "seer-agent"] where !fm.isExecutableFile(atPath: bin.appendingPathComponent(product).path) {
            throw ValidationError("no \(product) beside seer-bench in \(bin.path): build it (bench/redeploy does)")
        }

        let db = work.appendingPathComponent("seer.sqlite").path
        try prepare(db: db, in: work)
        _ = try CurveKeyFiles.generate(into: work.appendingPathComponent("coordinator").path, force: true)
        let agentKeys = try CurveKeyFiles.generate(into: work.appendingPathComponent("agent").path, force: true)
        try agentKeys.publicKey.write(to: work.appendingPathComponent("allowed.txt"), atomically: true, encoding: .utf8)

        var processes: [Process] = []
        defer { for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() } }
        func launch(_ product: String, _ arguments: [String], log: String) throws {
            let p = Process()
            p.executableURL = bin.appendingPathComponent(product)
            p.arguments = arguments
            let url = work.appendingPathComponent(log)
            fm.createFile(atPath: url.path, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: url)
            p.standardError = p.standardOutput
            try p.run()
            processes.append(p)
        }
        let endpointFile = work.appendingPathComponent("endpoint").path
        try launch("seer-coordinator", ["serve", "--db", db, "--bind", "tcp://127.0.0.1:0", "--endpoint-file", endpointFile,
                                        "--keys", work.appendingPathComponent("coordinator").path,
                                        "--allow", work.appendingPathComponent("allowed.txt").path], log: "serve.log")
        let deadline = Date(timeIntervalSinceNow: 30)
        while !fm.fileExists(atPath: endpointFile) && Date() < deadline { usleep(10_000) }
        let endpoint = try String(contentsOfFile: endpointFile, encoding: .utf8)
        let battery = work.appendingPathComponent("battery.txt")
        let deployDir = work.appendingPathComponent("deploy")
        try Self.write(battery, Self.levels[0].0)
        try launch("seer-agent", ["run", "--coordinator", endpoint, "--key", "cpu-x86", "--id", "bench-agent", "--executor", "null",
                                  "--keys", work.appendingPathComponent("agent").path,
                                  "--server-key", work.appendingPathComponent("coordinator/public.key").path,
                                  "--deploy-dir", deployDir.path, "--profiles", "performance@60,balanced@30,saver",
                                  "--battery-file", battery.path, "--battery-interval-ms", "\(batteryIntervalMs)"],
                   log: "agent.log")
        func inPlace() -> String? {
            guard let data = fm.contents(atPath: deployDir.appendingPathComponent("current/manifest.json").path),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return object["profile"] as? String
        }
        func wait(for profile: String) throws {
            let limit = Date(timeIntervalSinceNow: 60)
            while inPlace() != profile {
                guard Date() < limit else {
                    let logs = ["serve.log", "agent.log"].map { (try? String(contentsOf: work.appendingPathComponent($0), encoding: .utf8)) ?? "" }
                    throw ValidationError("the \(profile) model never arrived\n" + logs.joined(separator: "\n---\n").suffix(4_000))
                }
                usleep(1_000)
            }
        }
        try wait(for: Self.levels[0].1)
        FileHandle.standardError.write(Data("redeploy: first model in place; timing \(changes) battery changes\n".utf8))

        var endToEnd: [Double] = []
        // A change lands at a random point of the agent's poll cycle, as a real battery's would; changing right after
        // each swap would instead always land at the same phase.
        var rng = SystemRandomNumberGenerator()
        for change in 1...changes {
            let (capacity, profile) = Self.levels[change % Self.levels.count]
            usleep(UInt32(Int.random(in: 0..<batteryIntervalMs, using: &rng) * 1_000))
            let start = DispatchTime.now()
            try Self.write(battery, capacity)
            try wait(for: profile)
            endToEnd.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
            FileHandle.standardError.write(Data(String(format: "redeploy: %d/%d battery %d%% -> %@ in %.0f ms\n", change, changes,
                                                       capacity, profile, endToEnd.last!).utf8))
        }
        usleep(200_000)  // the coordinator records DEPLOYED right after the swap
        let rows = try DeploymentStore.deployments(agentID: "bench-agent", limit: changes + 1, in: try SeerStore(path: db))
            .filter { $0.state == "ok" }
        var phases: [String: [Double]] = [:]
        for row in rows {
            let timings = (try? JSONDecoder().decode([String: Double].self, from: Data((row.timings ?? "{}").utf8))) ?? [:]
            for (phase, ms) in timings { phases[phase, default: []].append(ms) }
        }
        func median(_ xs: [Double]) -> Double {
            guard !xs.isEmpty else { return .nan }
            let s = xs.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        func round1(_ x: Double) -> Double { (x * 10).rounded() / 10 }
        let sorted = endToEnd.sorted()
        let summary: [String: Any] = [
            "model": model, "changes": changes, "battery_interval_ms": batteryIntervalMs,
            "weights_bytes": rows.compactMap(\.sizeBytes).max() ?? 0,
            "end_to_end_ms_median": round1(median(endToEnd)), "end_to_end_ms_max": round1(sorted.last ?? .nan),
            "end_to_end_ms_min": round1(sorted.first ?? .nan),
            "under_2s_fraction": Double(endToEnd.filter { $0 < 2_000 }.count) / Double(endToEnd.count),
            "coordinator_ms_median": round1(median(rows.compactMap(\.totalMs))),
            "agent_phase_ms_median": Dictionary(uniqueKeysWithValues: phases.map { ($0.key, round1(median($0.value))) }),
            "goal_ms": 2_000,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }

    static func write(_ battery: URL, _ capacity: Int) throws {
        try "capacity=\(capacity)\nstatus=discharging\n".write(to: battery, atomically: true, encoding: .utf8)
    }

    /// A store with campaign "bench" and the three prepared profile models of device key cpu-x86.
    func prepare(db: String, in work: URL) throws {
        let store = try SeerStore(path: db)
        let config = try CampaignConfig.parse(yaml: """
            name: bench
            model: \(model)
            budgets: ["20%"]
            devices: [cpu-x86]
            profiles:
              cpu-x86: {performance: "bitops=100%", balanced: "bitops=30%", saver: "bitops=10%"}
            """)
        let now = Date()
        try CampaignStore.save(CampaignRecord(id: "bench", config: String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
                                              phase: .done, detail: "", createdAt: now, updatedAt: now), in: store)
        let base = try ModelStore.load(model)
        let data = try FashionMNIST.load()
        for (profile, policyJSON) in [("performance", #"{"default": {"wbits": 8, "abits": 8, "prune": 0}}"#),
                                      ("balanced", #"{"default": {"wbits": 6, "abits": 6, "prune": 0.25}}"#),
                                      ("saver", #"{"default": {"wbits": 4, "abits": 4, "prune": 0.5}}"#)] {
            let policy = try Policy.decode(json: Data(policyJSON.utf8)).resolve(for: base)
            var settings = EvaluationSettings()
            settings.finetuneSteps = 0
            settings.calibrationImages = 64
            let compressed = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings).model
            let file = work.appendingPathComponent("\(profile).safetensors")
            try CompressedModelFile.save(compressed, policy: policy, to: file)
            let bytes = [UInt8](try Data(contentsOf: file))
            try DeploymentStore.savePrepared(PreparedModelRecord(
                campaignID: "bench", deviceKey: "cpu-x86", profile: profile, budget: config.profiles["cpu-x86"]![profile]!.description,
                budgetValue: 1, policy: String(decoding: try policy.policy().jsonData(), as: UTF8.self), complexity: 1,
                predicted: 0, weightsPath: file.path, sha256: SHA256.hex(SHA256.hash(bytes)), sizeBytes: bytes.count,
                createdAt: now), in: store)
        }
    }
}
