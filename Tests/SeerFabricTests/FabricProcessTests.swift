import Foundation
import XCTest
import SeerAgent
import SeerCoordinator
import SeerTransport
import SeerWire

/// Coordinator and agents as real processes (or an in-process broker and agent processes) over loopback TCP.
final class FabricProcessTests: FabricTestCase {
    /// A CURVE broker that admits the agent keys named in `allowed` (each made with `fabric.keys`).
    func curveBroker(allowing allowed: [String], heartbeatMs: Int64 = 200, maxAttempts: Int = 3) throws -> Broker {
        let server = try fabric.keys("coordinator")
        var keys = Set<String>()
        for name in allowed { keys.insert(try fabric.keys(name).publicKey) }
        return try fabric.broker(security: .curve(serverKeys: server, allowedAgentKeys: keys), heartbeatMs: heartbeatMs,
                                 maxAttempts: maxAttempts)
    }

    func waitForAgents(_ broker: Broker, _ count: Int, timeout: TimeInterval = 10) {
        XCTAssertTrue(fabric.waitUntil(timeout) { broker.agents().count >= count },
                      "only \(broker.agents().map(\.agentID)) registered\n\(fabric.diagnostics)")
    }

    func testLatencyTableJobRunsOnAnAgentOfTheDeviceKey() throws {
        let broker = try curveBroker(allowing: ["agent-keys"])
        defer { broker.stop() }
        try fabric.agent("fpga-1", deviceKey: "fpga", endpoint: broker.endpoint, keys: "agent-keys", serverKey: "coordinator",
                         executor: ["--executor", "sim-bitfusion"])
        waitForAgents(broker, 1)
        let table = try BrokerMeasurementBackend(broker: broker).profileLayers(id: "t:latency-table:fpga", deviceKey: "fpga",
                                                                              model: "resnet8")
        XCTAssertEqual(table.executor, "sim-bitfusion")
        XCTAssertEqual(table.model, "resnet8")
        XCTAssertFalse(table.entries.isEmpty)
        XCTAssertEqual(try broker.store.job("t:latency-table:fpga")?.agentID, "fpga-1")
    }

    func testAgentsOfTwoDeviceKeysGetOnlyTheirOwnJobs() throws {
        let broker = try curveBroker(allowing: ["agent-keys"])
        defer { broker.stop() }
        for (id, key) in [("x86-1", "cpu-x86"), ("x86-2", "cpu-x86"), ("arm-1", "cpu-arm"), ("arm-2", "cpu-arm")] {
            try fabric.agent(id, deviceKey: key, endpoint: broker.endpoint, keys: "agent-keys", serverKey: "coordinator")
        }
        waitForAgents(broker, 4)
        let x86 = try broker.submit((0..<20).map { _ in nullJob("cpu-x86", sleepMs: 5) })
        let arm = try broker.submit((0..<20).map { _ in nullJob("cpu-arm", sleepMs: 5) })
        let outcomes = broker.waitForCompletion(jobIDs: x86 + arm, timeout: 15)
        XCTAssertEqual(outcomes.count, 40, fabric.diagnostics)
        var usedAgents = Set<String>()
        for (ids, prefix) in [(x86, "x86-"), (arm, "arm-")] {
            for id in ids {
                guard case let .done(_, agentID, attempts)? = outcomes[id] else { XCTFail("\(id): \(String(describing: outcomes[id]))"); continue }
                XCTAssertTrue(agentID.hasPrefix(prefix), "job for \(prefix) ran on \(agentID)")
                XCTAssertEqual(attempts, 1)
                XCTAssertEqual(try broker.store.job(id)?.agentID, agentID)
                usedAgents.insert(agentID)
            }
        }
        XCTAssertEqual(usedAgents, ["x86-1", "x86-2", "arm-1", "arm-2"], "both agents of each key should share the work")
        XCTAssertEqual(try broker.store.stateCounts()[.done], 40)
        XCTAssertEqual(Set(broker.agents().map(\.deviceKey)), ["cpu-x86", "cpu-arm"])
    }

