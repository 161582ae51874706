import Foundation
import GRDB
import XCTest
@testable import SeerCoordinator
import SeerWire

/// Issue 12: an outcome reaches a caller only once it is on disk, so a store write that fails stops the broker.
final class BrokerStoreFailureTests: FabricTestCase {
    func testAStoreThatRefusesToRecordAResultStopsTheBrokerInsteadOfReportingIt() throws {
        // A real database whose job rows cannot become 'done': the write of the result fails like a full disk would.
        let database = "refusing.sqlite"
        let setup = try SeerStore(path: fabric.path(database))
        try setup.database.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse_done BEFORE UPDATE OF state ON job WHEN NEW.state = 'done'
                BEGIN SELECT RAISE(ABORT, 'injected: the disk refuses the write'); END
                """)
        }
        let broker = try fabric.broker(security: .plain, heartbeatMs: 200, liveness: 50, database: database)
        defer { broker.stop() }
        try fabric.agent("sf-1", deviceKey: "cpu-x86", endpoint: broker.endpoint, keys: nil, serverKey: nil,
                         executor: ["--executor", "null", "--liveness", "50"])
        XCTAssertTrue(fabric.waitUntil(60) { broker.agents().count == 1 }, fabric.diagnostics)

        let job = try broker.submit(nullJob("cpu-x86"))
        // The agent answers at once; the broker fails to record it and stops, which wakes this wait.
        let outcomes = broker.waitForCompletion(jobIDs: [job], timeout: 120)
        XCTAssertNil(outcomes[job], "an outcome the store did not take was reported: \(outcomes)\n\(fabric.diagnostics)")
        XCTAssertEqual(try setup.job(job)?.state, .running, "the database never recorded the result")

        // The broker is stopped and says why, to whoever asks it for more work.
        XCTAssertThrowsError(try broker.submit(nullJob("cpu-x86"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("injected: the disk refuses the write"), text)
            XCTAssertTrue(text.contains(database), text)
        }
        XCTAssertTrue(fabric.brokerLines.contains { $0.contains("injected: the disk refuses the write") }, fabric.diagnostics)
        XCTAssertEqual(broker.stats().storeErrors, 1)
    }

    func testTheMeasurementBackendSurfacesTheBrokersStoreFailure() throws {
        let database = "refusing-submit.sqlite"
        let setup = try SeerStore(path: fabric.path(database))
        try setup.database.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse_insert BEFORE INSERT ON job
                BEGIN SELECT RAISE(ABORT, 'injected: no room for new jobs'); END
                """)
        }
        let broker = try fabric.broker(security: .plain, database: database)
        defer { broker.stop() }
        let backend = BrokerMeasurementBackend(broker: broker)
        // No agent needed: the submission itself cannot be stored. Waiting would otherwise never end.
        XCTAssertThrowsError(try backend.profileLayers(id: "t:never-stored", deviceKey: "cpu-x86", model: "resnet8")) { error in
            guard case let .storeWriteFailed(path, changes, attempts, reason)? = error as? BrokerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(path, self.fabric.path(database))
            XCTAssertEqual(changes, 1)
            XCTAssertEqual(attempts, 1, "a constraint failure is not retried")
            XCTAssertTrue(reason.contains("injected: no room for new jobs"), reason)
        }
        XCTAssertEqual(broker.failure.map { "\($0)" }?.contains("injected: no room for new jobs"), true)
    }

    // MARK: Retry policy

    func testBusyAndLockedWritesAreRetriedABoundedNumberOfTimes() throws {
        let busy = DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked")
        let locked = DatabaseError(resultCode: .SQLITE_LOCKED, message: "database table is locked")
        let retry = StoreWriteRetry(maxAttempts: 3)

        var calls = 0
        let attempts = try retry.run(path: "x.sqlite", changes: 2) {
            calls += 1
            if calls == 1 { throw busy }
            if calls == 2 { throw locked }
        }
        XCTAssertEqual(attempts, 3)
        XCTAssertEqual(calls, 3)

        calls = 0
        XCTAssertThrowsError(try retry.run(path: "x.sqlite", changes: 2) { calls += 1; throw busy }) { error in
            XCTAssertEqual(error as? BrokerError,
                           .storeWriteFailed(path: "x.sqlite", changes: 2, attempts: 3, reason: "\(busy)"))
            XCTAssertTrue("\(error)".contains("x.sqlite"), "\(error)")
        }
        XCTAssertEqual(calls, 3, "busy is retried, but only up to the limit")
    }

    func testOtherWriteFailuresAreNotRetried() {
        let failures: [Error] = [DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full"),
                                 DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "injected"),
                                 DatabaseError(resultCode: .SQLITE_IOERR, message: "disk I/O error"),
                                 CocoaError(.fileWriteNoPermission)]
        for failure in failures {
            var calls = 0
            XCTAssertThrowsError(try StoreWriteRetry().run(path: "y.sqlite", changes: 1) { calls += 1; throw failure }) { error in
                guard case let .storeWriteFailed(_, _, attempts, reason)? = error as? BrokerError else { return XCTFail("\(error)") }
                XCTAssertEqual(attempts, 1)
                XCTAssertEqual(reason, "\(failure)")
            }
            XCTAssertEqual(calls, 1, "\(failure)")
        }
    }
}
