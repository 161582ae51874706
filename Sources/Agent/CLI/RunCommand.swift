import ArgumentParser
import Dispatch
import Foundation
import SeerTransport
import SeerAgent
import SeerData
import SeerWire

/// `seer-agent run`: registers with a coordinator and runs its jobs until killed.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve a Seer coordinator: register under a device key, run its jobs one at a time, heartbeat.",
        discussion: """
            CURVE is the default: --keys is this agent's key directory (seer-agent keygen), --server-key the \
            coordinator's public.key. --plain turns security off (the coordinator must be --plain too). \
            SIGINT/SIGTERM send DISCONNECT and exit 0; a coordinator that refuses the agent (unauthorized, \
            unsupported version) makes it exit 3. Executors: \(ExecutorRegistry.shared.names.joined(separator: ", ")). \
            With --deploy-dir the agent installs the models the coordinator deploys (checksum, validation batch, \
            atomic swap of DIR/current). With --profiles it watches the battery (/sys/class/power_supply, or \
            --battery-file / --battery-command / --power-supply) and reports profile changes, which trigger redeploys.
            """)

    @Option(help: "Coordinator endpoint, e.g. tcp://coordinator:5555.")
    var coordinator: String

    @Option(help: "Device key this agent measures for, e.g. cpu-x86; jobs are matched on it.")
    var key: String

    @Option(help: "Agent id, unique in the fleet (default: HOSTNAME-PID).")
    var id: String?

    @Option(help: "Executor: \(ExecutorRegistry.shared.names.joined(separator: ", ")).")
    var executor: String

    @Option(help: "Program the command executor runs per job (job JSON on stdin, result JSON on stdout).")
    var command: String?

    @Option(help: "An argument for --command (repeatable, in order).")
    var commandArg: [String] = []

    @Option(help: "An executor setting KEY=VALUE (repeatable).")
    var executorOption: [String] = []

    @Option(help: "This agent's key directory with public.key and secret.key (CURVE).")
    var keys: String?

    @Option(help: "File with the coordinator's public key (its public.key).")
    var serverKey: String?

    @Flag(help: "Plain TCP without CURVE (the coordinator must be --plain too).")
    var plain = false

    @Option(help: "Heartbeat interval in milliseconds (must match the coordinator's).")
    var heartbeatMs = SeerProtocol.heartbeatIntervalMs

    @Option(help: "Missed heartbeat intervals before the coordinator counts as lost.")
    var liveness = SeerProtocol.heartbeatLiveness

    @Option(help: "Deploy directory: install deployed models here (current/previous links, releases/).")
    var deployDir: String?

    @OptionGroup var battery: BatteryOptions

    @Flag(help: "Log only errors.")
    var quiet = false

    private static func isValidID(_ text: String) -> Bool {
        (try? WireCodec.encode(.heartbeat(HeartbeatBody(jobID: text)))) != nil
    }

    private var agentID: String {
        if let id { return id }
        // gethostname, not ProcessInfo.hostName, which may block on DNS.
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let short = host.split(separator: ".").first.map(String.init) ?? ""
        return "\(short.isEmpty ? "agent" : short)-\(getpid())"
    }

    func validate() throws {
        guard coordinator.hasPrefix("tcp://") || coordinator.hasPrefix("ipc://") else {
            throw ValidationError("--coordinator must be a tcp:// or ipc:// endpoint (got \(coordinator))")
        }
        guard Self.isValidID(key) else { throw ValidationError("--key must be 1 to 255 bytes without control characters") }
        if let id {
            guard Self.isValidID(id), id.utf8.first != 0 else {
                throw ValidationError("--id must be 1 to 255 bytes without control characters")
            }
        }
        guard ExecutorRegistry.shared.names.contains(executor) else {
            throw ValidationError("unknown --executor \(executor); choose one of \(ExecutorRegistry.shared.names.joined(separator: ", "))")
        }
        if executor == "command" {
            guard let command, !command.isEmpty else { throw ValidationError("--executor command needs --command PROG") }
        } else if command != nil || !commandArg.isEmpty {
            throw ValidationError("--command and --command-arg only apply to --executor command")
        }
        for option in executorOption where !option.contains("=") {
            throw ValidationError("--executor-option must be KEY=VALUE (got \(option))")
        }
        if plain {
            guard keys == nil && serverKey == nil else {
                throw ValidationError("--plain turns CURVE off; do not combine it with --keys or --server-key")
            }
        } else {
            guard keys != nil else { throw ValidationError("--keys DIR is required (CURVE is the default; --plain turns it off)") }
            guard serverKey != nil else { throw ValidationError("--server-key FILE (the coordinator's public key) is required with CURVE") }
        }
        guard (10...60_000).contains(heartbeatMs) else {
            throw ValidationError("--heartbeat-ms must be in 10...60000 (got \(heartbeatMs))")
        }
        guard (1...100).contains(liveness) else { throw ValidationError("--liveness must be in 1...100 (got \(liveness))") }
        if battery.profiles == nil && (battery.batteryFile != nil || battery.batteryCommand != nil || battery.powerSupply != nil) {
            throw ValidationError("--battery-file, --battery-command and --power-supply need --profiles SPEC to map readings to profiles")
        }
        guard battery.batteryIntervalMs >= 10 else {
            throw ValidationError("--battery-interval-ms must be at least 10 (got \(battery.batteryIntervalMs))")
        }
        if let deployDir, deployDir.isEmpty { throw ValidationError("--deploy-dir must name a directory") }
    }

    func run() throws {
        let name = agentID
        let quiet = self.quiet
        let log: @Sendable (String) -> Void = { line in
            if quiet { return }
            FileHandle.standardError.write(Data("seer-agent[\(name)]: \(line)\n".utf8))
        }
        var settingsOptions: [String: String] = [:]
        for option in executorOption {
            let parts = option.split(separator: "=", maxSplits: 1)
            settingsOptions[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let settings = ExecutorSettings(deviceKey: key, command: command.map { [$0] + commandArg } ?? [],
                                        options: settingsOptions)
        let jobExecutor = try ExecutorRegistry.shared.make(executor, settings: settings)
        let security: AgentSecurity
        if plain {
            security = .plain
        } else {
            security = .curve(keys: try CurveKeyFiles.loadPair(from: keys!),
                              serverKey: try CurveKeyFiles.loadKey(file: serverKey!, role: "coordinator public key"))
        }
        let session = AgentSessionConfiguration(heartbeatIntervalMs: Int64(heartbeatMs), liveness: liveness)
        var ready = AgentWorker.makeReady(agentID: name, deviceKey: key, executor: jobExecutor)
        var deployer: ModelInstaller?
        if let deployDir {
            let directory = try DeployDirectory(url: URL(fileURLWithPath: deployDir))
            if !directory.removedLeftovers.isEmpty {
                log("removed leftovers of an interrupted install: \(directory.removedLeftovers.joined(separator: ", "))")
            }
            deployer = ModelInstaller(directory: directory, agentID: name,
                                      dataSpec: try DataSpec.agentOptions(settingsOptions), log: log)
            if !ready.capabilities.contains("deploy") { ready.capabilities.append("deploy") }
        }
        // The battery is watched only when --profiles is given: most measuring hosts have none.
        let watch = battery.profiles == nil ? nil : (try battery.source(), try battery.watcher())
        let exit = try Self.serve(ready: ready, executor: jobExecutor, deployer: deployer, battery: watch,
                                  options: AgentOptions(coordinator: coordinator, security: security, session: session, log: log))
        if case let .refused(code, reason) = exit {
            FileHandle.standardError.write(Data("seer-agent[\(name)]: refused by the coordinator (\(code.rawValue)): \(reason)\n".utf8))
            throw ExitCode(3)
        }
    }

    /// Runs the worker until a signal or a refusal; the worker (and its ZeroMQ context, which flushes the
    /// final DISCONNECT) is released before this returns.
    private static func serve(ready: ReadyBody, executor: any Executor, deployer: (any Deployer)?,
                              battery: (BatterySource, BatteryWatcher)?, options: AgentOptions) throws -> AgentExit {
        let worker = try AgentWorker(ready: ready, executor: executor, options: options, deployer: deployer)
        let poller = battery.map { source, watcher in
            BatteryPoller(source: source, watcher: watcher, log: options.log) { [weak worker] report in
                worker?.reportProfile(report.profile, capacityPercent: report.reading.capacityPercent,
                                      status: report.reading.status)
            }
        }
        poller?.start()
        defer { poller?.stop() }
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)  // delivered to the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak worker] in worker?.stop() }
            source.resume()
            sources.append(source)
        }
        let exit = worker.run()
        sources.forEach { $0.cancel() }
        return exit
    }
}
