import XCTest
@testable import SeerCoordinator
import SeerWire

/// The broker's state machine, driven by hand with a fake clock: no sockets, no sleeps.
final class BrokerCoreTests: XCTestCase {
    /// A BrokerCore plus a clock and helpers to read its actions.
    struct Harness {
        var core: BrokerCore
        var now: Int64 = 1_000
        var log: [BrokerAction] = []

        init(_ configuration: BrokerConfiguration = BrokerConfiguration(heartbeatIntervalMs: 1_000, liveness: 3,
                                                                       defaultMaxAttempts: 3, jobGraceMs: 10_000),
             restoring: [JobRecord] = [], keyBindings: [String: String] = [:]) {
            core = BrokerCore(configuration: configuration, restoring: restoring, keyBindings: keyBindings)
        }

        @discardableResult
        mutating func feed(_ event: BrokerEvent) -> [BrokerAction] {
            let actions = core.handle(event, now: now)
            log += actions
            return actions
        }

        mutating func advance(_ ms: Int64) -> [BrokerAction] {
            now += ms
            return feed(.tick)
        }

        static func peer(_ name: String, key: String? = nil) -> BrokerPeer {
            BrokerPeer(routingID: Array(name.utf8), publicKey: key)
        }

        static func ready(_ name: String, deviceKey: String, version: Int = SeerProtocol.version) -> ReadyBody {
            ReadyBody(agentID: name, deviceKey: deviceKey, executor: .builtin,
                      device: DeviceDescriptor(cores: 4, memoryBytes: 1 << 30, os: "Test OS"),
                      protocolVersion: version, capabilities: ["null", "measure"])
        }

        @discardableResult
        mutating func register(_ name: String, deviceKey: String, key: String? = nil) -> [BrokerAction] {
            feed(.agentReady(Self.peer(name, key: key), Self.ready(name, deviceKey: deviceKey)))
        }

        static func payload(totalMs: Int = 60_000) -> JobPayload {
            JobPayload(model: "null", policy: [:], timeouts: JobTimeouts(totalMs: totalMs))
        }

        @discardableResult
        mutating func submit(_ id: JobID, deviceKey: String, maxAttempts: Int = 3, totalMs: Int = 60_000) -> [BrokerAction] {
            feed(.submit(JobSubmission(id: id, deviceKey: deviceKey, kind: .null, payload: Self.payload(totalMs: totalMs),
                                       maxAttempts: maxAttempts)))
        }

        @discardableResult
        mutating func result(_ agent: String, job: JobID, key: String? = nil, accuracy: Double? = nil) -> [BrokerAction] {
            feed(.result(Self.peer(agent, key: key),
                         ResultBody(jobID: job, agentID: agent, payload: ResultPayload(accuracy: accuracy, timingsMs: ["total": 1]))))
        }

        @discardableResult
        mutating func error(_ agent: String, job: JobID?, code: ErrorCode, key: String? = nil) -> [BrokerAction] {
            feed(.error(Self.peer(agent, key: key), ErrorBody(jobID: job, code: code, message: "\(code.rawValue) happened")))
        }

        @discardableResult
        mutating func heartbeat(_ agent: String, job: JobID? = nil, key: String? = nil) -> [BrokerAction] {
            feed(.heartbeat(Self.peer(agent, key: key), HeartbeatBody(jobID: job)))
        }
    }

    /// (agent, job id) of every JOB sent in `actions`.
    static func jobsSent(_ actions: [BrokerAction]) -> [(agent: String, job: JobID)] {
        actions.compactMap {
            if case let .send(routingID, .job(body)) = $0 { return (String(decoding: routingID, as: UTF8.self), body.jobID) }
            return nil
        }
    }

    static func messages(to agent: String, in actions: [BrokerAction]) -> [Message] {
        actions.compactMap {
            if case let .send(routingID, message) = $0, routingID == Array(agent.utf8) { return message }
            return nil
        }
    }

