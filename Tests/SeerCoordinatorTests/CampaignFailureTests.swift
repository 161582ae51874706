import XCTest
import Foundation
import SeerData
import SeerModels
@testable import SeerCoordinator

/// Fails every measurement as a broken agent does (its jobs use up their attempts), counting them.
final class BrokenAgentBackend: MeasurementBackend {
    var asked: [String] = []

    func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        for r in requests {
            asked.append(r.id)
            try record(r.id, .failed("runtime_error after 3 attempt(s): broken: no such file /data/train-images-idx3-ubyte.gz"))
        }
    }
}

/// A campaign that cannot go on is marked failed with its reason, and running it again measures its failed rows again.
final class CampaignFailureTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-failure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func config() throws -> CampaignConfig {
        let checkpoint = directory.appendingPathComponent("resnet8.safetensors")
        try Checkpoint.save(try ModelZoo.make("resnet8", seed: 5), to: checkpoint)
        return try CampaignConfig.parse(yaml: """
            name: broken
            model: resnet8
            checkpoint: \(checkpoint.path)
            budgets: ["30%"]
            measurement: {finetune_steps: 0, batch_size: 16, evaluation_limit: 32, calibration_images: 16,
                          latency: {repeat: 1, min_repeat_ms: 0}}
            sampling: {initial: 4, rounds: 0, per_round: 1, refine: 0, sensitivity_images: 0, noise_repeats: 0}
            predictor: {members: 2, hidden: 0}
            """)
    }

    func testACampaignThatCannotGoOnIsMarkedFailedAndResumeMeasuresItsFailedRowsAgain() throws {
        let config = try config()
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let results = directory.appendingPathComponent("results")
        let broken = BrokenAgentBackend()
        XCTAssertThrowsError(try CampaignRunner(config: config, store: store, backend: broken, resultsDirectory: results,
                                                showProgress: false, log: { _ in }).run()) { error in
            XCTAssertTrue("\(error)".contains("only 0 policies measured successfully"), "\(error)")
        }
        XCTAssertEqual(broken.asked.count, 4)
        let failed = try XCTUnwrap(try CampaignStore.campaign("broken", in: store))
        XCTAssertEqual(failed.phase, .failed)
        XCTAssertTrue(failed.detail.contains("only 0 policies measured successfully"), failed.detail)
        XCTAssertTrue(failed.detail.contains("no such file"), "the reason names the measurements' error: \(failed.detail)")
        XCTAssertEqual(try CampaignStore.measurements("broken", in: store).filter { $0.error != nil }.count, 4)

        // The agent repaired: the same campaign again measures the four failed rows and finishes.
        let repaired = CountingBackend(LocalMeasurementBackend(data: try FashionMNIST.load()))
        let summary = try CampaignRunner(config: config, store: store, backend: repaired, resultsDirectory: results,
                                         showProgress: false, log: { _ in }).run()
        XCTAssertEqual(Set(repaired.measured.filter { $0.hasPrefix("broken:r0:") }), Set(broken.asked))
        XCTAssertEqual(summary.choices.count, 1)
        XCTAssertEqual(try CampaignStore.campaign("broken", in: store)?.phase, .done)
        XCTAssertTrue(try CampaignStore.measurements("broken", in: store).allSatisfy { $0.error == nil && $0.accuracy != nil })
    }

    func testAFailedRunOfAnotherConfigLeavesTheStoredCampaignAlone() throws {
        let config = try config()
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let broken = BrokenAgentBackend()
        XCTAssertThrowsError(try CampaignRunner(config: config, store: store, backend: broken, resultsDirectory: directory,
                                                showProgress: false, log: { _ in }).run())
        let other = config.with { $0.seed = 99 }
        XCTAssertThrowsError(try CampaignRunner(config: other, store: store, backend: broken, resultsDirectory: directory,
                                                showProgress: false, log: { _ in }).run())
        XCTAssertEqual(broken.asked.count, 4, "the refused run measures nothing")
        let record = try XCTUnwrap(try CampaignStore.campaign("broken", in: store))
        XCTAssertEqual(record.phase, .failed)
        XCTAssertTrue(record.detail.contains("only 0 policies"), "the first failure's reason stays: \(record.detail)")
        XCTAssertEqual(try CampaignStore.measurements("broken", in: store).filter { $0.error != nil }.count, 4,
                       "a refused run reopens nothing")
    }
}
