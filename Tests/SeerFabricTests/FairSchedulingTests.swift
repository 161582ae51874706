import XCTest
@testable import SeerCoordinator
import SeerWire

/// Campaigns sharing a device key take turns on its agents (`FairQueue` in `BrokerCore`); queued jobs can be
/// withdrawn. Fake clock, no sockets.
final class FairSchedulingTests: XCTestCase {
    typealias Harness = BrokerCoreTests.Harness

    static func submit(_ h: inout Harness, _ id: JobID, owner: String?, deviceKey: String = "k") {
        h.feed(.submit(JobSubmission(id: id, deviceKey: deviceKey, kind: .null, payload: Harness.payload(), maxAttempts: 3,
                                     owner: owner)))
    }

    func testTwoCampaignsOnOneKeyAlternateHoweverManyJobsTheFirstQueued() {
        var h = Harness()
        for i in 0..<6 { Self.submit(&h, "long:\(i)", owner: "long") }
        for i in 0..<2 { Self.submit(&h, "short:\(i)", owner: "short") }
        h.register("a1", deviceKey: "k")
        var order: [JobID] = []
        var current = h.core.agentSnapshots().first?.currentJob
        while let job = current {
            order.append(job)
            h.result("a1", job: job)
            current = h.core.agentSnapshots().first?.currentJob
        }
        // FIFO would have run all six of `long` before `short` got the agent.
        XCTAssertEqual(order, ["long:0", "short:0", "long:1", "short:1", "long:2", "long:3", "long:4", "long:5"])
    }

    func testARetryStaysAtTheHeadOfItsCampaignsTurn() {
        var h = Harness()
        Self.submit(&h, "a:0", owner: "a")
        Self.submit(&h, "a:1", owner: "a")
        Self.submit(&h, "b:0", owner: "b")
        h.register("x", deviceKey: "k")
        XCTAssertEqual(h.core.agentSnapshots().first?.currentJob, "a:0")
        h.error("x", job: "a:0", code: .runtimeError)
        XCTAssertEqual(h.core.agentSnapshots().first?.currentJob, "a:0", "the only agent retries it at once")
        h.result("x", job: "a:0")
        XCTAssertEqual(h.core.agentSnapshots().first?.currentJob, "b:0")
    }

    func testJobsWithoutAnOwnerAreOneFIFO() {
        var queue = FairQueue<Int>()
        for i in 0..<5 { queue.append(i, owner: nil) }
        queue.pushFront(9, owner: nil)
        XCTAssertEqual(queue.elements, [9, 0, 1, 2, 3, 4])
        XCTAssertEqual(queue.count, 6)
        queue.removeAll { $0 % 2 == 1 }
        XCTAssertEqual(queue.elements, [0, 2, 4])
        XCTAssertEqual(queue.count, 3)
        XCTAssertEqual(queue.popFirst()?.element, 0)
        XCTAssertEqual(queue.first, 2)
    }

    func testCancelWithdrawsQueuedJobsAndLeavesRunningOnesAlone() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        for i in 0..<3 { Self.submit(&h, "c:\(i)", owner: "c") }
        Self.submit(&h, "d:0", owner: "d")
        XCTAssertEqual(h.core.agentSnapshots().first?.currentJob, "c:0")
        let cancelled = h.feed(.cancel(["c:0", "c:1", "c:2"], reason: "campaign c stopped"))
        XCTAssertEqual(Set(BrokerCoreTests.finished(cancelled).keys), ["c:1", "c:2"])
        XCTAssertEqual(BrokerCoreTests.finished(cancelled)["c:1"],
                       .failed(code: .runtimeError, message: "cancelled: campaign c stopped", attempts: 0))
        XCTAssertTrue(BrokerCoreTests.stored(cancelled).contains(
            .jobFailed(id: "c:2", attempts: 0, code: .runtimeError, message: "cancelled: campaign c stopped")))
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["d:0"])
        XCTAssertEqual(h.core.queuedCount, 1)
        // The running one finishes and is recorded; then the other campaign's job runs.
        let done = h.result("a1", job: "c:0")
        XCTAssertEqual(BrokerCoreTests.finished(done)["c:0"]?.isDone, true)
        XCTAssertEqual(BrokerCoreTests.jobsSent(done).map(\.job), ["d:0"])
    }

    func testRestoredJobsKeepTheirOwner() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-owner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        var changes: [StoreChange] = []
        for i in 0..<3 {
            changes.append(.jobSubmitted(JobSubmission(id: "x:\(i)", deviceKey: "k", kind: .null, payload: Harness.payload(),
                                                       maxAttempts: 3, owner: "x")))
        }
        changes.append(.jobSubmitted(JobSubmission(id: "y:0", deviceKey: "k", kind: .null, payload: Harness.payload(),
                                                   maxAttempts: 3, owner: "y")))
        try store.apply(changes)
        let core = BrokerCore(restoring: try store.unfinishedJobs())
        XCTAssertEqual(core.queuedJobs(deviceKey: "k"), ["x:0", "y:0", "x:1", "x:2"])
    }
}
