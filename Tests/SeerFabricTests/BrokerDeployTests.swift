import XCTest
@testable import SeerCoordinator
import SeerWire

/// DEPLOY and PROFILE in the broker's state machine: a deploy is the agent's one job, waits for it to be free,
/// and always ends in exactly one `deployFinished`.
final class BrokerDeployTests: XCTestCase {
    typealias Harness = BrokerCoreTests.Harness

    static func deployBody(_ id: String, profile: String = "saver") -> DeployBody {
        DeployBody(deployID: id, deviceKey: "cpu", profile: profile, model: "resnet8", policy: [:],
                   weights: WeightsReference(sha256: String(repeating: "ab", count: 32), sizeBytes: 2), inlineWeights: [1, 2])
    }

    static func deploysSent(_ actions: [BrokerAction]) -> [(agent: String, id: String)] {
        actions.compactMap {
            if case let .send(routingID, .deploy(body)) = $0 { return (String(decoding: routingID, as: UTF8.self), body.deployID) }
            return nil
        }
    }

    static func finished(_ actions: [BrokerAction]) -> [DeployedBody] {
        actions.compactMap { if case let .deployFinished(_, body) = $0 { return body } else { return nil } }
    }

    func testDeployGoesToTheIdleAgentAndBlocksJobsUntilDeployed() {
        var h = Harness()
        h.register("a1", deviceKey: "cpu")
        let sent = h.feed(.deploy(agentID: "a1", Self.deployBody("dep-1")))
        XCTAssertEqual(Self.deploysSent(sent).map(\.id), ["dep-1"])
        // A job for the same key waits: the deploy counts as the agent's one job.
        XCTAssertTrue(BrokerCoreTests.jobsSent(h.submit("j1", deviceKey: "cpu")).isEmpty)
        XCTAssertTrue(Self.finished(h.heartbeat("a1", job: "dep-1")).isEmpty)
        let done = h.feed(.deployed(Harness.peer("a1"), DeployedBody(deployID: "dep-1", agentID: "spoofed", status: .ok,
                                                                      timingsMs: ["total": 12])))
        XCTAssertEqual(Self.finished(done).map(\.status), [.ok])
        XCTAssertEqual(Self.finished(done).first?.agentID, "a1", "the registration, not the body, names the agent")
        XCTAssertEqual(BrokerCoreTests.jobsSent(done).map(\.job), ["j1"], "the agent is free again")
    }

    func testDeployWaitsForBusyOrUnregisteredAgentAndNewerOneSupersedes() {
        var h = Harness()
        // Not registered yet: it waits.
        XCTAssertTrue(Self.deploysSent(h.feed(.deploy(agentID: "a1", Self.deployBody("dep-1")))).isEmpty)
        let superseded = h.feed(.deploy(agentID: "a1", Self.deployBody("dep-2", profile: "balanced")))
        XCTAssertEqual(Self.finished(superseded).map(\.deployID), ["dep-1"])
        XCTAssertEqual(Self.finished(superseded).first?.status, .failed)
        // Registration sends the newest one.
        XCTAssertEqual(Self.deploysSent(h.register("a1", deviceKey: "cpu")).map(\.id), ["dep-2"])

        // Busy with a job: the deploy goes out when the job ends.
        var b = Harness()
        b.register("a1", deviceKey: "cpu")
        b.submit("j1", deviceKey: "cpu")
        XCTAssertTrue(Self.deploysSent(b.feed(.deploy(agentID: "a1", Self.deployBody("dep-3")))).isEmpty)
        XCTAssertEqual(Self.deploysSent(b.result("a1", job: "j1")).map(\.id), ["dep-3"])
    }

    func testLostAgentErrorAndTimeoutEachFinishTheDeployOnce() {
        var h = Harness()
        h.register("a1", deviceKey: "cpu")
        h.feed(.deploy(agentID: "a1", Self.deployBody("dep-1")))
        XCTAssertEqual(Self.finished(h.feed(.disconnect(Harness.peer("a1"), DisconnectBody(reason: "bye")))).map(\.code), [.runtimeError])

        h.register("a1", deviceKey: "cpu")
        h.feed(.deploy(agentID: "a1", Self.deployBody("dep-2")))
        XCTAssertEqual(Self.finished(h.error("a1", job: "dep-2", code: .unsupported)).map(\.code), [.unsupported])

        h.feed(.deploy(agentID: "a1", Self.deployBody("dep-3")))
        var timedOut: [DeployedBody] = []
        for _ in 0..<(SeerProtocol.deployTimeoutMs / 1_000 + 1) {
            h.heartbeat("a1", job: "dep-3")
            timedOut += Self.finished(h.advance(1_000))
        }
        XCTAssertEqual(timedOut.map(\.code), [.timeout])
        // A late DEPLOYED for it is not counted twice.
        let late = h.feed(.deployed(Harness.peer("a1"), DeployedBody(deployID: "dep-3", agentID: "a1", status: .ok)))
        XCTAssertTrue(Self.finished(late).isEmpty)
    }

    func testProfileIsReportedUnderTheRegisteredIdentity() {
        var h = Harness()
        // From an unregistered peer: refused.
        let stranger = h.feed(.profile(Harness.peer("x"), ProfileBody(agentID: "x", deviceKey: "cpu", profile: "saver",
                                                                       capacityPercent: 10, status: .discharging)))
        XCTAssertFalse(stranger.contains { if case .profileChanged = $0 { return true } else { return false } })
        h.register("a1", deviceKey: "cpu")
        let actions = h.feed(.profile(Harness.peer("a1"), ProfileBody(agentID: "other", deviceKey: "gpu", profile: "saver",
                                                                       capacityPercent: 10, status: .discharging)))
        let reported = actions.compactMap { if case let .profileChanged(agent, body) = $0 { return (agent, body) } else { return nil } }
        XCTAssertEqual(reported.count, 1)
        XCTAssertEqual(reported.first?.0, "a1")
        XCTAssertEqual(reported.first?.1.deviceKey, "cpu")
        XCTAssertEqual(reported.first?.1.profile, "saver")
    }
}
