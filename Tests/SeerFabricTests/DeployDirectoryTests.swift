import XCTest
@testable import SeerAgent
import SeerWire

/// The deploy directory: staging, atomic activation, rollback, pruning and recovery from an interrupted install.
final class DeployDirectoryTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("seer-deploy-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    func stage(_ directory: DeployDirectory, _ id: String, profile: String = "balanced") throws -> DeployedRelease {
        try directory.stage(deployID: id, modelBytes: Array("weights of \(id)".utf8), policy: ["bits": .array([.number(4)])],
                            profile: profile, model: "resnet8", metadata: ["coordinator": .string("lab")])
    }

    /// `current` resolves to a release whose files are all there and match the manifest.
    func assertCurrent(_ directory: DeployDirectory, is id: String?, file: StaticString = #filePath, line: UInt = #line) throws {
        let current = try directory.current()
        XCTAssertEqual(current?.deployID, id, file: file, line: line)
        if let current {
            XCTAssertNoThrow(try directory.verifyFiles(of: current), file: file, line: line)
            let bytes = try Data(contentsOf: current.modelURL)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "weights of \(current.deployID)", file: file, line: line)
        }
    }

    func linkTarget(_ name: String) throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: root.appendingPathComponent(name).path)
    }

    func testInstallTwoThenRollback() throws {
        let directory = try DeployDirectory(url: root)
        try assertCurrent(directory, is: nil)
        XCTAssertNil(try directory.previous())

        let first = try stage(directory, "dep-1", profile: "performance")
        try assertCurrent(directory, is: nil)  // staging alone changes nothing
        XCTAssertEqual(first.manifest.sha256, DeployDirectory.sha256Hex(Array("weights of dep-1".utf8)))
        XCTAssertEqual(first.manifest.sizeBytes, 16)
        try directory.activate(first)
        try assertCurrent(directory, is: "dep-1")
        XCTAssertNil(try directory.previous())
        XCTAssertEqual(try linkTarget("current"), "releases/dep-1")  // relative: the directory may move

        let second = try stage(directory, "dep-2", profile: "powersave")
        try directory.activate(second)
        try assertCurrent(directory, is: "dep-2")
        XCTAssertEqual(try directory.previous()?.deployID, "dep-1")
        XCTAssertEqual(try directory.current()?.manifest.profile, "powersave")
        XCTAssertEqual(try directory.current()?.manifest.metadata, ["coordinator": .string("lab")])
        try directory.activate(second)  // again: nothing changes
        XCTAssertEqual(try directory.previous()?.deployID, "dep-1")

        let restored = try directory.rollback()
        XCTAssertEqual(restored.deployID, "dep-1")
        try assertCurrent(directory, is: "dep-1")
        XCTAssertEqual(try directory.previous()?.deployID, "dep-2")
        try directory.rollback()  // and back
        try assertCurrent(directory, is: "dep-2")

        // The policy and manifest are JSON a person or another tool can read.
        let policy = try JSONSerialization.jsonObject(with: Data(contentsOf: second.policyURL)) as? [String: Any]
        XCTAssertEqual(policy?["bits"] as? [Int], [4])
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: second.manifestURL)) as? [String: Any]
        XCTAssertEqual(manifest?["deploy_id"] as? String, "dep-2")
        XCTAssertEqual(manifest?["size_bytes"] as? Int, 16)
        XCTAssertNotNil(manifest?["installed_at"] as? String)

        // A second instance (say, the CLI) sees the same.
        let reopened = try DeployDirectory(url: root, create: false)
        XCTAssertEqual(try reopened.current()?.deployID, "dep-2")
        XCTAssertEqual(reopened.removedLeftovers, [])
    }

    func testRollbackWithoutPreviousNamesTheSituation() throws {
        let directory = try DeployDirectory(url: root)
        XCTAssertThrowsError(try directory.rollback()) { error in
            XCTAssertTrue("\(error)".contains("no previous release"), "\(error)")
        }
        try directory.activate(try stage(directory, "dep-1"))
        XCTAssertThrowsError(try directory.rollback()) { error in
            XCTAssertTrue("\(error)".contains("no previous release"), "\(error)")
        }
        try assertCurrent(directory, is: "dep-1")
    }

    func testRollbackToAPrunedReleaseIsRefused() throws {
        let directory = try DeployDirectory(url: root)
        try directory.activate(try stage(directory, "dep-1"))
        try directory.activate(try stage(directory, "dep-2"))
        try FileManager.default.removeItem(at: directory.releasesURL.appendingPathComponent("dep-1"))
        XCTAssertThrowsError(try directory.rollback()) { error in
            XCTAssertTrue("\(error)".contains("releases/dep-1, which is not a complete release"), "\(error)")
        }
        try assertCurrent(directory, is: "dep-2")
    }

    func testFailedStageLeavesCurrentUntouched() throws {
        let directory = try DeployDirectory(url: root)
        try directory.activate(try stage(directory, "dep-1"))
        for failingFile in [DeployDirectory.modelFileName, DeployDirectory.policyFileName, DeployDirectory.manifestFileName] {
            directory.stageFaultHook = { name throws(DeployDirectoryError) in
                if name == failingFile { throw .io(operation: "write", path: name, reason: "No space left on device") }
            }
            XCTAssertThrowsError(try stage(directory, "dep-2")) { error in
                XCTAssertTrue("\(error)".contains("No space left on device"), "\(error)")
            }
            try assertCurrent(directory, is: "dep-1")
            XCTAssertEqual(try directory.releaseIDs(), ["dep-1"])
            // Nothing half-written is left behind, not even hidden.
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.releasesURL.path), ["dep-1"])
        }
        // The same id installs fine once the fault is gone.
        directory.stageFaultHook = nil
        try directory.activate(try stage(directory, "dep-2"))
        try assertCurrent(directory, is: "dep-2")
    }

    func testLeftoversOfACrashAreCleanedOnOpen() throws {
        let directory = try DeployDirectory(url: root)
        try directory.activate(try stage(directory, "dep-1"))
        // A crash mid-stage: a half-written staging directory; and mid-activate: a temporary link not yet renamed.
        let staging = directory.releasesURL.appendingPathComponent(".staging-4242-17")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        try Data("half".utf8).write(to: staging.appendingPathComponent(DeployDirectory.modelFileName))
        let strayLink = root.appendingPathComponent(".current.tmp-4242-99")
        try FileManager.default.createSymbolicLink(atPath: strayLink.path, withDestinationPath: "releases/.staging-4242-17")

        let reopened = try DeployDirectory(url: root, create: false)
        XCTAssertEqual(reopened.removedLeftovers.sorted(), [".current.tmp-4242-99", "releases/.staging-4242-17"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging.path))
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: strayLink.path))
        try assertCurrent(reopened, is: "dep-1")
        XCTAssertEqual(try reopened.releaseIDs(), ["dep-1"])
        // And installing continues normally.
        try reopened.activate(try stage(reopened, "dep-2"))
        try assertCurrent(reopened, is: "dep-2")
    }

    func testBadAndDuplicateIDsAreRefused() throws {
        let directory = try DeployDirectory(url: root)
        for bad in ["", ".", "..", "../escape", "a/b", ".staging-1", ".hidden", "tab\there", String(repeating: "x", count: 256)] {
            XCTAssertThrowsError(try stage(directory, bad), bad) { error in
                guard case .invalidDeployID = error as? DeployDirectoryError else { return XCTFail("\(bad): \(error)") }
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.releasesURL.path), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.deletingLastPathComponent().appendingPathComponent("escape").path))

        try directory.activate(try stage(directory, "dep-1"))
        XCTAssertThrowsError(try stage(directory, "dep-1")) { error in
            XCTAssertEqual(error as? DeployDirectoryError,
                           .releaseExists(deployID: "dep-1", path: directory.releasesURL.appendingPathComponent("dep-1").path))
        }
        XCTAssertThrowsError(try directory.stage(deployID: "dep-3", modelBytes: [], policy: [:], profile: "", model: "m"))
        XCTAssertThrowsError(try directory.stage(deployID: "dep-3", modelBytes: [], policy: [:], profile: "p", model: ""))
        XCTAssertThrowsError(try directory.stage(deployID: "dep-3", modelBytes: [], policy: ["x": .number(.nan)],
                                                 profile: "p", model: "m"))
        XCTAssertEqual(try directory.releaseIDs(), ["dep-1"])
    }

    func testPruneKeepsExactlyCurrentAndPrevious() throws {
        let directory = try DeployDirectory(url: root)
        for id in ["dep-1", "dep-2", "dep-3", "dep-4"] { try directory.activate(try stage(directory, id)) }
        _ = try stage(directory, "dep-5")  // staged, never activated
        XCTAssertEqual(try directory.prune(), ["dep-1", "dep-2", "dep-5"])
        XCTAssertEqual(try directory.releaseIDs(), ["dep-3", "dep-4"])
        try assertCurrent(directory, is: "dep-4")
        XCTAssertEqual(try directory.previous()?.deployID, "dep-3")
        XCTAssertEqual(try directory.prune(), [])
        try directory.rollback()
        try assertCurrent(directory, is: "dep-3")
    }

    func testBrokenLinksAreErrorsNotGuesses() throws {
        let directory = try DeployDirectory(url: root)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("current").path,
                                                   withDestinationPath: "/etc")
        XCTAssertThrowsError(try directory.current()) { error in
            XCTAssertTrue("\(error)".contains("points at /etc, not releases/<deploy_id>"), "\(error)")
        }
        XCTAssertThrowsError(try directory.prune())  // never deletes while it cannot tell what is in use
        // Activating replaces a broken current (and does not keep it for rollback).
        try directory.activate(try stage(directory, "dep-1"))
        try assertCurrent(directory, is: "dep-1")
        XCTAssertNil(try directory.previous())
    }

    func testCorruptedModelFileIsDetected() throws {
        let directory = try DeployDirectory(url: root)
        let release = try stage(directory, "dep-1")
        try Data("weights of dep-X".utf8).write(to: release.modelURL)
        XCTAssertThrowsError(try directory.verifyFiles(of: release)) { error in
            XCTAssertTrue("\(error)".contains("SHA-256"), "\(error)")
        }
    }

    func testVerify() throws {
        let bytes = Array("test".utf8)
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  // the protocol's example
        XCTAssertEqual(DeployDirectory.sha256Hex(bytes), digest)
        XCTAssertNoThrow(try DeployDirectory.verify(bytes, sha256: digest, sizeBytes: 4))
        XCTAssertThrowsError(try DeployDirectory.verify(bytes, sha256: digest, sizeBytes: 5)) { error in
            XCTAssertEqual(error as? DeployDirectoryError, .sizeMismatch(expected: 5, actual: 4))
        }
        let other = String(repeating: "0", count: 64)
        XCTAssertThrowsError(try DeployDirectory.verify(bytes, sha256: other, sizeBytes: 4)) { error in
            XCTAssertEqual(error as? DeployDirectoryError, .checksumMismatch(expected: other, actual: digest))
        }
        XCTAssertThrowsError(try DeployDirectory.verify(bytes, sha256: digest.uppercased(), sizeBytes: 4)) { error in
            XCTAssertTrue("\(error)".contains("64 lowercase hex digits"), "\(error)")
        }
    }

    func testOpeningWithoutCreateNeedsTheDirectory() {
        XCTAssertThrowsError(try DeployDirectory(url: root, create: false)) { error in
            XCTAssertTrue("\(error)".contains(root.standardizedFileURL.path), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.path))
    }
}
