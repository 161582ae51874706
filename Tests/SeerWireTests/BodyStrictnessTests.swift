import Foundation
import XCTest
@testable import SeerWire

/// docs/PROTOCOL.md section 3 holds for the whole body, fields the receiver does not know included: text is UTF-8,
/// and integers are written as integers (`3`, not `3.0`). Errors name the field.
final class BodyStrictnessTests: XCTestCase {
    let header = Array("SEER1".utf8)

    func decode(_ type: String, _ body: [UInt8]) throws -> Message {
        try WireCodec.decode([header, Array(type.utf8), body])
    }

    func assertRefused(_ type: String, _ body: [UInt8], field: String, reasonContains words: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(type, body), file: file, line: line) { error in
            guard case let .invalidField(_, named, reason)? = error as? WireError else {
                return XCTFail("\(error) should be an invalid field", file: file, line: line)
            }
            XCTAssertEqual(named, field, "\(error)", file: file, line: line)
            for word in words { XCTAssertTrue(reason.contains(word), "'\(reason)' should say \(word)", file: file, line: line) }
            XCTAssertEqual((error as? WireError)?.code, .malformed, file: file, line: line)
        }
    }

    /// `{"job_id":"j", PREFIX <bytes> SUFFIX}` as a HEARTBEAT body.
    func heartbeat(_ before: String, _ bytes: [UInt8], _ after: String) -> [UInt8] {
        Array(#"{"job_id":"j","#.utf8) + Array(before.utf8) + bytes + Array(after.utf8) + Array("}".utf8)
    }

    static let badUTF8: [(bytes: [UInt8], what: String)] = [
        ([0xC0, 0xAF], "overlong"),                // "/" in two bytes
        ([0xE0, 0x80, 0xAF], "overlong"),          // "/" in three bytes
        ([0xF0, 0x82, 0x82, 0xAC], "overlong"),    // "€" in four bytes
        ([0xED, 0xA0, 0x80], "surrogate"),         // U+D800 encoded
        ([0xED, 0xBF, 0xBF], "surrogate"),         // U+DFFF encoded
        ([0xFF], "never occurs"),
        ([0xFE], "never occurs"),
        ([0x80], "continuation"),
        ([0xF4, 0x90, 0x80, 0x80], "beyond U+10FFFF"),
        ([0xE2, 0x82], "incomplete"),              // "€" cut short
        ([0xC3, 0x41], "incomplete"),
    ]

    func testInvalidUTF8IsRefusedInEveryFieldKnownOrNot() throws {
        for (bad, what) in Self.badUTF8 {
            let shown = "\(bad.map { String(format: "%02X", $0) }) \(what)"
            // A field the coordinator does not know, at the top and nested in objects and arrays.
            assertRefused("HEARTBEAT", heartbeat(#""future":"a"#, bad, #"b""#), field: "future", reasonContains: ["UTF-8", what])
            assertRefused("HEARTBEAT", heartbeat(#""future":{"x":["ok",""#, bad, #""]}"#), field: "future.x[1]",
                          reasonContains: ["UTF-8", what])
            // The same bytes in a known field, and in a key.
            assertRefused("HEARTBEAT", Array(#"{"job_id":"j"#.utf8) + bad + Array(#""}"#.utf8), field: "job_id",
                          reasonContains: ["UTF-8", what])
            let printable = String(bad.map { (0x20...0x7E).contains($0) ? Character(Unicode.Scalar($0)) : "?" })
            assertRefused("HEARTBEAT", heartbeat(#""nested":{"k"#, bad, #"":1}"#), field: "nested.k" + printable,
                          reasonContains: ["key", "UTF-8", what])
            XCTAssertThrowsError(try decode("HEARTBEAT", heartbeat(#""future":1"#, bad, "")), shown) { error in
                guard case let .malformedJSON(_, reason)? = error as? WireError else { return XCTFail("\(shown): \(error)") }
                XCTAssertTrue(reason.contains("UTF-8"), reason)
            }
            // And in every message type, not only HEARTBEAT.
            for (type, messages) in Samples.byType {
                let frames = try WireCodec.encode(messages[0])
                var body = frames[2]
                body.removeLast()  // "}"
                body += Array(#","unknown":"#.utf8) + [UInt8(ascii: "\"")] + bad + Array("\"}".utf8)
                XCTAssertThrowsError(try WireCodec.decode([frames[0], frames[1], body] + frames.dropFirst(3)), "\(type) \(shown)") { error in
                    XCTAssertEqual((error as? WireError)?.code, .malformed)
                }
            }
        }
    }

    func testUnpairedSurrogateEscapesAreRefusedEverywhere() throws {
        for escape in [#"\ud800"#, #"\uDBFF"#, #"\udc00"#, #"\ud800\u0041"#, #"\ud800x"#, #"\udc00\ud800"#] {
            assertRefused("HEARTBEAT", heartbeat(#""future":""#, Array(escape.utf8), #"""#), field: "future",
                          reasonContains: ["surrogate"])
            assertRefused("HEARTBEAT", Array(#"{"job_id":""#.utf8) + Array(escape.utf8) + Array(#""}"#.utf8), field: "job_id",
                          reasonContains: ["surrogate"])
        }
        // A pair is one character; escaped keys are read as what they spell.
        XCTAssertEqual(try decode("HEARTBEAT", Array(#"{"job_id":"\ud83d\ude00","future":"\u00e9\/\n"}"#.utf8)),
                       .heartbeat(HeartbeatBody(jobID: "😀")))
        assertRefused("HEARTBEAT", Array(#"{"job_id":"j","f\u00e9":{"a":"\udc00"}}"#.utf8), field: "fé.a", reasonContains: ["surrogate"])
    }

    func testOtherStringsAndNumbersJSONForbidsAreRefusedInUnknownFields() {
        assertRefused("HEARTBEAT", heartbeat(#""future":"a"#, [0x01], #"""#), field: "future", reasonContains: ["control character"])
        assertRefused("HEARTBEAT", heartbeat(#""future":"\x""#, [], ""), field: "future", reasonContains: ["escape"])
        assertRefused("HEARTBEAT", heartbeat(#""future":"\u12g4""#, [], ""), field: "future", reasonContains: ["escape"])
        for number in ["01", "-", "1.", ".5", "1e", "1e+", "+1", "--1", "1.2.3", "0x10"] {
            XCTAssertThrowsError(try decode("HEARTBEAT", heartbeat(#""future":["#, Array(number.utf8), "]")), number) { error in
                XCTAssertEqual((error as? WireError)?.code, .malformed, number)
            }
        }
        assertRefused("HEARTBEAT", heartbeat(#""future":{"n":"#, Array("01".utf8), "}"), field: "future.n", reasonContains: ["not a JSON number"])
    }

    func testValidTextAndNumbersStillDecode() throws {
        // Every length of UTF-8 sequence, at the edges of the ranges the checks narrow.
        let text = "é € 😀 \u{7F} \u{80} \u{7FF} \u{800} \u{D7FF} \u{E000} \u{FFFD} \u{FFFF} \u{10000} \u{10FFFF}"
        let body = #"{"job_id":"é€😀","future":["\#(text)",-0,0,1.5,-2.5e-3,1E+2,99999999999999999999],"\#(text)":{}}"#
        XCTAssertEqual(try decode("HEARTBEAT", Array(body.utf8)), .heartbeat(HeartbeatBody(jobID: "é€😀")))
        // The scan agrees with the standard library about every one- to three-byte sequence and a sample of four-byte ones.
        func check(_ bytes: [UInt8]) {
            let valid = BodyScan.utf8Fault(bytes, at: 0) == nil && BodyScan.utf8Length(lead: bytes[0]) == bytes.count
            XCTAssertEqual(valid, String(validating: bytes, as: UTF8.self) != nil, "\(bytes)")
        }
        for a in 0x80...0xFF {
            check([UInt8(a)])
            for b in 0x00...0xFF {
                check([UInt8(a), UInt8(b)])
                if a >= 0xE0 { for c in stride(from: 0, through: 0xFF, by: 0x11) { check([UInt8(a), UInt8(b), UInt8(c)]) } }
            }
        }
        for a in 0xF0...0xF7 { for b in stride(from: 0x70, through: 0xC0, by: 0x08) { check([UInt8(a), UInt8(b), 0x80, 0xBF]) } }
    }

    /// Every integer field of section 4, per message type, as a JSON path.
    static let integerFields: [MessageType: Set<String>] = [
        .ready: ["protocol_version", "device.cores", "device.memory_bytes"],
        .job: ["payload.finetune_steps", "payload.seed", "payload.latency.number", "payload.latency.repeat", "payload.latency.warmup",
               "payload.timeouts.total_ms", "payload.timeouts.finetune_ms", "payload.timeouts.measure_ms",
               "payload.artifact.size_bytes"],
        .result: ["payload.latency.number", "payload.latency.repeat", "payload.complexity.macs", "payload.complexity.bitops",
                  "payload.complexity.params", "payload.complexity.size_bytes", "payload.artifact.size_bytes"],
        .deploy: ["weights.size_bytes", "validation.images", "validation.validation_count", "finetune.steps", "finetune.seed"],
    ]
    /// Opaque objects: their numbers are any numbers.
    static let opaque: Set<String> = ["payload.policy", "payload.options", "payload.layer_table", "policy", "finetune.options"]

    func testIntegerFieldsRefuseFractionsExponentsAndOverflowAndNameTheField() throws {
        var seen: Set<String> = []
        for type in MessageType.allCases {
            for message in Samples.byType[type]! {
                let frames = try WireCodec.encode(message)
                let tree = try JSONDecoder().decode(JSONValue.self, from: Data(frames[2]))
                for (path, value) in Self.numbers(in: tree, path: "") {
                    let isInteger = Self.integerFields[type, default: []].contains(path)
                    if isInteger { seen.insert("\(type.rawValue) \(path)") }
                    func decode(spelling: String) throws -> Message {
                        let body = Self.write(tree, path: "", target: path, spelling: spelling)
                        return try WireCodec.decode([frames[0], frames[1], Array(body.utf8)] + frames.dropFirst(3))
                    }
                    XCTAssertEqual(try decode(spelling: Self.plain(value)), message, "\(type) \(path)")
                    if isInteger {
                        let whole = Int(value)
                        for spelling in ["\(whole).0", "\(whole)e0", "\(whole)E+0", "\(whole).5", "99999999999999999999", "-99999999999999999999", "1e400"] {
                            XCTAssertThrowsError(try decode(spelling: spelling), "\(type) \(path) = \(spelling)") { error in
                                XCTAssertEqual(error as? WireError, .invalidField(type: type, field: path,
                                    reason: "must be an integer (3, not 3.0) within 64-bit signed range, got \(spelling)"))
                            }
                        }
                    } else {
                        // A number field takes any spelling of its value.
                        XCTAssertEqual(try decode(spelling: "\(value)"), message, "\(type) \(path)")
                        XCTAssertEqual(try decode(spelling: String(format: "%.17e", value)), message, "\(type) \(path)")
                    }
                }
            }
        }
        let expected = Set(Self.integerFields.flatMap { type, paths in paths.map { "\(type.rawValue) \($0)" } })
        XCTAssertEqual(seen, expected, "the samples must carry every integer field")
    }

    func testTheFirstIntegerFieldIsNamedAmongManyNumbers() throws {
        // A hundred floats in the opaque policy before them, two integer fields written as fractions: the first in the
        // body is named.
        let policy = (0..<100).map { "\"l\($0)\":\(Double($0) / 7)" }.joined(separator: ",")
        let job = #"{"job_id":"j","device_key":"k","kind":"measure","payload":{"model":"m","policy":{\#(policy)},"# +
            #""finetune_steps":2,"split":"s","seed":7.0,"timeouts":{"total_ms":5e3}}}"#
        assertRefused("JOB", Array(job.utf8), field: "payload.seed", reasonContains: ["must be an integer", "got 7.0"])
        // Another fault earlier in the schema's order is reported as before.
        let missing = job.replacingOccurrences(of: #""job_id":"j","#, with: "")
        XCTAssertThrowsError(try decode("JOB", Array(missing.utf8))) { error in
            XCTAssertEqual(error as? WireError, .missingField(type: .job, field: "job_id"))
        }
        // A malformed body stays malformed rather than being blamed on a number.
        XCTAssertThrowsError(try decode("JOB", Array((job + "x").utf8))) { error in
            guard case .malformedJSON? = error as? WireError else { return XCTFail("\(error)") }
        }
    }

    // MARK: Helpers

    static func numbers(in value: JSONValue, path: String) -> [(String, Double)] {
        guard !opaque.contains(path) else { return [] }
        switch value {
        case let .number(number): return [(path, number)]
        case let .array(values): return values.enumerated().flatMap { numbers(in: $1, path: "\(path)[\($0)]") }
        case let .object(members):
            return members.sorted { $0.key < $1.key }.flatMap { numbers(in: $1, path: path.isEmpty ? $0 : "\(path).\($0)") }
        default: return []
        }
    }

    /// A whole number without a fraction, anything else as Swift prints it.
    static func plain(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }

    /// `value` as JSON, the number at `target` written as `spelling`.
    static func write(_ value: JSONValue, path: String, target: String, spelling: String) -> String {
        switch value {
        case .null: return "null"
        case let .bool(flag): return flag ? "true" : "false"
        case let .number(number): return path == target ? spelling : plain(number)
        case let .string(text): return String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
        case let .array(values):
            return "[" + values.enumerated().map { write($1, path: "\(path)[\($0)]", target: target, spelling: spelling) }
                .joined(separator: ",") + "]"
        case let .object(members):
            return "{" + members.sorted { $0.key < $1.key }.map { key, member in
                write(.string(key), path: "", target: "\u{0}", spelling: "")
                    + ":" + write(member, path: path.isEmpty ? key : "\(path).\(key)", target: target, spelling: spelling)
            }.joined(separator: ",") + "}"
        }
    }
}
