import Foundation
import SeerWire

/// Where battery readings come from: the kernel's power supplies, a stand-in file, or a program.
public enum BatterySource: Equatable, Sendable, CustomStringConvertible {
    /// Batteries under a sysfs power-supply directory (each entry with `type`, `capacity`, `status` files).
    case sysfs(root: URL = URL(fileURLWithPath: "/sys/class/power_supply"))
    /// A text file in `BatteryTextFormat`, for devices without a battery and for tests.
    case file(URL)
    /// A program printing `BatteryTextFormat` on stdout; killed (with its process group) after `timeoutMs`.
    case command([String], timeoutMs: Int = BatterySource.defaultCommandTimeoutMs)

    /// How long a battery command may take: a poll must not stall the agent.
    public static let defaultCommandTimeoutMs = 5_000
    /// Most stdout a battery command may print.
    public static let maxCommandOutputBytes = BatteryTextFormat.maxBytes

    /// The source chosen by the CLI flags: at most one of file, shell command, power-supply directory; sysfs by default.
    public static func fromOptions(file: String?, command: String?, powerSupply: String?,
                                   commandTimeoutMs: Int = defaultCommandTimeoutMs) throws(BatteryError) -> BatterySource {
        let given = [file.map { _ in "--battery-file" }, command.map { _ in "--battery-command" },
                     powerSupply.map { _ in "--power-supply" }].compactMap { $0 }
        guard given.count <= 1 else {
            throw .malformed(source: "battery options", reason: "give at most one of \(given.joined(separator: ", "))")
        }
        if let file {
            guard !file.isEmpty else { throw .malformed(source: "--battery-file", reason: "must name a file") }
            return .file(URL(fileURLWithPath: file))
        }
        if let command {
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw .malformed(source: "--battery-command", reason: "must name a command")
            }
            guard commandTimeoutMs > 0 else {
                throw .malformed(source: "battery command timeout", reason: "must be positive, got \(commandTimeoutMs) ms")
            }
            // One string, as an operator writes it (pipes included), run by the shell.
            return .command(["/bin/sh", "-c", command], timeoutMs: commandTimeoutMs)
        }
        if let powerSupply {
            guard !powerSupply.isEmpty else { throw .malformed(source: "--power-supply", reason: "must name a directory") }
            return .sysfs(root: URL(fileURLWithPath: powerSupply))
        }
        return .sysfs()
    }

    public var description: String {
        switch self {
        case let .sysfs(root): return "power supplies under \(root.path)"
        case let .file(url): return "battery file \(url.path)"
        case let .command(argv, _): return "battery command \(BatterySource.commandLine(argv))"
        }
    }

    /// Reads the battery now; blocks for at most the command's timeout.
    public func read() throws(BatteryError) -> BatteryReading {
        switch self {
        case let .sysfs(root): return try SysfsPowerSupply.read(root: root)
        case let .file(url): return try BatteryTextFormat.read(contentsOf: url)
        case let .command(argv, timeoutMs): return try BatterySource.run(argv, timeoutMs: timeoutMs)
        }
    }

    /// `sh -c 'x'` shows as the command itself: that is what the operator typed.
    static func commandLine(_ argv: [String]) -> String {
        if argv.count == 3, argv[0] == "/bin/sh", argv[1] == "-c" { return BatteryTextFormat.quoted(argv[2]) }
        return BatteryTextFormat.quoted(argv.joined(separator: " "))
    }

    private static func run(_ argv: [String], timeoutMs: Int) throws(BatteryError) -> BatteryReading {
        let name = commandLine(argv)
        guard let program = argv.first, !program.isEmpty else {
            throw .commandFailed(command: name, reason: "no program given")
        }
        let outcome: ChildProcess.Outcome
        do {
            outcome = try ChildProcess.run(argv: argv, input: [], timeoutMs: timeoutMs, cancel: nil,
                                           maxOutputBytes: maxCommandOutputBytes, stderrTailBytes: 512)
        } catch {
            throw .commandFailed(command: name, reason: error.message)
        }
        let stderrNote = outcome.stderrTail.isEmpty ? ""
            : "; stderr ends: \(CommandExecutor.printable(outcome.stderrTail, limit: 200))"
        if outcome.timedOut {
            throw .commandFailed(command: name, reason: "did not finish within \(timeoutMs) ms; its process group was killed")
        }
        switch outcome.status {
        case .exited(0): break
        case let .exited(status):
            throw .commandFailed(command: name, reason: "exited with status \(status)\(stderrNote)")
        case let .signaled(signal):
            throw .commandFailed(command: name, reason: "killed by \(CommandExecutor.signalName(signal))\(stderrNote)")
        }
        guard !outcome.stdoutTruncated else {
            throw .commandFailed(command: name, reason: "printed more than \(maxCommandOutputBytes) bytes")
        }
        guard let text = String(bytes: outcome.stdout, encoding: .utf8) else {
            throw .commandFailed(command: name, reason: "printed something that is not UTF-8 text: "
                                 + CommandExecutor.printable(outcome.stdout, limit: 80))
        }
        return try BatteryTextFormat.parse(text, source: "battery command \(name)")
    }
}

