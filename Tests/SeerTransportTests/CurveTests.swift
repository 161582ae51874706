import Foundation
import XCTest
@testable import SeerTransport

final class CurveTests: XCTestCase {
    func testKeyPairGenerationAndPublicFromSecretAgree() throws {
        let pair = try CurveKeyPair.generate()
        XCTAssertEqual(pair.publicKey.count, 40)
        XCTAssertEqual(pair.secretKey.count, 40)
        XCTAssertTrue(Z85.isValidKey(pair.publicKey))
        XCTAssertTrue(Z85.isValidKey(pair.secretKey))
        XCTAssertEqual(try CurveKeyPair.publicKey(fromSecret: pair.secretKey), pair.publicKey)
        XCTAssertEqual(try CurveKeyPair(publicKey: pair.publicKey, secretKey: pair.secretKey), pair)
        XCTAssertNotEqual(try CurveKeyPair.generate(), pair)

        let other = try CurveKeyPair.generate()
        XCTAssertThrowsError(try CurveKeyPair(publicKey: other.publicKey, secretKey: pair.secretKey)) { error in
            XCTAssertEqual(error as? CurveKeyError, .mismatchedPair(publicKey: other.publicKey))
        }
    }

    func testZ85MatchesRFC32AndRejectsBadText() throws {
        // The test vector from ZeroMQ RFC 32.
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        XCTAssertEqual(Z85.encode(bytes), "HelloWorld")
        XCTAssertEqual(Z85.decode("HelloWorld"), bytes)
        XCTAssertNil(Z85.encode([1, 2, 3]))
        XCTAssertNil(Z85.decode("Hello"+"Worl"))
        XCTAssertNil(Z85.decode("Hello Worl"))   // space is not in the alphabet
        XCTAssertNil(Z85.decode("%%%%%"))        // overflows 32 bits
        XCTAssertNil(Z85.decode("héllo"))

        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let raw = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
            let text = try XCTUnwrap(Z85.encode(raw))
            XCTAssertTrue(Z85.isValidKey(text))
            XCTAssertEqual(Z85.decode(text), raw)
        }
        XCTAssertFalse(Z85.isValidKey(String(repeating: "a", count: 39)))
        XCTAssertFalse(Z85.isValidKey(String(repeating: " ", count: 40)))
        XCTAssertThrowsError(try Z85.keyBytes("short", role: "server key")) { error in
            XCTAssertEqual(error as? CurveKeyError, .invalidZ85(role: "server key", reason: "expected 40 characters, got 5"))
        }
        XCTAssertThrowsError(try CurveKeyPair.publicKey(fromSecret: "not a key"))
        let context = try ZMQContext()
        XCTAssertThrowsError(try context.socket(.dealer).setCurveServerKey("not a key")) { error in
            XCTAssertTrue(error is CurveKeyError, "\(error)")
        }
    }

    func testZAPAnswerCoversEveryBranch() throws {
        let allowed = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let keys: Set = [allowed.publicKey]
        func request(mechanism: String = "CURVE", domain: String = "seer", credentials: [[UInt8]]) -> [[UInt8]] {
            [Array("1.0".utf8), Array("7".utf8), Array(domain.utf8), Array("10.0.0.2".utf8), [], Array(mechanism.utf8)] + credentials
        }
        let ok = ZAPAuthenticator.answer(request(credentials: [try Z85.keyBytes(allowed.publicKey, role: "k")]),
                                         allowedKeys: keys, domain: "seer")
        XCTAssertTrue(ok.decision.allowed)
        XCTAssertEqual(ok.reply, [Array("1.0".utf8), Array("7".utf8), Array("200".utf8), Array("OK".utf8),
                                  Array(allowed.publicKey.utf8), []])

        let denied = ZAPAuthenticator.answer(request(credentials: [try Z85.keyBytes(stranger.publicKey, role: "k")]),
                                             allowedKeys: keys, domain: nil)
        XCTAssertFalse(denied.decision.allowed)
        XCTAssertEqual(denied.decision.statusCode, "400")
        XCTAssertEqual(denied.decision.clientKey, stranger.publicKey)
        XCTAssertEqual(denied.reply[1], Array("7".utf8))

        let wrongDomain = ZAPAuthenticator.answer(request(domain: "other", credentials: [try Z85.keyBytes(allowed.publicKey, role: "k")]),
                                                  allowedKeys: keys, domain: "seer")
        XCTAssertEqual(wrongDomain.decision.statusCode, "400")
        XCTAssertEqual(ZAPAuthenticator.answer(request(mechanism: "NULL", credentials: []), allowedKeys: keys, domain: nil).decision.statusCode, "400")
        XCTAssertEqual(ZAPAuthenticator.answer(request(credentials: [[1, 2, 3]]), allowedKeys: keys, domain: nil).decision.statusCode, "500")
        XCTAssertEqual(ZAPAuthenticator.answer([], allowedKeys: keys, domain: nil).reply.count, 6)
        var badVersion = request(credentials: [try Z85.keyBytes(allowed.publicKey, role: "k")])
        badVersion[0] = Array("2.0".utf8)
        XCTAssertEqual(ZAPAuthenticator.answer(badVersion, allowedKeys: keys, domain: nil).decision.statusCode, "500")
    }

    func testZAPAnswerNeverCrashesOnRandomRequests() throws {
        var state: UInt64 = 0x2A9
        func next() -> UInt64 {  // SplitMix64, seeded
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let key = try CurveKeyPair.generate().publicKey
        let valid: [[UInt8]] = [Array("1.0".utf8), [7], Array("seer".utf8), Array("1.2.3.4".utf8), [], Array("CURVE".utf8),
                                try Z85.keyBytes(key, role: "k")]
        for _ in 0..<3_000 {
            var request = valid
            for _ in 0..<Int(next() % 4) {
                let frame = Int(next() % UInt64(max(request.count, 1)))
                switch next() % 4 {
                case 0 where !request.isEmpty: request.remove(at: frame)
                case 1: request.append((0..<Int(next() % 40)).map { _ in UInt8(truncatingIfNeeded: next()) })
                case 2 where !request.isEmpty && !request[frame].isEmpty:
                    request[frame][Int(next() % UInt64(request[frame].count))] ^= UInt8(truncatingIfNeeded: next() | 1)
                default: if !request.isEmpty { request[frame] = Array(request[frame].prefix(Int(next() % 8))) }
                }
            }
            let (reply, decision) = ZAPAuthenticator.answer(request, allowedKeys: [key], domain: "seer")
            XCTAssertEqual(reply.count, 6)
            XCTAssertEqual(decision.allowed, request == valid || (decision.clientKey == key && request.count == 7
                && request[0] == valid[0] && request[2] == valid[2] && request[5] == valid[5]))
        }
    }

    /// A CURVE server with a ZAP allow-list, served from one poll loop, and one client connected to it.
    struct Setup {
        let server: ZMQContext
        let router: ZMQSocket
        let zap: ZAPAuthenticator
        let serverKeys: CurveKeyPair
        let endpoint: String
    }

    func makeServer(allowing keys: Set<String>, log: @escaping (String) -> Void) throws -> Setup {
        let context = try ZMQContext()
        let serverKeys = try CurveKeyPair.generate()
        let zap = try ZAPAuthenticator(context: context, allowedKeys: keys, domain: "seer", log: log)
        let router = try context.socket(.router)
        try router.makeCurveServer(keys: serverKeys)
        try router.setZAPDomain("seer")
        try router.bind("tcp://127.0.0.1:*")
        return Setup(server: context, router: router, zap: zap, serverKeys: serverKeys, endpoint: try router.lastEndpoint())
    }

    func makeClient(_ keys: CurveKeyPair, serverKey: String, endpoint: String) throws -> ZMQSocket {
        let context = try ZMQContext()  // a separate context, as on a real device
        let dealer = try context.socket(.dealer)
        try dealer.makeCurveClient(keys: keys, serverPublicKey: serverKey)
        try dealer.setRoutingID(Array("agent-7".utf8))
        try dealer.connect(endpoint)
        return dealer
    }

    func testCurveClientOnTheAllowListGetsThroughWithItsKeyAsUserID() throws {
        let clientKeys = try CurveKeyPair.generate()
        var refused: [String] = []
        let setup = try makeServer(allowing: [clientKeys.publicKey]) { refused.append($0) }
        let dealer = try makeClient(clientKeys, serverKey: setup.serverKeys.publicKey, endpoint: setup.endpoint)
        try dealer.send([Array("hello".utf8)])

        var incoming: ZMQIncoming?
        XCTAssertTrue(try pollUntil(5, zap: setup.zap, watching: [setup.router]) { poller in
            if poller.isReadable(setup.router) { incoming = try setup.router.receiveIncoming(flags: .dontWait) }
            return incoming != nil
        })
        XCTAssertEqual(incoming?.frames, [Array("agent-7".utf8), Array("hello".utf8)])
        XCTAssertEqual(incoming?.userID, clientKeys.publicKey)
        XCTAssertEqual(incoming?.peerAddress, "127.0.0.1")
        XCTAssertEqual(refused, [])

        try setup.router.send([Array("agent-7".utf8), Array("welcome".utf8)])
        var reply: [[UInt8]]?
        XCTAssertTrue(try pollUntil(5, watching: [dealer]) { _ in
            reply = try dealer.receive(flags: .dontWait)
            return reply != nil
        })
        XCTAssertEqual(reply, [Array("welcome".utf8)])
    }

    func testCurveClientOffTheAllowListGetsNothingThrough() throws {
        let allowed = try CurveKeyPair.generate()
        let intruder = try CurveKeyPair.generate()
        var refused: [String] = []
        let setup = try makeServer(allowing: [allowed.publicKey]) { refused.append($0) }
        let dealer = try makeClient(intruder, serverKey: setup.serverKeys.publicKey, endpoint: setup.endpoint)
        try dealer.send([Array("let me in".utf8)], flags: .dontWait)

        var leaked: [[UInt8]]?
        XCTAssertFalse(try pollUntil(1.5, zap: setup.zap, watching: [setup.router]) { poller in
            if poller.isReadable(setup.router) { leaked = try setup.router.receive(flags: .dontWait) }
            return leaked != nil
        }, "server received \(String(describing: leaked))")
        XCTAssertFalse(refused.isEmpty, "the refusal was not logged")
        XCTAssertTrue(refused.allSatisfy { $0.contains(intruder.publicKey) }, "\(refused)")
    }

    func testClientWithTheWrongServerKeyGetsNothingThrough() throws {
        let clientKeys = try CurveKeyPair.generate()
        let setup = try makeServer(allowing: [clientKeys.publicKey]) { _ in }
        let impostorServer = try CurveKeyPair.generate()
        let dealer = try makeClient(clientKeys, serverKey: impostorServer.publicKey, endpoint: setup.endpoint)
        try dealer.send([Array("hello".utf8)], flags: .dontWait)
        var leaked: [[UInt8]]?
        XCTAssertFalse(try pollUntil(1.0, zap: setup.zap, watching: [setup.router]) { _ in
            leaked = try setup.router.receive(flags: .dontWait)
            return leaked != nil
        })
    }

    func testAllowListRejectsInvalidKeysAndSecondHandler() throws {
        let context = try ZMQContext()
        XCTAssertThrowsError(try ZAPAuthenticator(context: context, allowedKeys: ["nope"])) { error in
            XCTAssertEqual(error as? CurveKeyError, .invalidZ85(role: "allow-list key", reason: "expected 40 characters, got 4"))
        }
        let zap = try ZAPAuthenticator(context: context, allowedKeys: [])
        let key = try CurveKeyPair.generate().publicKey
        try zap.allow(key)
        XCTAssertEqual(zap.allowedKeys, [key])
        zap.revoke(key)
        XCTAssertEqual(zap.allowedKeys, [])
        XCTAssertThrowsError(try zap.allow("x"))
        XCTAssertNil(try zap.handleRequest())
        XCTAssertThrowsError(try ZAPAuthenticator(context: context, allowedKeys: [])) { error in
            XCTAssertEqual((error as? ZMQError)?.errno, EADDRINUSE)
        }
    }
}
