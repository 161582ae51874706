import XCTest
@testable import SeerAgent
import SeerWire

/// Battery sources (sysfs, file, command), the profile list and the watcher's hysteresis.
final class BatteryTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-battery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A supply directory `name` with one file per attribute, as the kernel lays out /sys/class/power_supply.
    func supply(_ name: String, _ attributes: [String: String]) throws {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (attribute, value) in attributes {
            try (value + "\n").write(to: url.appendingPathComponent(attribute), atomically: true, encoding: .utf8)
        }
    }

    func file(_ text: String) throws -> URL {
        let url = directory.appendingPathComponent("battery-\(UUID().uuidString)")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func readError(_ source: BatterySource, file: StaticString = #filePath, line: UInt = #line) -> BatteryError? {
        do {
            let reading = try source.read()
            XCTFail("expected an error, read \(reading)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func reading(_ capacity: Double, _ status: BatteryStatus = .discharging) -> BatteryReading {
        try! BatteryReading(capacityPercent: capacity, status: status)
    }

    // MARK: sysfs

    func testSysfsReadsTheBatteryAndIgnoresMains() throws {
        try supply("AC", ["type": "Mains", "online": "1"])
        try supply("BAT0", ["type": "Battery", "capacity": "57", "status": "Discharging", "present": "1"])
        let reading = try BatterySource.sysfs(root: directory).read()
        XCTAssertEqual(reading, self.reading(57, .discharging))
    }

    func testSysfsNotChargingAndDeviceBatteries() throws {
        try supply("BAT0", ["type": "Battery", "capacity": "80", "status": "Not charging"])
        // A wireless mouse: scope Device, must not count.
        try supply("hidpp_battery_0", ["type": "Battery", "scope": "Device", "capacity": "5", "status": "Discharging"])
        XCTAssertEqual(try BatterySource.sysfs(root: directory).read(), reading(80, .notCharging))
    }

    func testSysfsCombinesBatteriesByEnergy() throws {
        try supply("BAT0", ["type": "Battery", "capacity": "100", "status": "Full", "energy_full": "30000000"])
        try supply("BAT1", ["type": "Battery", "capacity": "20", "status": "Charging", "energy_full": "10000000"])
        let combined = try BatterySource.sysfs(root: directory).read()
        XCTAssertEqual(combined.capacityPercent, 80, accuracy: 1e-9)  // (100*30 + 20*10) / 40
        XCTAssertEqual(combined.status, .charging)  // any charging means external power
    }

    func testSysfsMeanWithoutSizes() throws {
        try supply("BAT0", ["type": "Battery", "capacity": "70", "status": "Discharging"])
        try supply("BAT1", ["type": "Battery", "capacity": "40", "status": "Unknown"])
        XCTAssertEqual(try BatterySource.sysfs(root: directory).read(), reading(55, .discharging))
    }

    func testSysfsWithoutBatteryNamesTheDirectory() throws {
        try supply("AC", ["type": "Mains", "online": "1"])
        guard let error = readError(.sysfs(root: directory)) else { return }
        XCTAssertEqual(error, .noBattery(directory: directory.path, supplies: ["AC (Mains)"]))
        XCTAssertTrue(error.description.contains(directory.path), error.description)
        XCTAssertTrue(error.description.contains("--battery-file"), error.description)
    }

    func testSysfsMissingDirectory() {
        let missing = directory.appendingPathComponent("nope")
        guard let error = readError(.sysfs(root: missing)) else { return }
        XCTAssertTrue(error.description.contains(missing.path), error.description)
    }

    func testSysfsBadCapacityNamesTheFile() throws {
        try supply("BAT0", ["type": "Battery", "capacity": "140", "status": "Discharging"])
        guard let error = readError(.sysfs(root: directory)) else { return }
        let path = directory.appendingPathComponent("BAT0/capacity").path
        XCTAssertEqual(error, .badField(source: path, field: "capacity", reason: "140 is outside 0...100"))
    }

    func testSysfsBadStatusNamesTheFile() throws {
        try supply("BAT0", ["type": "Battery", "capacity": "40", "status": "Exploding"])
        guard let error = readError(.sysfs(root: directory)) else { return }
        XCTAssertTrue(error.description.contains("BAT0/status"), error.description)
        XCTAssertTrue(error.description.contains("Exploding"), error.description)
    }

    // MARK: file format

    func testFileShortFormat() throws {
        let url = try file("# stand-in battery\ncapacity=57\nstatus=discharging\n")
        XCTAssertEqual(try BatterySource.file(url).read(), reading(57, .discharging))
    }

    func testFileUeventFormat() throws {
        let url = try file("""
            POWER_SUPPLY_NAME=BAT0
            POWER_SUPPLY_TYPE=Battery
            POWER_SUPPLY_STATUS=Not charging
            POWER_SUPPLY_PRESENT=1
            POWER_SUPPLY_CAPACITY=81
            POWER_SUPPLY_ENERGY_NOW=40500000
            """)
        XCTAssertEqual(try BatterySource.file(url).read(), reading(81, .notCharging))
    }

    func testFileDecimalCapacityAndMissingStatus() throws {
        XCTAssertEqual(try BatterySource.file(try file("capacity = 17.5")).read(), reading(17.5, .unknown))
    }

    func testFileErrorsNameFileAndField() throws {
        let cases: [(String, String, String)] = [
            ("capacity=140\nstatus=full", "capacity", "140 is outside 0...100"),
            ("capacity=-3", "capacity", "not a number"),
            ("capacity=nan", "capacity", "not a number"),
            ("capacity=1e2", "capacity", "not a number"),
            ("capacity=57%", "capacity", "not a number"),
            ("capacity=", "capacity", "not a number"),
            ("status=charging", "capacity", "missing"),
            ("capacity=5\ncapacity=6", "capacity", "given twice (lines 1 and 2)"),
            ("capacity=5\nstatus=sleeping", "status", "\"sleeping\" is not one of"),
            ("capacty=5", "\"capacty\"", "unknown key on line 1"),
        ]
        for (text, field, reason) in cases {
            let url = try file(text)
            guard let error = readError(.file(url)) else { continue }
            guard case let .badField(source, actualField, actualReason) = error else {
                XCTFail("\(text): \(error)"); continue
            }
            XCTAssertEqual(source, url.path, text)
            XCTAssertEqual(actualField, field, text)
            XCTAssertTrue(actualReason.contains(reason), "\(text): \(actualReason)")
        }
    }

    func testFileGarbageAndMissing() throws {
        let url = try file("57\n")
        guard let garbage = readError(.file(url)) else { return }
        XCTAssertEqual(garbage, .malformed(source: url.path, reason: "line 1 is not KEY=VALUE: \"57\""))
        let missing = directory.appendingPathComponent("absent")
        guard let error = readError(.file(missing)) else { return }
        guard case let .unreadable(path, _) = error else { return XCTFail("\(error)") }
        XCTAssertEqual(path, missing.path)
    }

    func testReadingRefusesOutOfRangeInsteadOfClamping() {
        XCTAssertThrowsError(try BatteryReading(capacityPercent: 100.5, status: .full))
        XCTAssertThrowsError(try BatteryReading(capacityPercent: .nan, status: .full))
        XCTAssertThrowsError(try BatteryReading(capacityPercent: -1, status: .full))
    }

    // MARK: command

    func testCommandOutputIsParsed() throws {
        let source = try BatterySource.fromOptions(file: nil, command: "echo capacity=42; echo status=Charging", powerSupply: nil)
        XCTAssertEqual(try source.read(), reading(42, .charging))
    }

    func testFailingCommandSaysHow() throws {
        let source = try BatterySource.fromOptions(file: nil, command: "echo no battery here >&2; exit 3", powerSupply: nil)
        guard let error = readError(source) else { return }
        guard case let .commandFailed(command, reason) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(command.contains("exit 3"), command)
        XCTAssertTrue(reason.contains("exited with status 3"), reason)
        XCTAssertTrue(reason.contains("no battery here"), reason)
    }

    func testCommandGarbageNamesTheCommand() throws {
        let source = try BatterySource.fromOptions(file: nil, command: "echo capacity=lots", powerSupply: nil)
        guard let error = readError(source) else { return }
        guard case let .badField(origin, field, _) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(origin.contains("echo capacity=lots"), origin)
        XCTAssertEqual(field, "capacity")
    }

    func testHangingCommandTimesOut() throws {
        let source = BatterySource.command(["/bin/sh", "-c", "sleep 30; echo capacity=1"], timeoutMs: 300)
        let start = Date()
        guard let error = readError(source) else { return }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        guard case let .commandFailed(_, reason) = error else { return XCTFail("\(error)") }
        XCTAssertTrue(reason.contains("did not finish within 300 ms"), reason)
    }

    func testMissingProgram() {
        guard let error = readError(.command(["/nonexistent/battery-tool"], timeoutMs: 1_000)) else { return }
        guard case .commandFailed = error else { return XCTFail("\(error)") }
    }

    func testOptionsAllowOneSource() {
        XCTAssertEqual(try BatterySource.fromOptions(file: nil, command: nil, powerSupply: nil), .sysfs())
        XCTAssertThrowsError(try BatterySource.fromOptions(file: "a", command: "b", powerSupply: nil)) { error in
            XCTAssertTrue("\(error)".contains("--battery-file, --battery-command"), "\(error)")
        }
    }

    // MARK: thresholds

    func testThresholdsParse() throws {
        let thresholds = try ProfileThresholds(" performance@60, balanced@25.5 ,saver")
        XCTAssertEqual(thresholds.profiles, ["performance", "balanced", "saver"])
        XCTAssertEqual(thresholds.thresholds, [60, 25.5])
        XCTAssertEqual(thresholds.description, "performance@60,balanced@25.5,saver")
        XCTAssertEqual(thresholds.profile(for: reading(60)), "performance")
        XCTAssertEqual(thresholds.profile(for: reading(59.9)), "balanced")
        XCTAssertEqual(thresholds.profile(for: reading(25.5)), "balanced")
        XCTAssertEqual(thresholds.profile(for: reading(0)), "saver")
        XCTAssertEqual(thresholds.profile(for: reading(3, .charging)), "performance")
        XCTAssertEqual(thresholds.profile(for: reading(3, .full)), "performance")
        XCTAssertEqual(thresholds.profile(for: reading(3, .unknown)), "saver")
        XCTAssertEqual(try ProfileThresholds("only").profiles, ["only"])
        XCTAssertNoThrow(try ProfileThresholds(ProfileThresholds.defaultSpec))
    }

    func testThresholdErrorsNameTheProblem() {
        let cases: [(String, String)] = [
            ("", "empty"),
            ("a@60,,c", "entry 2"),
            ("a@60,b,c", "\"b\" needs a threshold"),
            ("a@60,b@20", "last profile, \"b\", must have no threshold"),
            ("a@20,b@60,c", "must descend: b@60 follows a@20"),
            ("a@60,b@60,c", "must descend"),
            ("a@60,a@20,c", "\"a\" appears twice"),
            ("a@0,c", "above 0 and at most 100"),
            ("a@101,c", "above 0 and at most 100"),
            ("a@x,c", "threshold \"x\" of \"a\" is not a number"),
            ("a@-5,c", "is not a number"),
            ("a@6@0,c", "more than one '@'"),
            ("@60,c", "empty profile name"),
            ("a\u{7}b@60,c", "control characters"),
            (String(repeating: "p", count: 256) + "@60,c", "256 bytes, limit 255"),
        ]
        for (spec, expected) in cases {
            XCTAssertThrowsError(try ProfileThresholds(spec), spec) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(spec): \(error)")
            }
        }
    }

    // MARK: watcher

    func watcher(_ spec: String = "performance@60,balanced@25,saver", hysteresis: Double = 2,
                 settleMs: Int64 = 0) throws -> BatteryWatcher {
        try BatteryWatcher(thresholds: ProfileThresholds(spec), hysteresisPercent: hysteresis, settleMs: settleMs,
                           pollIntervalMs: 1_000)
    }

    /// The profiles reported while feeding `capacities` (discharging) one per second.
    func reported(_ watcher: inout BatteryWatcher, _ capacities: [Double], startMs: Int64 = 0) -> [String] {
        var profiles: [String] = []
        for (index, capacity) in capacities.enumerated() {
            if case let .report(report)? = watcher.observe(reading(capacity), nowMs: startMs + Int64(index) * 1_000) {
                profiles.append(report.profile)
            }
        }
        return profiles
    }

    func testFirstProfileIsReportedAtOnce() throws {
        var watcher = try watcher(settleMs: 60_000)
        XCTAssertTrue(watcher.isDue(nowMs: 0))
        XCTAssertEqual(watcher.observe(reading(59.5), nowMs: 0),
                       .report(ProfileReport(profile: "balanced", reading: reading(59.5), previousProfile: nil)))
        XCTAssertFalse(watcher.isDue(nowMs: 999))
        XCTAssertTrue(watcher.isDue(nowMs: 1_000))
        XCTAssertEqual(watcher.currentReport?.profile, "balanced")
    }

    func testHoveringAtAThresholdDoesNotFlap() throws {
        var watcher = try watcher()
        // Starts at 61 (performance), hovers around 60, must drop below 58 to switch.
        XCTAssertEqual(reported(&watcher, [61, 60, 59, 60, 59, 58, 59, 60, 61, 59, 58.5]), ["performance"])
        XCTAssertEqual(watcher.profile, "performance")
        XCTAssertEqual(reported(&watcher, [57.9], startMs: 20_000), ["balanced"])
        // Back up: needs 62.
        XCTAssertEqual(reported(&watcher, [59, 60, 61, 61.9, 60], startMs: 30_000), [])
        XCTAssertEqual(reported(&watcher, [62], startMs: 40_000), ["performance"])
    }

    func testBigDropReportsOnceAndSkipsLevels() throws {
        var watcher = try watcher()
        XCTAssertEqual(reported(&watcher, [90, 10, 10, 9]), ["performance", "saver"])
        XCTAssertEqual(reported(&watcher, [26, 26.9], startMs: 10_000), [])  // below 25 + 2
        XCTAssertEqual(reported(&watcher, [27], startMs: 20_000), ["balanced"])
    }

    func testNoHysteresisSwitchesExactlyAtThresholds() throws {
        var watcher = try watcher(hysteresis: 0)
        XCTAssertEqual(reported(&watcher, [61, 60, 59.9, 60, 25, 24]), ["performance", "balanced", "performance", "balanced", "saver"])
    }

    func testChargingMeansFirstProfileAndUnpluggingAppliesTheMargin() throws {
        var watcher = try watcher()
        XCTAssertEqual(reported(&watcher, [20]), ["saver"])
        guard case let .report(plugged)? = watcher.observe(reading(20, .charging), nowMs: 5_000) else {
            return XCTFail("plugging in must report the first profile")
        }
        XCTAssertEqual(plugged.profile, "performance")
        XCTAssertEqual(plugged.previousProfile, "saver")
        XCTAssertNil(watcher.observe(reading(100, .full), nowMs: 6_000))
        XCTAssertNil(watcher.observe(reading(80, .notCharging), nowMs: 7_000))
        // Unplugged at 59: still performance (59 is within the margin of 60); at 57.5 balanced.
        XCTAssertEqual(reported(&watcher, [59, 58, 57.5], startMs: 10_000), ["balanced"])
    }

    func testUnpluggedLowJumpsStraightDown() throws {
        var watcher = try watcher()
        guard case let .report(first)? = watcher.observe(reading(15, .charging), nowMs: 0) else {
            return XCTFail("the first reading must be reported")
        }
        XCTAssertEqual(first.profile, "performance")
        XCTAssertEqual(reported(&watcher, [15], startMs: 1_000), ["saver"])
    }

    func testSettleTimeDebouncesPlugFlapping() throws {
        var watcher = try watcher(settleMs: 10_000)
        XCTAssertNotNil(watcher.observe(reading(40), nowMs: 0))  // balanced at once
        // A loose connector: charging for one poll, then not.
        XCTAssertNil(watcher.observe(reading(40, .charging), nowMs: 1_000))
        XCTAssertNil(watcher.observe(reading(40), nowMs: 2_000))
        XCTAssertNil(watcher.observe(reading(40, .charging), nowMs: 3_000))
        XCTAssertNil(watcher.observe(reading(40, .charging), nowMs: 12_999))
        guard case let .report(report)? = watcher.observe(reading(41, .charging), nowMs: 13_000) else {
            return XCTFail("charging for 10 s must report")
        }
        XCTAssertEqual(report.profile, "performance")
    }

    func testReadErrorsAreReportedOnceAndRecover() throws {
        var watcher = try watcher()
        let failure = BatteryError.unreadable(path: "/x/capacity", reason: "Input/output error")
        XCTAssertEqual(watcher.observe(failure: failure, nowMs: 0), .readFailed(failure))
        XCTAssertNil(watcher.observe(failure: failure, nowMs: 1_000))
        XCTAssertNil(watcher.observe(.failure(.malformed(source: "x", reason: "other")), nowMs: 2_000))
        XCTAssertNil(watcher.profile)
        // The first good reading reports the first profile.
        guard case .report? = watcher.observe(reading(70), nowMs: 3_000) else { return XCTFail("first profile") }
        XCTAssertEqual(watcher.observe(failure: failure, nowMs: 4_000), .readFailed(failure))
        XCTAssertTrue(watcher.failing)
        XCTAssertEqual(watcher.profile, "performance")  // a failure changes nothing
        XCTAssertEqual(watcher.observe(.success(reading(69)), nowMs: 5_000), .recovered(reading(69)))
        XCTAssertFalse(watcher.failing)
        XCTAssertNil(watcher.observe(reading(69), nowMs: 6_000))
        // Failing again is reported again, and a recovery with a new profile is a report.
        XCTAssertEqual(watcher.observe(failure: failure, nowMs: 7_000), .readFailed(failure))
        guard case let .report(report)? = watcher.observe(reading(30), nowMs: 8_000) else { return XCTFail("change") }
        XCTAssertEqual(report.profile, "balanced")
    }

    func testWatcherRejectsUnreachableThresholds() throws {
        XCTAssertThrowsError(try watcher("a@2,b", hysteresis: 2)) { error in
            XCTAssertTrue("\(error)".contains("a@2 is within the hysteresis"), "\(error)")
        }
        XCTAssertThrowsError(try watcher(hysteresis: -1))
        XCTAssertThrowsError(try watcher(settleMs: -1))
        XCTAssertNoThrow(try watcher("a@2.5,b", hysteresis: 2))
    }

    func testThresholdNearFullIsReachableUpward() throws {
        var watcher = try watcher("max@99,rest", hysteresis: 2)
        XCTAssertEqual(reported(&watcher, [98, 100]), ["rest", "max"])
    }
}
