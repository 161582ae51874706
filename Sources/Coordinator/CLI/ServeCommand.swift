import ArgumentParser
import Dispatch
import Foundation
import SeerTransport
import SeerCoordinator
import SeerWeb
import SeerWire

/// `seer-coordinator serve`: runs the job broker; with `--null-jobs N`, a self-contained fabric check and benchmark.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the job broker: agents register, jobs are dispatched, results land in the database.",
        discussion: """
            CURVE is the default: --keys is the coordinator's key directory (seer-coordinator keygen) and --allow a \
            file of agent public keys (one per line) or a directory of *.key files. --plain turns security off. \
            Without --null-jobs the broker serves until SIGINT/SIGTERM, then tells agents DISCONNECT and exits 0; \
            meanwhile it runs the campaigns submitted to it (`campaign run|resume|stop` with the same --db; see \
            docs/SERVICE.md), carries on after a restart with those it had not finished, and redeploys: an agent's \
            PROFILE (battery change) or `seer-coordinator redeploy` sends that profile's model from --campaign (default: the newest campaign with profiles for the agent's device key). \
            With --null-jobs N it waits for --wait-agents agents of --key, submits N null jobs (each sleeping \
            --sleep-ms on the agent), waits for them, prints one JSON summary line and exits (0 if all succeeded).
            """)

    @Option(help: "Endpoint to bind; port 0 or * picks a free port (see --endpoint-file).")
    var bind = "tcp://127.0.0.1:5555"

    @Option(help: "Coordinator key directory with public.key and secret.key (CURVE).")
    var keys: String?

    @Option(help: "Agent public keys allowed in: a file with one Z85 key per line, or a directory of *.key files.")
    var allow: String?

    @Option(help: "SQLite database for jobs, results and agents (created if missing).")
    var db = "seer.sqlite"

    @Flag(help: "Plain TCP without CURVE or an allow-list (tests and closed lab networks only).")
    var plain = false

    @Option(help: "Heartbeat interval in milliseconds.")
    var heartbeatMs = SeerProtocol.heartbeatIntervalMs

    @Option(help: "Missed heartbeat intervals before an agent is expired.")
    var liveness = SeerProtocol.heartbeatLiveness

    @Option(help: "Dispatches per job before it fails with its last error.")
    var maxAttempts = 3

    @Option(help: "Write the bound endpoint (with the real port) to this file once listening.")
    var endpointFile: String?

    @Option(help: "Submit this many null jobs, wait for them, print a JSON summary and exit.")
    var nullJobs = 0

    @Option(help: "Device key of the null jobs.")
    var key: String?

    @Option(help: "How long each null job sleeps on the agent, in milliseconds.")
    var sleepMs = 0

    @Option(help: "Agents of --key to wait for before submitting the null jobs.")
    var waitAgents = 1

    @Option(help: "Seconds to wait for the agents and then for the null jobs.")
    var timeoutS = 300.0

    @Option(help: "With --null-jobs: create this file when the jobs are submitted (benchmarks measure from then on).")
    var startedFile: String?

    @Option(help: "Campaign whose profile models are deployed (default: the newest one with profiles for the device key).")
    var campaign: String?

    @Option(help: "Serve the live web view (fleet, campaigns, jobs, deployments; JSON at /api/dashboard, Prometheus text at /metrics) on HOST:PORT, e.g. 127.0.0.1:8080; port 0 picks a free one (see --http-endpoint-file).")
    var http: String?

    @Option(help: "With --http: write the web view's URL to this file once it listens.")
    var httpEndpointFile: String?

    @Flag(help: "Log only errors.")
    var quiet = false

    func validate() throws {
        guard bind.hasPrefix("tcp://") || bind.hasPrefix("ipc://") else {
            throw ValidationError("--bind must be a tcp:// or ipc:// endpoint (got \(bind))")
        }
        if plain {
            guard keys == nil && allow == nil else {
                throw ValidationError("--plain turns CURVE off; do not combine it with --keys or --allow")
            }
        } else {
            guard keys != nil else { throw ValidationError("--keys DIR is required (CURVE is the default; --plain turns it off)") }
            guard allow != nil else { throw ValidationError("--allow FILE_OR_DIR of agent public keys is required with CURVE") }
        }
        guard (10...60_000).contains(heartbeatMs) else {
            throw ValidationError("--heartbeat-ms must be in 10...60000 (got \(heartbeatMs))")
        }
        guard (1...100).contains(liveness) else { throw ValidationError("--liveness must be in 1...100 (got \(liveness))") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1 (got \(maxAttempts))") }
        guard !db.isEmpty else { throw ValidationError("--db must name a file") }
        guard nullJobs >= 0 else { throw ValidationError("--null-jobs must be >= 0 (got \(nullJobs))") }
        if nullJobs > 0 {
            guard let key else { throw ValidationError("--null-jobs needs --key DEVICE_KEY") }
            guard (try? WireCodec.encode(.heartbeat(HeartbeatBody(jobID: key)))) != nil else {
                throw ValidationError("--key must be 1 to 255 bytes without control characters")
            }
        }
        guard sleepMs >= 0 else { throw ValidationError("--sleep-ms must be >= 0 (got \(sleepMs))") }
        guard waitAgents >= 0 else { throw ValidationError("--wait-agents must be >= 0 (got \(waitAgents))") }
        guard timeoutS > 0 else { throw ValidationError("--timeout-s must be positive (got \(timeoutS))") }
        if let http {
            do { _ = try WebAddress(parsing: http) } catch { throw ValidationError("\(error)") }
        } else if httpEndpointFile != nil {
            throw ValidationError("--http-endpoint-file needs --http HOST:PORT")
        }
    }

    func run() throws {
        let quiet = self.quiet
        let log: @Sendable (String) -> Void = { line in
            if quiet { return }
            FileHandle.standardError.write(Data("seer-coordinator: \(line)\n".utf8))
        }
        let security: BrokerSecurity
        if plain {
            security = .plain
        } else {
            security = .curve(serverKeys: try CurveKeyFiles.loadPair(from: keys!),
                              allowedAgentKeys: try CurveKeyFiles.loadAllowList(allow!))
        }
        let configuration = BrokerConfiguration(heartbeatIntervalMs: Int64(heartbeatMs), liveness: liveness,
                                                defaultMaxAttempts: maxAttempts)
        // With --null-jobs it is a benchmark that takes no campaigns, and its lock says so to `campaign run`.
        let service = try CoordinatorService(
            database: db, command: nullJobs > 0 ? "serve --null-jobs" : "serve",
            broker: BrokerOptions(endpoint: bind, security: security, configuration: configuration, log: log),
            http: try http.map { try WebAddress(parsing: $0) }, deployCampaign: campaign, log: log)
        defer { service.close() }
        let broker = service.broker
        log("listening on \(broker.endpoint) (\(plain ? "plain TCP" : "CURVE")), database \(db)")
        if let endpointFile {
            try broker.endpoint.write(toFile: endpointFile, atomically: true, encoding: .utf8)
        }
        if nullJobs > 0 {
            let succeeded = try runNullJobs(broker: broker, store: service.store, log: log)
            broker.stop()
            if let failure = broker.failure { throw failure }
            if !succeeded { throw ExitCode(1) }
            return
        }
        if let httpEndpointFile, let url = service.webURL {
            try url.write(toFile: httpEndpointFile, atomically: true, encoding: .utf8)
        }
        let stop = Self.terminationFlag()
        // Also ends when the broker stopped by itself (a store write failed): exit non-zero, naming why.
        try service.serve(until: { stop.isSet })
    }

    /// Set once SIGINT or SIGTERM arrives.
    final class StopFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
        func set() { lock.lock(); value = true; lock.unlock() }
    }

    /// A flag set by the first SIGINT or SIGTERM, which no longer end the process.
    static func terminationFlag() -> StopFlag {
        let flag = StopFlag()
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)  // delivered to the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { flag.set() }
            source.resume()
            signalSources.append(source)
        }
        return flag
    }

    nonisolated(unsafe) private static var signalSources: [DispatchSourceSignal] = []

    /// User + system CPU time of this process so far.
    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Submits the null jobs and prints the summary; true if all of them succeeded.
    private func runNullJobs(broker: Broker, store: SeerStore, log: @escaping @Sendable (String) -> Void) throws -> Bool {
        let key = self.key!
        let waitStart = Date()
        while broker.agents().filter({ $0.deviceKey == key }).count < waitAgents {
            guard Date().timeIntervalSince(waitStart) < timeoutS else {
                throw ValidationError("only \(broker.agents().filter { $0.deviceKey == key }.count) of \(waitAgents) agents of \(key) registered within \(timeoutS) s")
            }
            usleep(20_000)
        }
        let agents = max(broker.agents().filter { $0.deviceKey == key }.count, 1)
        var options: [String: JSONValue]?
        if sleepMs > 0 { options = ["sleep_ms": .number(Double(sleepMs))] }
        // A deadline well past the sleep, so only a dead or stuck agent trips it.
        let payload = JobPayload(model: "null", policy: [:], timeouts: JobTimeouts(totalMs: max(60_000, sleepMs * 10)),
                                 options: options)
        let request = JobRequest(deviceKey: key, kind: .null, payload: payload, maxAttempts: maxAttempts)
        let start = Date()
        let cpuStart = Self.processCPUSeconds()
        let ids = try broker.submit(Array(repeating: request, count: nullJobs))
        if let startedFile { _ = FileManager.default.createFile(atPath: startedFile, contents: Data()) }
        let outcomes = broker.waitForCompletion(jobIDs: ids, timeout: timeoutS)
        let seconds = Date().timeIntervalSince(start)
        let cpuSeconds = Self.processCPUSeconds() - cpuStart
        var done = 0, failed = 0, attempts = 0
        var busyMs = 0.0
        var errors: [String: Int] = [:]
        for outcome in outcomes.values {
            attempts += outcome.attempts
            switch outcome {
            case let .done(result, _, _):
                done += 1
                busyMs += result.timingsMs["total"] ?? 0
            case let .failed(code, _, _):
                failed += 1
                errors[code.rawValue, default: 0] += 1
            }
        }
        let counts = try store.stateCounts()
        // Dispatch-to-answer time as the broker saw it, minus the executors' own time: the fabric's per-job overhead.
        let brokerBusyMs = Double(broker.agents().filter { $0.deviceKey == key }.reduce(Int64(0)) { $0 + $1.busyMs })
        let summary: [String: Any] = [
            "jobs": nullJobs, "done": done, "failed": failed, "unfinished": nullJobs - outcomes.count,
            "errors": errors, "attempts": attempts, "agents": agents, "device_key": key, "sleep_ms": sleepMs,
            "seconds": (seconds * 1_000).rounded() / 1_000,
            "jobs_per_s": seconds > 0 ? (Double(done) / seconds).rounded() : 0,
            // Executor time reported by the agents over the agents' available time.
            "utilization": seconds > 0 ? ((busyMs / 1_000 / (Double(agents) * seconds)) * 1_000).rounded() / 1_000 : 0,
            // This process's CPU time (all threads) for the jobs, so throughput on a loaded machine can be put in context.
            "coordinator_cpu_s": (cpuSeconds * 1_000).rounded() / 1_000,
            "coordinator_cpu_us_per_job": done > 0 ? (cpuSeconds * 1e6 / Double(done)).rounded() : 0,
            "overhead_ms_per_job": done > 0 ? (max(brokerBusyMs - busyMs, 0) / Double(done) * 1_000).rounded() / 1_000 : 0,
            "store": Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }),
            "security": plain ? "plain" : "curve", "endpoint": broker.endpoint,
        ]
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: json, as: UTF8.self))
        if done < nullJobs { log("\(nullJobs - done) of \(nullJobs) null jobs did not succeed") }
        return done == nullJobs
    }
}
