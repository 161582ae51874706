import XCTest
import SeerData
import SeerModels
import SeerTensor
@testable import SeerCoordinator

/// Counts measurements and can fail after a number of them, to play a crash in the middle of a round.
final class CountingBackend: MeasurementBackend {
    let inner: LocalMeasurementBackend
    var measured: [String] = []
    var crashAfter: Int?

    init(_ inner: LocalMeasurementBackend, crashAfter: Int? = nil) {
        self.inner = inner
        self.crashAfter = crashAfter
    }

    func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        for r in requests {
            if let limit = crashAfter, measured.count >= limit { throw CampaignError.failed("simulated crash") }
            try inner.measure([r], record: record)
            measured.append(r.id)
        }
    }
}

final class CampaignRunnerTests: XCTestCase {
    static let data = Result { try FashionMNIST.load() }
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-campaign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    /// A tiny campaign on a resnet8 checkpoint with seeded random weights: the machinery, not the accuracy, is tested.
    func config() throws -> CampaignConfig {
        let checkpoint = directory.appendingPathComponent("resnet8.safetensors")
        try Checkpoint.save(try ModelZoo.make("resnet8", seed: 5), to: checkpoint)
        return try CampaignConfig.parse(yaml: """
            name: tiny
            model: resnet8
            checkpoint: \(checkpoint.path)
            budgets: ["15%", "30%"]
            measurement: {finetune_steps: 1, batch_size: 16, evaluation_limit: 64, calibration_images: 16,
                          latency: {repeat: 1, min_repeat_ms: 0}}
            sampling: {initial: 5, rounds: 1, per_round: 2, refine: 0}
            predictor: {members: 3, hidden: 0}
            """)
    }

    func testCampaignWritesResultsAndResumesWithoutRemeasuring() throws {
        let config = try config()
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let local = LocalMeasurementBackend(data: try Self.data.get())
        let results = directory.appendingPathComponent("results")

        // Crash in the middle of round 1 (after the 5 random policies and 1 of the 2 informative ones).
        let crashing = CountingBackend(local, crashAfter: 6)
        let first = try CampaignRunner(config: config, store: store, backend: crashing, resultsDirectory: results, showProgress: false,
                                       log: { _ in })
        XCTAssertThrowsError(try first.run())
        XCTAssertEqual(crashing.measured.count, 6)

        let counting = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        let second = try CampaignRunner(config: config, store: store, backend: counting, resultsDirectory: results, showProgress: false,
                                        log: { _ in })
        let summary = try second.run()
        // The resumed run measures only what had not finished: 1 informative policy and 2 x 2 final verifications.
        XCTAssertEqual(counting.measured.count, 1 + 4, "\(counting.measured)")
        XCTAssertTrue(Set(counting.measured).isDisjoint(with: crashing.measured))
        XCTAssertEqual(summary.measurements.count, 7)
        XCTAssertEqual(summary.choices.count, 2)
        for choice in summary.choices {
            XCTAssertLessThanOrEqual(choice.complexity, choice.budgetValue * (1 + 1e-9))
            XCTAssertNotNil(choice.validationAccuracy)
            XCTAssertNotNil(choice.testAccuracy)
        }
        for file in ["summary.json", "report.html", "policies/budget-15pct.json", "policies/budget-30pct.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: results.appendingPathComponent(file).path), file)
        }
        let html = try String(contentsOf: results.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 3)

        // A third run has nothing left to do.
        let idle = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        _ = try CampaignRunner(config: config, store: store, backend: idle, resultsDirectory: results, showProgress: false,
                               log: { _ in }).run()
        XCTAssertEqual(idle.measured, [])

        // Re-optimizing against the stored predictor takes milliseconds and respects a new budget.
        let result = try ReOptimization.optimize(campaign: config, for: try MetricBudget(parsing: "bitops=10%"), store: store)
        XCTAssertLessThanOrEqual(result.complexity, result.budget * (1 + 1e-9))
        XCTAssertLessThan(result.seconds, 1)
    }

    func testSameNameDifferentConfigIsRefused() throws {
        var config = try config()
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let backend = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()), crashAfter: 0)
        XCTAssertThrowsError(try CampaignRunner(config: config, store: store, backend: backend,
                                                resultsDirectory: directory, showProgress: false, log: { _ in }).run())
        config.seed = 99
        XCTAssertThrowsError(try CampaignRunner(config: config, store: store, backend: backend, resultsDirectory: directory,
                                                showProgress: false, log: { _ in }).run()) { error in
            XCTAssertTrue("\(error)".contains("different config"), "\(error)")
        }
    }
}