    func testKillNineMidJobMovesTheJobToAnotherAgentAndRecordsItOnce() throws {
        let broker = try curveBroker(allowing: ["agent-keys"], heartbeatMs: 200)
        defer { broker.stop() }
        var pids: [String: Process] = [:]
        for id in ["k-1", "k-2"] {
            pids[id] = try fabric.agent(id, deviceKey: "cpu-x86", endpoint: broker.endpoint, keys: "agent-keys",
                                        serverKey: "coordinator", heartbeatMs: 200)
        }
        waitForAgents(broker, 2)
        let job = try broker.submit(nullJob("cpu-x86", sleepMs: 2_500, totalMs: 20_000))
        var victim: String?
        fabric.waitUntil(5) {
            victim = broker.agents().first { $0.currentJob == job }?.agentID
            return victim != nil
        }
        let victimID = try XCTUnwrap(victim, fabric.diagnostics)
        usleep(300_000)  // well inside the 2.5 s sleep
        kill(pids[victimID]!.processIdentifier, SIGKILL)
        let start = Date()
        let outcome = broker.waitForCompletion(jobIDs: [job], timeout: 15)[job]
        guard case let .done(_, agentID, attempts)? = outcome else { return XCTFail("\(String(describing: outcome))\n\(fabric.diagnostics)") }
        XCTAssertNotEqual(agentID, victimID)
        XCTAssertEqual(attempts, 2)
        // Expiry after 3 x 200 ms of silence, then a fresh 2.5 s run.
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        let row = try XCTUnwrap(broker.store.job(job))
        XCTAssertEqual(row.state, .done)
        XCTAssertEqual(row.attempts, 2)
        XCTAssertEqual(row.agentID, agentID)
        XCTAssertEqual(row.lastErrorCode, ErrorCode.runtimeError)
        // Either the heartbeats expired it, or (usually, on loopback) the next send found its connection gone.
        let lastError = row.lastError ?? ""
        XCTAssertTrue(lastError.contains("\(victimID) expired") || lastError.contains("\(victimID) is unreachable"), lastError)
        XCTAssertEqual(broker.stats().counters.done, 1)
        XCTAssertEqual(broker.stats().counters.requeued, 1)
        XCTAssertEqual(try broker.store.jobs().count, 1)
        XCTAssertEqual(broker.agents().map(\.agentID), [agentID])
    }

    func testFrozenAgentExpiresAfterIntervalTimesLivenessAndItsLateResultIsIgnored() throws {
        let broker = try curveBroker(allowing: ["agent-keys"], heartbeatMs: 200)
        defer { broker.stop() }
        var processes: [String: Process] = [:]
        for id in ["f-1", "f-2"] {
            processes[id] = try fabric.agent(id, deviceKey: "cpu-x86", endpoint: broker.endpoint, keys: "agent-keys",
                                             serverKey: "coordinator", heartbeatMs: 200)
        }
        waitForAgents(broker, 2)
        let job = try broker.submit(nullJob("cpu-x86", sleepMs: 1_500, totalMs: 20_000))
        var victim: String?
        fabric.waitUntil(5) {
            victim = broker.agents().first { $0.currentJob == job }?.agentID
            return victim != nil
        }
        let victimID = try XCTUnwrap(victim, fabric.diagnostics)
        // SIGSTOP keeps its TCP connection open: only the missing heartbeats can tell it is gone.
        let frozen = processes[victimID]!
        kill(frozen.processIdentifier, SIGSTOP)
        defer { kill(frozen.processIdentifier, SIGCONT) }
        let outcome = broker.waitForCompletion(jobIDs: [job], timeout: 15)[job]
        guard case let .done(_, agentID, attempts)? = outcome else { return XCTFail("\(String(describing: outcome))\n\(fabric.diagnostics)") }
        XCTAssertNotEqual(agentID, victimID)
        XCTAssertEqual(attempts, 2)
        XCTAssertEqual(broker.stats().counters.expired, 1)
        XCTAssertTrue(try broker.store.job(job)?.lastError?.contains("\(victimID) expired: silent for") ?? false)

        // Thawed, it finishes its copy of the job: that RESULT must not be recorded, and it re-registers.
        kill(frozen.processIdentifier, SIGCONT)
        XCTAssertTrue(fabric.waitUntil(10) { broker.agents().count == 2 }, fabric.diagnostics)
        usleep(300_000)
        XCTAssertEqual(broker.stats().counters.done, 1)
        let row = try XCTUnwrap(broker.store.job(job))
        XCTAssertEqual(row.agentID, agentID)
        XCTAssertEqual(row.attempts, 2)
        XCTAssertTrue(fabric.log(of: victimID).contains("reconnecting"), fabric.log(of: victimID))
    }

