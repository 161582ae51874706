import Foundation
import XCTest
import SeerCoordinator
import SeerWire

/// Issue 12: stopping an agent (SIGINT, SIGTERM) must take its `command` job's process group with it.
final class AgentStopTests: FabricTestCase {
    func testSIGTERMKillsTheCommandJobsProcessGroup() throws {
        try stopAgentRunningACommandJob(with: SIGTERM, name: "term")
    }

    func testSIGINTKillsTheCommandJobsProcessGroup() throws {
        try stopAgentRunningACommandJob(with: SIGINT, name: "int")
    }

    /// Runs a command job whose program starts a long `sleep` in its own process group, stops the agent with
    /// `signal`, and checks that nothing of that group is left alive.
    private func stopAgentRunningACommandJob(with signal: Int32, name: String) throws {
        let groupFile = fabric.path("group-\(name)")
        let script = fabric.path("sleeper-\(name).sh")
        // The job program is its process group's leader ($$); its sleep child belongs to the same group.
        try """
            #!/bin/sh
            cat > /dev/null
            sleep 600 &
            echo "$$" > "\(groupFile).tmp" && mv "\(groupFile).tmp" "\(groupFile)"
            wait
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        // A long liveness: a loaded machine must not expire the agent (and requeue the job) while the test runs.
        let broker = try fabric.broker(security: .plain, heartbeatMs: 200, liveness: 50, maxAttempts: 1)
        defer { broker.stop() }
        let agent = try fabric.agent("stop-\(name)", deviceKey: "cmd-stop", endpoint: broker.endpoint, keys: nil, serverKey: nil,
                                     executor: ["--executor", "command", "--command", script, "--liveness", "50"])
        XCTAssertTrue(fabric.waitUntil(60) { broker.agents().count == 1 }, fabric.diagnostics)
        try broker.submit(JobRequest(deviceKey: "cmd-stop", kind: .measure,
                                     payload: JobPayload(model: "m", policy: [:], timeouts: JobTimeouts(totalMs: 600_000))))
        XCTAssertTrue(fabric.waitUntil(60) { FileManager.default.fileExists(atPath: groupFile) }, fabric.diagnostics)
        let text = try String(contentsOfFile: groupFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let group = try XCTUnwrap(pid_t(text), "group file holds \(text)")
        defer { kill(-group, SIGKILL) }  // whatever the outcome, leave nothing behind
        XCTAssertGreaterThanOrEqual(Self.liveMembers(ofGroup: group), 2, "the program and its sleep should be running")

        kill(agent.processIdentifier, signal)
        // Not Process.waitUntilExit yet: Foundation learns of the exit when a descriptor it gave the agent closes, and
        // a job program that survived its agent would hold it open. So first watch the process itself.
        XCTAssertTrue(fabric.waitUntil(60) { !Self.isAlive(agent.processIdentifier) }, "the agent did not exit\n\(fabric.diagnostics)")
        // The kill happens before the agent exits; the generous bound only covers the kernel tearing the group down.
        let gone = fabric.waitUntil(30) { Self.liveMembers(ofGroup: group) == 0 }
        let survivors = Self.liveMembers(ofGroup: group)
        kill(-group, SIGKILL)
        XCTAssertTrue(gone, "process group \(group) outlived its agent: \(survivors) member(s) alive\n\(fabric.diagnostics)")
        agent.waitUntilExit()
        XCTAssertEqual(agent.terminationReason, .exit, fabric.log(of: "stop-\(name)"))
        XCTAssertEqual(agent.terminationStatus, 0, fabric.log(of: "stop-\(name)"))
    }

    /// Whether `pid` is running: neither gone nor a zombie waiting to be reaped.
    static func isAlive(_ pid: pid_t) -> Bool {
        #if os(Linux)
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
        #else
        return kill(pid, 0) == 0
        #endif
    }

    /// Members of process group `group` that are alive; zombies (killed, waiting for a parent to reap them) are not.
    static func liveMembers(ofGroup group: pid_t) -> Int {
        #if os(Linux)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
        var count = 0
        for entry in entries where entry.allSatisfy(\.isNumber) {
            // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let pgrp = pid_t(fields[2]) else { continue }
            if pgrp == group && fields[0] != "Z" && fields[0] != "X" { count += 1 }
        }
        return count
        #else
        return kill(-group, 0) == 0 ? 1 : 0
        #endif
    }
}