    static func finished(_ actions: [BrokerAction]) -> [JobID: JobOutcome] {
        var found: [JobID: JobOutcome] = [:]
        for case let .finished(id, outcome) in actions { found[id] = outcome }
        return found
    }

    static func stored(_ actions: [BrokerAction]) -> [StoreChange] {
        actions.compactMap { if case let .store(change) = $0 { return change } else { return nil } }
    }

    // MARK: Registration

    func testReadyRegistersAnswersWithHeartbeatAndPersistsTheAgent() {
        var h = Harness()
        let actions = h.register("a1", deviceKey: "cpu-x86", key: "K1")
        XCTAssertEqual(Self.messages(to: "a1", in: actions), [.heartbeat(HeartbeatBody())])
        XCTAssertEqual(Self.stored(actions), [.agentRegistered(Harness.ready("a1", deviceKey: "cpu-x86"), publicKey: "K1")])
        let agents = h.core.agentSnapshots()
        XCTAssertEqual(agents.map(\.agentID), ["a1"])
        XCTAssertEqual(agents.first?.deviceKey, "cpu-x86")
        XCTAssertEqual(agents.first?.publicKey, "K1")
        XCTAssertNil(agents.first?.currentJob)
    }

    func testReadyWithAnotherProtocolVersionIsRefused() {
        var h = Harness()
        let actions = h.feed(.agentReady(Harness.peer("old"), Harness.ready("old", deviceKey: "k", version: 2)))
        let replies = Self.messages(to: "old", in: actions)
        XCTAssertEqual(replies.count, 2)
        guard case let .error(body) = replies[0], case .disconnect = replies[1] else { return XCTFail("\(replies)") }
        XCTAssertEqual(body.code, .unsupportedVersion)
        XCTAssertEqual(h.core.agentCount, 0)
        XCTAssertEqual(h.core.counters.refused, 1)
    }

    func testAgentIDStaysBoundToTheKeyThatFirstRegisteredIt() {
        var h = Harness(keyBindings: ["a1": "K1"])
        var actions = h.register("a1", deviceKey: "k", key: "K2")
        guard case let .error(body)? = Self.messages(to: "a1", in: actions).first else { return XCTFail("\(actions)") }
        XCTAssertEqual(body.code, .unauthorized)
        XCTAssertEqual(h.core.agentCount, 0)

        actions = h.register("a1", deviceKey: "k", key: "K1")
        XCTAssertEqual(Self.messages(to: "a1", in: actions), [.heartbeat(HeartbeatBody())])
        // A new name is bound on first use, then held.
        h.register("a2", deviceKey: "k", key: "K3")
        h.feed(.disconnect(Harness.peer("a2", key: "K3"), DisconnectBody(reason: "bye")))
        actions = h.register("a2", deviceKey: "k", key: "K4")
        guard case let .error(again)? = Self.messages(to: "a2", in: actions).first else { return XCTFail("\(actions)") }
        XCTAssertEqual(again.code, .unauthorized)
    }

    func testMessageFromAnotherKeyOnARegisteredRoutingIDIsDroppedWithoutAnAnswer() {
        var h = Harness()
        h.register("a1", deviceKey: "k", key: "K1")
        h.submit("j1", deviceKey: "k")
        let actions = h.result("a1", job: "j1", key: "K2")  // another key's connection on a1's routing id
        // Anything sent to routing id "a1" reaches the registered agent: an unauthorized + DISCONNECT would end it.
        XCTAssertTrue(Self.messages(to: "a1", in: actions).isEmpty, "\(actions)")
        XCTAssertTrue(Self.finished(actions).isEmpty)
        XCTAssertTrue(Self.stored(actions).isEmpty)
        XCTAssertEqual(h.core.jobStatus("j1")?.state, .running)
    }

