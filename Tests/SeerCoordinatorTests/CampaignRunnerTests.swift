import XCTest
import SeerData
import Foundation
import SeerModels
import SeerTensor
import SeerMeasurement
import SeerCompression
import SeerSearch
import SeerPredictor
import SeerTraining
import SeerExport
@testable import SeerCoordinator

/// Counts measurements and can fail after a number of them, to play a crash in the middle of a round.
final class CountingBackend: MeasurementBackend {
    let inner: LocalMeasurementBackend
    var measured: [String] = []
    /// The settings each request was measured with, by job id.
    var settings: [String: EvaluationSettings] = [:]
    var crashAfter: Int?
    var profiled: [String] = []
    /// The executor whose table `profileLayers` returns: the engine, or an accelerator's cost model.
    var profileExecutor = "builtin"

    /// A real engine table of this host, timed briefly (the machinery is tested, not the table's precision).
    func profileLayers(id: String, deviceKey: String, model: String) throws -> LayerLatencyTable {
        profiled.append(id)
        var settings = LayerProfilerSettings()
        settings.keeps = [0.25, 0.5, 0.75, 1]
        settings.kernelTiming = LatencySettings(number: 1, repeats: 3, minRepeatMs: 1)
        settings.referenceTiming = LatencySettings(number: 1, repeats: 5, minRepeatMs: 10)
        return try LayerProfiler.profile(model: try ModelStore.load(model), executor: profileExecutor, settings: settings)
    }

    init(_ inner: LocalMeasurementBackend, crashAfter: Int? = nil) {
        self.inner = inner
        self.crashAfter = crashAfter
    }

