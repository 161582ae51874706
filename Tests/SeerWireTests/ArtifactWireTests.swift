import Foundation
import XCTest
@testable import SeerWire

/// Revision 2's artifact fields: what a JOB and a RESULT may carry, refused by name otherwise.
final class ArtifactWireTests: XCTestCase {
    let sha = String(repeating: "0f", count: 32)

    func job(_ kind: JobKind, _ artifact: ArtifactReference?) -> Message {
        .job(JobBody(jobID: "j", deviceKey: "ort", kind: kind, payload: JobPayload(model: "resnet8", policy: [:], artifact: artifact)))
    }

    func assertRefused(_ message: Message, naming field: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try WireCodec.encode(message), file: file, line: line) { error in
            XCTAssertEqual((error as? WireError)?.code, .malformed, file: file, line: line)
            XCTAssertTrue("\(error)".contains(field), "'\(error)' should name \(field)", file: file, line: line)
        }
    }

    func testAnArtifactJobNeedsItsArtifact() {
        assertRefused(job(.artifact, nil), naming: "payload.artifact")
    }

    func testArtifactFieldsAreChecked() {
        assertRefused(job(.artifact, ArtifactReference(sha256: sha.uppercased(), sizeBytes: 1, data: "AA==")), naming: "sha256")
        assertRefused(job(.artifact, ArtifactReference(sha256: sha, sizeBytes: 0, data: "")), naming: "size_bytes")
        assertRefused(job(.artifact, ArtifactReference(format: "tflite/1", sha256: sha, sizeBytes: 1)), naming: "format")
        assertRefused(job(.artifact, ArtifactReference(sha256: sha, sizeBytes: 1, data: "AA==", uri: "file:///a")), naming: "uri")
        assertRefused(job(.artifact, ArtifactReference(sha256: sha, sizeBytes: 1, uri: "")), naming: "uri")
        // By name only: the agent serves it from its cache.
        XCTAssertNoThrow(try WireCodec.encode(job(.artifact, ArtifactReference(sha256: sha, sizeBytes: 1))))
    }

    func testAResultCarriesItsArtifactInline() {
        let byName = Message.result(ResultBody(jobID: "j", agentID: "a", payload: ResultPayload(
            artifact: ArtifactReference(sha256: sha, sizeBytes: 1))))
        assertRefused(byName, naming: "payload.artifact.data")
    }

    func testInlineBytesAreCheckedAgainstTheirSize() throws {
        let bytes = Data("hello".utf8)
        let ref = ArtifactReference.inline(bytes, sha256: sha)
        XCTAssertEqual(try ref.inlineBytes(in: .result), bytes)
        var short = ref
        short.sizeBytes = 4
        XCTAssertThrowsError(try short.inlineBytes(in: .result))
        var garbage = ref
        garbage.data = "%%%"
        XCTAssertThrowsError(try garbage.inlineBytes(in: .result))
    }

    func testLargeInlineDataIsNotHeldToTheTextLimit() throws {
        let bytes = Data(repeating: 7, count: 200_000)
        XCTAssertNoThrow(try WireCodec.encode(job(.artifact, .inline(bytes, sha256: sha))))
    }
}
