import Foundation
import XCTest
@testable import SeerCoordinator

/// The database's coordinator lock in one process: a second taker is refused naming the file and the holder; a
/// released lock (or a holder's exit, see `CoordinatorServiceTests`) lets the next one in.
final class CoordinatorLockTests: XCTestCase {
    func testASecondTakerIsRefusedNamingTheDatabaseAndTheHolderUntilTheFirstReleases() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("seer.sqlite").path
        XCTAssertNil(CoordinatorLock.currentHolder(of: database))

        let first = try CoordinatorLock(database: database, command: "serve")
        let holder = try XCTUnwrap(CoordinatorLock.currentHolder(of: database))
        XCTAssertEqual(holder.pid, getpid())
        XCTAssertEqual(holder.command, "serve")
        XCTAssertTrue(holder.isService)
        XCTAssertThrowsError(try CoordinatorLock(database: database, command: "campaign run")) { error in
            guard case let .held(path, lockFile, refusedBy)? = error as? CoordinatorLockError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, database)
            XCTAssertEqual(lockFile, database + ".lock")
            XCTAssertEqual(refusedBy?.pid, getpid())
            XCTAssertTrue("\(error)".contains("database \(database) is owned by another coordinator: seer-coordinator serve (pid \(getpid())"),
                          "\(error)")
        }
        first.release()
        XCTAssertNil(CoordinatorLock.currentHolder(of: database), "the file stays, the lock does not")
        let second = try CoordinatorLock(database: database, command: "campaign run")
        XCTAssertEqual(CoordinatorLock.currentHolder(of: database)?.command, "campaign run")
        XCTAssertEqual(CoordinatorLock.currentHolder(of: database)?.isService, false)
        second.release()
    }
}
