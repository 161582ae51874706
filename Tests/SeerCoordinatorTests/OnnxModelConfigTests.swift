import Foundation
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import XCTest
@testable import SeerCoordinator

/// A campaign's `model:` may name an ONNX file: the config pins it by path and SHA-256, which jobs then carry.
final class OnnxModelConfigTests: XCTestCase {
    func testOnnxModelIsPinnedBySHA256() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seer-onnx-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = try ModelZoo.make("resnet8")
        let url = dir.appendingPathComponent("net.onnx")
        try OnnxExport.export(model: Model(name: "net", graph: zoo.graph, inputShape: zoo.inputShape, classes: zoo.classes,
                                           inputName: "x"), to: url)
        let digest = SHA256.hex(SHA256.hash([UInt8](try Data(contentsOf: url))))

        let config = try CampaignConfig.parse(yaml: "name: byo\nmodel: \(url.path)\nbudgets: [\"20%\"]\n")
        XCTAssertEqual(config.model, url.path + "@sha256:" + digest)
        // What an agent does with the job's model: the same network, and a refusal once the file has changed.
        XCTAssertEqual(try ModelStore.load(config.model).compressibleLayers.count, zoo.compressibleLayers.count)
        try Data([0x08, 0x07]).write(to: url)
        XCTAssertThrowsError(try ModelStore.load(config.model)) { error in
            XCTAssertTrue("\(error)".contains(digest), "\(error)")
        }
        XCTAssertThrowsError(try CampaignConfig.parse(yaml: "name: byo\nmodel: \(dir.path)/absent.onnx\nbudgets: [\"20%\"]\n")) {
            XCTAssertTrue("\($0)".contains("model:") && "\($0)".contains("absent.onnx"), "\($0)")
        }
        XCTAssertThrowsError(try CampaignConfig.parse(yaml: "name: byo\nmodel: lenet\nbudgets: [\"20%\"]\n")) {
            XCTAssertTrue("\($0)".contains("PATH.onnx"), "\($0)")
        }
    }

    /// A tiny campaign on an imported network completes like one on a zoo name; its jobs name the pinned file.
    func testCampaignOnAnImportedNetwork() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seer-onnx-campaign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = try ModelZoo.make("resnet8", seed: 5)
        let url = dir.appendingPathComponent("mine.onnx")
        try OnnxExport.export(model: Model(name: "mine", graph: zoo.graph, inputShape: zoo.inputShape, classes: zoo.classes,
                                           inputName: "x"), to: url)
        let config = try CampaignConfig.parse(yaml: """
            name: byo
            model: \(url.path)
            budgets: ["30%"]
            measurement: {finetune_steps: 1, batch_size: 16, evaluation_limit: 32, calibration_images: 16,
                          latency: {repeat: 1, min_repeat_ms: 0}}
            sampling: {initial: 4, rounds: 1, per_round: 1, refine: 0, sensitivity_images: 16, noise_repeats: 1}
            predictor: {members: 2, hidden: 0}
            """)
        let store = try SeerStore(path: dir.appendingPathComponent("seer.sqlite").path)
        let backend = CountingBackend(LocalMeasurementBackend(data: try CampaignRunnerTests.data.get()))
        let runner = try CampaignRunner(config: config, store: store, backend: backend,
                                        resultsDirectory: dir.appendingPathComponent("results"), showProgress: false, log: { _ in })
        let summary = try runner.run()
        XCTAssertEqual(summary.model, config.model)
        XCTAssertEqual(summary.choices.count, 1)
        let choice = try XCTUnwrap(summary.choices.first)
        XCTAssertLessThanOrEqual(choice.complexity, choice.budgetValue * (1 + 1e-9))
        XCTAssertGreaterThan(backend.measured.count, 4)
    }
}
