import Foundation
import SeerCompression
import SeerData
import SeerMeasurement
import SeerModels
import SeerPredictor
import SeerSearch
import SeerTraining

/// Runs (or resumes) a campaign: random round, informative rounds, per-budget optimization, verification, report.
///
/// Every step is idempotent against the store: planned measurements are written before their jobs are submitted
/// under stable ids, predictor snapshots and chosen policies are saved as they are made, so running again after a
/// crash carries on without re-measuring anything that finished.
public final class CampaignRunner {
    public let config: CampaignConfig
    let store: SeerStore
    let backend: MeasurementBackend
    let resultsDirectory: URL
    let log: (String) -> Void
    let showProgress: Bool

    let base: Model
    let encoding: PolicyEncoding
    /// The budgets' cost model: a closed form, or for latency the device's latency model, recalibrated on the
    /// measured latencies after every round.
    private(set) var complexity: AnyComplexityModel
    /// Complexity of the uncompressed model at 8/8 bits, the reference of fractional budgets. For a device's latency
    /// or energy it is the device model's prediction, so it moves (with `budgets`) when the model is recalibrated;
    /// both follow from the store's contents, so a resumed campaign sees what an uninterrupted one saw.
    public private(set) var reference: Double
    public private(set) var budgets: [Double]
    /// Per-layer sensitivities measured at the start, the predictor's prior; nil when the config measures none.
    public private(set) var sensitivities: SensitivityTable?
    /// Standard deviation of one measurement, from the noise repeats of round 0; nil before them or without them.
    public private(set) var measurementNoise: Double?

    public init(config: CampaignConfig, store: SeerStore, backend: MeasurementBackend, resultsDirectory: URL,
                showProgress: Bool = true, log: @escaping (String) -> Void = { print($0) }) throws {
        self.config = config
        self.store = store
        // Runtime device keys measure through artifacts (a training agent compresses, the device's agent times).
        self.backend = try ArtifactMeasurementBackend.wrapping(backend, config: config, store: store)
        self.resultsDirectory = resultsDirectory
        self.log = log
        self.showProgress = showProgress
        base = try ModelStore.load(config.checkpoint ?? config.model)
        guard ModelReference.sameModel(base.name, config.model) else {
            throw CampaignError.config("checkpoint: \(config.checkpoint ?? "") holds \(base.name), not \(config.model)")
        }
        encoding = PolicyEncoding(model: base, space: config.space)
        // For latency this profiles the device's layer table on an agent (once; the store keeps it).
        let name = config.name
        let (complexity, reference) = try CostModels.make(metric: config.metric, config: config, base: base, encoding: encoding,
                                                          deviceKey: config.latencyDevice, store: store, backend: self.backend,
                                                          log: { log("[\(name)] \($0)") })
        self.complexity = complexity
        self.reference = reference
        budgets = config.budgets.map { $0.absolute(reference: reference) }
    }

    var id: String { config.name }

    /// Runs every remaining step and writes the results folder; returns its summary.
    ///
    /// A campaign that cannot go on is marked `failed` with the reason before the error is thrown; running a failed
    /// campaign again first reopens its failed measurements, so they are measured again.
    @discardableResult
    public func run() throws -> CampaignSummary {
        try ensureCampaignRecord()
        try reopenIfFailed()
        do {
            return try runSteps()
        } catch {
            try markFailed(error)
            throw error
        }
    }

