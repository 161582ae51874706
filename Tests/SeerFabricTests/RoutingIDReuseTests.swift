import Foundation
import XCTest
import SeerCoordinator
import SeerTransport
import SeerWire

/// Issue 12: a second connection reusing a registered agent's ZeroMQ routing id, with another allow-listed key or
/// the same one, against a real `seer-coordinator serve` (its ROUTER as shipped, ZMTP heartbeats on). It must
/// neither crash the coordinator (libzmq 4.3 aborted it with ROUTER_HANDOVER) nor disturb the agent holding the id.
final class RoutingIDReuseTests: FabricTestCase {
    let context = try! ZMQContext()

    /// A DEALER set up as `seer-agent` sets up its own (AgentWorker.openSocket), with `routingID`.
    func dealer(_ routingID: String, keys: CurveKeyPair, serverKey: String, endpoint: String) throws -> ZMQSocket {
        let socket = try context.socket(.dealer)
        try socket.setRoutingID(Array(routingID.utf8))
        try socket.setMaxMessageSize(SeerProtocol.transportMaxFrameBytes)
        try socket.setHeartbeat(intervalMilliseconds: Int32(SeerProtocol.zmtpHeartbeatIntervalMs),
                                timeToLiveMilliseconds: Int32(SeerProtocol.zmtpHeartbeatTTLMs),
                                timeoutMilliseconds: Int32(SeerProtocol.zmtpHeartbeatTimeoutMs))
        try socket.makeCurveClient(keys: keys, serverPublicKey: serverKey)
        try socket.connect(endpoint)
        return socket
    }

    static func ready(_ agentID: String) -> Message {
        .ready(ReadyBody(agentID: agentID, deviceKey: "cpu-x86", executor: .command,
                         device: DeviceDescriptor(cores: 1, memoryBytes: 0, os: "test"), capabilities: ["null"]))
    }

    /// Waits for `count` coordinator HEARTBEATs on `socket`, which meanwhile heartbeats every 200 ms as an agent does
    /// (so the coordinator keeps it registered); any other message, on it or on `others`, is collected in `stray`. False if the
    /// coordinator fell silent for `silence` seconds (a generous bound: only a lost connection or a dead coordinator
    /// comes near it).
    func heartbeats(_ count: Int, on socket: ZMQSocket, watching others: [ZMQSocket] = [], stray: inout [Message],
                    silence: TimeInterval = 30) throws -> Bool {
        var got = 0
        var lastHeard = Date()
        var lastSent = Date.distantPast
        while got < count {
            if Date().timeIntervalSince(lastSent) >= 0.2 {
                try socket.send(try WireCodec.encode(.heartbeat(HeartbeatBody())))
                lastSent = Date()
            }
            var items = [ZMQPollItem(socket)] + others.map { ZMQPollItem($0) }
            try zmqPoll(&items, timeoutMilliseconds: 100)
            for (index, item) in items.enumerated() where item.isReadable {
                while let frames = try item.socket.receive(flags: .dontWait) {
                    let message = try WireCodec.decode(frames)
                    if case .heartbeat = message, index == 0 {
                        got += 1
                        lastHeard = Date()
                    } else {
                        // Anything else, to either socket, is collected and the caller checks it: an agent goes on.
                        stray.append(message)
                    }
                }
            }
            if Date().timeIntervalSince(lastHeard) > silence { return false }
        }
        return true
    }

    /// A running `seer-coordinator serve` that admits two agent keys.
    struct Coordinator {
        var process: Process
        var endpoint: String
        var database: String
        var serverKey: String
        var holderKeys: CurveKeyPair
        var otherKeys: CurveKeyPair
    }

    func startCoordinator() throws -> Coordinator {
        let server = try fabric.keys("coordinator")
        let holderKeys = try fabric.keys("holder")
        let otherKeys = try fabric.keys("other")
        let allow = fabric.path("allowed.keys")
        try "\(holderKeys.publicKey)\n\(otherKeys.publicKey)\n".write(toFile: allow, atomically: true, encoding: .utf8)
        let endpointFile = fabric.path("endpoint")
        let database = fabric.path("reuse.sqlite")
        // A long liveness: only the heartbeats this test sends keep its agents registered, whatever the load.
        // No Swift backtracer: on a crash it would keep the process (and its descriptors, which Foundation watches to
        // see the exit) around, and the crash is what this test looks for.
        let serve = try fabric.launch("serve", product: "seer-coordinator", [
            "serve", "--bind", "tcp://127.0.0.1:0", "--keys", fabric.path("coordinator"), "--allow", allow,
            "--db", database, "--endpoint-file", endpointFile, "--heartbeat-ms", "200", "--liveness", "50"],
            environment: ["SWIFT_BACKTRACE": "enable=no"])
        guard fabric.waitUntil(60, { FileManager.default.fileExists(atPath: endpointFile) }) else {
            throw FabricError("serve did not start\n\(fabric.diagnostics)")
        }
        return Coordinator(process: serve, endpoint: try String(contentsOfFile: endpointFile, encoding: .utf8),
                           database: database, serverKey: server.publicKey, holderKeys: holderKeys, otherKeys: otherKeys)
    }

