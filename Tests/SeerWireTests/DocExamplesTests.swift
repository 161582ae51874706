import Foundation
import XCTest
@testable import SeerWire

/// Keeps docs/PROTOCOL.md honest: every message example in it must decode with this codec.
final class DocExamplesTests: XCTestCase {
    func testEveryExampleInProtocolDocDecodes() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/PROTOCOL.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        var seen: Set<MessageType> = []
        for section in text.components(separatedBy: "\n### ").dropFirst() {
            let name = String(section.prefix { $0 != "\n" })
            guard let type = MessageType(rawValue: name) else { continue }
            let parts = section.components(separatedBy: "```json\n")
            let example = try XCTUnwrap(parts.dropFirst().first?.components(separatedBy: "```").first, "\(name) has no example")
            var frames = [SeerProtocol.headerBytes, Array(name.utf8), Array(example.utf8)]
            if type == .deploy { frames.append(Array("test".utf8)) }  // the doc's inline weights
            do {
                let message = try WireCodec.decode(frames)
                XCTAssertEqual(message.type, type)
                seen.insert(type)
            } catch {
                XCTFail("\(name) example in PROTOCOL.md does not decode: \(error)")
            }
        }
        XCTAssertEqual(seen, Set(MessageType.allCases), "every message type needs an example in PROTOCOL.md")
    }
}
