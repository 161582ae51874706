import Foundation
import XCTest
import SeerModels
@testable import SeerCompression

/// Runs the built `seer-agent complexity` and checks its real output against the library.
final class ComplexityCommandTests: XCTestCase {
    /// The `seer-agent` built next to this test bundle (`swift test` builds every product into one directory);
    /// the package's `.build/debug` and `.build/release` as fallbacks.
    private func agentBinary() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var directories = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
        directories += ["debug", "release"].map { root.appendingPathComponent(".build").appendingPathComponent($0) }
        for directory in directories {
            let candidate = directory.appendingPathComponent("seer-agent")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw MissingPrerequisite("seer-agent is not built next to the tests or under .build; checked \(directories.map(\.path))")
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try agentBinary()
        process.arguments = ["complexity"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting so a full pipe cannot stall the child.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    func testJSONOutputMatchesTheLibrary() throws {
        let result = try run(["--model", "resnet20", "--bits", "4/4/0.25", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let printed = try JSONDecoder().decode(ComplexityReport.self, from: Data(result.stdout.utf8))
        let model = try zoo("resnet20")
        let expected = try Complexity.compute(model: model, policy: Policy(bits: "4/4/0.25").resolve(for: model))
        XCTAssertEqual(printed, expected)
        let keys = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]).keys
        XCTAssertTrue(Set(["macs", "bitops", "params", "size_bytes", "layers"]).isSubset(of: Set(keys)), "\(keys)")
    }

    func testPolicyFileAndTable() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("seer-complexity-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(#"{"default": {"wbits": 4, "abits": 4, "prune": 0.5}, "layers": {"fc": {"wbits": 8}}}"#.utf8).write(to: file)
        let result = try run(["--model", "resnet8", "--policy", file.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("stage1.block1.conv1") && $0.contains("8/16") }, result.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("fc") && $0.contains("8/4") }, result.stdout)
        XCTAssertTrue(lines.last?.hasPrefix("total:") == true, result.stdout)
    }

    func testNeitherOrBothPolicyOptionsAreUsageErrors() throws {
        let neither = try run(["--model", "resnet8"])
        XCTAssertEqual(neither.status, 64)
        XCTAssertTrue(neither.stderr.contains("--policy") && neither.stderr.contains("--bits"), neither.stderr)
        let both = try run(["--model", "resnet8", "--bits", "4/4", "--policy", "p.json"])
        XCTAssertEqual(both.status, 64)
        XCTAssertTrue(both.stderr.contains("not both"), both.stderr)
    }

    func testBadInputsAreReportedNotCrashed() throws {
        let unknownModel = try run(["--model", "resnet99", "--bits", "4/4"])
        XCTAssertEqual(unknownModel.status, 64)
        XCTAssertTrue(unknownModel.stderr.contains("resnet99"), unknownModel.stderr)
        let badBits = try run(["--model", "resnet8", "--bits", "7/4"])
        XCTAssertNotEqual(badBits.status, 0)
        XCTAssertTrue(badBits.stderr.contains("W = 7") && badBits.stderr.contains("2, 3, 4, 5, 6, 8"), badBits.stderr)
        let missing = try run(["--model", "resnet8", "--policy", "/nonexistent/policy.json"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/policy.json"), missing.stderr)
    }
}

/// `make test` sets up everything the tests need, so a missing piece is a failure, not a skip.
struct MissingPrerequisite: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