    func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        for r in requests {
            if let limit = crashAfter, measured.count >= limit { throw CampaignError.failed("simulated crash") }
            try inner.measure([r], record: record)
            measured.append(r.id)
            settings[r.id] = r.settings
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
    func config(extra: String = "") throws -> CampaignConfig {
        let checkpoint = directory.appendingPathComponent("resnet8.safetensors")
        try Checkpoint.save(try ModelZoo.make("resnet8", seed: 5), to: checkpoint)
        return try CampaignConfig.parse(yaml: extra + """
            name: tiny
            model: resnet8
            checkpoint: \(checkpoint.path)
            budgets: ["15%", "30%"]
            measurement: {finetune_steps: 1, batch_size: 16, evaluation_limit: 64, calibration_images: 16,
                          latency: {repeat: 1, min_repeat_ms: 0}}
            sampling: {initial: 5, rounds: 1, per_round: 2, refine: 0, sensitivity_images: 16, noise_repeats: 1}
            predictor: {members: 3, hidden: 0}
            """)
    }

    func testCampaignWritesResultsAndResumesWithoutRemeasuring() throws {
        let config = try config()
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let local = LocalMeasurementBackend(data: try Self.data.get())
        let results = directory.appendingPathComponent("results")

        // Crash in the middle of round 1: after the sensitivity probes, the 5 random policies, 1 noise repeat and 1 of
        // the 2 informative policies.
        let probes = SensitivityTable.probes(for: PolicyEncoding(model: try ModelStore.load(config.checkpoint!))).count
        let crashing = CountingBackend(local, crashAfter: probes + 7)
        let first = try CampaignRunner(config: config, store: store, backend: crashing, resultsDirectory: results, showProgress: false,
                                       log: { _ in })
        XCTAssertThrowsError(try first.run())
        XCTAssertEqual(crashing.measured.count, probes + 7)
        XCTAssertEqual(crashing.measured.filter { $0.hasPrefix("tiny:sensitivity:") }.count, probes)
        for (id, settings) in crashing.settings where id.hasPrefix("tiny:sensitivity:") {
            XCTAssertEqual(settings.finetuneSteps, 0, id)
            XCTAssertEqual(settings.evaluationLimit, 16, id)
            XCTAssertEqual(settings.split, .validation, id)
        }
        XCTAssertEqual(crashing.measured.filter { $0.hasPrefix("tiny:noise:") }, ["tiny:noise:0"])
        XCTAssertEqual(crashing.settings["tiny:noise:0"]?.seed, config.seed + 1)
        XCTAssertEqual(crashing.settings["tiny:r0:0"]?.seed, config.seed)

        let counting = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        let second = try CampaignRunner(config: config, store: store, backend: counting, resultsDirectory: results, showProgress: false,
                                        log: { _ in })
        let summary = try second.run()
        // The resumed run measures only what had not finished: 1 informative policy and 2 x 2 final verifications, plus
        // for a pick that measured below a sample a second measurement of the pick and two fresh ones of the sample, and
        // the test split of a sample that then replaced it.
        let replacements = counting.measured.filter { $0.hasSuffix(":measured-best:test") }
        let rechecks = counting.measured.filter { $0.contains(":recheck:") }
        XCTAssertEqual(counting.measured.count, 1 + 4 + rechecks.count + replacements.count, "\(counting.measured)")
        XCTAssertEqual(rechecks.count % 3, 0, "\(rechecks)")
        XCTAssertLessThanOrEqual(replacements.count, rechecks.count / 3, "a replacement only after a recheck")
        let recheckSeeds = Set(rechecks.compactMap { counting.settings[$0]?.seed })
        XCTAssertTrue(recheckSeeds.isDisjoint(with: [config.seed, config.seed + 1]), "rechecks use fresh seeds: \(recheckSeeds)")
        XCTAssertLessThanOrEqual(replacements.count, config.budgets.count, "at most one replacement per budget")
        XCTAssertEqual(Set(replacements).count, replacements.count, "\(replacements)")
        XCTAssertTrue(Set(counting.measured).isDisjoint(with: crashing.measured))
        XCTAssertEqual(summary.measurements.count, 7)
        XCTAssertEqual(summary.choices.count, 2)
        XCTAssertEqual(summary.sensitivityProbes, probes)
        XCTAssertNotNil(summary.measurementNoise)
        XCTAssertLessThanOrEqual(summary.fallbacks, replacements.count)
        XCTAssertEqual(summary.choices.filter { $0.source != .optimizer }.count, replacements.count)
        // The stored predictor carries the prior, so re-optimization sees the same features.
        let snapshot = try XCTUnwrap(try CampaignStore.latestSnapshot("tiny", in: store))
        XCTAssertNotNil(try EnsemblePredictor.load(json: Data(snapshot.predictor.utf8)).prior)
        for choice in summary.choices {
            XCTAssertLessThanOrEqual(choice.complexity, choice.budgetValue * (1 + 1e-9))
            XCTAssertNotNil(choice.validationAccuracy)
            XCTAssertNotNil(choice.testAccuracy)
            // Never less than a policy already measured within the budget, unless the two were measured again and the
            // other's mean is not above the reported one's by more than the noise explains.
            let bestMeasured = summary.measurements.filter { $0.complexity <= choice.budgetValue * (1 + 1e-9) }.map(\.accuracy).max()
            if try XCTUnwrap(choice.validationAccuracy) < (bestMeasured ?? 0) {
                XCTAssertTrue(rechecks.contains("tiny:recheck:\(choice.budget):sample"), choice.budget)
            }
            // The summary records each contest, its means and margin, and the sample replaced the pick exactly when its
            // mean is above the pick's by more than the margin.
            if rechecks.contains("tiny:recheck:\(choice.budget):sample") {
                let contest = try XCTUnwrap(choice.contest, choice.budget)
                let margin = try XCTUnwrap(contest.margin, "a campaign with noise repeats decides on the noise")
                XCTAssertEqual(margin, ContestDecision.z * (try XCTUnwrap(contest.noise)), accuracy: 1e-9,
                               "two measurements a side: sqrt(1/2 + 1/2) = 1")
                XCTAssertTrue(contest.rival.hasPrefix("tiny:r"), contest.rival)
                if choice.source == .optimizer {
                    XCTAssertLessThanOrEqual(contest.rivalValidation - contest.pickValidation, margin)
                    XCTAssertEqual(choice.validationAccuracy, contest.pickValidation)
                } else {
                    XCTAssertGreaterThan(contest.rivalValidation - contest.pickValidation, margin)
                    XCTAssertEqual(choice.validationAccuracy, contest.rivalValidation)
                }
            } else {
                XCTAssertNil(choice.contest, choice.budget)
            }
        }
        print("CampaignRunnerTests: contests \(summary.choices.map { "\($0.budget): \($0.contest.map { "\($0)" } ?? "none")" })")
        for file in ["summary.json", "report.html", "policies/budget-15pct.json", "policies/budget-30pct.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: results.appendingPathComponent(file).path), file)
        }
        let html = try String(contentsOf: results.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 3)
        for contest in summary.choices.compactMap(\.contest) {
            XCTAssertTrue(html.contains("against \(contest.rival) "), "the report shows the contest with \(contest.rival)")
        }

        // A third run has nothing left to do.
        let idle = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        _ = try CampaignRunner(config: config, store: store, backend: idle, resultsDirectory: results, showProgress: false,
                               log: { _ in }).run()
        XCTAssertEqual(idle.measured, [])

        // A contest whose stored choice says otherwise (an earlier version decided it the other way) is decided again
        // as the rules now say: the choice, its figures and its source follow the decision, nothing is measured.
        for decided in summary.choices where decided.contest != nil {
            let before = try XCTUnwrap(try CampaignStore.chosen("tiny", in: store).first { $0.budget == decided.budget })
            let pick = try XCTUnwrap(try CampaignStore.measurements("tiny", purpose: .final, in: store)
                .first { $0.jobID == "tiny:final:\(decided.budget):validation" }).policy
            let rival = try XCTUnwrap(try CampaignStore.measurements("tiny", purpose: .sample, in: store)
                .first { $0.jobID == decided.contest?.rival }).policy
            var tampered = before
            tampered.policy = before.policy == pick ? rival : pick
            tampered.predicted = -1
            try CampaignStore.saveChosen(tampered, in: store)
            let again = try CampaignRunner(config: config, store: store, backend: idle, resultsDirectory: results,
                                           showProgress: false, log: { _ in }).run()
            XCTAssertEqual(idle.measured, [])
            let after = try XCTUnwrap(try CampaignStore.chosen("tiny", in: store).first { $0.budget == decided.budget })
            XCTAssertEqual(after.policy, before.policy, decided.budget)
            XCTAssertEqual(after.predicted, before.predicted, accuracy: 1e-9)
            let choice = try XCTUnwrap(again.choices.first { $0.budget == decided.budget })
            XCTAssertEqual(choice.source, decided.source)
            XCTAssertEqual(choice.validationAccuracy, decided.validationAccuracy)
            XCTAssertEqual(choice.testAccuracy, decided.testAccuracy)
        }

        // Re-optimizing against the stored predictor respects a new budget (its speed is bench/redeploy's to measure).
        let result = try ReOptimization.optimize(campaign: config, for: try MetricBudget(parsing: "bitops=10%"), store: store)
        XCTAssertLessThanOrEqual(result.complexity, result.budget * (1 + 1e-9))
        // The campaign's pessimism (default 10) carries over: the pick lies no further from the fitted policies than
        // the plain optimizer's.
        var plainConfig = config
        plainConfig.optimizer.pessimism = 0
        let plain = try ReOptimization.optimize(campaign: plainConfig, for: try MetricBudget(parsing: "bitops=10%"), store: store)
        XCTAssertGreaterThan(plain.extrapolation, 0)
        XCTAssertLessThanOrEqual(result.extrapolation, plain.extrapolation + 1e-9)
    }

    /// A contest counts the pick's first measurement (made before anyone looked) with its recheck, and only the
    /// sample's fresh measurements; its first stands only where no fresh one succeeded.
    func testContestCountsOnlyUnbiasedMeasurements() {
        let both = Recheck.counted(pickFirst: 90, pick: 89, sample: [88, 86], sampleFirst: 93)
        XCTAssertEqual(both.pick, [90, 89])
        XCTAssertEqual(both.sample, [88, 86])
        let oneFresh = Recheck.counted(pickFirst: 90, pick: nil, sample: [nil, 91], sampleFirst: 93)
        XCTAssertEqual(oneFresh.pick, [90])
        XCTAssertEqual(oneFresh.sample, [91])
        XCTAssertEqual(Recheck.counted(pickFirst: 90, pick: 91, sample: [nil, nil], sampleFirst: 93).sample, [93])
    }

    /// The sample replaces the pick only when its mean is above the pick's by more than a one-sided 5% test on the
    /// noise allows; without a noise estimate the higher mean wins.
    func testContestReplacesThePickOnlyBeyondTheNoise() {
        // Two measurements each, noise 1 point: the margin is 1.645 x sqrt(1/2 + 1/2).
        let close = ContestDecision(pick: [91.7, 91.1], sample: [91.7, 91.8], noise: 1)
        XCTAssertEqual(close.pick, 91.4, accuracy: 1e-9)
        XCTAssertEqual(close.sample, 91.75, accuracy: 1e-9)
        XCTAssertEqual(close.margin, 1.645, accuracy: 1e-9)
        XCTAssertFalse(close.sampleWins)
        XCTAssertEqual(close.winner, 91.4, accuracy: 1e-9)
        let clear = ContestDecision(pick: [88.6, 88.5], sample: [91.5, 90.7], noise: 1)
        XCTAssertTrue(clear.sampleWins)
        XCTAssertEqual(clear.winner, 91.1, accuracy: 1e-9)
        // Less noise, or more measurements, narrow the margin: the same means are then decided for the sample.
        XCTAssertTrue(ContestDecision(pick: [91.7, 91.1], sample: [91.7, 91.8], noise: 0.1).sampleWins)
        XCTAssertEqual(ContestDecision(pick: [90], sample: [91, 92, 93], noise: 1).margin,
                       1.645 * (1 + 1.0 / 3).squareRoot(), accuracy: 1e-9)
        let plain = ContestDecision(pick: [91.7, 91.1], sample: [91.7, 91.8], noise: nil)
        XCTAssertEqual(plain.margin, 0)
        XCTAssertTrue(plain.sampleWins)
        XCTAssertFalse(ContestDecision(pick: [91], sample: [91], noise: nil).sampleWins, "a tie keeps the pick")
    }

    func testMeasurementNoisePoolsPairs() {
        XCTAssertNil(MeasurementNoise.standardDeviation(pairs: []))
        // Differences 2 and 0: sqrt((4 + 0) / (2 x 2)).
        XCTAssertEqual(MeasurementNoise.standardDeviation(pairs: [(90, 92), (85, 85)])!, 1, accuracy: 1e-12)
    }

    func testProfilesGetPreparedModelsAndAnUnpreparedProfileIsReoptimized() throws {
        let config = try config(extra: """
            profiles:
              cpu-x86: {balanced: "bitops=30%", saver: "bitops=15%", eco: "size=12%"}

            """)
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let results = directory.appendingPathComponent("results")
        let counting = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        _ = try CampaignRunner(config: config, store: store, backend: counting, resultsDirectory: results, showProgress: false,
                               log: { _ in }).run()
        // balanced and saver have the budgets' chosen policies, measured already: only eco is measured anew.
        XCTAssertEqual(counting.measured.filter { $0.contains(":profile:") }, ["tiny:profile:cpu-x86:eco"])
        let prepared = try DeploymentStore.prepared(campaign: "tiny", in: store)
        XCTAssertEqual(prepared.map(\.profile), ["balanced", "eco", "saver"])
        let validation = try config.measurement.prepare(try Self.data.get())
        for model in prepared {
            XCTAssertNotNil(model.validationAccuracy, model.profile)
            XCTAssertLessThanOrEqual(model.complexity, model.budgetValue * (1 + 1e-9))
            let file = URL(fileURLWithPath: try XCTUnwrap(model.weightsPath))
            let bytes = [UInt8](try Data(contentsOf: file))
            XCTAssertEqual(SHA256.hex(SHA256.hash(bytes)), model.sha256)
            // The accuracy a deployment is held to is that of the file it sends, on the measurement's images.
            XCTAssertEqual(model.weightsFormat, "seer-compressed/1")
            let saved = try CompressedModelFile.load(from: file)
            XCTAssertEqual(try XCTUnwrap(model.weightsValidationAccuracy, model.profile),
                           try evaluateAccuracy(saved.model, data: validation, split: .validation,
                                                limit: config.measurement.evaluationLimit), accuracy: 1e-9, model.profile)
        }
        let chosen = try CampaignStore.chosen("tiny", in: store)
        XCTAssertEqual(prepared.first { $0.profile == "saver" }?.policy, chosen.first { $0.budget == "15%" }?.policy)

        // A prepared profile deploys its file as is; without one the planner re-optimizes and asks for a brief fine-tune.
        let planner = DeploymentPlanner(store: store, campaign: nil)
        let saver = try planner.plan(deployID: "d1", deviceKey: "cpu-x86", profile: "saver")
        XCTAssertEqual(saver.source, "prepared")
        XCTAssertNil(saver.body.finetune)
        XCTAssertEqual(saver.body.inlineWeights?.count, prepared.first { $0.profile == "saver" }?.sizeBytes)
        XCTAssertNil(saver.body.weights.format, "a compressed-model file goes without weights.format, as in revision 1")
        let saverAccuracy = try XCTUnwrap(prepared.first { $0.profile == "saver" }?.weightsValidationAccuracy)
        XCTAssertEqual(try XCTUnwrap(saver.body.validation?.minAccuracy),
                       max(0, saverAccuracy / 100 - DeploymentPlanner.preparedSlack), accuracy: 1e-12)
        try store.database.write { db in try db.execute(sql: "DELETE FROM prepared_model WHERE profile = 'eco'") }
        let eco = try planner.plan(deployID: "d2", deviceKey: "cpu-x86", profile: "eco")
        XCTAssertEqual(eco.source, "reoptimized")
        XCTAssertEqual(eco.body.finetune?.steps, 1)
        // The agent fine-tunes with the campaign's settings, weight decay included (it was never sent before).
        XCTAssertEqual(eco.body.finetune?.options?["weight_decay"], .number(Double(config.measurement.weightDecay)))
        XCTAssertEqual(eco.body.weights.sha256, SHA256.hex(SHA256.hash([UInt8](try Data(contentsOf: URL(fileURLWithPath: config.checkpoint!))))))
        XCTAssertThrowsError(try planner.plan(deployID: "d3", deviceKey: "cpu-x86", profile: "turbo")) { error in
            XCTAssertTrue("\(error)".contains("no profile 'turbo'"), "\(error)")
        }
        XCTAssertThrowsError(try planner.plan(deployID: "d4", deviceKey: "gpu", profile: "saver"))
    }

    func testLatencyBudgetsUseTheDeviceTableCalibratedOnMeasuredLatencies() throws {
        // Latency timed a little longer than the other tiny campaigns do, so that calibration sees signal, not noise;
        // the budget leaves room for a calibration that scales the table by up to about 1.2.
        let config = try config(extra: "metric: latency\nlatency_device: cpu-x86\n").with {
            $0.budgets = [Budget(value: 0.95, isFraction: true)]
            $0.measurement.latency = LatencySettings(number: 1, repeats: 3, minRepeatMs: 5)
        }
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let counting = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        // An accelerator's table: deterministic, so a loaded machine cannot move the budget (the engine's own table
        // and its timing are tested in SeerMeasurementTests and bench/latency-model).
        counting.profileExecutor = "sim-bitfusion"
        let runner = try CampaignRunner(config: config, store: store, backend: counting,
                                        resultsDirectory: directory.appendingPathComponent("results"), showProgress: false,
                                        log: { _ in })
        XCTAssertEqual(counting.profiled, ["tiny:latency-table:cpu-x86"], "the table is profiled on the latency device")
        let summary = try runner.run()
        let choice = try XCTUnwrap(summary.choices.first)
        XCTAssertLessThanOrEqual(choice.complexity, choice.budgetValue * (1 + 1e-9))
        XCTAssertEqual(choice.budgetValue, 0.95 * runner.reference, accuracy: 1e-9)
        XCTAssertEqual(runner.complexity.metric, "ms")

        // The table is stored: a second runner (a resume) does not profile again, and re-optimizing needs no agent.
        let again = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        _ = try CampaignRunner(config: config, store: store, backend: again, resultsDirectory: directory, showProgress: false,
                               log: { _ in })
        XCTAssertEqual(again.profiled, [])
        let tighter = try ReOptimization.optimize(campaign: config, for: try MetricBudget(parsing: "latency=93%"), store: store)
        XCTAssertLessThanOrEqual(tighter.complexity, tighter.budget * (1 + 1e-9))
        XCTAssertThrowsError(try ReOptimization.optimize(campaign: config, for: try MetricBudget(parsing: "latency=93%"),
                                                         deviceKey: "gpu", store: store))
    }

    func testEnergyBudgetsUseTheAcceleratorsEnergyPerLayer() throws {
        let config = try config(extra: "metric: energy\nlatency_device: cpu-x86\n")
            .with { $0.budgets = [Budget(value: 0.4, isFraction: true)] }
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let counting = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        counting.profileExecutor = "sim-bitfusion"
        let runner = try CampaignRunner(config: config, store: store, backend: counting,
                                        resultsDirectory: directory.appendingPathComponent("results"), showProgress: false,
                                        log: { _ in })
        XCTAssertEqual(runner.complexity.metric, "mJ")
        // The reference is the cost model's energy of the unpruned 8/8 network.
        let base = try ModelStore.load(config.checkpoint!)
        let report = try SeerCompression.Complexity.compute(model: base, policy: try Policy(bits: "8/8").resolve(for: base))
        XCTAssertEqual(runner.reference, try XCTUnwrap(AcceleratorModels.named("sim-bitfusion")).estimate(report).energyMJ,
                       accuracy: runner.reference * 1e-5)
        let choice = try XCTUnwrap(try runner.run().choices.first)
        XCTAssertLessThanOrEqual(choice.complexity, choice.budgetValue * (1 + 1e-9))

        // A device whose table has no energy (the engine's) cannot take an energy budget; the error says why.
        var engineOnly = config
        engineOnly.name = "tiny-engine"
        let engine = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        XCTAssertThrowsError(try CampaignRunner(config: engineOnly, store: store, backend: engine, resultsDirectory: directory,
                                                showProgress: false, log: { _ in })) { error in
            XCTAssertTrue("\(error)".contains("models no energy"), "\(error)")
        }
    }

    func testNoisyLatencyMeasurementsDoNotBendTheLatencyModel() throws {
        let config = try config(extra: "metric: latency\nlatency_device: cpu-x86\n")
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let base = try ModelStore.load(config.checkpoint!)
        let encoding = PolicyEncoding(model: base, space: config.space)
        let backend = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()))
        let table = try CostModels.make(metric: .latency, config: config, base: base, encoding: encoding,
                                        deviceKey: "cpu-x86", store: store, backend: backend).model
        // Latencies that fall as the table's rise: a fit would need a negative scale.
        let now = Date()
        try CampaignStore.save(CampaignRecord(id: "tiny", config: "{}", phase: .sampling, detail: "", createdAt: now,
                                              updatedAt: now), in: store)
        let policies = ["8/8", "8/8/0.25", "8/8/0.5", "8/8/0.75", "4/4/0.5"]
        var rows: [MeasurementRecord] = []
        for (i, bits) in policies.enumerated() {
            let policy = try Policy(bits: bits).resolve(for: base, space: config.space)
            let predicted = table.value(encoding.relaxation(levels: try encoding.levels(of: policy)))
            var row = MeasurementRecord(jobID: "tiny:r0:\(i)", campaignID: "tiny", purpose: .sample, round: 0, position: i,
                                        policy: String(decoding: try policy.policy().jsonData(), as: UTF8.self),
                                        deviceKey: "cpu-x86", split: "validation", createdAt: now)
            row.accuracy = 50
            row.latencyMs = 1 / predicted
            rows.append(row)
        }
        try CampaignStore.plan(rows, in: store)
        var notes: [String] = []
        let kept = try CostModels.make(metric: .latency, config: config, base: base, encoding: encoding, deviceKey: "cpu-x86",
                                       store: store, backend: nil, log: { notes.append($0) }).model
        let x = encoding.relaxation(levels: try encoding.levels(of: try Policy(bits: "8/8/0.5").resolve(for: base, space: config.space)))
        XCTAssertEqual(kept.value(x), table.value(x), "the profiled table stands")
        // (A loaded machine may also have disturbed the table's end-to-end timing: a second, separate note.)
        XCTAssertTrue(notes.contains { $0.contains("keeping the profiled table") }, "\(notes)")
        XCTAssertEqual(backend.profiled.count, 1, "the table was stored, not profiled again")