    private func runSteps() throws -> CampaignSummary {
        let start = Date()
        let sampler = try PolicySampler(encoding: encoding, complexity: complexity,
                                        band: config.sampling.band[0]...config.sampling.band[1])

        sensitivities = try measureSensitivities()

        // Round 0: random policies near the budgets.
        try setPhase(.sampling, "round 0 of \(config.sampling.rounds): random policies")
        let initial = try plannedPolicies(round: 0).nonEmpty ?? initialPolicies(sampler)
        try measureRound(0, initial)
        measurementNoise = try measureNoise()
        var predictor = try fitPredictor(round: 0)

        for round in 1...max(1, config.sampling.rounds) where round <= config.sampling.rounds {
            try setPhase(.sampling, "round \(round) of \(config.sampling.rounds): informative policies "
                         + "(\(config.sampling.acquisition.rawValue))")
            let policies = try plannedPolicies(round: round).nonEmpty ?? informativePolicies(round: round, predictor)
            try measureRound(round, policies)
            predictor = try fitPredictor(round: round)
        }

        for step in 0..<config.sampling.refine {
            let round = config.sampling.rounds + 1 + step
            try setPhase(.sampling, "refinement \(step + 1) of \(config.sampling.refine): the optimizer's picks")
            var policies = try plannedPolicies(round: round)
            if policies.isEmpty {
                let measured = Set(try samples().compactMap { try? resolve($0.policy) })
                let problem = try SearchProblem(encoding: encoding, predictor: predictor, complexity: complexity)
                for value in budgets {
                    let pick = try config.policyOptimizer.optimize(problem, budget: value,
                                                                   warmStarts: try bestMeasured(within: value)).policy
                    if !measured.contains(pick) && !policies.contains(pick) { policies.append(pick) }
                }
            }
            guard !policies.isEmpty else { break }
            try measureRound(round, policies)
            predictor = try fitPredictor(round: round)
        }

        try setPhase(.optimizing, "gradient policy optimization for \(budgets.count) budgets")
        try choosePolicies(predictor)
        try setPhase(.verifying, "fine-tuning and measuring the chosen policies")
        try verifyChosen(predictor)
        if !config.profiles.isEmpty {
            try setPhase(.preparing, "a model for each of \(config.profileList.count) device profiles")
            try prepareProfiles(predictor)
        }
        let summary = try writeResults(seconds: Date().timeIntervalSince(start))
        try setPhase(.done, "results in \(resultsDirectory.path)")
        return summary
    }

    // MARK: steps