    func testAgentWithAKeyNotOnTheAllowListCannotRegisterAndItsJobsNeverRun() throws {
        let broker = try curveBroker(allowing: ["good-keys"])
        defer { broker.stop() }
        try fabric.keys("rogue-keys")
        try fabric.agent("rogue", deviceKey: "cpu-x86", endpoint: broker.endpoint, keys: "rogue-keys", serverKey: "coordinator")
        let job = try broker.submit(nullJob("cpu-x86"))
        XCTAssertFalse(fabric.waitUntil(2.5) { !broker.agents().isEmpty }, "an unlisted key registered")
        XCTAssertTrue(broker.waitForCompletion(jobIDs: [job], timeout: 0.1).isEmpty)
        XCTAssertEqual(try broker.store.job(job)?.state, .queued)
        XCTAssertEqual(try broker.store.job(job)?.attempts, 0)
        XCTAssertTrue(fabric.brokerLines.contains { $0.contains("ZAP refused") && $0.contains("not on the allow-list") },
                      fabric.diagnostics)
        XCTAssertTrue(fabric.waitUntil(10) { fabric.log(of: "rogue").contains("no answer to READY") }, fabric.log(of: "rogue"))
        // The same job runs as soon as an allowed agent shows up.
        try fabric.agent("good", deviceKey: "cpu-x86", endpoint: broker.endpoint, keys: "good-keys", serverKey: "coordinator")
        guard case let .done(_, agentID, _)? = broker.waitForCompletion(jobIDs: [job], timeout: 10)[job] else {
            return XCTFail(fabric.diagnostics)
        }
        XCTAssertEqual(agentID, "good")
        XCTAssertEqual(broker.agents().map(\.agentID), ["good"])
    }

