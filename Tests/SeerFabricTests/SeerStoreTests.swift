import GRDB
import XCTest
@testable import SeerCoordinator
import SeerWire

final class SeerStoreTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    var path: String { directory.appendingPathComponent("seer.sqlite").path }

    static func submission(_ id: String, maxAttempts: Int = 3) -> JobSubmission {
        JobSubmission(id: id, deviceKey: "cpu-x86", kind: .measure,
                      payload: JobPayload(model: "lenet5-fashion", policy: ["bits": [8, 4]], finetuneSteps: 10, seed: 7,
                                          timeouts: JobTimeouts(totalMs: 5_000), options: ["sleep_ms": 5]),
                      maxAttempts: maxAttempts)
    }

    func testWALModeAndTables() throws {
        let store = try SeerStore(path: path)
        let mode = try store.database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        XCTAssertEqual(mode, "wal")
        let tables = try store.database.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        XCTAssertTrue(tables.contains("job"))
        XCTAssertTrue(tables.contains("agent"))
    }

    func testJobLifecycleSurvivesReopenAndResultsAreRecordedOnce() throws {
        do {
            let store = try SeerStore(path: path)
            try store.apply([.jobSubmitted(Self.submission("j1")), .jobSubmitted(Self.submission("j2")),
                             .jobDispatched(id: "j1", agentID: "a1", attempts: 1),
                             .jobRequeued(id: "j1", attempts: 1, code: .outOfMemory, message: "a1: 2 GiB"),
                             .jobDispatched(id: "j1", agentID: "a2", attempts: 2),
                             .jobDone(id: "j1", agentID: "a2", attempts: 2, result: ResultPayload(accuracy: 0.75, timingsMs: ["total": 3])),
                             // A late duplicate in the same batch, and one for a failed job: both ignored.
                             .jobDone(id: "j1", agentID: "a1", attempts: 9, result: ResultPayload(accuracy: 0.1)),
                             .jobDispatched(id: "j2", agentID: "a1", attempts: 1),
                             .jobFailed(id: "j2", attempts: 1, code: .badPolicy, message: "no 3-bit kernels"),
                             .jobDone(id: "j2", agentID: "a1", attempts: 1, result: ResultPayload())])
        }
        let store = try SeerStore(path: path)
        let j1 = try XCTUnwrap(store.job("j1"))
        XCTAssertEqual(j1.state, .done)
        XCTAssertEqual(j1.attempts, 2)
        XCTAssertEqual(j1.agentID, "a2")
        XCTAssertEqual(j1.result?.accuracy, 0.75)
        XCTAssertEqual(j1.lastErrorCode, .outOfMemory)
        XCTAssertEqual(j1.payload, Self.submission("j1").payload)
        XCTAssertNotNil(j1.finishedAt)
        XCTAssertEqual(try store.outcome(of: "j1"), .done(result: ResultPayload(accuracy: 0.75, timingsMs: ["total": 3]),
                                                          agentID: "a2", attempts: 2))
        XCTAssertEqual(try store.outcome(of: "j2"), .failed(code: .badPolicy, message: "no 3-bit kernels", attempts: 1))
        XCTAssertNil(try store.outcome(of: "nope"))
        XCTAssertEqual(try store.stateCounts(), [.queued: 0, .running: 0, .done: 1, .failed: 1])
        // Resubmitting a finished id keeps the first row.
        try store.apply([.jobSubmitted(Self.submission("j1"))])
        XCTAssertEqual(try store.job("j1")?.state, .done)
    }

    func testRunningJobsGoBackToQueuedOnRestartWithoutCountingTheInterruptedAttempt() throws {
        let store = try SeerStore(path: path)
        try store.apply([.jobSubmitted(Self.submission("a")), .jobSubmitted(Self.submission("b")),
                         .jobSubmitted(Self.submission("c")),
                         .jobDispatched(id: "b", agentID: "x", attempts: 1), .jobDispatched(id: "c", agentID: "y", attempts: 1),
                         .jobRequeued(id: "c", attempts: 1, code: .runtimeError, message: "boom"),
                         .jobDispatched(id: "c", agentID: "y", attempts: 2)])
        XCTAssertEqual(try store.recoverInterruptedJobs(), 2)
        let unfinished = try store.unfinishedJobs()
        XCTAssertEqual(unfinished.map(\.id), ["a", "b", "c"])
        XCTAssertEqual(unfinished.map(\.state), [.queued, .queued, .queued])
        XCTAssertEqual(unfinished.map(\.attempts), [0, 0, 1])
        XCTAssertEqual(unfinished[2].lastError, "boom")
        XCTAssertNil(unfinished[1].agentID)
    }

    func testAgentsAndKeyBindingsPersist() throws {
        let store = try SeerStore(path: path)
        let ready = ReadyBody(agentID: "rpi", deviceKey: "cpu-arm", executor: .builtin,
                              device: DeviceDescriptor(cores: 4, memoryBytes: 4 << 30, os: "Debian 12", software: ["seer": "0.1.0"]),
                              capabilities: ["measure"])
        try store.apply([.agentRegistered(ready, publicKey: "KEY-1")])
        try store.apply([.agentLeft(agentID: "rpi")])
        try store.apply([.agentRegistered(ready, publicKey: "KEY-2")])  // the binding is the first key's
        let agents = try store.agents()
        XCTAssertEqual(agents.count, 1)
        XCTAssertEqual(agents[0].descriptor, ready.device)
        XCTAssertEqual(agents[0].capabilities, ["measure"])
        XCTAssertTrue(agents[0].connected)
        XCTAssertEqual(try store.agentKeyBindings(), ["rpi": "KEY-1"])
    }

    func testMoreMigrationsCanBeAppendedAndANewerDatabaseIsRefused() throws {
        let campaign = StoreMigration("test-campaign-v1") { db in
            try db.create(table: "test_extension") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull()
            }
        }
        do {
            let store = try SeerStore(path: path, migrations: SeerStore.migrations + [campaign])
            try store.database.write { db in try db.execute(sql: "INSERT INTO test_extension (id, name) VALUES ('c1', 'x')") }
        }
        // Reopening with the same list is a no-op; an older build without the step refuses the file.
        _ = try SeerStore(path: path, migrations: SeerStore.migrations + [campaign])
        XCTAssertThrowsError(try SeerStore(path: path)) { error in
            XCTAssertEqual(error as? StoreError, .newerSchema(path: self.path, unknown: ["test-campaign-v1"]))
        }
        XCTAssertThrowsError(try SeerStore(path: path, migrations: [campaign, campaign])) { error in
            XCTAssertEqual(error as? StoreError, .duplicateMigration("test-campaign-v1"))
        }
    }

    func testNoiseRowsOfAnOlderDatabaseKeepTheSeedsTheirRoundGaveThem() throws {
        // A database from before measurements had a seed column: noise repeats (round 0) and contest rechecks
        // (rounds 1 and 2) were measured with the campaign's seed + 1 + round.
        let older = Array(SeerStore.migrations.dropLast(CampaignStore.seedMigrations.count))
        do {
            let store = try SeerStore(path: path, migrations: older)
            try store.database.write { db in
                try db.execute(sql: """
                    INSERT INTO campaign (id, config, phase, detail, created_at, updated_at)
                        VALUES ('c', '{}', 'done', '', '2026-12-01 00:00:00', '2026-12-01 00:00:00');
                    INSERT INTO measurement (job_id, campaign_id, purpose, round, position, policy, device_key, split, created_at)
                        VALUES ('c:r0:0', 'c', 'sample', 0, 0, '{}', 'cpu', 'validation', '2026-12-01 00:00:00'),
                               ('c:noise:0', 'c', 'noise', 0, 0, '{}', 'cpu', 'validation', '2026-12-01 00:00:00'),
                               ('c:recheck:20%:pick', 'c', 'noise', 1, 0, '{}', 'cpu', 'validation', '2026-12-01 00:00:00'),
                               ('c:recheck:20%:sample-again', 'c', 'noise', 2, 0, '{}', 'cpu', 'validation', '2026-12-01 00:00:00');
                    """)
            }
        }
        let store = try SeerStore(path: path)
        let offsets = Dictionary(uniqueKeysWithValues: try CampaignStore.measurements("c", in: store).map { ($0.jobID, $0.seedOffset) })
        XCTAssertEqual(offsets, ["c:r0:0": 0, "c:noise:0": 1, "c:recheck:20%:pick": 2, "c:recheck:20%:sample-again": 3])
    }

    func testBatchOfThousandsOfChangesIsAppliedInOrder() throws {
        let store = try SeerStore(path: path)
        var changes: [StoreChange] = []
        for index in 0..<3_000 {
            changes.append(.jobSubmitted(JobSubmission(id: "n\(index)", deviceKey: "k", kind: .null,
                                                       payload: JobPayload(model: "null", policy: [:]), maxAttempts: 3)))
            changes.append(.jobDispatched(id: "n\(index)", agentID: "a", attempts: 1))
            changes.append(.jobDone(id: "n\(index)", agentID: "a", attempts: 1, result: ResultPayload(timingsMs: ["total": 0.1])))
        }
        try store.apply(changes)
        // Each job's three changes applied in order: every one ends done, none is left queued or running.
        XCTAssertEqual(try store.stateCounts().filter { $0.value > 0 }, [.done: 3_000])
    }
}