    /// Issue 12: another allow-listed key claiming a registered agent's id (on that agent's routing id) must not
    /// knock the agent off or fail its job; whatever the claimant sends changes nothing.
    func testAnIDClaimedByASecondKeyLeavesTheAgentHoldingItAndItsJobAlone() {
        var h = Harness()
        h.register("a1", deviceKey: "k", key: "K1")
        h.submit("j1", deviceKey: "k")
        let registeredAt = h.core.agentSnapshots().first?.registeredAtMs
        var claims: [BrokerAction] = []
        // The claimant tries every message on a1's routing id: READY under a1's id and under a name of its own, then
        // the rest, including a RESULT for a1's job and a DISCONNECT.
        claims += h.feed(.agentReady(Harness.peer("a1", key: "K2"), Harness.ready("a1", deviceKey: "k")))
        claims += h.feed(.agentReady(Harness.peer("a1", key: "K2"), Harness.ready("mallory", deviceKey: "k")))
        claims += h.heartbeat("a1", key: "K2")
        claims += h.result("a1", job: "j1", key: "K2", accuracy: 0.1)
        claims += h.error("a1", job: "j1", code: .runtimeError, key: "K2")
        claims += h.feed(.profile(Harness.peer("a1", key: "K2"),
                                  ProfileBody(agentID: "a1", deviceKey: "k", profile: "p", capacityPercent: 5, status: .discharging)))
        claims += h.feed(.deployed(Harness.peer("a1", key: "K2"),
                                   DeployedBody(deployID: "d", agentID: "a1", status: .ok)))
        claims += h.feed(.disconnect(Harness.peer("a1", key: "K2"), DisconnectBody(reason: "bye")))
        XCTAssertTrue(Self.messages(to: "a1", in: claims).isEmpty, "nothing may be sent to a1's routing id: \(claims)")
        XCTAssertTrue(Self.stored(claims).isEmpty, "\(claims)")
        XCTAssertTrue(Self.finished(claims).isEmpty, "\(claims)")
        XCTAssertEqual(h.core.counters.requeued, 0)
        XCTAssertEqual(h.core.agentSnapshots().map(\.agentID), ["a1"])
        XCTAssertEqual(h.core.agentSnapshots().first?.publicKey, "K1")
        XCTAssertEqual(h.core.agentSnapshots().first?.registeredAtMs, registeredAt)
        XCTAssertEqual(h.core.jobStatus("j1")?.state, .running)
        XCTAssertEqual(h.core.jobStatus("j1")?.attempts, 1)

        // The agent itself carries on: heartbeats keep it alive, its RESULT finishes the job on its first attempt.
        XCTAssertTrue(Self.messages(to: "a1", in: h.heartbeat("a1", job: "j1", key: "K1")).isEmpty)
        let done = h.result("a1", job: "j1", key: "K1", accuracy: 0.9)
        guard case let .done(result, agentID, attempts)? = Self.finished(done)["j1"] else { return XCTFail("\(done)") }
        XCTAssertEqual(result.accuracy, 0.9)
        XCTAssertEqual(agentID, "a1")
        XCTAssertEqual(attempts, 1)
        // A claim from another routing id is refused to that routing id only, and the binding still holds.
        let elsewhere = h.feed(.agentReady(Harness.peer("x", key: "K2"), Harness.ready("a1", deviceKey: "k")))
        guard case let .error(refusal)? = Self.messages(to: "x", in: elsewhere).first else { return XCTFail("\(elsewhere)") }
        XCTAssertEqual(refusal.code, .unauthorized)
        XCTAssertTrue(Self.messages(to: "a1", in: elsewhere).isEmpty)
        XCTAssertEqual(h.core.agentSnapshots().map(\.agentID), ["a1"])
    }

