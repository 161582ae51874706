import Foundation
import SeerWire

/// One look at the battery: charge and whether external power is feeding it.
public struct BatteryReading: Equatable, Sendable, CustomStringConvertible {
    /// Charge in percent, 0...100 (a mean over several batteries may be fractional).
    public let capacityPercent: Double
    /// Charging, discharging, full, not charging or unknown, as the PROFILE message spells it.
    public let status: BatteryStatus

    /// A reading; a capacity outside 0...100 (or not finite) is an error, never clamped.
    public init(capacityPercent: Double, status: BatteryStatus) throws(BatteryError) {
        guard capacityPercent.isFinite, (0...100).contains(capacityPercent) else {
            throw .badField(source: "battery reading", field: "capacity",
                            reason: "\(capacityPercent) is outside 0...100")
        }
        self.capacityPercent = capacityPercent
        self.status = status
    }

    /// True while external power feeds the device: the battery is then no reason to save energy.
    ///
    /// `not_charging` counts: laptops with a charge limit sit plugged in at, say, 80% with that status.
    public var onExternalPower: Bool { status == .charging || status == .full || status == .notCharging }

    public var description: String {
        "\(BatteryReading.format(capacityPercent))% \(status.rawValue)"
    }

    /// A percentage without a pointless ".0".
    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// Why the battery could not be read; every case names the file, command or field at fault.
public enum BatteryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The sysfs directory lists no battery (`supplies` is what it does list, as "NAME (Type)").
    case noBattery(directory: String, supplies: [String])
    /// A file or directory could not be read at all.
    case unreadable(path: String, reason: String)
    /// A field is missing, given twice or has a value that is not allowed.
    case badField(source: String, field: String, reason: String)
    /// Content that is not the battery format at all (a line without "=", binary junk, too large).
    case malformed(source: String, reason: String)
    /// The battery command could not start, failed, hung or printed too much.
    case commandFailed(command: String, reason: String)

    public var description: String {
        switch self {
        case let .noBattery(directory, supplies):
            let seen = supplies.isEmpty ? "it is empty" : "it has only \(supplies.joined(separator: ", "))"
            return "no battery under \(directory) (\(seen)); on a device without a battery use "
                + "--battery-file FILE or --battery-command CMD"
        case let .unreadable(path, reason):
            return "cannot read \(path): \(reason)"
        case let .badField(source, field, reason):
            return "\(source): \(field): \(reason)"
        case let .malformed(source, reason):
            return "\(source): \(reason)"
        case let .commandFailed(command, reason):
            return "battery command \(command): \(reason)"
        }
    }
}

/// The text format of `--battery-file` and of `--battery-command` output.
///
/// Lines of `KEY=VALUE`; blank lines and lines starting with `#` are ignored. Keys are case-insensitive:
/// `capacity` (or sysfs uevent's `POWER_SUPPLY_CAPACITY`): 0 to 100, decimals allowed, required;
/// `status` (or `POWER_SUPPLY_STATUS`): charging, discharging, full, not_charging, unknown in any case,
/// "Not charging" as sysfs writes it too; `unknown` when absent. Other `POWER_SUPPLY_*` keys are ignored
/// so a copied uevent file works as is; any other key is an error, so a typo is not silently dropped.
public enum BatteryTextFormat {
    /// Largest input accepted; a battery file is a few dozen bytes.
    public static let maxBytes = 64 * 1024

