import ArgumentParser
import Foundation
import SeerCoordinator
import SeerTransport

/// `seer-coordinator demo`: the embedded default, a whole campaign on one machine.
///
/// The coordinator's broker plus two local `seer-agent` processes over loopback with CURVE, resnet8 from its
/// committed checkpoint, the campaign in configs/demo.yaml (embedded here, so the demo needs no files).
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
        for (i, keys) in agentKeyDirs.enumerated() {
            let p = Process()
            p.executableURL = agentBinary
            p.arguments = ["run", "--coordinator", broker.endpoint, "--key", "cpu-x86", "--id", "demo-agent-\(i)",
                           "--executor", "builtin", "--keys", keys,
                           "--server-key", URL(fileURLWithPath: coordinatorKeys).appendingPathComponent(CurveKeyFiles.publicName).path,
                           "--quiet"]
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
    }
}