    func testUnregisteredPeersGetDisconnectExceptForTheirOwnDisconnect() {
        var h = Harness()
        var actions = h.heartbeat("ghost")
        XCTAssertEqual(Self.messages(to: "ghost", in: actions), [.disconnect(DisconnectBody(reason: "not registered"))])
        actions = h.result("ghost", job: "j")
        XCTAssertEqual(Self.messages(to: "ghost", in: actions), [.disconnect(DisconnectBody(reason: "not registered"))])
        actions = h.feed(.disconnect(Harness.peer("ghost"), DisconnectBody(reason: "bye")))
        XCTAssertTrue(Self.messages(to: "ghost", in: actions).isEmpty)
        XCTAssertEqual(h.core.agentCount, 0)
    }

    // MARK: Dispatch

    func testJobsGoOnlyToAgentsOfTheirDeviceKey() {
        var h = Harness()
        h.register("x1", deviceKey: "cpu-x86")
        h.register("a1", deviceKey: "cpu-arm")
        h.register("x2", deviceKey: "cpu-x86")
        var sent: [(agent: String, job: JobID)] = []
        for index in 0..<4 {
            sent += Self.jobsSent(h.submit("x\(index)", deviceKey: "cpu-x86"))
            sent += Self.jobsSent(h.submit("a\(index)", deviceKey: "cpu-arm"))
        }
        XCTAssertEqual(sent.map(\.agent), ["x1", "a1", "x2"])
        XCTAssertEqual(sent.map(\.job), ["x0", "a0", "x1"])
        // Finishing a job hands the agent the next of its own key only.
        sent = Self.jobsSent(h.result("a1", job: "a0"))
        XCTAssertEqual(sent.map(\.agent), ["a1"])
        XCTAssertEqual(sent.map(\.job), ["a1"])
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "cpu-x86"), ["x2", "x3"])
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "cpu-arm"), ["a2", "a3"])
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "sim-bismo"), [])
    }

    func testOneJobAtATimeInFIFOOrder() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        var order: [JobID] = []
        for index in 0..<6 { order += Self.jobsSent(h.submit("j\(index)", deviceKey: "k")).map(\.job) }
        XCTAssertEqual(order, ["j0"], "only one job may be in flight per agent")
        for index in 0..<6 {
            XCTAssertEqual(h.core.agentSnapshots().first?.currentJob, "j\(index)")
            order += Self.jobsSent(h.result("a1", job: "j\(index)")).map(\.job)
        }
        XCTAssertEqual(order, (0..<6).map { "j\($0)" })
        XCTAssertEqual(h.core.counters.done, 6)
        XCTAssertEqual(h.core.agentSnapshots().first?.jobsDone, 6)
    }

    func testLongestIdleAgentGetsTheNextJob() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.register("a3", deviceKey: "k")
        XCTAssertEqual(Self.jobsSent(h.submit("j1", deviceKey: "k")).map(\.agent), ["a1"])
        h.result("a1", job: "j1")  // a1 goes to the back of the idle line
        XCTAssertEqual(Self.jobsSent(h.submit("j2", deviceKey: "k")).map(\.agent), ["a2"])
        XCTAssertEqual(Self.jobsSent(h.submit("j3", deviceKey: "k")).map(\.agent), ["a3"])
        XCTAssertEqual(Self.jobsSent(h.submit("j4", deviceKey: "k")).map(\.agent), ["a1"])
    }

    func testDispatchPersistsAttemptsAndResultsAreRecordedOnce() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        let submitted = h.submit("j1", deviceKey: "k")
        XCTAssertEqual(Self.stored(submitted), [
            .jobSubmitted(JobSubmission(id: "j1", deviceKey: "k", kind: .null, payload: Harness.payload(), maxAttempts: 3)),
            .jobDispatched(id: "j1", agentID: "a1", attempts: 1),
        ])
        let first = h.result("a1", job: "j1", accuracy: 0.5)
        XCTAssertEqual(Self.finished(first)["j1"]?.result?.accuracy, 0.5)
        XCTAssertEqual(Self.stored(first).count, 1)

        // A duplicate (or late) RESULT: answered unknown_job, nothing stored, nothing finished.
        let duplicate = h.result("a1", job: "j1", accuracy: 0.9)
        XCTAssertTrue(Self.stored(duplicate).isEmpty)
        XCTAssertTrue(Self.finished(duplicate).isEmpty)
        guard case let .error(body)? = Self.messages(to: "a1", in: duplicate).first else { return XCTFail("\(duplicate)") }
        XCTAssertEqual(body.code, .unknownJob)
        XCTAssertEqual(h.core.counters.done, 1)
    }

    func testDuplicateSubmissionIsIgnored() {
        var h = Harness()
        h.submit("j1", deviceKey: "k")
        let again = h.submit("j1", deviceKey: "k")
        XCTAssertTrue(Self.stored(again).isEmpty)
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["j1"])
    }

    // MARK: Heartbeats and expiry

    func testCoordinatorHeartbeatsIdleAndBusyAgentsOncePerInterval() {
        var h = Harness()
        h.register("idle", deviceKey: "k")
        h.register("busy", deviceKey: "other")
        h.submit("j1", deviceKey: "other")
        XCTAssertTrue(h.advance(999).isEmpty, "nothing is due before one interval")
        let due = h.advance(1)
        XCTAssertEqual(Self.messages(to: "idle", in: due), [.heartbeat(HeartbeatBody())])
        XCTAssertEqual(Self.messages(to: "busy", in: due), [.heartbeat(HeartbeatBody())])
        XCTAssertTrue(h.advance(500).isEmpty)
        // Agents keep heartbeating, so nobody expires however long this runs.
        for _ in 0..<20 {
            h.heartbeat("idle")
            h.heartbeat("busy", job: "j1")
            _ = h.advance(1_000)
        }
        XCTAssertEqual(h.core.agentCount, 2)
        XCTAssertEqual(h.core.jobStatus("j1")?.state, .running)
    }

    func testSilentAgentExpiresAndItsJobMovesToAnotherAgentOfItsKey() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        XCTAssertEqual(Self.jobsSent(h.submit("j1", deviceKey: "k")).map(\.agent), ["a1"])
        h.register("a2", deviceKey: "k")
        h.register("b1", deviceKey: "other")
        // a2 and b1 keep talking; a1 falls silent.
        for _ in 0..<2 {
            _ = h.advance(1_000)
            h.heartbeat("a2")
            h.heartbeat("b1")
        }
        XCTAssertEqual(h.core.agentCount, 3, "2 s of silence is not yet 3 intervals")
        let expiry = h.advance(1_000)
        XCTAssertEqual(h.core.agentSnapshots().map(\.agentID), ["a2", "b1"])
        XCTAssertEqual(Self.jobsSent(expiry).map(\.agent), ["a2"])
        XCTAssertEqual(h.core.jobStatus("j1")?.attempts, 2)
        XCTAssertTrue(Self.stored(expiry).contains(.agentLeft(agentID: "a1")))
        XCTAssertTrue(Self.stored(expiry).contains { if case .jobRequeued("j1", 1, .runtimeError, _) = $0 { return true }; return false })
        XCTAssertEqual(h.core.counters.expired, 1)

        // The expired agent's late RESULT is not recorded: it is not registered any more.
        let late = h.result("a1", job: "j1")
        XCTAssertTrue(Self.finished(late).isEmpty)
        XCTAssertEqual(Self.messages(to: "a1", in: late), [.disconnect(DisconnectBody(reason: "not registered"))])
        XCTAssertEqual(Self.finished(h.result("a2", job: "j1"))["j1"]?.attempts, 2)
    }

    func testExpiredAgentThatReRegistersCannotRecordItsOldJobTwice() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.submit("j1", deviceKey: "k")  // a1
        h.heartbeat("a2")
        _ = h.advance(2_000)
        h.heartbeat("a2")
        _ = h.advance(1_000)  // a1 expires, j1 moves to a2
        XCTAssertEqual(h.core.jobStatus("j1")?.agentID, "a2")
        h.register("a1", deviceKey: "k")
        let late = h.result("a1", job: "j1")
        XCTAssertTrue(Self.finished(late).isEmpty)
        XCTAssertTrue(Self.stored(late).isEmpty)
        XCTAssertEqual(Self.finished(h.result("a2", job: "j1")).count, 1)
        XCTAssertTrue(Self.finished(h.result("a2", job: "j1")).isEmpty)
    }

    func testExpiryWithConfiguredIntervalAndLiveness() {
        var h = Harness(BrokerConfiguration(heartbeatIntervalMs: 100, liveness: 5))
        h.register("a1", deviceKey: "k")
        _ = h.advance(499)
        XCTAssertEqual(h.core.agentCount, 1)
        _ = h.advance(1)
        XCTAssertEqual(h.core.agentCount, 0)
    }

    // MARK: Failures and retries

    func testRetryableErrorsRetryElsewhereUpToTheLimitThenFailWithTheLastError() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.submit("j1", deviceKey: "k", maxAttempts: 3)
        XCTAssertEqual(Self.jobsSent(h.error("a1", job: "j1", code: .outOfMemory)).map(\.agent), ["a2"])
        XCTAssertEqual(Self.jobsSent(h.error("a2", job: "j1", code: .runtimeError)).map(\.agent), ["a1"])
        let last = h.error("a1", job: "j1", code: .timeout)
        XCTAssertTrue(Self.jobsSent(last).isEmpty)
        guard case let .failed(code, message, attempts)? = Self.finished(last)["j1"] else { return XCTFail("\(last)") }
        XCTAssertEqual(code, .timeout)
        XCTAssertEqual(attempts, 3)
        XCTAssertTrue(message.contains("failed after 3 attempts"), message)
        XCTAssertTrue(message.contains("timeout happened"), message)
        XCTAssertEqual(h.core.counters.failed, 1)
        XCTAssertEqual(h.core.counters.requeued, 2)
        XCTAssertNil(h.core.jobStatus("j1"))
    }

    func testRetryWaitsForAnotherAgentRatherThanTheOneItFailedOn() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.submit("j1", deviceKey: "k")  // a1
        h.submit("j2", deviceKey: "k")  // a2
        h.submit("j3", deviceKey: "k")
        // a1 fails j1: it takes j3 instead, and j1 waits for a2.
        XCTAssertEqual(Self.jobsSent(h.error("a1", job: "j1", code: .outOfMemory)).map(\.job), ["j3"])
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["j1"])
        XCTAssertTrue(Self.jobsSent(h.result("a1", job: "j3")).isEmpty, "a1 stays idle rather than retry j1 itself")
        XCTAssertEqual(Self.jobsSent(h.result("a2", job: "j2")).map { "\($0.agent):\($0.job)" }, ["a2:j1"])
        // With a2 gone, a1 is the only agent left and may retry what failed on it.
        h.submit("j4", deviceKey: "k")  // a1
        let gone = h.feed(.disconnect(Harness.peer("a2"), DisconnectBody(reason: "bye")))
        XCTAssertTrue(Self.jobsSent(gone).isEmpty)
        XCTAssertEqual(Self.jobsSent(h.result("a1", job: "j4")).map(\.job), ["j1"])
        XCTAssertEqual(h.core.jobStatus("j1")?.attempts, 2, "a2's disconnect refunded its attempt")
    }

    func testBadPolicyFailsAtOnce() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.submit("j1", deviceKey: "k")
        h.submit("j2", deviceKey: "k")
        let actions = h.error("a1", job: "j1", code: .badPolicy)
        XCTAssertEqual(Self.finished(actions)["j1"], .failed(code: .badPolicy, message: "a1: bad_policy happened", attempts: 1))
        XCTAssertEqual(Self.stored(actions).first, .jobFailed(id: "j1", attempts: 1, code: .badPolicy, message: "a1: bad_policy happened"))
        XCTAssertEqual(h.core.agentSnapshots().first { $0.agentID == "a1" }?.currentJob, nil)
    }

    func testRetryableFailureGoesToTheHeadOfTheQueue() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.submit("j1", deviceKey: "k")
        h.submit("j2", deviceKey: "k")
        h.submit("j3", deviceKey: "k")
        XCTAssertEqual(Self.jobsSent(h.error("a1", job: "j1", code: .runtimeError)).map(\.job), ["j1"])
    }

    func testBusyRefundsTheAttemptAndBlocksTheAgentUntilItIsIdle() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.submit("j1", deviceKey: "k")  // a1
        h.submit("j2", deviceKey: "k")  // a2
        h.result("a2", job: "j2")
        let busy = h.error("a1", job: "j1", code: .busy)
        XCTAssertEqual(Self.jobsSent(busy).map(\.agent), ["a2"])
        XCTAssertEqual(h.core.jobStatus("j1")?.attempts, 1, "the refused dispatch does not count")
        XCTAssertEqual(h.core.agentSnapshots().first { $0.agentID == "a1" }?.blocked, true)
        h.submit("j3", deviceKey: "k")
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["j3"], "a blocked agent gets nothing")
        XCTAssertEqual(Self.jobsSent(h.heartbeat("a1")).map(\.job), ["j3"])
    }

    func testJobDeadlineTimesOutAndRetriesAndTheAgentIsBlockedWhileItReportsTheOldJob() {
        var h = Harness(BrokerConfiguration(heartbeatIntervalMs: 1_000, liveness: 3, defaultMaxAttempts: 3, jobGraceMs: 2_000))
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.submit("slow", deviceKey: "k", totalMs: 3_000)  // a1: deadline 3 s + 2 s grace
        var moved: [(agent: String, job: JobID)] = []
        for _ in 0..<5 {
            h.heartbeat("a1", job: "slow")
            h.heartbeat("a2")
            moved += Self.jobsSent(h.advance(1_000))
        }
        XCTAssertEqual(moved.map(\.agent), ["a2"])
        XCTAssertEqual(h.core.jobStatus("slow")?.attempts, 2)
        XCTAssertEqual(h.core.agentSnapshots().first { $0.agentID == "a1" }?.blocked, true)
        h.submit("next", deviceKey: "k")
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["next"])
        // The old job's late answer unblocks a1 without being recorded.
        let late = h.result("a1", job: "slow")
        XCTAssertTrue(Self.finished(late).isEmpty)
        XCTAssertEqual(Self.jobsSent(late).map(\.job), ["next"])
    }

    func testHeartbeatNamingAnUntrackedJobBlocksTheAgent() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.heartbeat("a1", job: "from-before")
        XCTAssertTrue(Self.jobsSent(h.submit("j1", deviceKey: "k")).isEmpty)
        XCTAssertEqual(Self.jobsSent(h.heartbeat("a1")).map(\.job), ["j1"])
    }

    func testDisconnectRefundsTheAttemptAndForgetsTheAgent() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.submit("j1", deviceKey: "k", maxAttempts: 1)
        let actions = h.feed(.disconnect(Harness.peer("a1"), DisconnectBody(reason: "agent shutting down")))
        XCTAssertEqual(h.core.agentCount, 0)
        XCTAssertEqual(h.core.jobStatus("j1")?.state, .queued)
        XCTAssertEqual(h.core.jobStatus("j1")?.attempts, 0)
        XCTAssertTrue(Self.finished(actions).isEmpty, "a deliberate departure does not use up the only attempt")
        XCTAssertTrue(Self.messages(to: "a1", in: actions).isEmpty)
    }

    func testReRegistrationLosesTheRunningJobAndRequeuesIt() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.submit("j1", deviceKey: "k")
        let actions = h.register("a1", deviceKey: "k")  // the agent restarted
        XCTAssertEqual(Self.jobsSent(actions).map(\.job), ["j1"])
        XCTAssertEqual(h.core.jobStatus("j1")?.attempts, 2)
    }

    func testUnreachableJobIsRefundedAndTheAgentDropped() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.submit("j1", deviceKey: "k")
        h.feed(.unreachable(Array("a1".utf8), jobID: "j1"))
        XCTAssertEqual(h.core.agentCount, 0)
        XCTAssertEqual(h.core.jobStatus("j1")?.attempts, 0)
        XCTAssertEqual(h.core.jobStatus("j1")?.state, .queued)
        h.feed(.unreachable(Array("nobody".utf8), jobID: nil))  // unknown peers are ignored
    }

    // MARK: Restore and shutdown

    func testRestoredJobsKeepTheirAttemptsAndOrder() {
        let now = Date()
        var first = JobRecord(submission: JobSubmission(id: "r1", deviceKey: "k", kind: .null, payload: Harness.payload(),
                                                        maxAttempts: 3), at: now)
        first.attempts = 2
        first.lastError = "oom"
        first.lastErrorCode = .outOfMemory
        var second = JobRecord(submission: JobSubmission(id: "r2", deviceKey: "k", kind: .null, payload: Harness.payload(),
                                                         maxAttempts: 3), at: now)
        second.state = .running
        var finished = second
        finished.id = "r3"
        finished.state = .done
        var h = Harness(restoring: [first, second, finished])
        XCTAssertEqual(h.core.queuedJobs(deviceKey: "k"), ["r1", "r2"])
        h.register("a1", deviceKey: "k")
        let last = h.error("a1", job: "r1", code: .outOfMemory)
        XCTAssertEqual(Self.finished(last)["r1"]?.attempts, 3)
        XCTAssertEqual(Self.jobsSent(last).map(\.job), ["r2"])
    }

    func testShutdownDisconnectsEveryAgentAndPutsRunningJobsBackUncounted() {
        var h = Harness()
        h.register("a1", deviceKey: "k")
        h.register("a2", deviceKey: "k")
        h.submit("j1", deviceKey: "k")
        let actions = h.feed(.shutdown)
        XCTAssertEqual(Self.messages(to: "a1", in: actions), [.disconnect(DisconnectBody(reason: "coordinator shutting down"))])
        XCTAssertEqual(Self.messages(to: "a2", in: actions), [.disconnect(DisconnectBody(reason: "coordinator shutting down"))])
        XCTAssertTrue(Self.stored(actions).contains(.jobRequeued(id: "j1", attempts: 0, code: nil, message: nil)))
        XCTAssertEqual(h.core.agentCount, 0)
    }

    func testNextDeadlineTracksHeartbeatsExpiryAndJobs() {
        var h = Harness()
        XCTAssertNil(h.core.nextDeadline())
        h.register("a1", deviceKey: "k")
        XCTAssertEqual(h.core.nextDeadline(), h.now + 1_000)
    }

    func testFIFOQueueKeepsOrderAcrossCompaction() {
        var queue = FIFOQueue<Int>()
        for value in 0..<5_000 { queue.append(value) }
        for expected in 0..<3_000 { XCTAssertEqual(queue.popFirst(), expected) }
        queue.pushFront(-1)
        queue.append(5_000)
        XCTAssertEqual(queue.count, 2_002)
        XCTAssertEqual(queue.first, -1)
        XCTAssertEqual(queue.popFirst(), -1)
        XCTAssertEqual(queue.elements.first, 3_000)
        XCTAssertEqual(queue.elements.last, 5_000)
        while queue.popFirst() != nil {}
        XCTAssertTrue(queue.isEmpty)
    }
}
