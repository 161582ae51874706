import ArgumentParser
import Foundation
import SeerAgent

/// Where the agent reads its battery and how it maps a reading to a power profile; any command can take these.
struct BatteryOptions: ParsableArguments {
    @Option(help: "Battery file (lines capacity=57 and status=discharging, or a sysfs uevent) instead of sysfs.")
    var batteryFile: String?

    @Option(help: "Shell command printing the battery file format on stdout, instead of sysfs.")
    var batteryCommand: String?

    @Option(help: "How long --battery-command may run, in milliseconds.")
    var batteryCommandTimeoutMs = BatterySource.defaultCommandTimeoutMs

    @Option(help: "Power-supply directory to read instead of /sys/class/power_supply.")
    var powerSupply: String?

    /// Optional so that `seer-agent run` can tell "watch the battery" (given) from the default list.
    @Option(help: ArgumentHelp("Profiles by battery capacity, highest threshold first; the first also applies on external power "
                               + "(default \(ProfileThresholds.defaultSpec)).",
                               valueName: "NAME@PERCENT,...,NAME"))
    var profiles: String?

    @Option(help: "Capacity points a threshold must be passed by before the profile changes.")
    var hysteresis = BatteryWatcher.defaultHysteresisPercent

    @Option(help: "Milliseconds between battery reads (run, battery --watch).")
    var batteryIntervalMs = BatteryWatcher.defaultPollIntervalMs

    @Option(help: "Milliseconds a new profile must hold before it is reported (run, battery --watch; 0: at once).")
    var batterySettleMs: Int64 = 0

    func validate() throws {
        _ = try source()
        _ = try watcher()
    }

    /// The battery source the flags name (sysfs by default).
    func source() throws -> BatterySource {
        do {
            return try BatterySource.fromOptions(file: batteryFile, command: batteryCommand, powerSupply: powerSupply,
                                                 commandTimeoutMs: batteryCommandTimeoutMs)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The profile list from --profiles.
    func thresholds() throws -> ProfileThresholds {
        do {
            return try ProfileThresholds(profiles ?? ProfileThresholds.defaultSpec)
        } catch {
            throw ValidationError("--profiles: \(error.message)")
        }
    }

    /// A watcher with these thresholds and timings.
    func watcher() throws -> BatteryWatcher {
        do {
            return try BatteryWatcher(thresholds: thresholds(), hysteresisPercent: hysteresis,
                                      settleMs: batterySettleMs, pollIntervalMs: batteryIntervalMs)
        } catch let error as ProfileThresholdsError {
            throw ValidationError(error.message)
        }
    }
}

/// `seer-agent battery`: what the battery reads now and which profile that means, to check a device's setup.
struct BatteryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "battery",
        abstract: "Show the battery reading and the power profile it maps to.",
        discussion: """
            Reads /sys/class/power_supply (batteries only; several are combined, weighted by size), a --battery-file \
            or the output of a --battery-command, and maps it through --profiles. With --watch it keeps polling and \
            prints each profile change as the agent would report it (with hysteresis), until interrupted. \
            See docs/DEPLOYMENT.md for the formats.
            """)

    @OptionGroup var battery: BatteryOptions

    @Flag(help: "Print one JSON object (source, capacity_percent, status, profile, profiles) instead of text.")
    var json = false

    @Flag(help: "Keep polling and print every profile change and read failure.")
    var watch = false

    func run() throws {
        let source = try battery.source()
        let thresholds = try battery.thresholds()
        if watch {
            try watchLoop(source: source)
            return
        }
        let reading = try source.read()  // a read error exits 1 with its message, not a usage error
        let profile = thresholds.profile(for: reading)
        if json {
            let object: [String: Any] = ["source": source.description, "capacity_percent": reading.capacityPercent,
                                         "status": reading.status.rawValue, "profile": profile,
                                         "profiles": thresholds.description]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("source:   \(source)")
            print("reading:  \(reading)")
            print("profiles: \(thresholds)\(reading.onExternalPower ? " (on external power: the first)" : "")")
            print("profile:  \(profile)")
        }
    }

    private func watchLoop(source: BatterySource) throws {
        var watcher = try battery.watcher()
        print("watching \(source) every \(watcher.pollIntervalMs) ms; profiles \(watcher.thresholds), "
              + "hysteresis \(String(format: "%g", watcher.hysteresisPercent)) points")
        while true {
            let now = Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
            if watcher.isDue(nowMs: now) {
                let outcome = Result { () throws(BatteryError) -> BatteryReading in try source.read() }
                switch watcher.observe(outcome, nowMs: now) {
                case let .report(report)?:
                    print("profile \(report.profile) (\(report.reading))"
                          + (report.previousProfile.map { ", was \($0)" } ?? ""))
                case let .readFailed(error)?:
                    print("read failed: \(error) (not repeated until it recovers)")
                case let .recovered(reading)?:
                    print("readable again: \(reading)")
                case nil:
                    break
                }
                fflush(stdout)
            }
            usleep(100_000)
        }
    }
}