    func testCommandExecutorFailuresReachTheCoordinatorAsClearErrors() throws {
        let script = fabric.path("tool.sh")
        try """
            #!/bin/sh
            input=$(cat)
            case "$input" in
              *'"mode":"crash"'*) kill -SEGV $$ ;;
              *'"mode":"hang"'*) sleep 30 ;;
              *'"mode":"garbage"'*) echo 'Traceback (most recent call last):' ;;
              *) echo '{"accuracy": 0.5, "timings_ms": {"total": 1}}' ;;
            esac
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let broker = try fabric.broker(security: .plain, maxAttempts: 1)
        defer { broker.stop() }
        try fabric.agent("cmd", deviceKey: "sim-x", endpoint: broker.endpoint, keys: nil, serverKey: nil,
                         executor: ["--executor", "command", "--command", script])
        waitForAgents(broker, 1)
        func job(_ mode: String, totalMs: Int = 10_000) -> JobRequest {
            JobRequest(deviceKey: "sim-x", kind: .measure,
                       payload: JobPayload(model: "m", policy: [:], timeouts: JobTimeouts(totalMs: totalMs), options: ["mode": .string(mode)]))
        }
        let ids = try broker.submit([job("ok"), job("crash"), job("hang", totalMs: 800), job("garbage")])
        let outcomes = broker.waitForCompletion(jobIDs: ids, timeout: 15)
        XCTAssertEqual(outcomes[ids[0]]?.result?.accuracy, 0.5, fabric.diagnostics)
        guard case let .failed(crashCode, crash, _)? = outcomes[ids[1]],
              case let .failed(hangCode, hang, _)? = outcomes[ids[2]],
              case let .failed(garbageCode, garbage, _)? = outcomes[ids[3]] else {
            return XCTFail("\(outcomes)\n\(fabric.diagnostics)")
        }
        XCTAssertEqual(crashCode, .runtimeError)
        XCTAssertTrue(crash.contains("SIGSEGV"), crash)
        XCTAssertEqual(hangCode, .timeout)
        XCTAssertTrue(hang.contains("800 ms"), hang)
        XCTAssertEqual(garbageCode, .runtimeError)
        XCTAssertTrue(garbage.contains("Traceback"), garbage)
        XCTAssertEqual(try broker.store.job(ids[3])?.lastError, garbage)
    }

    func testCoordinatorRestartLosesNothing() throws {
        let database = "restart.sqlite"
        var broker = try fabric.broker(security: .plain, database: database, endpoint: "tcp://127.0.0.1:*")
        let endpoint = broker.endpoint
        try fabric.agent("r-1", deviceKey: "cpu-x86", endpoint: endpoint, keys: nil, serverKey: nil)
        waitForAgents(broker, 1)
        let ids = try broker.submit((0..<6).map { nullJob("cpu-x86", sleepMs: 200, id: "restart-\($0)") })
        XCTAssertTrue(try fabric.waitUntil(10) { (try broker.store.stateCounts()[.done] ?? 0) >= 2 }, fabric.diagnostics)
        broker.stop()  // DISCONNECT to the agent, running job back to queued
        let afterStop = try broker.store.stateCounts()
        XCTAssertEqual(afterStop[.running], 0)
        XCTAssertEqual((afterStop[.done] ?? 0) + (afterStop[.queued] ?? 0), 6)

        // A new coordinator on the same database and endpoint finishes the rest; the agent re-registers by itself.
        // The old listener closes asynchronously in libzmq's I/O thread: retry the bind briefly.
        var next: Broker?
        fabric.waitUntil(5) {
            next = try? fabric.broker(security: .plain, database: database, endpoint: endpoint)
            return next != nil
        }
        broker = try XCTUnwrap(next, "cannot bind \(endpoint) again")
        defer { broker.stop() }
        XCTAssertEqual(try broker.submit((0..<6).map { nullJob("cpu-x86", sleepMs: 200, id: "restart-\($0)") }), ids,
                       "resubmitting known ids is a no-op")
        let outcomes = broker.waitForCompletion(jobIDs: ids, timeout: 15)
        XCTAssertEqual(outcomes.count, 6)
        XCTAssertTrue(outcomes.values.allSatisfy(\.isDone), "\(outcomes)\n\(fabric.diagnostics)")
        XCTAssertEqual(try broker.store.stateCounts()[.done], 6)
        XCTAssertEqual(try broker.store.jobs().count, 6)
        XCTAssertEqual(broker.waitForCompletion(jobIDs: ["never-submitted"], timeout: 0)["never-submitted"]?.isDone, false)
    }

    func testCommandLineServeWithNullJobsAndGracefulAgentShutdown() throws {
        let keygen = { (product: String, dir: String) throws -> Int32 in
            let process = try self.fabric.launch("keygen-\(dir)", product: product, ["keygen", "--out", self.fabric.path(dir)])
            process.waitUntilExit()
            return process.terminationStatus
        }
        XCTAssertEqual(try keygen("seer-coordinator", "coord"), 0)
        XCTAssertEqual(try keygen("seer-agent", "agent"), 0)
        XCTAssertNotEqual(try keygen("seer-agent", "agent"), 0, "keygen must not overwrite without --force")
        let secretMode = try FileManager.default.attributesOfItem(atPath: fabric.path("agent/secret.key"))[.posixPermissions] as? Int
        XCTAssertEqual(secretMode, 0o600)

        let endpointFile = fabric.path("endpoint")
        let serve = try fabric.launch("serve", product: "seer-coordinator", [
            "serve", "--bind", "tcp://127.0.0.1:0", "--keys", fabric.path("coord"), "--allow", fabric.path("agent"),
            "--db", fabric.path("serve.sqlite"), "--endpoint-file", endpointFile, "--heartbeat-ms", "200",
            "--null-jobs", "300", "--key", "cpu-x86", "--wait-agents", "2", "--timeout-s", "15"])
        XCTAssertTrue(fabric.waitUntil(10) { FileManager.default.fileExists(atPath: endpointFile) }, fabric.diagnostics)
        let endpoint = try String(contentsOfFile: endpointFile, encoding: .utf8)
        let first = try fabric.agent("cli-1", deviceKey: "cpu-x86", endpoint: endpoint, keys: "agent", serverKey: "coord")
        try fabric.agent("cli-2", deviceKey: "cpu-x86", endpoint: endpoint, keys: "agent", serverKey: "coord")
        serve.waitUntilExit()
        XCTAssertEqual(serve.terminationStatus, 0, fabric.diagnostics)
        let lastLine = fabric.log(of: "serve").split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any], fabric.diagnostics)
        XCTAssertEqual(summary["done"] as? Int, 300)
        XCTAssertEqual(summary["failed"] as? Int, 0)
        XCTAssertEqual(summary["security"] as? String, "curve")
        XCTAssertEqual((summary["store"] as? [String: Int])?["done"], 300)
        let store = try SeerStore(path: fabric.path("serve.sqlite"))
        XCTAssertEqual(try store.stateCounts()[.done], 300)
        XCTAssertEqual(Set(try store.agents().map(\.id)), ["cli-1", "cli-2"])

        // SIGTERM: the agent says DISCONNECT and exits 0.
        kill(first.processIdentifier, SIGTERM)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0, fabric.log(of: "cli-1"))

        // Flag validation names what is wrong.
        let bad = try fabric.launch("bad-flags", product: "seer-agent", ["run", "--coordinator", "tcp://127.0.0.1:1", "--key", "k",
                                                                         "--executor", "command", "--plain"])
        bad.waitUntilExit()
        XCTAssertNotEqual(bad.terminationStatus, 0)
        XCTAssertTrue(fabric.log(of: "bad-flags").contains("--command"), fabric.log(of: "bad-flags"))
    }
}
