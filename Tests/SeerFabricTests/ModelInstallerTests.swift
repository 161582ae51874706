import Foundation
import SeerCompression
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import XCTest
@testable import SeerAgent
import SeerWire

/// The agent's installer with the committed resnet8: checks before the swap, and a failed deploy never touches `current`.
final class ModelInstallerTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    /// resnet8 compressed with `bits` (no fine-tuning), as a compressed-model file's bytes.
    func prepared(_ bits: String) throws -> (bytes: [UInt8], policy: [String: JSONValue]) {
        let base = try ModelStore.load("resnet8")
        let policy = try Policy(bits: bits).resolve(for: base)
        var settings = EvaluationSettings()
        settings.finetuneSteps = 0
        settings.calibrationImages = 64
        let model = try PolicyEvaluation.compress(base: base, policy: policy, data: try FashionMNIST.load(), settings: settings).model
        let file = directory.appendingPathComponent("prepared-\(bits.replacingOccurrences(of: "/", with: "-")).safetensors")
        try CompressedModelFile.save(model, policy: policy, to: file)
        return ([UInt8](try Data(contentsOf: file)), try JSONDecoder().decode([String: JSONValue].self, from: try policy.policy().jsonData()))
    }

    func body(_ id: String, _ weights: (bytes: [UInt8], policy: [String: JSONValue]), floor: Double? = nil,
              sha: String? = nil, finetune: DeployFinetune? = nil) -> DeployBody {
        DeployBody(deployID: id, deviceKey: "cpu", profile: "saver", model: "resnet8", policy: weights.policy,
                   weights: WeightsReference(sha256: sha ?? DeployDirectory.sha256Hex(weights.bytes), sizeBytes: weights.bytes.count),
                   inlineWeights: weights.bytes, validation: DeployValidation(images: 128, minAccuracy: floor), finetune: finetune)
    }

    func testInstallsVerifiedModelsAndKeepsCurrentOnEveryFailure() throws {
        let deployDir = try DeployDirectory(url: directory.appendingPathComponent("deploy"))
        let installer = ModelInstaller(directory: deployDir, agentID: "a1")
        let eight = try prepared("8/8")

        let ok = installer.install(body("dep-1", eight, floor: 0.8), cancel: CancellationFlag())
        XCTAssertEqual(ok.status, .ok, ok.message ?? "")
        XCTAssertEqual(try deployDir.current()?.deployID, "dep-1")
        for phase in ["fetch", "verify", "load", "validate", "stage", "activate", "total"] {
            XCTAssertNotNil(ok.timingsMs[phase], phase)
        }
        XCTAssertTrue(ok.message?.contains("on 128 images") ?? false)

        // Below the floor on the validation batch: refused, current untouched, nothing staged left behind.
        let strict = installer.install(body("dep-2", eight, floor: 0.999), cancel: CancellationFlag())
        XCTAssertEqual(strict.status, .failed)
        XCTAssertEqual(strict.code, .runtimeError)
        XCTAssertTrue(strict.message?.contains("below the floor") ?? false, strict.message ?? "")
        // A checksum that does not match.
        let tampered = installer.install(body("dep-3", eight, sha: String(repeating: "0", count: 64)), cancel: CancellationFlag())
        XCTAssertEqual(tampered.status, .failed)
        XCTAssertTrue(tampered.message?.contains("weights rejected") ?? false, tampered.message ?? "")
        // Weights of another policy than the DEPLOY names.
        let four = try prepared("4/4")
        let mismatched = installer.install(body("dep-4", (eight.bytes, four.policy)), cancel: CancellationFlag())
        XCTAssertEqual(mismatched.code, .badPolicy)
        // An artifact for runtime agents (revision 2 weights.format): not a file this agent can install.
        var artifact = body("dep-8", eight)
        artifact.weights.format = ArtifactReference.onnxQDQ
        let unsupported = installer.install(artifact, cancel: CancellationFlag())
        XCTAssertEqual(unsupported.code, .unsupported)
        XCTAssertTrue(unsupported.message?.contains("onnx-qdq/1") == true, unsupported.message ?? "")
        var explicit = body("dep-9", eight, floor: 0.999)
        explicit.weights.format = WeightsReference.compressedModelFormat
        XCTAssertEqual(installer.install(explicit, cancel: CancellationFlag()).code, .runtimeError, "read as a compressed model")
        XCTAssertEqual(try deployDir.current()?.deployID, "dep-1")
        XCTAssertEqual(try deployDir.releaseIDs(), ["dep-1"])

        // Revision 3: a DEPLOY naming other data than the agent's is refused before validating on them.
        var otherData = body("dep-6", eight)
        otherData.validation?.datasetSHA256 = String(repeating: "e", count: 64)
        let refused = installer.install(otherData, cancel: CancellationFlag())
        XCTAssertEqual(refused.status, .failed)
        XCTAssertTrue(refused.message?.contains(String(repeating: "e", count: 64)) == true
                      && refused.message?.contains("differ") == true, refused.message ?? "")
        var sameData = body("dep-7", eight, floor: 0.8)
        sameData.validation?.datasetSHA256 = try FashionMNIST.fingerprint(directory: FashionMNIST.defaultDirectory)
        sameData.validation?.normalization = DataNormalization(mean: [Double(FashionMNIST.mean)], std: [Double(FashionMNIST.std)])
        XCTAssertEqual(installer.install(sameData, cancel: CancellationFlag()).status, .ok)
        XCTAssertEqual(try deployDir.current()?.deployID, "dep-7")

        // A second good one becomes current, the first is kept for rollback.
        XCTAssertEqual(installer.install(body("dep-5", four), cancel: CancellationFlag()).status, .ok)
        XCTAssertEqual(try deployDir.current()?.deployID, "dep-5")
        XCTAssertEqual(try deployDir.previous()?.deployID, "dep-7")
        let installed = try CompressedModelFile.load(from: try XCTUnwrap(try deployDir.current()).modelURL)
        XCTAssertEqual(installed.policy, try Policy(bits: "4/4").resolve(for: try ModelZoo.make("resnet8")))
    }

    func testBaseWeightsAreCompressedAndFineTunedOnTheAgent() throws {
        let deployDir = try DeployDirectory(url: directory.appendingPathComponent("deploy"))
        let installer = ModelInstaller(directory: deployDir, agentID: "a1")
        let checkpoint = try XCTUnwrap(ModelStore.checkpoint(for: "resnet8"))
        let base = [UInt8](try Data(contentsOf: checkpoint))
        let policy = try JSONDecoder().decode([String: JSONValue].self, from: Data(#"{"default": {"wbits": 4, "abits": 4, "prune": 0.25}}"#.utf8))
        let outcome = installer.install(body("dep-1", (base, policy), floor: 0.2,
                                             finetune: DeployFinetune(steps: 2, seed: 3, options: ["batch_size": 16, "calibration_images": 32])),
                                        cancel: CancellationFlag())
        XCTAssertEqual(outcome.status, .ok, outcome.message ?? "")
        XCTAssertNotNil(outcome.timingsMs["finetune"])
        let release = try XCTUnwrap(try deployDir.current())
        // The release holds the fine-tuned compressed model, not the base checkpoint it came from.
        XCTAssertNotEqual(release.manifest.sha256, DeployDirectory.sha256Hex(base))
        let loaded = try CompressedModelFile.load(from: release.modelURL)
        XCTAssertEqual(loaded.policy.entries.filter { $0.policy.prune == 0.25 }.isEmpty, false)
        XCTAssertEqual(loaded.metadata["finetune_steps"], "2")
    }
}