    func ensureCampaignRecord() throws {
        let json = String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self)
        if let existing = try CampaignStore.campaign(id, in: store) {
            // Decoded, not as text: a field added since (with its default) must not make older campaigns un-resumable.
            guard (try? existing.campaignConfig()) == config else {
                throw CampaignError.config("campaign '\(id)' exists with a different config; use `campaign resume` or another name")
            }
            return
        }
        let now = Date()
        try CampaignStore.save(CampaignRecord(id: id, config: json, phase: .created, detail: "", createdAt: now, updatedAt: now),
                               in: store)
    }

    /// A failed or stopped campaign run again: its failed rows are measured again (the broker re-runs their jobs).
    func reopenIfFailed() throws {
        guard let phase = try CampaignStore.campaign(id, in: store)?.phase, phase == .failed || phase == .stopped else { return }
        let reopened = try CampaignStore.reopenFailedMeasurements(id, in: store)
        try setPhase(.created, "resumed after it \(phase == .failed ? "failed" : "was stopped"): \(reopened) failed measurement"
                     + "\(reopened == 1 ? "" : "s") to measure again")
    }

    /// Records that the campaign stopped for `error`; a failure to record it is reported along with `error`.
    /// A stop asked for is `stopped`, not failed; a coordinator shutting down leaves the phase for the next one.
    func markFailed(_ error: Error) throws {
        do {
            switch error as? CampaignInterruption {
            case .stopped?: try setPhase(.stopped, "\(error)")
            case .shuttingDown?: return
            case nil: try setPhase(.failed, "\(error)")
            }
        } catch let recording {
            throw CampaignError.failed("\(error) (and marking campaign '\(id)' failed in \(store.path) failed too: \(recording))")
        }
    }

    func setPhase(_ phase: CampaignPhase, _ detail: String) throws {
        log("[\(id)] \(phase): \(detail)")
        try CampaignStore.setPhase(id, phase, detail: detail, in: store)
    }

    /// The test-split job of a measured policy that replaced the optimizer's pick for `budget`.
    /// The job of the optimizer's pick for `budget` measured on `split` ("validation" or "test").
    func finalJobID(budget: String, split: String) -> String { "\(id):final:\(budget):\(split)" }
    func replacementJobID(budget: String) -> String { finalJobID(budget: budget, split: "measured-best:test") }

    func samples() throws -> [MeasurementRecord] { try CampaignStore.measurements(id, purpose: .sample, in: store) }

    func resolve(_ policyJSON: String) throws -> ResolvedPolicy {
        try Policy.decode(json: Data(policyJSON.utf8)).resolve(for: base, space: config.space)
    }

    func plannedPolicies(round: Int) throws -> [ResolvedPolicy] {
        try samples().filter { $0.round == round }.sorted { $0.position < $1.position }.map { try resolve($0.policy) }
    }

    /// Plans (once) and measures one round's policies, spread over the device keys.
    func measureRound(_ round: Int, _ policies: [ResolvedPolicy]) throws {
        let now = Date()
        let rows = try policies.enumerated().map { i, p in
            MeasurementRecord(jobID: "\(id):r\(round):\(i)", campaignID: id, purpose: .sample, round: round, position: i,
                              policy: String(decoding: try p.policy().jsonData(), as: UTF8.self),
                              deviceKey: config.devices[i % config.devices.count], split: "validation", createdAt: now)
        }
        try CampaignStore.plan(rows, in: store)
        try measure(try samples().filter { $0.round == round }, title: "round \(round)")
        if config.metric.isPerDevice {
            // The device's model learns from every latency (energy) measured on it.
            (complexity, reference) = try CostModels.make(metric: config.metric, config: config, base: base, encoding: encoding,
                                                          deviceKey: config.latencyDevice, store: store, backend: backend,
                                                          log: { [self] in log("[\(id)] \($0)") })
            budgets = config.budgets.map { $0.absolute(reference: reference) }
        }
    }

    /// Submits the unfinished rows, waits, and records what comes back.
    func measure(_ rows: [MeasurementRecord], title: String) throws {
        let pending = rows.filter { !$0.isFinished }
        guard !pending.isEmpty else { return }
        let requests = try pending.map { row -> MeasureRequest in
            let settings = measurementSettings(for: row)
            // A checkpoint path travels as is: agents must see it (same host or shared storage); zoo names resolve on each agent.
            return MeasureRequest(id: row.jobID, deviceKey: row.deviceKey, model: config.checkpoint ?? config.model,
                                  policy: try Policy.decode(json: Data(row.policy.utf8)), settings: settings)
        }
        let bar = ProgressBar(title: "measure \(title)", total: requests.count, enabled: showProgress)
        var rows = Dictionary(uniqueKeysWithValues: pending.map { ($0.jobID, $0) })
        var finished = 0
        try backend.measure(requests) { [self] jobID, outcome in
            guard var row = rows.removeValue(forKey: jobID) else { return }
            switch outcome {
            case .done(let v):
                row.accuracy = v.accuracy
                row.latencyMs = v.latencyMs
                row.energyJ = v.energyJ
                row.macs = v.macs
                row.bitops = v.bitops
                row.params = v.params
                row.sizeBytes = v.sizeBytes
                row.timings = String(decoding: try JSONEncoder.sorted.encode(v.timingsMs), as: UTF8.self)
                row.agentID = v.agentID
            case .failed(let message):
                row.error = message
                log("[\(id)] \(row.jobID) failed: \(message)")
            }
            row.finishedAt = Date()
            try CampaignStore.update(row, in: store)
            finished += 1
            bar.update(finished, status: "\(finished)/\(requests.count) policies")
        }
        bar.finish()
        guard rows.isEmpty else { throw CampaignError.failed("no outcome for \(rows.keys.sorted().joined(separator: ", "))") }
    }

    /// How `row` is measured: the campaign's settings on the row's split, with the campaign's seed plus the row's
    /// `seedOffset` (so no two measurements of one policy share a seed); a probe without fine-tuning on the fixed
    /// batch.
    func measurementSettings(for row: MeasurementRecord) -> EvaluationSettings {
        if row.purpose == .sensitivity {
            return SensitivityTable.probeSettings(from: config.measurement, images: config.sampling.sensitivityImages)
        }
        var settings = config.measurement
        settings.split = Split(rawValue: row.split) ?? .validation
        settings.seed = config.seed &+ UInt64(row.seedOffset)
        return settings
    }

    /// Round 0: with sensitivities, first each budget's zero-search allocation (`SensitivityAllocation`: the policy
    /// the sensitivities alone would pick, a strong start the predictor should see), then random policies near the
    /// budgets for the rest; `sampling.initial` in all.
    func initialPolicies(_ sampler: PolicySampler<AnyComplexityModel>) throws -> [ResolvedPolicy] {
        let allocations = Array(try allocationPolicies().prefix(config.sampling.initial))
        return allocations + (try sampler.randomPolicies(count: config.sampling.initial - allocations.count, near: budgets,
                                                         seed: config.seed, exclude: Set(allocations)))
    }

    /// Each budget's zero-search allocation from the sensitivities, without repeats; none without sensitivities.
    func allocationPolicies() throws -> [ResolvedPolicy] {
        guard let sensitivities else { return [] }
        var policies: [ResolvedPolicy] = []
        for budget in budgets {
            let allocation = try SensitivityAllocation(table: sensitivities, encoding: encoding, complexity: complexity,
                                                       budget: budget)
            if !policies.contains(allocation.policy) { policies.append(allocation.policy) }
        }
        return policies
    }

    /// Measures (once) every per-layer sensitivity probe, spread over the device keys; nil when the config asks for
    /// none. A failed probe fails the campaign: the prior would be silently partial otherwise.
    func measureSensitivities() throws -> SensitivityTable? {
        guard config.sampling.sensitivityImages > 0 else { return nil }
        let probes = SensitivityTable.probes(for: encoding)
        try setPhase(.sensitivity, "\(probes.count) per-layer probes, no fine-tuning, "
                     + "\(config.sampling.sensitivityImages) validation images each")
        let now = Date()
        let rows = try probes.enumerated().map { i, probe in
            MeasurementRecord(jobID: "\(id):sensitivity:\(i)", campaignID: id, purpose: .sensitivity, round: 0, position: i,
                              policy: String(decoding: try encoding.policy(levels: probe.levels(in: encoding)).policy().jsonData(),
                                             as: UTF8.self),
                              deviceKey: config.devices[i % config.devices.count], split: "validation", createdAt: now)
        }
        try CampaignStore.plan(rows, in: store)
        try measure(try CampaignStore.measurements(id, purpose: .sensitivity, in: store), title: "sensitivities")
        var accuracies: [SensitivityProbe: Double] = [:]
        for row in try CampaignStore.measurements(id, purpose: .sensitivity, in: store) where row.position < probes.count {
            guard let accuracy = row.accuracy else {
                throw CampaignError.failed("sensitivity probe \(row.jobID) failed: \(row.error ?? "no result")")
            }
            accuracies[probes[row.position]] = accuracy
        }
        let table = try SensitivityTable(encoding: encoding, accuracies: accuracies)
        let worst = encoding.variables.indices.max { table.drops[$0][0] < table.drops[$1][0] }!
        log(String(format: "[%@] sensitivities: reference %.2f%%; most sensitive %@ (%.1f points at its most compressed "
                   + "level)", id, table.reference, encoding.variables[worst].name, table.drops[worst][0]))
        return table
    }

    /// Measures the first `noise_repeats` round-0 policies again with the next seed; the standard deviation of one
    /// measurement is sqrt(mean squared difference / 2). nil without repeats.
    func measureNoise() throws -> Double? {
        let count = config.sampling.noiseRepeats
        guard count > 0 else { return nil }
        let originals = Array(try samples().filter { $0.round == 0 }.sorted { $0.position < $1.position }.prefix(count))
        // Round 0 of the noise rows; later rounds hold the rechecks of contested picks (`Recheck`).
        let now = Date()
        let rows = originals.enumerated().map { i, original in
            MeasurementRecord(jobID: "\(id):noise:\(i)", campaignID: id, purpose: .noise, round: 0, position: i,
                              policy: original.policy, deviceKey: original.deviceKey, split: "validation", createdAt: now,
                              seedOffset: Recheck.noiseRepeatSeedOffset)
        }
        try CampaignStore.plan(rows, in: store)
        try measure(try CampaignStore.measurements(id, purpose: .noise, in: store).filter { $0.round == 0 }, title: "noise repeats")
        let pairs = try noiseRepeatPairs()
        guard let noise = MeasurementNoise.standardDeviation(pairs: pairs) else { return nil }
        log(String(format: "[%@] measurement noise: %.2f points (sd of one measurement, from %d repeats with another seed)",
                   id, noise, pairs.count))
        return noise
    }

    /// The round-0 policies measured again for the noise estimate, each with its first measurement.
    func noiseRepeatPairs() throws -> [(Double, Double)] {
        let repeats = try CampaignStore.measurements(id, purpose: .noise, in: store).filter { $0.round == 0 }
        let originals = Array(try samples().filter { $0.round == 0 }.sorted { $0.position < $1.position }.prefix(repeats.count))
        return zip(originals, repeats.sorted { $0.position < $1.position })
            .compactMap { a, b in a.accuracy.flatMap { x in b.accuracy.map { (x, $0) } } }
    }

    /// The noise that decides contests: pooled over the noise repeats and every contest's pairs of unbiased
    /// measurements of one policy (the pick's first and its recheck, the sample's two rechecks), so a campaign with
    /// contests decides them on more than its two repeats. nil without a pair.
    /// `finals` and `rechecks` are the campaign's final measurements and `recheckMeasurements()`, which callers hold.
    func contestNoise(finals: [MeasurementRecord], rechecks: [String: MeasurementRecord]) throws -> Double? {
        var pairs = try noiseRepeatPairs()
        for budget in config.budgets.map(\.description) {
            func accuracy(_ r: Recheck) -> Double? { rechecks[r.jobID(campaign: id, budget: budget)]?.accuracy }
            if let first = finals.first(where: { $0.jobID == finalJobID(budget: budget, split: "validation") })?.accuracy,
               let again = accuracy(.pick) {
                pairs.append((first, again))
            }
            if let a = accuracy(.sample), let b = accuracy(.sampleAgain) { pairs.append((a, b)) }
        }
        return MeasurementNoise.standardDeviation(pairs: pairs)
    }

    /// The policies measured so far (samples) whose cost is within `budget`, best first, as levels.
    func bestMeasured(within budget: Double, limit: Int = 3) throws -> [[Int]] {
        Array(try measuredWithin(budget).prefix(limit).map(\.levels))
    }

    /// Every successful sample within `budget`: its levels and accuracy, best first.
    func measuredWithin(_ budget: Double) throws -> [(levels: [Int], accuracy: Double)] {
        try samples().compactMap { row -> (levels: [Int], accuracy: Double)? in
            guard let accuracy = row.accuracy, let levels = try? encoding.levels(of: try resolve(row.policy)) else { return nil }
            return complexity.value(encoding.relaxation(levels: levels)) <= budget * (1 + 1e-9) ? (levels, accuracy) : nil
        }.sorted { $0.accuracy > $1.accuracy }
    }

    /// What a new policy must beat within `budget`: the best of the predictor's means at the policies measured there
    /// (noisy expected improvement's plug-in incumbent), nil when none was. Not the best single measurement: with
    /// noise of a point or two, the highest of tens is mostly luck, and an incumbent set by it makes every candidate's
    /// expected improvement vanish, so a round would measure whatever its ranking of zeros happened to put first.
    func incumbentAccuracy(within budget: Double, _ predictor: EnsemblePredictor) throws -> Double? {
        try measuredWithin(budget).map { predictor.predict(try encoding.features(of: encoding.policy(levels: $0.levels))).mean }
            .max()
    }

    /// One informative round's policies: by expected improvement, each budget's share searched within that budget
    /// against the incumbent there (`incumbentAccuracy`); or by SeerNet's uncertainty near any budget.
    func informativePolicies(round: Int, _ predictor: EnsemblePredictor) throws -> [ResolvedPolicy] {
        var measured = try samples().compactMap { try? resolve($0.policy) }
        var settings = InformativeSampler.Settings(band: config.sampling.band[0]...config.sampling.band[1])
        settings.seed = config.seed &+ UInt64(round)
        settings.minimumDistance = config.sampling.minimumDistance
        let problem = try SearchProblem(encoding: encoding, predictor: predictor, complexity: complexity)
        let count = config.sampling.perRound
        switch config.sampling.acquisition {
        case .uncertainty:
            return try InformativeSampler(settings: settings, acquisition: UncertaintyAcquisition())
                .sample(problem, budgets: budgets, count: count, exclude: Set(measured)).map(\.policy)
        case .expectedImprovement:
            var picked: [ResolvedPolicy] = []
            let allAccuracies = try samples().compactMap(\.accuracy)
            for k in budgets.indices {
                // Rounds rotate which budgets get the remainder when the round does not divide evenly.
                let b = (k + round) % budgets.count
                let share = count / budgets.count + (k < count % budgets.count ? 1 : 0)
                guard share > 0 else { continue }
                // With nothing measured within the budget yet, any policy that fits is an improvement over the worst.
                let incumbent = try incumbentAccuracy(within: budgets[b], predictor) ?? allAccuracies.min() ?? 0
                settings.seed = config.seed &+ UInt64(round) &* 1_000 &+ UInt64(b)
                let found = try InformativeSampler(settings: settings, acquisition: ExpectedImprovement(incumbent: incumbent))
                    .sample(problem, budgets: [budgets[b]], count: share, exclude: Set(measured),
                            seeds: try bestMeasured(within: budgets[b], limit: 8))
                for f in found {
                    log(String(format: "[%@] round %d, budget %@: predicted %.2f%% (incumbent %.2f%%), expected improvement "
                               + "%.2f", id, round, config.budgets[b].description, f.predictedMean, incumbent, f.score))
                }
                picked += found.map(\.policy)
                measured += found.map(\.policy)
            }
            return picked
        }
    }

    /// Fits the predictor on every successful sample so far; reuses the snapshot of `round` if one was saved.
    func fitPredictor(round: Int) throws -> EnsemblePredictor {
        if let saved = try CampaignStore.snapshot(id, round: round, in: store) {
            return try EnsemblePredictor.load(json: Data(saved.predictor.utf8))
        }
        let measured = try samples().filter { $0.accuracy != nil }
        guard measured.count >= 4 else {
            let errors = try samples().compactMap(\.error)
            throw CampaignError.failed("only \(measured.count) policies measured successfully; a predictor needs at least 4"
                + (errors.first.map { "; \(errors.count) failed, the first with: \($0)" } ?? ""))
        }
        let features = try measured.map { try encoding.features(of: try resolve($0.policy)) }
        let targets = measured.map { $0.accuracy! }
        let predictor = try config.fitPredictor(encoding: encoding, features: features, targets: targets, round: round,
                                                prior: sensitivities?.prior(for: encoding), measurementNoise: measurementNoise)
        try CampaignStore.saveSnapshot(PredictorSnapshotRecord(
            campaignID: id, round: round, rows: measured.count,
            predictor: String(decoding: try predictor.jsonData(), as: UTF8.self), createdAt: Date()), in: store)
        log("[\(id)] predictor fitted on \(measured.count) measured policies (round \(round))")
        return predictor
    }

    func choosePolicies(_ predictor: EnsemblePredictor) throws {
        let done = Set(try CampaignStore.chosen(id, in: store).map(\.budget))
        let problem = try SearchProblem(encoding: encoding, predictor: predictor, complexity: complexity)
        for (budget, value) in zip(config.budgets, budgets) where !done.contains(budget.description) {
            let result = try config.policyOptimizer.optimize(problem, budget: value, warmStarts: try bestMeasured(within: value))
            try CampaignStore.saveChosen(ChosenPolicyRecord(
                campaignID: id, budget: budget.description, metric: config.metric.rawValue, budgetValue: value,
                policy: String(decoding: try result.policy.policy().jsonData(), as: UTF8.self),
                complexity: result.complexity, predicted: result.predictedMean, predictedStd: result.predictedStd,
                optimizeMs: result.seconds * 1000, createdAt: Date()), in: store)
            log(String(format: "[%@] budget %@: predicted %.2f%% (extrapolation error %.2f) at %@ in %.1f ms", id,
                       budget.description, result.predictedMean, result.extrapolation, formatNumber(result.complexity),
                       result.seconds * 1000))
        }
    }


    /// The contests' rechecks by job id (`Recheck.jobID`).
    func recheckMeasurements() throws -> [String: MeasurementRecord] {
        Dictionary(uniqueKeysWithValues: try CampaignStore.measurements(id, purpose: .noise, in: store)
            .filter { $0.round >= Recheck.firstRound }.map { ($0.jobID, $0) })
    }

    /// Fine-tunes and measures each chosen policy on validation and on test (same seed, so the same network).
    ///
    /// A chosen policy that measures below a policy already measured within its budget is contested, and the
    /// contest is decided on fresh measurements only: the pick once more with another seed (its first measurement
    /// was made before anyone looked at it, so it counts), the sample twice with two further seeds. The sample's own
    /// first measurement does not count: it is the highest of tens measured once, so it sits above the policy's
    /// true accuracy by about a standard deviation of the noise (the winner's curse), and comparing against it would
    /// replace picks that are as good as the sample, or better. The one with the higher mean of its two counted
    /// measurements is reported, at that mean: a campaign never reports a policy that measured below another within
    /// the budget on equal, unbiased terms. The predictor, fitted on tens of policies, can still over-predict where
    /// the optimizer goes, and then the sample wins. The choice is made on validation; a replacement is then measured
    /// on test like any chosen policy.
    func verifyChosen(_ predictor: EnsemblePredictor) throws {
        var chosen = try CampaignStore.chosen(id, in: store)
        let now = Date()
        var rows = [MeasurementRecord]()
        func finalRow(_ jobID: String, _ i: Int, _ policy: String, _ split: String) -> MeasurementRecord {
            MeasurementRecord(jobID: jobID, campaignID: id, purpose: .final, round: 0, position: i, policy: policy,
                              deviceKey: config.devices[0], split: split, createdAt: now)
        }
        for (i, c) in chosen.enumerated() {
            for split in ["validation", "test"] {
                rows.append(finalRow(finalJobID(budget: c.budget, split: split), i, c.policy, split))
            }
        }
        try CampaignStore.plan(rows, in: store)
        try measure(try CampaignStore.measurements(id, purpose: .final, in: store), title: "chosen policies")
        var finals = try CampaignStore.measurements(id, purpose: .final, in: store)
        let measuredSamples = try samples().filter { $0.accuracy != nil && $0.deviceKey == config.devices[0] && $0.split == "validation" }
        let sampleCosts = try measuredSamples.map {
            complexity.value(encoding.relaxation(levels: try encoding.levels(of: try resolve($0.policy))))
        }
        // Contests: the pick and the best sample within its budget, when that sample measured higher.
        var contests: [(i: Int, pick: MeasurementRecord, best: MeasurementRecord)] = []
        for i in chosen.indices {
            let budget = chosen[i].budget
            guard let pick = finals.first(where: { $0.jobID == finalJobID(budget: budget, split: "validation") }),
                  let picked = pick.accuracy else { continue }
            let within = measuredSamples.indices.filter { sampleCosts[$0] <= chosen[i].budgetValue * (1 + 1e-9) }
                .map { measuredSamples[$0] }
            guard let best = within.max(by: { $0.accuracy! < $1.accuracy! }), best.accuracy! > picked,
                  best.policy != pick.policy else { continue }
            contests.append((i, pick, best))
        }
        var rechecks: [MeasurementRecord] = []
        for contest in contests {
            let budget = chosen[contest.i].budget
            for recheck in Recheck.allCases {
                let row = recheck.isPick ? contest.pick : contest.best
                rechecks.append(MeasurementRecord(jobID: recheck.jobID(campaign: id, budget: budget), campaignID: id,
                                                  purpose: .noise, round: recheck.round, position: contest.i,
                                                  policy: row.policy, deviceKey: config.devices[0], split: "validation",
                                                  createdAt: now, seedOffset: recheck.seedOffset))
            }
        }
        try CampaignStore.plan(rechecks, in: store)
        try measure(try CampaignStore.measurements(id, purpose: .noise, in: store).filter { $0.round >= Recheck.firstRound },
                    title: "contested picks, again")
        let rechecked = try recheckMeasurements()
        var validation: [Int: Double] = [:]
        var fallbacks = [MeasurementRecord]()
        let noise = try contestNoise(finals: finals, rechecks: rechecked)
        for (i, pickRow, best) in contests {
            let budget = chosen[i].budget
            func recheck(_ r: Recheck) -> Double? { rechecked[r.jobID(campaign: id, budget: budget)]?.accuracy }
            let counted = Recheck.counted(pickFirst: pickRow.accuracy!, pick: recheck(.pick),
                                          sample: [recheck(.sample), recheck(.sampleAgain)], sampleFirst: best.accuracy!)
            let decision = ContestDecision(pick: counted.pick, sample: counted.sample, noise: noise)
            validation[i] = decision.winner
            // Decided again on every run: a choice stored by an earlier version that decided otherwise follows too.
            let reported = decision.sampleWins ? best.policy : pickRow.policy
            if chosen[i].policy != reported {
                try report(reported, as: &chosen[i], predictor)
                try CampaignStore.saveChosen(chosen[i], in: store)
            }
            if decision.sampleWins {
                log(String(format: "[%@] budget %@: the optimizer's policy measured %.2f%%, below %.2f%% for %@ within the "
                           + "budget (means of unbiased measurements), more than the %.2f points the noise explains; "
                           + "reporting that one", id, budget, decision.pick, decision.sample, best.jobID, decision.margin))
                fallbacks.append(finalRow(replacementJobID(budget: budget), i, best.policy, "test"))
            } else {
                log(String(format: "[%@] budget %@: the optimizer's policy measured %.2f%%, below %.2f%% for %@; measured again "
                           + "with other seeds, their means are %.2f%% and %.2f%%, within the %.2f points the noise "
                           + "explains: keeping the optimizer's", id, budget, pickRow.accuracy!, best.accuracy!, best.jobID,
                           decision.pick, decision.sample, decision.margin))
            }
        }
        if !fallbacks.isEmpty {
            try CampaignStore.plan(fallbacks, in: store)
            try measure(try CampaignStore.measurements(id, purpose: .final, in: store), title: "measured replacements")
            finals = try CampaignStore.measurements(id, purpose: .final, in: store)
        }
        for i in chosen.indices {
            let budget = chosen[i].budget
            func accuracy(_ jobID: String) -> Double? { finals.first { $0.jobID == jobID }?.accuracy }
            if let replacement = fallbacks.first(where: { $0.jobID == replacementJobID(budget: budget) }) {
                chosen[i].validationAccuracy = validation[i]
                chosen[i].testAccuracy = accuracy(replacement.jobID)
            } else {
                chosen[i].validationAccuracy = validation[i] ?? accuracy(finalJobID(budget: budget, split: "validation"))
                chosen[i].testAccuracy = accuracy(finalJobID(budget: budget, split: "test"))
            }
            try CampaignStore.saveChosen(chosen[i], in: store)
        }
    }

    /// Makes `policy` the reported policy of `record`, with its cost and the predictor's view of it.
    private func report(_ policy: String, as record: inout ChosenPolicyRecord, _ predictor: EnsemblePredictor) throws {
        let resolved = try resolve(policy)
        let prediction = predictor.predict(try encoding.features(of: resolved))
        record.policy = policy
        record.complexity = complexity.value(encoding.relaxation(levels: try encoding.levels(of: resolved)))
        record.predicted = prediction.mean
        record.predictedStd = prediction.std
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}

extension Array {
    /// Self, or nil when empty.
    var nonEmpty: [Element]? { isEmpty ? nil : self }
}