    /// Parses `text`; errors name `source` (a path or the command) and the field.
    public static func parse(_ text: String, source: String) throws(BatteryError) -> BatteryReading {
        var capacity: (value: String, line: Int)?
        var status: (value: String, line: Int)?
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = offset + 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw .malformed(source: source, reason: "line \(lineNumber) is not KEY=VALUE: \(quoted(line))")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "capacity", "power_supply_capacity":
                if let earlier = capacity {
                    throw .badField(source: source, field: "capacity",
                                    reason: "given twice (lines \(earlier.line) and \(lineNumber))")
                }
                capacity = (value, lineNumber)
            case "status", "power_supply_status":
                if let earlier = status {
                    throw .badField(source: source, field: "status",
                                    reason: "given twice (lines \(earlier.line) and \(lineNumber))")
                }
                status = (value, lineNumber)
            default:
                if key.hasPrefix("power_supply_") { continue }
                throw .badField(source: source, field: quoted(String(line[..<equals])),
                                reason: "unknown key on line \(lineNumber); expected capacity and status")
            }
        }
        guard let capacity else {
            throw .badField(source: source, field: "capacity", reason: "missing (expected a line capacity=0..100)")
        }
        let percent = try parsePercent(capacity.value, source: source, field: "capacity")
        let parsedStatus = try status.map { entry throws(BatteryError) in
            try parseStatus(entry.value, source: source, field: "status")
        } ?? .unknown
        return try BatteryReading(capacityPercent: percent, status: parsedStatus)
    }

    /// A plain decimal in 0...100: no sign, exponent, hex, "%" or "nan", which `Double(_:)` would let through.
    static func parsePercent(_ text: String, source: String, field: String) throws(BatteryError) -> Double {
        guard let value = plainDecimal(text) else {
            throw .badField(source: source, field: field, reason: "\(quoted(text)) is not a number from 0 to 100")
        }
        guard value <= 100 else {
            throw .badField(source: source, field: field, reason: "\(text) is outside 0...100")
        }
        return value
    }

    /// Digits with at most one decimal point ("57", "57.5", ".5"): no sign, exponent, "inf" or "nan" that `Double`
    /// would also accept.
    static func plainDecimal(_ text: String) -> Double? {
        let isDigit: (Character) -> Bool = { ("0"..."9").contains($0) }
        guard text.allSatisfy({ isDigit($0) || $0 == "." }), text.filter({ $0 == "." }).count <= 1,
              text.contains(where: isDigit) else { return nil }
        return Double(text)
    }

    /// A status in the PROFILE spelling or the kernel's ("Not charging").
    static func parseStatus(_ text: String, source: String, field: String) throws(BatteryError) -> BatteryStatus {
        let normalized = text.lowercased().replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_")
        guard let status = BatteryStatus(rawValue: normalized) else {
            let allowed = BatteryStatus.allCases.map(\.rawValue).joined(separator: ", ")
            throw .badField(source: source, field: field, reason: "\(quoted(text)) is not one of \(allowed)")
        }
        return status
    }

    /// Reads and parses a battery file.
    public static func read(contentsOf url: URL) throws(BatteryError) -> BatteryReading {
        let text = try readSmallFile(url)
        return try parse(text, source: url.path)
    }

    /// The whole file as text; sizes beyond `maxBytes` are refused rather than read (a wrong path to a big file).
    static func readSmallFile(_ url: URL) throws(BatteryError) -> String {
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw .unreadable(path: url.path, reason: describe(error))
        }
        guard data.count <= maxBytes else {
            throw .malformed(source: url.path, reason: "larger than \(maxBytes) bytes; not a battery file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .malformed(source: url.path, reason: "not UTF-8 text")
        }
        return text
    }

    /// A Foundation error as its reason alone ("No such file or directory"), not the whole NSError dump.
    static func describe(_ error: Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
        if nsError.domain == NSCocoaErrorDomain {
            switch nsError.code {
            case NSFileReadNoSuchFileError, NSFileNoSuchFileError: return "No such file or directory"
            case NSFileReadNoPermissionError: return "Permission denied"
            default: break
            }
        }
        return nsError.localizedDescription
    }

    /// Text in quotes with control characters escaped, cut at 80 characters: error messages stay one clean line.
    static func quoted(_ text: String) -> String {
        CommandExecutor.printable(Array(text.utf8), limit: 80)
    }
}
