import ArgumentParser
import Foundation
import SeerCoordinator
import SeerTransport

/// `seer-coordinator demo`: the embedded default, a whole campaign on one machine.
///
/// The coordinator's broker plus two local `seer-agent` processes over loopback with CURVE, resnet8 from its
/// committed checkpoint, the campaign in configs/demo.yaml (embedded here, so the demo needs no files). Agent 0 has a
/// deploy directory and a simulated battery: after the campaign the demo drains it and each power profile's prepared
/// model is redeployed, timed from the battery change to the model in place.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run a whole campaign on this machine.")

    @Option(help: "Working folder for keys, database and results (replaced).") var workdir = "runs/demo"
    @Option(help: "Local agents to start.") var agents = 2


    func validate() throws {
        guard (1...8).contains(agents) else { throw ValidationError("--agents must be in 1...8") }
    }

    func run() throws {
        let config = try CampaignConfig.parse(yaml: DemoConfig.yaml, source: "embedded demo config")
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: workdir)
        try? fm.removeItem(at: dir)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let coordinatorKeys = dir.appendingPathComponent("keys/coordinator").path
        let serverKeys = try CurveKeyFiles.generate(into: coordinatorKeys, force: true)
        var allowed = Set<String>()
        let agentKeyDirs = try (0..<agents).map { i -> String in
            let path = dir.appendingPathComponent("keys/agent\(i)").path
            allowed.insert(try CurveKeyFiles.generate(into: path, force: true).publicKey)
            return path
        }
        let store = try SeerStore(path: dir.appendingPathComponent("seer.sqlite").path)
        let log: @Sendable (String) -> Void = { line in
            if line.contains("registered") || line.contains("expired") { FileHandle.standardError.write(Data("broker: \(line)\n".utf8)) }
        }
        let broker = try Broker(store: store, options: BrokerOptions(
            endpoint: "tcp://127.0.0.1:0", security: .curve(serverKeys: serverKeys, allowedAgentKeys: allowed), log: log))
        broker.start()
        defer { broker.stop() }

        let agentBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("seer-agent")
        guard fm.isExecutableFile(atPath: agentBinary.path) else {
            throw CampaignError.failed("no seer-agent next to seer-coordinator (\(agentBinary.path)); build both products")
        }
        var processes = [Process]()
        defer { for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() } }
        let battery = dir.appendingPathComponent("battery.txt")
        let deployDir = dir.appendingPathComponent("deploy-agent0")
        try Self.setBattery(battery, 90)
        for (i, keys) in agentKeyDirs.enumerated() {
            let p = Process()
            p.executableURL = agentBinary
            p.arguments = ["run", "--coordinator", broker.endpoint, "--key", "cpu-x86", "--id", "demo-agent-\(i)",
                           "--executor", "builtin", "--keys", keys,
                           "--server-key", URL(fileURLWithPath: coordinatorKeys).appendingPathComponent(CurveKeyFiles.publicName).path,
                           "--quiet"]
            if i == 0 {
                p.arguments! += ["--deploy-dir", deployDir.path, "--profiles", Self.thresholds, "--battery-file", battery.path]
            }
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            processes.append(p)
        }
        print("demo: broker on \(broker.endpoint) with CURVE; \(agents) local agents (cpu-x86, builtin executor)")
        let results = dir.appendingPathComponent("results")
        let runner = try CampaignRunner(config: config, store: store, backend: BrokerMeasurementBackend(broker: broker),
                                        resultsDirectory: results)
        let summary = try runner.run()
        for c in summary.choices {
            print(String(format: "budget %@: predicted %.2f%%, measured validation %@, test %@ (optimized in %.1f ms)",
                         c.budget, c.predicted, c.validationAccuracy.map { String(format: "%.2f%%", $0) } ?? "–",
                         c.testAccuracy.map { String(format: "%.2f%%", $0) } ?? "–", c.optimizeMs))
        }
        print("report: \(results.appendingPathComponent("report.html").path)")
        try redeployOnBatteryChanges(broker: broker, store: store, battery: battery, deployDir: deployDir)
    }

    /// Agent 0's battery levels and the profile each maps to.
    static let thresholds = "performance@60,balanced@30,saver"

    static func setBattery(_ file: URL, _ capacity: Int) throws {
        try "capacity=\(capacity)\nstatus=discharging\n".write(to: file, atomically: true, encoding: .utf8)
    }

    /// Serves deployments while the battery drains from 90% to 45% to 15%; prints how long each model took to arrive.
    func redeployOnBatteryChanges(broker: Broker, store: SeerStore, battery: URL, deployDir: URL) throws {
        print("demo: agent demo-agent-0 watches \(battery.path) (\(Self.thresholds)); deploy directory \(deployDir.path)")
        let service = DeploymentService(broker: broker, store: store, log: { _ in })
        let done = ServeCommand.StopFlag()
        let thread = Thread { service.run(until: { done.isSet }) }
        thread.start()
        defer { done.set() }
        func profileInPlace() -> String? {
            let manifest = deployDir.appendingPathComponent("current/manifest.json")
            guard let data = FileManager.default.contents(atPath: manifest.path),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return object["profile"] as? String
        }
        for (capacity, profile) in [(90, "performance"), (45, "balanced"), (15, "saver")] {
            let start = Date()
            if capacity != 90 { try Self.setBattery(battery, capacity) }
            while profileInPlace() != profile && Date().timeIntervalSince(start) < 120 { usleep(2_000) }
            let ms = Date().timeIntervalSince(start) * 1000
            guard profileInPlace() == profile else {
                throw CampaignError.failed("the \(profile) model did not arrive within 120 s; see `seer-coordinator deployments --db \(store.path)`")
            }
            // The agent answers DEPLOYED right after the swap; wait for the coordinator to record it.
            var record = try DeploymentStore.deployments(agentID: "demo-agent-0", limit: 1, in: store).first
            while record?.state != "ok" && Date().timeIntervalSince(start) < 130 {
                usleep(5_000)
                record = try DeploymentStore.deployments(agentID: "demo-agent-0", limit: 1, in: store).first
            }
            print(String(format: "battery %d%% -> %@ model in place %@ (PROFILE to DEPLOYED: %@; agent: %@)", capacity, profile,
                         capacity == 90 ? "when deployments started" : String(format: "%.0f ms after the change", ms),
                         record?.totalMs.map { String(format: "%.0f ms", $0) } ?? "not recorded", record?.message ?? ""))
        }
        print("deployments: seer-coordinator deployments --db \(store.path)")
    }
}
