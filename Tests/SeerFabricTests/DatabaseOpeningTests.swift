import Foundation
import GRDB
import XCTest
@testable import SeerCoordinator

/// Opening the coordinator's database: errors name the file, reading never creates or writes one, and a failed
/// open leaves nothing behind; the read-only commands (`campaign status`, `deployments`, `optimize`) open it so.
final class DatabaseOpeningTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-db-open-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        // Files made read-only by a test must be removable again.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            chmod(directory.appendingPathComponent(name).path, 0o644)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Which of the database file and its -wal and -shm files exist.
    func existing(_ database: String) -> [String] {
        [database, database + "-wal", database + "-shm"].filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// A closed database holding campaign "fleet" (no measurements), with no -wal or -shm file left.
    func campaignDatabase(_ name: String = "seer.sqlite") throws -> String {
        let database = path(name)
        do {
            let store = try SeerStore(path: database)
            let config = try CampaignConfig.parse(yaml: "name: fleet\nmodel: resnet8\nbudgets: [\"20%\"]\n")
            let now = Date()
            try CampaignStore.save(CampaignRecord(id: "fleet", config: String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
                                                  phase: .sampling, detail: "round 0", createdAt: now, updatedAt: now), in: store)
        }
        XCTAssertEqual(existing(database), [database], "closing the last connection removes -wal and -shm")
        return database
    }

    func assertNamesFile(_ error: Error, _ file: String, line: UInt = #line) {
        XCTAssertTrue("\(error)".contains(file), "'\(error)' should name \(file)", line: line)
    }

    // MARK: The store

    func testReadOnlyOpenOfAMissingFileNamesItAndCreatesNothing() {
        let missing = path("typo.sqlite")
        XCTAssertThrowsError(try SeerStore(path: missing, access: .readOnly)) { error in
            XCTAssertEqual(error as? StoreError, .notFound(path: missing))
            assertNamesFile(error, missing)
        }
        XCTAssertEqual(existing(missing), [])
    }

    func testReadOnlyStoreReadsAReadOnlyFileAndNeverWrites() throws {
        let database = try campaignDatabase()
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        XCTAssertEqual(chmod(database, 0o444), 0)
        // (Running as root, the file mode binds nothing; the store's own refusal to write below still does.)
        let store = try SeerStore(path: database, access: .readOnly)
        XCTAssertEqual(try CampaignStore.campaigns(in: store).map(\.id), ["fleet"])
        XCTAssertThrowsError(try store.database.write { db in try db.execute(sql: "DELETE FROM campaign") })
        XCTAssertThrowsError(try CampaignStore.save(try XCTUnwrap(CampaignStore.campaign("fleet", in: store)), in: store))
        XCTAssertEqual(try CampaignStore.campaigns(in: store).map(\.id), ["fleet"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: database)), before)
    }

    func testReadOnlyOpenRefusesWhatItCannotReadAsCurrentAndLeavesNoWALFiles() throws {
        // An older Seer's database: a command that writes would migrate it; reading cannot.
        let older = path("older.sqlite")
        do { _ = try SeerStore(path: older, migrations: SeerStore.fabricMigrations) }
        XCTAssertThrowsError(try SeerStore(path: older, access: .readOnly)) { error in
            XCTAssertEqual(error as? StoreError,
                           .olderSchema(path: older, missing: SeerStore.migrations.dropFirst(SeerStore.fabricMigrations.count).map(\.name)))
            assertNamesFile(error, older)
        }
        XCTAssertEqual(existing(older), [older])
        XCTAssertNoThrow(try SeerStore(path: older))  // which still upgrades it

        // A newer Seer's database.
        let newer = path("newer.sqlite")
        do { _ = try SeerStore(path: newer, migrations: SeerStore.migrations + [StoreMigration("future-v1") { _ in }]) }
        XCTAssertThrowsError(try SeerStore(path: newer, access: .readOnly)) { error in
            XCTAssertEqual(error as? StoreError, .newerSchema(path: newer, unknown: ["future-v1"]))
        }
        XCTAssertEqual(existing(newer), [newer])

        // An empty file: no database of Seer's.
        let empty = path("empty.sqlite")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertThrowsError(try SeerStore(path: empty, access: .readOnly)) { error in
            XCTAssertEqual(error as? StoreError, .notSeerDatabase(path: empty))
        }
        XCTAssertEqual(existing(empty), [empty])
    }

    func testAFailedOpenNamesTheFileAndLeavesNothingThatBlocksTheNextOpen() throws {
        // A new database whose migration fails: the error names the file, and no half-made database or WAL files stay.
        let database = path("new.sqlite")
        let broken = StoreMigration("broken-v1") { db in try db.execute(sql: "THIS IS NOT SQL") }
        XCTAssertThrowsError(try SeerStore(path: database, migrations: SeerStore.fabricMigrations + [broken])) { error in
            guard case let .database(named, reason)? = error as? StoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(named, database)
            XCTAssertTrue(reason.contains("syntax error"), reason)
            assertNamesFile(error, database)
        }
        XCTAssertEqual(existing(database), [])
        let store = try SeerStore(path: database)
        XCTAssertEqual(try store.stateCounts()[.queued], 0)

        // A file that is no database, opened either way: named, left as it was, nothing added next to it.
        let notes = path("notes.txt")
        let text = Data(String(repeating: "not a database\n", count: 100).utf8)
        XCTAssertTrue(FileManager.default.createFile(atPath: notes, contents: text))
        for access in [SeerStore.Access.readWrite, .readOnly] {
            XCTAssertThrowsError(try SeerStore(path: notes, access: access), "\(access)") { error in
                guard case .database(notes, _)? = error as? StoreError else { return XCTFail("\(access): \(error)") }
                assertNamesFile(error, notes)
            }
            XCTAssertEqual(existing(notes), [notes], "\(access)")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: notes)), text)
        }

        // A database in a folder that does not exist.
        let nowhere = path("no/such/folder/seer.sqlite")
        XCTAssertThrowsError(try SeerStore(path: nowhere)) { error in assertNamesFile(error, nowhere) }
    }

    // MARK: The commands

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func coordinator(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = try Fabric.binDirectory().appendingPathComponent("seer-coordinator")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        // Files, not pipes: neither can fill up and block the child.
        let out = directory.appendingPathComponent("stdout-\(UUID().uuidString)"), err = directory.appendingPathComponent("stderr-\(UUID().uuidString)")
        for file in [out, err] { XCTAssertTrue(FileManager.default.createFile(atPath: file.path, contents: nil)) }
        defer { for file in [out, err] { try? FileManager.default.removeItem(at: file) } }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                   stderr: try String(contentsOf: err, encoding: .utf8))
    }

    func testReadingCommandsRefuseAMistypedDatabaseAndCreateNone() throws {
        _ = try campaignDatabase()
        let missing = path("seer.sqlit")
        for arguments in [["campaign", "status", "--db", missing], ["deployments", "--db", missing],
                          ["optimize", "--campaign", "fleet", "--budget", "bitops=50%", "--db", missing],
                          ["campaign", "resume", "--local", "--db", missing]] {
            let run = try coordinator(arguments)
            XCTAssertNotEqual(run.status, 0, "\(arguments): \(run.stdout)")
            XCTAssertTrue(run.stderr.contains("no database \(missing)"), "\(arguments): \(run.stderr)")
            XCTAssertEqual(existing(missing), [], "\(arguments)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["seer.sqlite"])
    }

    func testCampaignStatusAndDeploymentsReadAReadOnlyDatabase() throws {
        let database = try campaignDatabase()
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        XCTAssertEqual(chmod(database, 0o444), 0)
        let status = try coordinator(["campaign", "status", "--db", database])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.hasPrefix("fleet: sampling — round 0\n"), status.stdout)
        let deployments = try coordinator(["deployments", "--db", database])
        XCTAssertEqual(deployments.status, 0, deployments.stderr)
        XCTAssertEqual(deployments.stdout, "no deployments in \(database)\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: database)), before)
        // No campaign by that name: the error names the database.
        let other = try coordinator(["campaign", "status", "--db", database, "--campaign", "other"])
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.stderr.contains(database), other.stderr)
    }
}
