import Foundation
import XCTest
@testable import SeerWire

final class RoundTripTests: XCTestCase {
    func assertRoundTrips(_ type: MessageType, file: StaticString = #filePath, line: UInt = #line) throws {
        let samples = try XCTUnwrap(Samples.byType[type], "no sample for \(type)", file: file, line: line)
        XCTAssertFalse(samples.isEmpty, file: file, line: line)
        for message in samples {
            XCTAssertEqual(message.type, type, file: file, line: line)
            let frames = try WireCodec.encode(message)
            XCTAssertEqual(frames[0], Array("SEER1".utf8), file: file, line: line)
            XCTAssertEqual(frames[1], Array(type.rawValue.utf8), file: file, line: line)
            XCTAssertEqual(try WireCodec.decode(frames), message, file: file, line: line)

            let routed = try WireCodec.encode(message, to: [0, 0x6B, 0x8B, 0x45, 0x67])
            XCTAssertEqual(routed.count, frames.count + 1, file: file, line: line)
            let (id, decoded) = try WireCodec.decodeRouted(routed)
            XCTAssertEqual(id, [0, 0x6B, 0x8B, 0x45, 0x67], file: file, line: line)
            XCTAssertEqual(decoded, message, file: file, line: line)
            // Encoding is deterministic, so the same message always gives the same bytes.
            XCTAssertEqual(try WireCodec.encode(decoded), frames, file: file, line: line)
        }
    }

    func testEveryMessageTypeHasSamples() {
        for type in MessageType.allCases { XCTAssertNotNil(Samples.byType[type], "\(type) lacks a round-trip sample") }
    }

    func testReadyRoundTrip() throws { try assertRoundTrips(.ready) }
    func testHeartbeatRoundTrip() throws { try assertRoundTrips(.heartbeat) }
    func testJobRoundTrip() throws { try assertRoundTrips(.job) }
    func testResultRoundTrip() throws { try assertRoundTrips(.result) }
    func testErrorRoundTrip() throws { try assertRoundTrips(.error) }
    func testDisconnectRoundTrip() throws { try assertRoundTrips(.disconnect) }
    func testProfileRoundTrip() throws { try assertRoundTrips(.profile) }
    func testDeployRoundTrip() throws { try assertRoundTrips(.deploy) }
    func testDeployedRoundTrip() throws { try assertRoundTrips(.deployed) }

    func testDeployWithInlineWeightsUsesAFourthFrame() throws {
        let message = Samples.byType[.deploy]![1]
        let frames = try WireCodec.encode(message)
        XCTAssertEqual(frames.count, 4)
        XCTAssertEqual(frames[3], [0, 1, 2, 255, 7])
        XCTAssertFalse(String(decoding: frames[2], as: UTF8.self).contains("inline"))
    }

    func testJSONFieldNamesArePinned() throws {
        // The exact bytes a Python agent would see; docs/PROTOCOL.md documents these names.
        let heartbeat = try WireCodec.encode(.heartbeat(HeartbeatBody(jobID: "job-42")))
        XCTAssertEqual(String(decoding: heartbeat[2], as: UTF8.self), #"{"job_id":"job-42"}"#)
        XCTAssertEqual(String(decoding: try WireCodec.encode(.heartbeat(HeartbeatBody()))[2], as: UTF8.self), "{}")
        let error = try WireCodec.encode(.error(ErrorBody(jobID: "j1", code: .badPolicy, message: "bits")))
        XCTAssertEqual(String(decoding: error[2], as: UTF8.self), #"{"code":"bad_policy","job_id":"j1","message":"bits"}"#)
        let ready = try WireCodec.encode(Samples.byType[.ready]![0])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ready[2])) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["agent_id", "device_key", "executor", "device", "protocol_version", "capabilities"])
        let device = try XCTUnwrap(object["device"] as? [String: Any])
        XCTAssertEqual(Set(device.keys), ["cores", "memory_bytes", "os", "arch", "hardware", "software"])
        XCTAssertEqual(object["executor"] as? String, "builtin")
        let result = try WireCodec.encode(Samples.byType[.result]![0])
        let payload = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(result[2])) as? [String: Any])?["payload"] as? [String: Any])
        XCTAssertEqual(Set(payload.keys), ["accuracy", "latency", "complexity", "timings_ms", "energy"])
        XCTAssertEqual(Set((payload["latency"] as? [String: Any])?.keys ?? [:].keys),
                       ["median_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "number", "repeat"])
        XCTAssertEqual(Set((payload["complexity"] as? [String: Any])?.keys ?? [:].keys), ["macs", "bitops", "params", "size_bytes"])
    }

    func testEnumsUseTheirWireSpelling() {
        XCTAssertEqual(ExecutorKind.allCases.map(\.rawValue), ["builtin", "sim-bitfusion", "sim-bismo", "command", "null", "runtime"])
        XCTAssertEqual(JobKind.allCases.map(\.rawValue), ["measure", "profile", "null", "compress", "artifact"])
        XCTAssertEqual(ErrorCode.allCases.map(\.rawValue),
                       ["bad_policy", "out_of_memory", "timeout", "runtime_error", "malformed", "unknown_type",
                        "unsupported_version", "too_large", "unauthorized", "unknown_job", "busy", "unsupported"])
        XCTAssertEqual(MessageType.allCases.map(\.rawValue),
                       ["READY", "HEARTBEAT", "JOB", "RESULT", "ERROR", "DISCONNECT", "PROFILE", "DEPLOY", "DEPLOYED"])
    }

    func testUnknownFieldsAreIgnoredForForwardCompatibility() throws {
        let body = #"{"job_id":"j","future_field":{"x":[1,2,3]},"another":null}"#
        XCTAssertEqual(try WireCodec.decode([Array("SEER1".utf8), Array("HEARTBEAT".utf8), Array(body.utf8)]),
                       .heartbeat(HeartbeatBody(jobID: "j")))
    }
}
