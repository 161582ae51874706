import ArgumentParser
import Foundation
import SeerCoordinator
import SeerTransport
import SeerWeb

/// `seer-coordinator demo`: the embedded default, a whole campaign on one machine, the way a fleet runs it.
///
/// The coordinator service (`CoordinatorService`, as `serve` runs it: the database's lock, the broker over loopback
/// with CURVE, the web view) plus two local `seer-agent` processes; the campaign in configs/demo.yaml (embedded here,
/// so the demo needs no files) is submitted through the control channel and followed as `campaign run` follows it.
/// resnet8 comes from its committed checkpoint. Agent 0 has a deploy directory and a simulated battery: after the
/// campaign the demo drains it and the service redeploys each power profile's prepared model, timed from the battery
/// change to the model in place.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run a whole campaign on this machine.")

    @Option(help: "Working folder for keys, database and results (replaced).") var workdir = "runs/demo"
    @Option(help: "Local agents to start.") var agents = 2
    @Option(help: "Serve the live web view on HOST:PORT (port 0 picks a free one); `off` for none.")
    var http = "127.0.0.1:0"

    func validate() throws {
        guard (1...8).contains(agents) else { throw ValidationError("--agents must be in 1...8") }
        if http != "off" {
            do { _ = try WebAddress(parsing: http) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() throws {
        let config = try CampaignConfig.parse(yaml: DemoConfig.yaml, source: "embedded demo config")
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: workdir).standardizedFileURL
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
        let agentBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("seer-agent")
        guard fm.isExecutableFile(atPath: agentBinary.path) else {
            throw CampaignError.failed("no seer-agent next to seer-coordinator (\(agentBinary.path)); build both products")
        }

        let interrupted = ServeCommand.terminationFlag()
        let database = dir.appendingPathComponent("seer.sqlite").path
        let brokerLog: @Sendable (String) -> Void = { line in
            if line.contains("registered") || line.contains("expired") { FileHandle.standardError.write(Data("broker: \(line)\n".utf8)) }
        }
        // What `serve` would log, told apart from what `campaign run` prints while it follows.
        let serviceLog: @Sendable (String) -> Void = { print("service: \($0)") }
        let service = try CoordinatorService(
            database: database, broker: BrokerOptions(endpoint: "tcp://127.0.0.1:0",
                                                      security: .curve(serverKeys: serverKeys, allowedAgentKeys: allowed),
                                                      log: brokerLog),
            http: http == "off" ? nil : try WebAddress(parsing: http), resultsRoot: dir, log: serviceLog)
        let serviceStopped = ServeCommand.StopFlag()
        let serviceExited = DispatchSemaphore(value: 0)
        let serviceFailure = FailureBox()
        let serviceThread = Thread {
            do { try service.serve(until: { serviceStopped.isSet }) } catch { serviceFailure.set(error) }
            serviceExited.signal()
        }
        serviceThread.stackSize = 16 << 20
        serviceThread.start()
        defer {
            serviceStopped.set()
            serviceExited.wait()
        }

        var processes = [Process]()
        defer { for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() } }
        let battery = dir.appendingPathComponent("battery.txt")
        let deployDir = dir.appendingPathComponent("deploy-agent0")
        try Self.setBattery(battery, 90)
        for (i, keys) in agentKeyDirs.enumerated() {
            let p = Process()
            p.executableURL = agentBinary
            p.arguments = ["run", "--coordinator", service.broker.endpoint, "--key", "cpu-x86", "--id", "demo-agent-\(i)",
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
        print("demo: coordinator service on \(database) (broker \(service.broker.endpoint), CURVE); "
              + "\(agents) local agents (cpu-x86, builtin executor)")
        if let url = service.webURL { print("demo: live view at \(url)") }

        // Submitted and followed exactly as `seer-coordinator campaign run --config F --db DB` does against `serve`.
        guard let client = CampaignServiceClient.service(owning: database) else {
            throw CampaignError.failed("the coordinator service does not hold \(database)'s lock")
        }
        let results = dir.appendingPathComponent("results")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(config), as: UTF8.self)
        let request = try client.send(CampaignRequestRecord(campaignID: config.name, action: .run, config: json,
                                                            results: results.path))
        print("demo: campaign \(config.name) submitted: \(request.message ?? "accepted")")
        let report = results.appendingPathComponent("report.html").path
        guard try client.follow(config.name, since: request, resultsHint: report, detach: interrupted) == .done else {
            print("demo: interrupted; the service stops (its database keeps the campaign: "
                  + "`seer-coordinator serve --db \(database) ...` carries it on)")
            return
        }
        if let failure = serviceFailure.error { throw failure }
        let summary = try JSONDecoder().decode(CampaignSummary.self,
                                               from: Data(contentsOf: results.appendingPathComponent("summary.json")))
        for c in summary.choices {
            print(String(format: "budget %@: %@, predicted %.2f%%, measured validation %@, test %@ (optimized in %.1f ms)",
                         c.budget, c.source.rawValue, c.predicted,
                         c.validationAccuracy.map { String(format: "%.2f%%", $0) } ?? "–",
                         c.testAccuracy.map { String(format: "%.2f%%", $0) } ?? "–", c.optimizeMs))
        }
        try redeployOnBatteryChanges(store: service.store, battery: battery, deployDir: deployDir, interrupted: interrupted)
    }

    /// Agent 0's battery levels and the profile each maps to.
    static let thresholds = "performance@60,balanced@30,saver"

    static func setBattery(_ file: URL, _ capacity: Int) throws {
        try "capacity=\(capacity)\nstatus=discharging\n".write(to: file, atomically: true, encoding: .utf8)
    }

    /// The service redeploys while the battery drains from 90% to 45% to 15%; prints how long each model took to arrive.
    func redeployOnBatteryChanges(store: SeerStore, battery: URL, deployDir: URL, interrupted: ServeCommand.StopFlag) throws {
        print("demo: agent demo-agent-0 watches \(battery.path) (\(Self.thresholds)); deploy directory \(deployDir.path)")
        func profileInPlace() -> String? {
            let manifest = deployDir.appendingPathComponent("current/manifest.json")
            guard let data = FileManager.default.contents(atPath: manifest.path),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return object["profile"] as? String
        }
        for (capacity, profile) in [(90, "performance"), (45, "balanced"), (15, "saver")] {
            let start = Date()
            if capacity != 90 { try Self.setBattery(battery, capacity) }
            while profileInPlace() != profile && Date().timeIntervalSince(start) < 120 && !interrupted.isSet { usleep(2_000) }
            if interrupted.isSet { return }
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

/// An error handed from the service's thread to the demo's.
private final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Error?
    var error: Error? { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ error: Error) { lock.lock(); value = error; lock.unlock() }
}
