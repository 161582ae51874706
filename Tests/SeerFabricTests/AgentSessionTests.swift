import XCTest
@testable import SeerAgent
import SeerWire

/// The agent's session state machine with a fake clock: registration, heartbeats, backoff, jobs.
final class AgentSessionTests: XCTestCase {
    static let ready = ReadyBody(agentID: "a1", deviceKey: "cpu-x86", executor: .builtin,
                                 device: DeviceDescriptor(cores: 2, memoryBytes: 1 << 30, os: "Test OS"),
                                 capabilities: ["null"])

    struct Harness {
        var session = AgentSession(ready: AgentSessionTests.ready,
                                   configuration: AgentSessionConfiguration(heartbeatIntervalMs: 1_000, liveness: 3,
                                                                            reconnectInitialMs: 1_000, reconnectMaxMs: 32_000,
                                                                            deadlineSlackMs: 500))
        var now: Int64 = 0

        @discardableResult
        mutating func feed(_ event: AgentEvent) -> [AgentAction] { session.handle(event, now: now) }

        @discardableResult
        mutating func advance(_ ms: Int64) -> [AgentAction] {
            now += ms
            return feed(.tick)
        }

        /// Starts and gets accepted.
        mutating func register() {
            feed(.start)
            feed(.received(.heartbeat(HeartbeatBody())))
        }

        static func job(_ id: String, kind: JobKind = .null, deviceKey: String = "cpu-x86", totalMs: Int = 10_000) -> JobBody {
            JobBody(jobID: id, deviceKey: deviceKey, kind: kind,
                    payload: JobPayload(model: "null", policy: [:], timeouts: JobTimeouts(totalMs: totalMs)))
        }
    }

    static func sent(_ actions: [AgentAction]) -> [Message] {
        actions.compactMap { if case let .send(message) = $0 { return message } else { return nil } }
    }

    func testStartConnectsAndSendsReadyThenHeartbeatAccepts() {
        var h = Harness()
        let start = h.feed(.start)
        XCTAssertEqual(start, [.connect, .send(.ready(Self.ready))])
        XCTAssertEqual(h.session.phase, .connecting)
        XCTAssertTrue(h.advance(1_500).isEmpty, "no heartbeats before acceptance")
        let accepted = h.feed(.received(.heartbeat(HeartbeatBody())))
        XCTAssertEqual(h.session.phase, .registered)
        XCTAssertTrue(Self.sent(accepted).isEmpty)
    }

    func testHeartbeatsEveryIntervalAndNamesTheRunningJob() {
        var h = Harness()
        h.register()
        XCTAssertTrue(Self.sent(h.advance(999)).isEmpty)
        h.feed(.received(.heartbeat(HeartbeatBody())))
        XCTAssertEqual(Self.sent(h.advance(1)), [.heartbeat(HeartbeatBody())])
        XCTAssertEqual(h.feed(.received(.job(Harness.job("j1")))), [.startJob(Harness.job("j1"))])
        h.feed(.received(.heartbeat(HeartbeatBody())))
        XCTAssertEqual(Self.sent(h.advance(1_000)), [.heartbeat(HeartbeatBody(jobID: "j1"))])
    }

    func testLongJobDoesNotLookLikeDeathWhileTheCoordinatorHeartbeats() {
        var h = Harness()
        h.register()
        h.feed(.received(.job(Harness.job("long", totalMs: 3_600_000))))
        for _ in 0..<600 {  // ten minutes
            let actions = h.advance(1_000)
            XCTAssertFalse(actions.contains(.close(flush: false)))
            h.feed(.received(.heartbeat(HeartbeatBody())))
        }
        XCTAssertEqual(h.session.phase, .registered)
        let done = h.feed(.jobFinished("long", .result(ResultPayload(accuracy: 0.5, timingsMs: ["total": 600_000]))))
        XCTAssertEqual(Self.sent(done), [.result(ResultBody(jobID: "long", agentID: "a1",
                                                            payload: ResultPayload(accuracy: 0.5, timingsMs: ["total": 600_000])))])
    }

