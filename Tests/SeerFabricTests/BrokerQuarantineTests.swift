import XCTest
@testable import SeerCoordinator
import SeerWire

/// Agents that fail jobs in a row are benched (`QuarantinePolicy`), driven with a fake clock: no sockets, no sleeps.
final class BrokerQuarantineTests: XCTestCase {
    typealias Harness = BrokerCoreTests.Harness

    static let configuration = BrokerConfiguration(heartbeatIntervalMs: 1_000, liveness: 3, defaultMaxAttempts: 3,
                                                   jobGraceMs: 10_000,
                                                   quarantine: QuarantinePolicy(afterFailures: 3, backoffMs: 30_000,
                                                                                maxBackoffMs: 120_000))

    /// Moves the clock on by `ms` in 1 s steps, every agent in `alive` heart-beating (busy with its current job) on
    /// the way; returns the actions of the whole stretch.
    static func wait(_ h: inout Harness, _ ms: Int64, alive: [String]) -> [BrokerAction] {
        var actions: [BrokerAction] = []
        var left = ms
        while left > 0 {
            let step = min(left, 1_000)
            for agent in alive {
                let job = h.core.agentSnapshots().first { $0.agentID == agent }?.currentJob
                actions += h.heartbeat(agent, job: job)
            }
            actions += h.advance(step)
            left -= step
        }
        return actions
    }

    func snapshot(_ h: Harness, _ agent: String) -> AgentSnapshot? {
        h.core.agentSnapshots().first { $0.agentID == agent }
    }