/// Linux's `/sys/class/power_supply`: one directory per supply, one value per file.
enum SysfsPowerSupply {
    /// One battery's files.
    struct Battery {
        var name: String
        var capacity: Double
        var status: BatteryStatus
        /// Design or last-full energy (uWh) or charge (uAh): how much this battery counts in the combined figure.
        var energyFull: Double?
        var chargeFull: Double?
    }

    static func read(root: URL) throws(BatteryError) -> BatteryReading {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        } catch {
            throw .unreadable(path: root.path, reason: BatteryTextFormat.describe(error))
        }
        var batteries: [Battery] = []
        var others: [String] = []
        for name in names where !name.hasPrefix(".") {
            let supply = root.appendingPathComponent(name)
            guard let type = value(supply, "type") else { continue }
            guard type == "Battery" else { others.append("\(name) (\(type))"); continue }
            // A wireless mouse's battery (scope Device) says nothing about this machine's power.
            if value(supply, "scope") == "Device" { others.append("\(name) (device battery)"); continue }
            // An empty battery bay.
            if value(supply, "present") == "0" { others.append("\(name) (not present)"); continue }
            batteries.append(try battery(name: name, at: supply))
        }
        guard !batteries.isEmpty else { throw .noBattery(directory: root.path, supplies: others) }
        return try BatteryReading(capacityPercent: combinedCapacity(batteries), status: combinedStatus(batteries))
    }

    private static func battery(name: String, at supply: URL) throws(BatteryError) -> Battery {
        let capacityPath = supply.appendingPathComponent("capacity").path
        guard let capacityText = value(supply, "capacity") else {
            throw .unreadable(path: capacityPath, reason: "missing or unreadable; battery \(name) reports no capacity")
        }
        let capacity = try BatteryTextFormat.parsePercent(capacityText, source: capacityPath, field: "capacity")
        let status = try value(supply, "status").map { text throws(BatteryError) in
            try BatteryTextFormat.parseStatus(text, source: supply.appendingPathComponent("status").path, field: "status")
        } ?? .unknown
        return Battery(name: name, capacity: capacity, status: status,
                       energyFull: value(supply, "energy_full").flatMap(Double.init).flatMap(positive),
                       chargeFull: value(supply, "charge_full").flatMap(Double.init).flatMap(positive))
    }

    private static func positive(_ value: Double) -> Double? { value.isFinite && value > 0 ? value : nil }

    /// Weighted by size when every battery tells it (a nearly empty big battery outweighs a full small one);
    /// the plain mean otherwise.
    static func combinedCapacity(_ batteries: [Battery]) -> Double {
        if batteries.count == 1 { return batteries[0].capacity }
        let weights: [Double]
        if batteries.allSatisfy({ $0.energyFull != nil }) {
            weights = batteries.map { $0.energyFull! }
        } else if batteries.allSatisfy({ $0.chargeFull != nil }) {
            weights = batteries.map { $0.chargeFull! }
        } else {
            weights = Array(repeating: 1, count: batteries.count)
        }
        let total = weights.reduce(0, +)
        let mean = zip(batteries, weights).map { $0.capacity * $1 }.reduce(0, +) / total
        // Rounding error must not carry a mean of values <= 100 past 100.
        return min(mean, batteries.map(\.capacity).max()!)
    }

    /// Charging if any battery charges (external power is present); discharging if any drains; full only if all are.
    static func combinedStatus(_ batteries: [Battery]) -> BatteryStatus {
        let statuses = batteries.map(\.status)
        if statuses.contains(.charging) { return .charging }
        if statuses.contains(.discharging) { return .discharging }
        if statuses.allSatisfy({ $0 == .full }) { return .full }
        if statuses.contains(.notCharging) { return .notCharging }
        // Some full, the rest unknown.
        return statuses.contains(.full) ? .full : .unknown
    }

    /// A sysfs attribute's trimmed text, nil when absent or unreadable (optional attributes vary by driver).
    private static func value(_ supply: URL, _ attribute: String) -> String? {
        // Read to EOF rather than by the file size: sysfs reports 4096 for every attribute.
        guard let handle = try? FileHandle(forReadingFrom: supply.appendingPathComponent(attribute)) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 4_097), data.count <= 4_096,
              let text = String(data: data, encoding: .utf8) else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
