import Foundation
import XCTest
@testable import SeerWire

final class DecodeErrorTests: XCTestCase {
    let header = Array("SEER1".utf8)

    func frames(_ type: String, _ body: String) -> [[UInt8]] {
        [header, Array(type.utf8), Array(body.utf8)]
    }

    func assertDecode(_ frames: [[UInt8]], throws expected: WireError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try WireCodec.decode(frames), file: file, line: line) { error in
            XCTAssertEqual(error as? WireError, expected, file: file, line: line)
        }
    }

    func assertDecode(_ type: String, _ body: String, throws expected: WireError, file: StaticString = #filePath, line: UInt = #line) {
        assertDecode(frames(type, body), throws: expected, file: file, line: line)
    }

    /// A valid READY body as a mutable JSON object.
    func readyObject() throws -> [String: Any] {
        let frames = try WireCodec.encode(Samples.byType[.ready]![0])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(frames[2])) as? [String: Any])
    }

    func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    func testTruncatedAndExtraFrames() {
        let expected = "3 (4 for DEPLOY with inline weights)"
        assertDecode([], throws: .frameCount(expected: expected, got: 0))
        assertDecode([header], throws: .frameCount(expected: expected, got: 1))
        assertDecode([header, Array("HEARTBEAT".utf8)], throws: .frameCount(expected: expected, got: 2))
        assertDecode(frames("HEARTBEAT", "{}") + [[], []], throws: .frameCount(expected: expected, got: 5))
        assertDecode(frames("HEARTBEAT", "{}") + [[1]], throws: .frameCount(expected: "3 for HEARTBEAT", got: 4))
        XCTAssertThrowsError(try WireCodec.decodeRouted([])) { error in
            XCTAssertEqual(error as? WireError, .frameCount(expected: "a routing id and 3", got: 0))
        }
        XCTAssertThrowsError(try WireCodec.decodeRouted([[1, 2]] + [header])) { error in
            XCTAssertEqual(error as? WireError, .frameCount(expected: expected, got: 1))
        }
    }

    func testRoutingIDBounds() {
        XCTAssertThrowsError(try WireCodec.decodeRouted([[]] + frames("HEARTBEAT", "{}"))) { error in
            XCTAssertEqual(error as? WireError, .invalidRoutingID(length: 0))
        }
        XCTAssertThrowsError(try WireCodec.encode(.heartbeat(HeartbeatBody()), to: [UInt8](repeating: 1, count: 256))) { error in
            XCTAssertEqual(error as? WireError, .invalidRoutingID(length: 256))
        }
    }

    func testVersionAndSignature() {
        assertDecode([Array("SEER2".utf8), Array("HEARTBEAT".utf8), Array("{}".utf8)], throws: .unsupportedVersion(2))
        assertDecode([Array("SEER17".utf8), Array("HEARTBEAT".utf8), Array("{}".utf8)], throws: .unsupportedVersion(17))
        XCTAssertEqual(WireError.unsupportedVersion(2).code, .unsupportedVersion)
        for bad in ["SEER", "SEER0", "SEER01", "SEER+1", "SEERx", "seer1", "HTTP1", "", "SEER1 ", "SEER99999999999999"] {
            assertDecode([Array(bad.utf8), Array("HEARTBEAT".utf8), Array("{}".utf8)],
                         throws: .badSignature(found: bad.count > 32 ? String(bad.prefix(32)) + "..." : bad))
        }
        assertDecode([[0x53, 0x45, 0x45, 0x52, 0x00], Array("HEARTBEAT".utf8), Array("{}".utf8)], throws: .badSignature(found: "SEER?"))
    }

    func testUnknownType() {
        assertDecode("READYX", "{}", throws: .unknownType("READYX"))
        assertDecode("ready", "{}", throws: .unknownType("ready"))
        assertDecode("", "{}", throws: .unknownType(""))
        assertDecode([header, [0x4A, 0x4F, 0x42, 0x00], Array("{}".utf8)], throws: .unknownType("JOB?"))
        assertDecode([header, [UInt8](repeating: 0x41, count: 40), Array("{}".utf8)],
                     throws: .unknownType(String(repeating: "A", count: 32) + "..."))
        XCTAssertEqual(WireError.unknownType("X").code, .unknownType)
    }

    func testMalformedJSON() {
        for body in ["", "   ", "{", "[]", "null", "\"x\"", "{\"job_id\":}", "{\"job_id\":\"a\"", "{} trailing", "{'a':1}"] {
            XCTAssertThrowsError(try WireCodec.decode(frames("HEARTBEAT", body)), body) { error in
                guard case .malformedJSON(.heartbeat, _)? = error as? WireError else { return XCTFail("\(body): \(error)") }
                XCTAssertEqual((error as? WireError)?.code, .malformed)
            }
        }
        XCTAssertThrowsError(try WireCodec.decode([header, Array("HEARTBEAT".utf8), [0x7B, 0xFF, 0xFE, 0x7D]]))
        let deep = "{\"a\":" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        assertDecode("HEARTBEAT", deep, throws: .malformedJSON(type: .heartbeat, reason: "nested deeper than 32 levels"))
        // Brackets inside strings are not nesting.
        let brackets = #"{"job_id":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"{{{{"}"#
        XCTAssertNoThrow(try WireCodec.decode(frames("HEARTBEAT", brackets)))
    }

    func testOversizedMessages() throws {
        let padded = "{" + String(repeating: " ", count: SeerProtocol.maxMessageBytes) + "}"
        XCTAssertThrowsError(try WireCodec.decode(frames("HEARTBEAT", padded))) { error in
            XCTAssertEqual(error as? WireError, .tooLarge(bytes: 5 + 9 + padded.utf8.count, limit: SeerProtocol.maxMessageBytes))
            XCTAssertEqual((error as? WireError)?.code, .tooLarge)
        }
        // DEPLOY may be larger, but not beyond its own limit, and its JSON alone stays within 1 MiB.
        let big = DeployBody(deployID: "d", deviceKey: "k", profile: "p", model: "m", policy: [:],
                             weights: WeightsReference(sha256: Samples.sha, sizeBytes: 4 << 20),
                             inlineWeights: [UInt8](repeating: 9, count: 4 << 20))
        XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(.deploy(big))), .deploy(big))
        var huge = big
        huge.inlineWeights = [UInt8](repeating: 9, count: SeerProtocol.maxDeployMessageBytes)
        huge.weights.sizeBytes = SeerProtocol.maxDeployMessageBytes
        XCTAssertThrowsError(try WireCodec.encode(.deploy(huge))) { error in
            guard case .tooLarge(_, SeerProtocol.maxDeployMessageBytes)? = error as? WireError else { return XCTFail("\(error)") }
        }
        let hugeFrames = [header, Array("DEPLOY".utf8), Array("{}".utf8), huge.inlineWeights!]
        XCTAssertThrowsError(try WireCodec.decode(hugeFrames)) { error in
            guard case .tooLarge(_, SeerProtocol.maxDeployMessageBytes)? = error as? WireError else { return XCTFail("\(error)") }
        }
        let fatDeployJSON = "{" + String(repeating: " ", count: SeerProtocol.maxBodyBytes) + "}"
        XCTAssertThrowsError(try WireCodec.decode(frames("DEPLOY", fatDeployJSON))) { error in
            XCTAssertEqual(error as? WireError, .tooLarge(bytes: fatDeployJSON.utf8.count, limit: SeerProtocol.maxBodyBytes))
        }
    }

    func testMissingFieldsAreNamed() throws {
        for key in ["agent_id", "device_key", "executor", "device", "protocol_version", "capabilities"] {
            var object = try readyObject()
            object[key] = nil
            assertDecode("READY", try json(object), throws: .missingField(type: .ready, field: key))
        }
        var object = try readyObject()
        var device = object["device"] as! [String: Any]
        device["cores"] = nil
        object["device"] = device
        assertDecode("READY", try json(object), throws: .missingField(type: .ready, field: "device.cores"))
        // Optional fields may be left out.
        device = object["device"] as! [String: Any]
        device["cores"] = 2
        device["arch"] = nil
        device["hardware"] = nil
        object["device"] = device
        XCTAssertNoThrow(try WireCodec.decode(frames("READY", try json(object))))

        assertDecode("JOB", #"{"job_id":"j","device_key":"k","kind":"null","payload":{"model":"m","policy":{},"finetune_steps":0,"seed":0,"timeouts":{"total_ms":5}}}"#,
                     throws: .missingField(type: .job, field: "payload.split"))
        assertDecode("ERROR", #"{"message":"x"}"#, throws: .missingField(type: .error, field: "code"))
        assertDecode("DISCONNECT", "{}", throws: .missingField(type: .disconnect, field: "reason"))
        assertDecode("DEPLOYED", #"{"deploy_id":"d","agent_id":"a","status":"failed","timings_ms":{}}"#,
                     throws: .missingField(type: .deployed, field: "code"))
    }

    func testWrongTypesAndBadValuesAreNamed() throws {
        var object = try readyObject()
        var device = object["device"] as! [String: Any]
        device["cores"] = "8"
        object["device"] = device
        assertDecode("READY", try json(object), throws: .invalidField(type: .ready, field: "device.cores", reason: "has the wrong JSON type, expected number"))
        object = try readyObject()
        object["executor"] = "gpu"
        assertDecode("READY", try json(object), throws: .invalidField(type: .ready, field: "executor", reason: "has an invalid value"))
        object = try readyObject()
        object["agent_id"] = ""
        assertDecode("READY", try json(object), throws: .invalidField(type: .ready, field: "agent_id", reason: "must not be empty"))
        object["agent_id"] = "a\u{1}b"
        assertDecode("READY", try json(object), throws: .invalidField(type: .ready, field: "agent_id", reason: "contains control characters"))
        object["agent_id"] = String(repeating: "x", count: 256)
        assertDecode("READY", try json(object), throws: .invalidField(type: .ready, field: "agent_id", reason: "is 256 bytes, limit 255"))
        object = try readyObject()
        object["agent_id"] = NSNull()
        assertDecode("READY", try json(object), throws: .invalidField(type: .ready, field: "agent_id", reason: "is null but a value is required"))
        object = try readyObject()
        object["capabilities"] = ["measure", 3]
        assertDecode("READY", try json(object), throws: .invalidField(type: .ready, field: "capabilities[1]", reason: "has the wrong JSON type, expected string"))

        let result = #"{"job_id":"j","agent_id":"a","payload":{"accuracy":ACC,"timings_ms":{}}}"#
        assertDecode("RESULT", result.replacingOccurrences(of: "ACC", with: "1.5"),
                     throws: .invalidField(type: .result, field: "payload.accuracy", reason: "must be in 0.0...1.0, got 1.5"))
        XCTAssertThrowsError(try WireCodec.decode(frames("RESULT", result.replacingOccurrences(of: "ACC", with: "1e999")))) { error in
            XCTAssertEqual(error as? WireError, .malformedJSON(type: .result, reason: "not well-formed UTF-8 JSON: Number 1e999 is not representable in Swift."))
        }
        assertDecode("RESULT", #"{"job_id":"j","agent_id":"a","payload":{"timings_ms":{"total":-1}}}"#,
                     throws: .invalidField(type: .result, field: "payload.timings_ms.total", reason: "must be in 0.0...1.7976931348623157e+308, got -1.0"))
        assertDecode("RESULT", #"{"job_id":"j","agent_id":"a","payload":{"timings_ms":{},"latency":{"median_ms":1,"min_ms":2,"max_ms":3,"number":1,"repeat":1}}}"#,
                     throws: .invalidField(type: .result, field: "payload.latency", reason: "must satisfy min_ms <= median_ms <= max_ms"))
        assertDecode("JOB", #"{"job_id":"j","device_key":"k","kind":"null","payload":{"model":"m","policy":{},"finetune_steps":-1,"split":"s","seed":0,"timeouts":{"total_ms":5}}}"#,
                     throws: .invalidField(type: .job, field: "payload.finetune_steps", reason: "must be >= 0, got -1"))
        assertDecode("JOB", #"{"job_id":"j","device_key":"k","kind":"null","payload":{"model":"m","policy":{},"finetune_steps":1.5,"split":"s","seed":0,"timeouts":{"total_ms":5}}}"#,
                     throws: .invalidField(type: .job, field: "payload.finetune_steps",
                                           reason: "must be an integer (3, not 3.0) within 64-bit signed range, got 1.5"))
        assertDecode("PROFILE", #"{"agent_id":"a","device_key":"k","profile":"p","capacity_percent":101,"status":"full"}"#,
                     throws: .invalidField(type: .profile, field: "capacity_percent", reason: "must be in 0.0...100.0, got 101.0"))
    }

    func testDeployWeightsConsistency() throws {
        let json = #"{"deploy_id":"d","device_key":"k","profile":"p","model":"m","policy":{},"weights":WEIGHTS}"#
        func deploy(_ weights: String, blob: [UInt8]? = nil) -> [[UInt8]] {
            frames("DEPLOY", json.replacingOccurrences(of: "WEIGHTS", with: weights)) + (blob.map { [$0] } ?? [])
        }
        let sha = Samples.sha
        assertDecode(deploy(#"{"sha256":"\#(sha)","size_bytes":3}"#),
                     throws: .invalidField(type: .deploy, field: "weights.uri", reason: "is absent, so the weights frame is required"))
        assertDecode(deploy(#"{"uri":"file:///x","sha256":"\#(sha)","size_bytes":3}"#, blob: [1, 2, 3]),
                     throws: .invalidField(type: .deploy, field: "weights.uri", reason: "is present, so no weights frame is allowed"))
        assertDecode(deploy(#"{"sha256":"\#(sha)","size_bytes":4}"#, blob: [1, 2, 3]),
                     throws: .invalidField(type: .deploy, field: "weights.size_bytes", reason: "says 4 but the weights frame has 3 bytes"))
        assertDecode(deploy(#"{"uri":"file:///x","sha256":"\#(sha.uppercased())","size_bytes":3}"#),
                     throws: .invalidField(type: .deploy, field: "weights.sha256", reason: "must be 64 lowercase hex digits"))
        XCTAssertNoThrow(try WireCodec.decode(deploy(#"{"sha256":"\#(sha)","size_bytes":3}"#, blob: [1, 2, 3])))
        let checked = #"{"deploy_id":"d","device_key":"k","profile":"p","model":"m","policy":{},"weights":{"uri":"file:///x","sha256":"\#(sha)","size_bytes":3},EXTRA}"#
        func extra(_ text: String) -> [[UInt8]] { frames("DEPLOY", checked.replacingOccurrences(of: "EXTRA", with: text)) }
        assertDecode(extra(#""validation":{"images":0}"#),
                     throws: .invalidField(type: .deploy, field: "validation.images", reason: "must be >= 1, got 0"))
        assertDecode(extra(#""validation":{"images":8,"min_accuracy":1.5}"#),
                     throws: .invalidField(type: .deploy, field: "validation.min_accuracy", reason: "must be in 0.0...1.0, got 1.5"))
        assertDecode(extra(#""validation":{"images":8,"dataset_sha256":"abc"}"#),
                     throws: .invalidField(type: .deploy, field: "validation.dataset_sha256", reason: "must be 64 lowercase hex digits"))
        assertDecode(extra(#""validation":{"images":8,"normalization":{"mean":[0.5],"std":[0]}}"#),
                     throws: .invalidField(type: .deploy, field: "validation.normalization.std", reason: "must be positive, got 0.0"))
        assertDecode(extra(#""finetune":{"steps":-1,"seed":0}"#),
                     throws: .invalidField(type: .deploy, field: "finetune.steps", reason: "must be >= 0, got -1"))
    }

    func testEncodeRefusesWhatDecodeWould() {
        XCTAssertThrowsError(try WireCodec.encode(.heartbeat(HeartbeatBody(jobID: "")))) { error in
            XCTAssertEqual(error as? WireError, .invalidField(type: .heartbeat, field: "job_id", reason: "must not be empty"))
        }
        let nan = ResultBody(jobID: "j", agentID: "a", payload: ResultPayload(accuracy: .nan))
        XCTAssertThrowsError(try WireCodec.encode(.result(nan))) { error in
            XCTAssertEqual(error as? WireError, .invalidField(type: .result, field: "payload.accuracy", reason: "must be a finite number"))
        }
        let infPolicy = JobBody(jobID: "j", deviceKey: "k", kind: .measure,
                                payload: JobPayload(model: "m", policy: ["ratios": [0.5, .number(.infinity)]]))
        XCTAssertThrowsError(try WireCodec.encode(.job(infPolicy))) { error in
            XCTAssertEqual(error as? WireError, .invalidField(type: .job, field: "payload.policy.ratios[1]", reason: "must be a finite number"))
        }
    }

    func testErrorReplyCarriesCodeAndSalvagedJobID() throws {
        let bad = frames("RESULT", #"{"job_id":"job-9","agent_id":"a","payload":{"accuracy":7,"timings_ms":{}}}"#)
        var caught: WireError?
        XCTAssertThrowsError(try WireCodec.decode(bad)) { caught = $0 as? WireError }
        let reply = WireCodec.errorReply(for: try XCTUnwrap(caught), frames: bad)
        guard case let .error(body) = reply else { return XCTFail("\(reply)") }
        XCTAssertEqual(body.jobID, "job-9")
        XCTAssertEqual(body.code, .malformed)
        XCTAssertTrue(body.message.contains("payload.accuracy"), body.message)
        XCTAssertNoThrow(try WireCodec.encode(reply))
        XCTAssertEqual(WireCodec.errorReply(for: .unknownType("X"), frames: [[1]]), .error(ErrorBody(code: .unknownType, message: "unknown message type \"X\"")))
        // A DEPLOYED (or DEPLOY) names its deploy by `deploy_id`; the ERROR's `job_id` carries it.
        let deployed = frames("DEPLOYED", #"{"deploy_id":"dep-4","agent_id":"a","timings_ms":{}}"#)
        XCTAssertThrowsError(try WireCodec.decode(deployed)) { caught = $0 as? WireError }
        guard case let .error(refusal) = WireCodec.errorReply(for: try XCTUnwrap(caught), frames: deployed) else { return XCTFail() }
        XCTAssertEqual(refusal.jobID, "dep-4")
    }
}
