import CZeroMQ
import Foundation
import XCTest
@testable import SeerTransport

/// Polls `sockets` until `body` returns true or `seconds` pass; the ZAP socket, if given, is served in the same loop.
func pollUntil(_ seconds: Double, zap: ZAPAuthenticator? = nil, watching sockets: [ZMQSocket],
               _ body: (ZMQPoller) throws -> Bool) throws -> Bool {
    let poller = ZMQPoller()
    if let zap { poller.register(zap.socket) }
    for socket in sockets { poller.register(socket) }
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        try poller.poll(timeoutMilliseconds: 50)
        if let zap, poller.isReadable(zap.socket) { try zap.handlePending() }
        if try body(poller) { return true }
    }
    return false
}

final class SocketTests: XCTestCase {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func roundTrip(endpoint: String) throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.bind(endpoint)
        let bound = try router.lastEndpoint()
        let dealer = try context.socket(.dealer)
        try dealer.setRoutingID(bytes("agent-1"))
        XCTAssertEqual(try dealer.routingID(), bytes("agent-1"))
        try dealer.connect(bound)

        let sent: [[UInt8]] = [bytes("SEER1"), bytes("READY"), [], [0, 255, 7]]
        XCTAssertTrue(try dealer.send(sent))
        var received: [[UInt8]]?
        XCTAssertTrue(try pollUntil(5, watching: [router]) { poller in
            if poller.isReadable(router) { received = try router.receive(flags: .dontWait) }
            return received != nil
        })
        XCTAssertEqual(received, [bytes("agent-1")] + sent)