    func testAnAgentAloneOnItsKeyThatFailsEveryJobIsBenchedInsteadOfUsingUpTheQueue() {
        var h = Harness(Self.configuration)
        h.register("broken", deviceKey: "k")
        for i in 1...6 { h.submit("j\(i)", deviceKey: "k", maxAttempts: 3) }
        var failed: [JobID: JobOutcome] = [:]
        for _ in 0..<3 {
            let actions = h.error("broken", job: snapshot(h, "broken")?.currentJob, code: .runtimeError)
            failed.merge(BrokerCoreTests.finished(actions)) { a, _ in a }
        }
        // The first job used its three attempts on the only agent; the other five wait instead of failing in turn.
        XCTAssertEqual(Array(failed.keys), ["j1"])
        XCTAssertEqual(h.core.counters.failed, 1)
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["j2", "j3", "j4", "j5", "j6"])
        XCTAssertNil(snapshot(h, "broken")?.currentJob)
        XCTAssertEqual(snapshot(h, "broken")?.quarantinedUntilMs, h.now + 30_000)
        XCTAssertEqual(h.core.counters.quarantined, 1)
        XCTAssertTrue(BrokerCoreTests.stored(h.log).contains {
            if case let .agentQuarantined("broken", 30_000, reason) = $0 { return reason.contains("3 failed job attempts in a row") }
            return false
        }, "\(BrokerCoreTests.stored(h.log))")
    }

    func testTheOtherAgentsOfTheKeyCarryOnWhileOneIsBenchedAndItComesBackOnProbation() {
        var h = Harness(Self.configuration)
        h.register("bad", deviceKey: "k")
        h.register("good", deviceKey: "k")
        for i in 1...8 { h.submit("j\(i)", deviceKey: "k", maxAttempts: 5) }
        // bad: j1, good: j2. bad fails three different jobs in a row (a retry goes to the other agent).
        XCTAssertEqual(BrokerCoreTests.jobsSent(h.error("bad", job: "j1", code: .runtimeError)).map(\.job), ["j3"])
        XCTAssertEqual(BrokerCoreTests.jobsSent(h.error("bad", job: "j3", code: .outOfMemory)).map(\.job), ["j4"])
        let benched = h.error("bad", job: "j4", code: .runtimeError)
        XCTAssertTrue(BrokerCoreTests.jobsSent(benched).isEmpty, "\(benched)")
        XCTAssertNotNil(snapshot(h, "bad")?.quarantinedUntilMs)
        // good takes the retries first, then the rest; bad gets nothing while benched.
        var order: [JobID] = []
        for _ in 0..<3 {
            let job = snapshot(h, "good")!.currentJob!
            order += BrokerCoreTests.jobsSent(h.result("good", job: job)).map { $0.agent == "good" ? $0.job : "bad:\($0.job)" }
        }
        XCTAssertEqual(order, ["j4", "j3", "j1"])
        let during = Self.wait(&h, 29_000, alive: ["bad", "good"])
        XCTAssertTrue(BrokerCoreTests.jobsSent(during).isEmpty)
        // At 30 s it is back and takes the head of the queue.
        let back = Self.wait(&h, 1_000, alive: ["bad", "good"])
        XCTAssertEqual(BrokerCoreTests.jobsSent(back).map { "\($0.agent):\($0.job)" }, ["bad:j5"])
        XCTAssertNil(snapshot(h, "bad")?.quarantinedUntilMs)
        // On probation: one more failure benches it again, for twice as long.
        let again = h.error("bad", job: "j5", code: .runtimeError)
        XCTAssertTrue(BrokerCoreTests.stored(again).contains(.agentQuarantined(agentID: "bad", forMs: 60_000,
            reason: "1 failed job attempt in a row, the last: bad: runtime_error happened")), "\(again)")
        // good finishes j1 and runs j5; after 60 s bad is back, and a RESULT clears its record.
        _ = h.result("good", job: snapshot(h, "good")!.currentJob!)
        XCTAssertEqual(snapshot(h, "good")?.currentJob, "j5")
        _ = Self.wait(&h, 60_000, alive: ["bad", "good"])
        guard let job = snapshot(h, "bad")?.currentJob else { return XCTFail("bad got no job after its quarantine") }
        _ = h.result("bad", job: job)
        XCTAssertEqual(snapshot(h, "bad")?.failuresInARow, 0)
        XCTAssertNil(snapshot(h, "bad")?.quarantinedUntilMs)
        XCTAssertEqual(h.core.counters.quarantined, 2)
        XCTAssertEqual(h.core.counters.failed, 0)
    }

    func testFailuresThatAreTheJobsFaultOrRefundedDoNotCount() {
        var h = Harness(Self.configuration)
        h.register("a1", deviceKey: "k")
        for i in 1...4 { h.submit("p\(i)", deviceKey: "k") }
        for i in 1...3 { h.error("a1", job: "p\(i)", code: .badPolicy) }
        XCTAssertEqual(snapshot(h, "a1")?.currentJob, "p4")
        // busy refunds the attempt: the agent is not at fault for being busy.
        h.error("a1", job: "p4", code: .busy)
        h.heartbeat("a1")
        h.error("a1", job: "p4", code: .busy)
        h.heartbeat("a1")
        XCTAssertEqual(snapshot(h, "a1")?.failuresInARow, 0)
        XCTAssertNil(snapshot(h, "a1")?.quarantinedUntilMs)
        XCTAssertEqual(snapshot(h, "a1")?.currentJob, "p4")
    }

    func testASuccessInBetweenResetsTheRun() {
        var h = Harness(Self.configuration)
        h.register("a1", deviceKey: "k")
        for i in 1...6 { h.submit("j\(i)", deviceKey: "k", maxAttempts: 1) }
        h.error("a1", job: "j1", code: .runtimeError)
        h.error("a1", job: "j2", code: .runtimeError)
        h.result("a1", job: "j3")
        h.error("a1", job: "j4", code: .runtimeError)
        h.error("a1", job: "j5", code: .runtimeError)
        XCTAssertEqual(snapshot(h, "a1")?.currentJob, "j6")
        XCTAssertEqual(snapshot(h, "a1")?.failuresInARow, 2)
    }

    func testReRegisteringDoesNotEndAQuarantine() {
        var h = Harness(Self.configuration)
        h.register("a1", deviceKey: "k")
        for i in 1...4 { h.submit("j\(i)", deviceKey: "k", maxAttempts: 1) }
        for i in 1...3 { h.error("a1", job: "j\(i)", code: .runtimeError) }
        h.feed(.disconnect(Harness.peer("a1"), DisconnectBody(reason: "restarting")))
        let again = h.register("a1", deviceKey: "k")
        XCTAssertTrue(BrokerCoreTests.jobsSent(again).isEmpty)
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["j4"])
        let back = Self.wait(&h, 30_000, alive: ["a1"])
        XCTAssertEqual(BrokerCoreTests.jobsSent(back).map(\.job), ["j4"])
    }

    func testAnAgentThatExpiresMidJobCountsAFailure() {
        var h = Harness(Self.configuration)
        h.register("a1", deviceKey: "k")
        h.submit("j1", deviceKey: "k")
        _ = h.advance(3_000)  // silent: expired, its job requeued
        XCTAssertEqual(h.core.agentCount, 0)
        h.register("a1", deviceKey: "k")
        XCTAssertEqual(snapshot(h, "a1")?.failuresInARow, 1)
    }

    func testQuarantineOffNeverBenches() {
        var h = Harness(BrokerConfiguration(heartbeatIntervalMs: 1_000, liveness: 3, defaultMaxAttempts: 3, jobGraceMs: 10_000,
                                            quarantine: .off))
        h.register("a1", deviceKey: "k")
        for i in 1...6 { h.submit("j\(i)", deviceKey: "k", maxAttempts: 1) }
        for i in 1...5 { h.error("a1", job: "j\(i)", code: .runtimeError) }
        XCTAssertEqual(snapshot(h, "a1")?.currentJob, "j6")
        XCTAssertNil(snapshot(h, "a1")?.quarantinedUntilMs)
    }

    func testBackoffDoublesUpToItsLimit() {
        let policy = QuarantinePolicy(afterFailures: 3, backoffMs: 30_000, maxBackoffMs: 200_000)
        XCTAssertEqual((0..<6).map { policy.backoff(after: $0) }, [30_000, 60_000, 120_000, 200_000, 200_000, 200_000])
        XCTAssertEqual(QuarantinePolicy().backoff(after: 100), 600_000)
    }
}