        // A table whose one end-to-end timing was disturbed (overhead = most of it) does not put that into the model.
        try store.database.write { db in
            let record = try XCTUnwrap(try LatencyTableRecord.fetchOne(db, key: ["campaign_id": "tiny", "device_key": "cpu-x86"]))
            var disturbed = try LayerLatencyTable.decode(from: Data(record.table.utf8))
            disturbed.overheadMs += 50
            disturbed.referenceMs = (disturbed.referenceMs ?? 0) + 50
            try db.execute(sql: "UPDATE latency_table SET \"table\" = ?",
                           arguments: [String(decoding: try disturbed.jsonData(), as: UTF8.self)])
        }
        try store.database.write { db in try db.execute(sql: "DELETE FROM measurement") }
        notes = []
        let guarded = try CostModels.make(metric: .latency, config: config, base: base, encoding: encoding, deviceKey: "cpu-x86",
                                          store: store, backend: nil, log: { notes.append($0) }).model
        // Without the rule the model would read table + 50 ms; with it, the table less its (small) own overhead.
        XCTAssertLessThan(guarded.value(x), table.value(x) + 25, "the 50 ms are not in the model")
        XCTAssertTrue(notes.contains { $0.contains("disturbed") }, "\(notes)")
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

    func testACampaignStoredBeforeANewConfigFieldStillResumes() throws {
        let config = try config()
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        // The stored text of an older build: the same config without a field added since (its default applies).
        var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(config)) as! [String: Any]
        var sampling = json["sampling"] as! [String: Any]
        sampling["minimum_distance"] = nil
        json["sampling"] = sampling
        json["optimizer"] = nil
        let now = Date()
        try CampaignStore.save(CampaignRecord(id: "tiny", config: String(decoding: try JSONSerialization.data(withJSONObject: json),
                                                                           as: UTF8.self),
                                              phase: .sampling, detail: "", createdAt: now, updatedAt: now), in: store)
        let backend = CountingBackend(LocalMeasurementBackend(data: try Self.data.get()), crashAfter: 0)
        XCTAssertThrowsError(try CampaignRunner(config: config, store: store, backend: backend, resultsDirectory: directory,
                                                showProgress: false, log: { _ in }).run()) { error in
            XCTAssertTrue("\(error)".contains("simulated crash"), "resumed up to the first measurement: \(error)")
        }
    }
}

extension CampaignConfig {
    /// A copy changed by `change`.
    func with(_ change: (inout CampaignConfig) -> Void) -> CampaignConfig {
        var copy = self
        change(&copy)
        return copy
    }
}