    func state(of serve: Process) -> String {
        serve.isRunning ? "is running"
            : "exited (\(serve.terminationReason == .uncaughtSignal ? "signal" : "status") \(serve.terminationStatus))"
    }

    /// Checks that the coordinator still serves (a new agent registers and is heartbeaten over several ZMTP
    /// heartbeat intervals), then stops it with SIGTERM and checks that it exits 0.
    func checkStillServingThenStop(_ c: Coordinator) throws {
        let later = try dealer("later", keys: c.holderKeys, serverKey: c.serverKey, endpoint: c.endpoint)
        defer { later.close() }
        try later.send(try WireCodec.encode(Self.ready("later")))
        var stray: [Message] = []
        guard try heartbeats(15, on: later, stray: &stray) else {
            _ = fabric.waitUntil(10) { !c.process.isRunning }  // a crashing process may take a moment to go
            return XCTFail("the coordinator stopped serving; it \(state(of: c.process))\n\(fabric.diagnostics)")
        }
        kill(c.process.processIdentifier, SIGTERM)
        c.process.waitUntilExit()
        XCTAssertEqual(c.process.terminationReason, .exit,
                       "the coordinator was killed by signal \(c.process.terminationStatus)\n\(fabric.diagnostics)")
        XCTAssertEqual(c.process.terminationStatus, 0, fabric.diagnostics)
    }

    func testAClaimOnARegisteredRoutingIDLeavesTheAgentHoldingItAlone() throws {
        let c = try startCoordinator()
        // The holder registers as "twin" (its routing id too, as seer-agent does).
        let holder = try dealer("twin", keys: c.holderKeys, serverKey: c.serverKey, endpoint: c.endpoint)
        defer { holder.close() }
        try holder.send(try WireCodec.encode(Self.ready("twin")))
        var stray: [Message] = []
        XCTAssertTrue(try heartbeats(1, on: holder, stray: &stray), "not registered\n\(fabric.diagnostics)")

        // Claimants on the same routing id: another allow-listed key, then the holder's own key. Each says READY
        // (as the holder and under a name of its own) and HEARTBEAT; the holder must go on hearing the coordinator.
        for (name, keys) in [("other key", c.otherKeys), ("same key", c.holderKeys)] {
            let claimant = try dealer("twin", keys: keys, serverKey: c.serverKey, endpoint: c.endpoint)
            for message in [Self.ready("twin"), Self.ready("mallory"), .heartbeat(HeartbeatBody())] {
                try claimant.send(try WireCodec.encode(message))
            }
            guard try heartbeats(15, on: holder, watching: [claimant], stray: &stray) else {
                // Returns: every later wait would only run into its bound too.
                return XCTFail("the holder stopped hearing the coordinator after a claim with the \(name); the "
                               + "coordinator \(state(of: c.process)); the holder got \(stray)\n\(fabric.diagnostics)")
            }
            XCTAssertTrue(stray.isEmpty, "the holder or the claimant (\(name)) got more than heartbeats: \(stray)")
            claimant.setLingerAndClose()
        }
        holder.setLingerAndClose()
        try checkStillServingThenStop(c)
        let agents = try SeerStore(path: c.database, access: .readOnly).agents()
        XCTAssertEqual(agents.map(\.id).sorted(), ["later", "twin"], "no claimant registered")
        XCTAssertEqual(agents.first { $0.id == "twin" }?.publicKey, c.holderKeys.publicKey)
    }

    /// The sequence that made libzmq 4.3 abort a ROUTER with ROUTER_HANDOVER and ZMTP heartbeats: a second connection
    /// takes a connected agent's routing id, the first one goes on talking for a moment, then vanishes.
    func testTheCoordinatorSurvivesAConnectionThatLosesItsRoutingIDTalksAndVanishes() throws {
        let c = try startCoordinator()
        for (round, keys) in [c.otherKeys, c.holderKeys].enumerated() {
            let id = "ghost-\(round)"
            let first = try dealer(id, keys: c.holderKeys, serverKey: c.serverKey, endpoint: c.endpoint)
            try first.send(try WireCodec.encode(Self.ready(id)))
            var stray: [Message] = []
            XCTAssertTrue(try heartbeats(1, on: first, stray: &stray), "not registered\n\(fabric.diagnostics)")
            let second = try dealer(id, keys: keys, serverKey: c.serverKey, endpoint: c.endpoint)
            try second.send(try WireCodec.encode(Self.ready(id)))
            // The first goes on as an agent does, five heartbeats 200 ms apart, then its process dies.
            for _ in 0..<5 {
                try first.send(try WireCodec.encode(.heartbeat(HeartbeatBody())))
                usleep(200_000)
            }
            first.setLingerAndClose()
            second.setLingerAndClose()
        }
        try checkStillServingThenStop(c)
    }
}

private extension ZMQSocket {
    /// Closes at once, dropping anything unsent: the connection goes away the way a killed process's does.
    func setLingerAndClose() {
        try? setLinger(milliseconds: 0)
        close()
    }
}