        try router.send([bytes("agent-1"), bytes("HEARTBEAT")].map { Data($0) })
        var reply: [Data]?
        XCTAssertTrue(try pollUntil(5, watching: [dealer]) { _ in
            reply = try dealer.receiveData(flags: .dontWait)
            return reply != nil
        })
        XCTAssertEqual(reply, [Data("HEARTBEAT".utf8)])
    }

    func testRouterDealerMultipartOverInproc() throws {
        try roundTrip(endpoint: "inproc://seer-test-roundtrip")
    }

    func testRouterDealerMultipartOverTCPWithEphemeralPort() throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()
        XCTAssertTrue(endpoint.hasPrefix("tcp://127.0.0.1:"), endpoint)
        XCTAssertNotEqual(endpoint, "tcp://127.0.0.1:0")
        try roundTrip(endpoint: "tcp://127.0.0.1:*")
    }

    func testDontWaitReceiveReturnsNilWhenEmpty() throws {
        let context = try ZMQContext()
        let dealer = try context.socket(.dealer)
        try dealer.bind("inproc://seer-test-empty")
        XCTAssertNil(try dealer.receive(flags: .dontWait))
        try dealer.setReceiveTimeout(milliseconds: 10)
        XCTAssertNil(try dealer.receive())
    }

    func testSendThatWouldBlockReturnsFalse() throws {
        let context = try ZMQContext()
        let dealer = try context.socket(.dealer)  // no peer yet, so nowhere to queue
        XCTAssertFalse(try dealer.send([bytes("READY")], flags: .dontWait))
        try dealer.setSendTimeout(milliseconds: 10)
        XCTAssertFalse(try dealer.send([bytes("READY")]))
    }

    func testSendWithoutFramesIsRejected() throws {
        let context = try ZMQContext()
        let dealer = try context.socket(.dealer)
        XCTAssertThrowsError(try dealer.send([[UInt8]]())) { error in
            XCTAssertEqual((error as? ZMQError)?.errno, EINVAL)
        }
    }

    func testRouterMandatoryReportsUnknownPeer() throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.setRouterMandatory(true)
        try router.bind("inproc://seer-test-mandatory")
        XCTAssertThrowsError(try router.send([bytes("nobody"), bytes("JOB")])) { error in
            XCTAssertTrue((error as? ZMQError)?.isHostUnreachable ?? false, "\(error)")
        }
    }

    func testReceiveGuardDrainsOversizedMessageAndStaysInStep() throws {
        let context = try ZMQContext()
        let pull = try context.socket(.pair)
        try pull.bind("inproc://seer-test-guard")
        let push = try context.socket(.pair)
        try push.connect("inproc://seer-test-guard")
        try push.send([[UInt8](repeating: 1, count: 600), [UInt8](repeating: 2, count: 600)])
        try push.send([bytes("small")])
        try push.send([[], [], [], []])
        XCTAssertThrowsError(try pull.receive(maxTotalBytes: 1000)) { error in
            XCTAssertTrue((error as? ZMQError)?.isTooLarge ?? false, "\(error)")
        }
        XCTAssertEqual(try pull.receive(maxTotalBytes: 1000), [bytes("small")])
        XCTAssertThrowsError(try pull.receive(maxFrames: 3)) { error in
            XCTAssertTrue((error as? ZMQError)?.isTooLarge ?? false, "\(error)")
        }
    }

    func testMaxMessageSizeDropsOversizedMessagesOverTCP() throws {
        let context = try ZMQContext()
        let router = try context.socket(.router)
        try router.setMaxMessageSize(1024)
        XCTAssertEqual(try router.int64Option(ZMQ_MAXMSGSIZE), 1024)
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint()

        let big = try context.socket(.dealer)
        try big.connect(endpoint)
        try big.send([[UInt8](repeating: 0xAB, count: 4096)])
        var got: [[UInt8]]?
        XCTAssertFalse(try pollUntil(1.0, watching: [router]) { _ in
            got = try router.receive(flags: .dontWait)
            return got != nil
        }, "oversized message was delivered: \(got?.map(\.count) ?? [])")

        // The listener is unharmed: a well-behaved peer still gets through.
        let small = try context.socket(.dealer)
        try small.connect(endpoint)
        try small.send([bytes("fits")])
        XCTAssertTrue(try pollUntil(5, watching: [router]) { _ in
            got = try router.receive(flags: .dontWait)
            return got != nil
        })
        XCTAssertEqual(got?.last, bytes("fits"))
    }

    func testOptionsRoundTrip() throws {
        let context = try ZMQContext()
        let dealer = try context.socket(.dealer)
        try dealer.setHeartbeat(intervalMilliseconds: 1000, timeToLiveMilliseconds: 3000, timeoutMilliseconds: 3000)
        try dealer.setReconnectInterval(initialMilliseconds: 1000, maximumMilliseconds: 32000)
        try dealer.setSendHighWaterMark(100)
        try dealer.setReceiveHighWaterMark(200)
        try dealer.setLinger(milliseconds: 250)
        XCTAssertEqual(try dealer.intOption(ZMQ_RECONNECT_IVL), 1000)
        XCTAssertEqual(try dealer.intOption(ZMQ_RECONNECT_IVL_MAX), 32000)
        XCTAssertEqual(try dealer.intOption(ZMQ_LINGER), 250)
        let router = try context.socket(.router)
        try router.setRouterHandover(true)
        try router.setZAPDomain("seer")
    }

    func testBadEndpointsFailWithNamedErrors() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.router)
        for endpoint in ["bogus://x", "tcp://", "tcp://127.0.0.1:notaport", "no-scheme"] {
            XCTAssertThrowsError(try socket.bind(endpoint), endpoint) { error in
                guard let error = error as? ZMQError else { return XCTFail("\(error)") }
                XCTAssertTrue(error.operation.contains(endpoint), error.description)
                XCTAssertFalse(error.text.isEmpty)
            }
        }
        XCTAssertThrowsError(try socket.connect("bogus://x"))
        try socket.bind("inproc://seer-test-taken")
        let other = try context.socket(.router)
        XCTAssertThrowsError(try other.bind("inproc://seer-test-taken")) { error in
            XCTAssertEqual((error as? ZMQError)?.errno, EADDRINUSE)
        }
        socket.close()
        XCTAssertFalse(socket.isOpen)
        XCTAssertThrowsError(try socket.send([bytes("x")])) { error in
            XCTAssertEqual((error as? ZMQError)?.errno, ENOTSOCK)
        }
        XCTAssertThrowsError(try socket.receive(flags: .dontWait))
    }

    func testPollerReportsReadiness() throws {
        let context = try ZMQContext()
        let a = try context.socket(.pair)
        try a.bind("inproc://seer-test-poll")
        let b = try context.socket(.pair)
        try b.connect("inproc://seer-test-poll")
        var items = [ZMQPollItem(a), ZMQPollItem(b, events: [.pollIn, .pollOut])]
        XCTAssertEqual(try zmqPoll(&items, timeoutMilliseconds: 0), 1)  // b is writable, nothing readable
        XCTAssertFalse(items[0].isReadable)
        XCTAssertTrue(items[1].revents.contains(.pollOut))
        try b.send([bytes("ping")])
        XCTAssertEqual(try zmqPoll(&items, timeoutMilliseconds: 1000), 2)
        XCTAssertTrue(items[0].isReadable)
        XCTAssertEqual(try a.receive(), [bytes("ping")])
    }
}
