import Foundation
import XCTest
import SeerCoordinator
import SeerTransport
import SeerWire

/// Thousands of random and mutated frame sets against the coordinator's ROUTER; it must keep serving.
final class FuzzTests: FabricTestCase {
    /// SplitMix64: seeded, so a failure reproduces.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
    }

    static func templates() throws -> [[[UInt8]]] {
        let device = DeviceDescriptor(cores: 1, memoryBytes: 1, os: "fuzz")
        let messages: [Message] = [
            .ready(ReadyBody(agentID: "fuzzer", deviceKey: "fuzz-key", executor: .command, device: device, capabilities: ["null"])),
            .heartbeat(HeartbeatBody()), .heartbeat(HeartbeatBody(jobID: "job-1")),
            .result(ResultBody(jobID: "job-1", agentID: "fuzzer", payload: ResultPayload(accuracy: 0.5, timingsMs: ["total": 1]))),
            .error(ErrorBody(jobID: "job-1", code: .runtimeError, message: "x")),
            .disconnect(DisconnectBody(reason: "bye")),
            .profile(ProfileBody(agentID: "fuzzer", deviceKey: "fuzz-key", profile: "p", capacityPercent: 50, status: .charging)),
            .deployed(DeployedBody(deployID: "d", agentID: "fuzzer", status: .ok)),
            .job(JobBody(jobID: "j", deviceKey: "fuzz-key", kind: .null, payload: JobPayload(model: "m", policy: [:]))),
        ]
        return try messages.map { try WireCodec.encode($0) }
    }

    static func mutate(_ template: [[UInt8]], _ random: inout Random) -> [[UInt8]] {
        var frames = template
        for _ in 0..<(1 + random.below(3)) {
            let index = random.below(frames.count)
            switch random.below(12) {
            case 0: if !frames.isEmpty { frames.remove(at: index) }
            case 1: frames.append(random.bytes(random.below(64)))
            case 2: if !frames.isEmpty { frames.insert(frames[index], at: index) }
            case 3: if !frames.isEmpty { frames[index] = Array(frames[index].prefix(random.below(frames[index].count + 1))) }
            case 4, 5:
                if !frames.isEmpty, !frames[index].isEmpty {
                    frames[index][random.below(frames[index].count)] = UInt8(truncatingIfNeeded: random.next())
                }
            case 6: if !frames.isEmpty { frames[0] = Array(["SEER2", "SEER0", "SEER01", "SEER", "seer1", "SEER-1", "SEER99999999999999999", ""][random.below(8)].utf8) }
            case 7: if frames.count > 1 { frames[1] = Array(["READY", "ready", "JOB", "DEPLOY", "NOPE", "", "RESULT\u{0}"][random.below(7)].utf8) }
            case 8: if frames.count > 2 { frames[2] = Array(["{}", "[]", "null", "{\"job_id\": 5}", "{\"job_id\": \"\"}", "\u{FF}\u{FE}",
                                                             "{\"agent_id\": \"fuzzer\", \"device_key\": 1}", "{\"code\": \"nope\"}",
                                                             String(repeating: "[", count: 5_000), "{\"a\":1e999}",
                                                             "{\"job_id\": \"job-1\", \"code\": \"busy\", \"message\": \"\"}"][random.below(11)].utf8) }
            case 9: if frames.count > 2 { frames[2] += random.bytes(random.below(16)) }
            case 10: frames = (0..<random.below(7)).map { _ in random.bytes(random.below(200)) }
            default: if !frames.isEmpty { frames[index] = [] }
            }
        }
        return frames.isEmpty ? [[]] : frames
    }

    func testThousandsOfBadFramesLeaveTheCoordinatorServing() throws {
        let server = try fabric.keys("coordinator")
        let fuzzKeys = try CurveKeyPair.generate()
        let agentKeys = try fabric.keys("agent-keys")
        let broker = try fabric.broker(security: .curve(serverKeys: server, allowedAgentKeys: [fuzzKeys.publicKey, agentKeys.publicKey]))
        defer { broker.stop() }

        let context = try ZMQContext()
        let fuzzer = try context.socket(.dealer)
        try fuzzer.setRoutingID(Array("fuzzer".utf8))
        try fuzzer.makeCurveClient(keys: fuzzKeys, serverPublicKey: server.publicKey)
        try fuzzer.setReceiveTimeout(milliseconds: 5_000)
        try fuzzer.connect(broker.endpoint)
        // Handshake done and path working: an unregistered HEARTBEAT is answered with DISCONNECT.
        try fuzzer.send(WireCodec.encode(.heartbeat(HeartbeatBody())))
        let first = try XCTUnwrap(try fuzzer.receive(), fabric.diagnostics)
        XCTAssertEqual(try WireCodec.decode(first), .disconnect(DisconnectBody(reason: "not registered")))

        var replies = 0
        func drain() throws {
            while let frames = try fuzzer.receive(flags: .dontWait) {
                replies += 1
                // Whatever we sent, the coordinator only ever says well-formed things.
                let message = try WireCodec.decode(frames)
                switch message {
                case .error, .disconnect, .heartbeat: break
                default: XCTFail("unexpected reply \(message)")
                }
            }
        }
        var random = Random(state: 0x5EE5)
        let templates = try Self.templates()
        var sent = 0
        for round in 0..<4_000 {
            let frames: [[UInt8]]
            if round % 5 == 0 {
                frames = (0..<(1 + random.below(5))).map { _ in random.bytes(random.below(300)) }
            } else {
                frames = Self.mutate(templates[random.below(templates.count)], &random)
            }
            if try fuzzer.send(frames, flags: .dontWait) { sent += 1 }
            if round % 100 == 0 { try drain() }
        }
        // Oversized: a body over the 1 MiB limit, and many frames.
        var big = try WireCodec.encode(.heartbeat(HeartbeatBody()))
        big[2] = Array("{\"pad\": \"".utf8) + [UInt8](repeating: 0x61, count: 1 << 20) + Array("\"}".utf8)
        try fuzzer.send(big)
        try fuzzer.send((0..<40).map { _ in [1] })

        // Raw bytes straight at the TCP port (no ZMTP greeting), and a client whose key is not allowed.
        let port = UInt16(broker.endpoint.split(separator: ":").last!)!
        for _ in 0..<20 { Self.sendRawTCP(port: port, bytes: random.bytes(1 + random.below(2_000))) }
        let strangerContext = try ZMQContext()
        let stranger = try strangerContext.socket(.dealer)
        try stranger.makeCurveClient(keys: try CurveKeyPair.generate(), serverPublicKey: server.publicKey)
        try stranger.connect(broker.endpoint)
        for _ in 0..<50 { _ = try stranger.send(Self.mutate(templates[0], &random), flags: .dontWait) }

        // Everything was read (the broker answers in order, so a reply to a marker means it got this far).
        let marker = try WireCodec.encode(.heartbeat(HeartbeatBody(jobID: "marker")))
        XCTAssertTrue(fabric.waitUntil(15) {
            _ = try? fuzzer.send(marker, flags: .dontWait)
            try? drain()
            return broker.stats().received >= sent
        }, "broker read \(broker.stats().received) of \(sent)\n\(fabric.diagnostics)")
        try drain()
        XCTAssertGreaterThan(replies, 1_000)
        XCTAssertGreaterThan(broker.stats().rejected, 1_000)

        // A normal agent still registers and gets its jobs done.
        try fabric.agent("after-fuzz", deviceKey: "cpu-fuzz", endpoint: broker.endpoint, keys: "agent-keys", serverKey: "coordinator")
        let ids = try broker.submit((0..<20).map { _ in nullJob("cpu-fuzz") })
        let outcomes = broker.waitForCompletion(jobIDs: ids, timeout: 15)
        XCTAssertEqual(outcomes.count, 20, fabric.diagnostics)
        XCTAssertTrue(outcomes.values.allSatisfy(\.isDone), "\(outcomes)")
        XCTAssertTrue(outcomes.values.allSatisfy { if case let .done(_, agent, _) = $0 { return agent == "after-fuzz" }; return false })
        XCTAssertEqual(broker.stats().storeErrors, 0)
        XCTAssertFalse(broker.agents().contains { $0.deviceKey == "cpu-fuzz" && $0.agentID != "after-fuzz" })
    }

    static func sendRawTCP(port: UInt16, bytes: [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