    func testSilentCoordinatorTriggersReconnectWithBackoffDoublingTo32Seconds() {
        var h = Harness()
        h.register()
        var delays: [Int64] = []
        for _ in 0..<8 {
            // Silence until expiry...
            var actions: [AgentAction] = []
            while !actions.contains(.close(flush: false)) { actions = h.advance(100) }
            guard case let .waiting(until) = h.session.phase else { return XCTFail("\(h.session.phase)") }
            delays.append(until - h.now)
            // ...then exactly at the delay, a fresh socket and READY.
            XCTAssertTrue(h.advance(until - h.now - 1).isEmpty)
            XCTAssertEqual(h.advance(1), [.connect, .send(.ready(Self.ready))])
        }
        XCTAssertEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 32_000, 32_000])
        // Acceptance resets the backoff.
        h.feed(.received(.heartbeat(HeartbeatBody())))
        XCTAssertEqual(h.session.backoffMs, 1_000)
    }

    func testExpiryIsIntervalTimesLiveness() {
        var h = Harness()
        h.register()
        XCTAssertFalse(h.advance(2_999).contains(.close(flush: false)))
        XCTAssertTrue(h.advance(1).contains(.close(flush: false)))
    }

    func testOneJobAtATimeAndRefusalsOfWrongKeyAndKind() {
        var h = Harness()
        h.register()
        XCTAssertEqual(h.feed(.received(.job(Harness.job("j1")))), [.startJob(Harness.job("j1"))])
        XCTAssertEqual(Self.sent(h.feed(.received(.job(Harness.job("j2"))))),
                       [.error(ErrorBody(jobID: "j2", code: .busy, message: "running job j1"))])
        let done = h.feed(.jobFinished("j1", .failure(.outOfMemory("2 GiB"))))
        XCTAssertEqual(Self.sent(done), [.error(ErrorBody(jobID: "j1", code: .outOfMemory, message: "2 GiB"))])
        guard case let .error(wrongKey)? = Self.sent(h.feed(.received(.job(Harness.job("j3", deviceKey: "cpu-arm"))))).first else {
            return XCTFail()
        }
        XCTAssertEqual(wrongKey.code, .unsupported)
        guard case let .error(wrongKind)? = Self.sent(h.feed(.received(.job(Harness.job("j4", kind: .measure))))).first else {
            return XCTFail()
        }
        XCTAssertEqual(wrongKind.code, .unsupported)
        XCTAssertNil(h.session.currentJob)
    }

    func testOverrunJobIsReportedAsTimeoutAndItsLateOutcomeDropped() {
        var h = Harness()
        h.register()
        h.feed(.received(.job(Harness.job("slow", totalMs: 2_000))))
        h.feed(.received(.heartbeat(HeartbeatBody())))
        _ = h.advance(1_000)
        h.feed(.received(.heartbeat(HeartbeatBody())))
        _ = h.advance(1_000)
        h.feed(.received(.heartbeat(HeartbeatBody())))
        let overrun = h.advance(500)  // total_ms + 500 ms slack
        XCTAssertTrue(overrun.contains(.cancelJob("slow")))
        XCTAssertEqual(Self.sent(overrun).first,
                       .error(ErrorBody(jobID: "slow", code: .timeout, message: "job exceeded timeouts.total_ms; the executor did not stop in time")))
        // Still occupied: heartbeats name it and new jobs get "busy".
        h.feed(.received(.heartbeat(HeartbeatBody())))
        XCTAssertEqual(Self.sent(h.advance(1_000)), [.heartbeat(HeartbeatBody(jobID: "slow"))])
        guard case let .error(busy)? = Self.sent(h.feed(.received(.job(Harness.job("next"))))).first else { return XCTFail() }
        XCTAssertEqual(busy.code, .busy)
        XCTAssertTrue(Self.sent(h.feed(.jobFinished("slow", .result(ResultPayload())))).isEmpty)
        XCTAssertNil(h.session.currentJob)
        XCTAssertEqual(h.feed(.received(.job(Harness.job("next")))), [.startJob(Harness.job("next"))])
    }

    func testLosingTheCoordinatorAbandonsTheJob() {
        var h = Harness()
        h.register()
        h.feed(.received(.job(Harness.job("j1"))))
        let lost = h.advance(3_000)
        XCTAssertTrue(lost.contains(.close(flush: false)))
        XCTAssertTrue(lost.contains(.cancelJob("j1")))
        XCTAssertTrue(Self.sent(h.feed(.jobFinished("j1", .result(ResultPayload())))).isEmpty)
    }

    func testDisconnectMeansReRegisterButARefusalEndsTheAgent() {
        var h = Harness()
        h.register()
        let dropped = h.feed(.received(.disconnect(DisconnectBody(reason: "not registered"))))
        XCTAssertTrue(dropped.contains(.close(flush: false)))
        XCTAssertEqual(h.session.phase, .waiting(until: h.now + 1_000))
        XCTAssertEqual(h.advance(1_000), [.connect, .send(.ready(Self.ready))])

        h.feed(.received(.error(ErrorBody(code: .unauthorized, message: "agent_id a1 is bound to another CURVE key"))))
        let refused = h.feed(.received(.disconnect(DisconnectBody(reason: "unauthorized"))))
        XCTAssertEqual(refused.last, .exit(.refused(.unauthorized, "agent_id a1 is bound to another CURVE key")))
        XCTAssertEqual(h.session.phase, .exited)
        XCTAssertTrue(h.advance(10_000).isEmpty)
    }

    func testShutdownSaysDisconnectAndFlushes() {
        var h = Harness()
        h.register()
        h.feed(.received(.job(Harness.job("j1"))))
        let actions = h.feed(.shutdown)
        XCTAssertEqual(actions, [.send(.disconnect(DisconnectBody(reason: "agent shutting down"))), .close(flush: true),
                                 .cancelJob("j1"), .exit(.stopped)])
        // While waiting to reconnect there is no socket to say goodbye on.
        var waiting = Harness()
        waiting.register()
        waiting.feed(.received(.disconnect(DisconnectBody(reason: "not registered"))))
        XCTAssertEqual(waiting.feed(.shutdown), [.exit(.stopped)])
    }

    func testAMessageOnlyAgentsSendIsRefusedAsMalformed() {
        var h = Harness()
        h.register()
        let refused = Self.sent(h.feed(.received(.result(ResultBody(jobID: "j9", agentID: "a1", payload: ResultPayload())))))
        guard case let .error(body)? = refused.first, refused.count == 1 else { return XCTFail("\(refused)") }
        XCTAssertEqual(body.code, .malformed)
        XCTAssertEqual(h.session.phase, .registered)
    }

    func testJobBeforeTheAcceptingHeartbeatStillRuns() {
        var h = Harness()
        h.feed(.start)
        XCTAssertEqual(h.feed(.received(.job(Harness.job("j1")))), [.log("registered with the coordinator as a1 for cpu-x86"),
                                                                      .startJob(Harness.job("j1"))])
        XCTAssertEqual(h.session.phase, .registered)
    }

    func testDeployIsRefusedAsUnsupportedWithoutTheCapability() {
        var h = Harness()
        h.register()
        guard case let .error(body)? = Self.sent(h.feed(.received(.deploy(Self.deploy("d1"))))).first else { return XCTFail() }
        XCTAssertEqual(body.code, .unsupported)
        XCTAssertEqual(body.jobID, "d1")
    }

    static func deploy(_ id: String, deviceKey: String = "cpu-x86") -> DeployBody {
        DeployBody(deployID: id, deviceKey: deviceKey, profile: "powersave", model: "m", policy: [:],
                   weights: WeightsReference(sha256: String(repeating: "0", count: 64), sizeBytes: 0), inlineWeights: [])
    }

    /// A session whose READY announces `deploy`.
    static func deployingHarness() -> Harness {
        var ready = AgentSessionTests.ready
        ready.capabilities = ["null", "deploy"]
        var h = Harness()
        h.session = AgentSession(ready: ready, configuration: h.session.configuration)
        h.register()
        return h
    }

    func testDeployRunsAsTheOneJobAndItsOutcomeIsSentAsDeployed() {
        var h = Self.deployingHarness()
        XCTAssertEqual(h.feed(.received(.deploy(Self.deploy("d1")))), [.startDeploy(Self.deploy("d1"))])
        // Busy: a JOB or another DEPLOY is refused, and heartbeats name the deploy.
        guard case let .error(busy)? = Self.sent(h.feed(.received(.job(Harness.job("j1"))))).first else { return XCTFail() }
        XCTAssertEqual(busy.code, .busy)
        guard case let .error(busyDeploy)? = Self.sent(h.feed(.received(.deploy(Self.deploy("d2"))))).first else { return XCTFail() }
        XCTAssertEqual(busyDeploy.jobID, "d2")
        XCTAssertEqual(Self.sent(h.advance(1_000)), [.heartbeat(HeartbeatBody(jobID: "d1"))])
        let outcome = DeployedBody(deployID: "d1", agentID: "a1", status: .ok, timingsMs: ["total": 80])
        XCTAssertEqual(Self.sent(h.feed(.jobFinished("d1", .deployed(outcome)))), [.deployed(outcome)])
        // Another device key's model is refused with DEPLOYED failed, not installed.
        guard case let .deployed(refused)? = Self.sent(h.feed(.received(.deploy(Self.deploy("d3", deviceKey: "gpu"))))).first
        else { return XCTFail() }
        XCTAssertEqual(refused.status, .failed)
        XCTAssertEqual(refused.code, .unsupported)
    }

    func testAStuckDeployIsReportedAsTimedOut() {
        var h = Self.deployingHarness()
        h.feed(.received(.deploy(Self.deploy("d1"))))
        var sent: [Message] = []
        for _ in 0...(SeerProtocol.deployTimeoutMs / 1_000) {
            h.feed(.received(.heartbeat(HeartbeatBody())))
            sent += Self.sent(h.advance(1_000))
        }
        let deployed = sent.compactMap { if case let .deployed(body) = $0 { return body } else { return nil } }
        XCTAssertEqual(deployed.map(\.code), [.timeout])
    }

    func testProfileIsSentWhenRegisteredAndAgainAfterReconnecting() {
        var h = Harness()
        h.feed(.start)
        // Not yet accepted: kept, sent on acceptance.
        XCTAssertTrue(Self.sent(h.feed(.profileChanged(profile: "balanced", capacityPercent: 40, status: .discharging))).isEmpty)
        let profile = ProfileBody(agentID: "a1", deviceKey: "cpu-x86", profile: "balanced", capacityPercent: 40, status: .discharging)
        XCTAssertEqual(Self.sent(h.feed(.received(.heartbeat(HeartbeatBody())))), [.profile(profile)])
        let saver = ProfileBody(agentID: "a1", deviceKey: "cpu-x86", profile: "saver", capacityPercent: 12, status: .discharging)
        XCTAssertEqual(Self.sent(h.feed(.profileChanged(profile: "saver", capacityPercent: 12, status: .discharging))), [.profile(saver)])
        // The coordinator goes away; after the reconnect the current profile is announced again.
        h.feed(.received(.disconnect(DisconnectBody(reason: "restart"))))
        h.advance(1_000)
        XCTAssertEqual(Self.sent(h.feed(.received(.heartbeat(HeartbeatBody())))), [.profile(saver)])
    }
}
