import Foundation
import XCTest
import SeerAgent
import SeerCoordinator
import SeerTransport
import SeerWire

/// Real agent (and coordinator) processes on loopback for the fabric tests, cleaned up in `shutdown()`.
///
/// The executables come from `SEER_BIN_DIR` if set, else from the directory of the running test
/// bundle (where `swift test` builds them), else `<package>/.build/release` or `/debug`, whichever
/// is newer. Build them first: `swift build --scratch-path .build-fab` then
/// `SEER_BIN_DIR=.build-fab/debug swift test --scratch-path .build-fab --filter SeerFabricTests`.
final class Fabric {
    let directory: URL
    let bin: URL
    private(set) var processes: [(name: String, process: Process, log: URL)] = []
    private let brokerLog = LockedLines()

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func binDirectory() throws -> URL {
        let manager = FileManager.default
        func hasProducts(_ url: URL) -> Bool {
            manager.isExecutableFile(atPath: url.appendingPathComponent("seer-agent").path)
                && manager.isExecutableFile(atPath: url.appendingPathComponent("seer-coordinator").path)
        }
        if let path = ProcessInfo.processInfo.environment["SEER_BIN_DIR"], !path.isEmpty {
            let url = URL(fileURLWithPath: path, relativeTo: packageRoot)
            guard hasProducts(url) else { throw FabricError("SEER_BIN_DIR=\(path) has no seer-agent and seer-coordinator") }
            return url
        }
        var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        let bundle = Bundle.main.bundleURL
        candidates.append(bundle.deletingLastPathComponent())
        candidates.append(bundle)
        if let found = candidates.first(where: hasProducts) { return found }
        // Newest of the two standard build directories (make test builds release first).
        let standard = ["release", "debug"].map { packageRoot.appendingPathComponent(".build").appendingPathComponent($0) }
            .filter(hasProducts)
        func modified(_ url: URL) -> Date {
            ((try? manager.attributesOfItem(atPath: url.appendingPathComponent("seer-agent").path))?[.modificationDate] as? Date)
                ?? .distantPast
        }
        guard let newest = standard.max(by: { modified($0) < modified($1) }) else {
            throw FabricError("no seer-agent/seer-coordinator found: build them (swift build) or set SEER_BIN_DIR")
        }
        return newest
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-fabric-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        bin = try Self.binDirectory()
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A key pair written as DIR/public.key + DIR/secret.key.
    @discardableResult
    func keys(_ name: String) throws -> CurveKeyPair {
        try CurveKeyFiles.generate(into: path(name), force: false)
    }

    /// Lines the in-process broker logged (for failure messages).
    var brokerLines: [String] { brokerLog.lines }

    /// An in-process broker on an ephemeral loopback port.
    func broker(security: BrokerSecurity, heartbeatMs: Int64 = 200, liveness: Int = 3, maxAttempts: Int = 3,
                database: String = "seer.sqlite", endpoint: String = "tcp://127.0.0.1:*") throws -> Broker {
        let store = try SeerStore(path: path(database))
        let lines = brokerLog
        let broker = try Broker(store: store, options: BrokerOptions(
            endpoint: endpoint, security: security,
            configuration: BrokerConfiguration(heartbeatIntervalMs: heartbeatMs, liveness: liveness, defaultMaxAttempts: maxAttempts),
            log: { lines.append($0) }))
        broker.start()
        return broker
    }

    /// Starts a process of `product` with `arguments` (and `environment` added to this process's); stdout and
    /// stderr go to a log file.
    @discardableResult
    func launch(_ name: String, product: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        try launch(name, executable: bin.appendingPathComponent(product), arguments, environment: environment)
    }

    /// `launch` for any program (the Python runtime agent).
    @discardableResult
    func launch(_ name: String, executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        }
        let log = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.append((name, process, log))
        return process
    }

    /// Starts `seer-agent run` as agent `id` for `deviceKey`.
    @discardableResult
    func agent(_ id: String, deviceKey: String, endpoint: String, keys: String?, serverKey: String?,
               heartbeatMs: Int = 200, executor: [String] = ["--executor", "null"]) throws -> Process {
        var arguments = ["run", "--coordinator", endpoint, "--key", deviceKey, "--id", id, "--heartbeat-ms", "\(heartbeatMs)"]
            + executor
        if let keys, let serverKey {
            arguments += ["--keys", path(keys), "--server-key", path(serverKey) + "/public.key"]
        } else {
            arguments += ["--plain"]
        }
        return try launch(id, product: "seer-agent", arguments)
    }

    func log(of name: String) -> String {
        guard let entry = processes.first(where: { $0.name == name }) else { return "" }
        return (try? String(contentsOf: entry.log, encoding: .utf8)) ?? ""
    }

    /// All process logs and the broker's, for a failure message.
    var diagnostics: String {
        (processes.map { "--- \($0.name):\n" + log(of: $0.name).suffix(3_000) } + ["--- broker:\n" + brokerLines.suffix(60).joined(separator: "\n")])
            .joined(separator: "\n")
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
    @discardableResult
    func waitUntil(_ timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    /// SIGKILLs every process still running and removes the temporary directory.
    func shutdown() {
        for entry in processes where entry.process.isRunning {
            kill(entry.process.processIdentifier, SIGKILL)
        }
        for entry in processes { entry.process.waitUntilExit() }
        try? FileManager.default.removeItem(at: directory)
    }
}

struct FabricError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Log lines from the broker thread.
final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []

    func append(_ line: String) {
        lock.lock()
        storage.append(line)
        if storage.count > 5_000 { storage.removeFirst(1_000) }
        lock.unlock()
    }

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}

/// A null job that sleeps `sleepMs` on the agent.
func nullJob(_ deviceKey: String, sleepMs: Int = 0, totalMs: Int = 20_000, maxAttempts: Int? = nil, id: String? = nil) -> JobRequest {
    JobRequest(deviceKey: deviceKey, kind: .null,
               payload: JobPayload(model: "null", policy: [:], timeouts: JobTimeouts(totalMs: totalMs),
                                   options: sleepMs > 0 ? ["sleep_ms": .number(Double(sleepMs))] : nil),
               maxAttempts: maxAttempts, id: id)
}

/// A test case with a fresh `Fabric` (its own folder and processes) per test, shut down after it.
class FabricTestCase: XCTestCase {
    var fabric: Fabric!

    override func setUpWithError() throws { fabric = try Fabric() }

    override func tearDown() {
        fabric?.shutdown()
        fabric = nil
    }
}
