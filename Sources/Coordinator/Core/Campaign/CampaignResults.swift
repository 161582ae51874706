import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import SeerTraining

extension CampaignRunner {
    /// Writes `policies/<budget>.json`, `summary.json` and `report.html` into the results folder.
    func writeResults(seconds: Double) throws -> CampaignSummary {
        let summary = try summarize(seconds: seconds)
        let fm = FileManager.default
        let policies = resultsDirectory.appendingPathComponent("policies")
        try fm.createDirectory(at: policies, withIntermediateDirectories: true)
        for c in try CampaignStore.chosen(id, in: store) {
            let policy = try Policy.decode(json: Data(c.policy.utf8))
            try policy.jsonData().write(to: policies.appendingPathComponent(Self.fileName(for: c.budget)), options: .atomic)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: resultsDirectory.appendingPathComponent("summary.json"), options: .atomic)
        try Data(CampaignReport.html(summary).utf8).write(to: resultsDirectory.appendingPathComponent("report.html"),
                                                          options: .atomic)
        return summary
    }

    static func fileName(for budget: String) -> String {
        "budget-" + budget.replacingOccurrences(of: "%", with: "pct").replacingOccurrences(of: "/", with: "_") + ".json"
    }

    /// The report's numbers, from the store.
    func summarize(seconds: Double) throws -> CampaignSummary {
        let rows = try samples().filter { $0.accuracy != nil }
        let rounds = Set(rows.map(\.round)).sorted()
        var predictors = [Int: EnsemblePredictor]()
        for r in rounds {
            if let snap = try CampaignStore.snapshot(id, round: r, in: store) {
                predictors[r] = try EnsemblePredictor.load(json: Data(snap.predictor.utf8))
            }
        }
        var points = [CampaignSummary.Point]()
        var randomPoints = [CampaignSummary.Point]()
        let allocated = Set(try allocationPolicies())
        for row in rows {
            let policy = try resolve(row.policy)
            let c = complexity.value(encoding.relaxation(levels: try encoding.levels(of: policy)))
            // Predicted by the predictor the round was chosen with: out-of-sample for rounds after the first.
            let predicted = try predictors[row.round - 1].map { $0.predict(try encoding.features(of: policy)).mean }
            points.append(.init(round: row.round, complexity: c, accuracy: row.accuracy!, predicted: predicted))
            if row.round == 0 && !allocated.contains(policy) { randomPoints.append(points[points.count - 1]) }
        }
        var roundSummaries = [CampaignSummary.Round]()
        for r in rounds {
            let fresh = points.filter { $0.round == r }
            let seen = points.filter { $0.round <= r }
            var best = [String: Double]()
            for (b, value) in zip(config.budgets, budgets) {
                if let top = seen.filter({ $0.complexity <= value }).map(\.accuracy).max() { best[b.description] = top }
            }
            let paired = fresh.compactMap { p in p.predicted.map { ($0, p.accuracy) } }
            roundSummaries.append(.init(
                round: r, measured: fresh.count,
                // Undefined (NaN) when every measurement or prediction ties, e.g. a round of equally bad policies.
                kendallTau: paired.count >= 2 ? Metrics.kendallTau(paired.map(\.0), paired.map(\.1)).finiteOrNil : nil,
                meanAbsoluteError: paired.isEmpty ? nil : paired.map { abs($0.0 - $0.1) }.reduce(0, +) / Double(paired.count),
                bestUnderBudget: best))
        }
        let finals = try CampaignStore.measurements(id, purpose: .final, in: store)
        let rechecks = try recheckMeasurements()
        let noise = try contestNoise(finals: finals, rechecks: rechecks)
        let choices = try CampaignStore.chosen(id, in: store).map { c in
            CampaignSummary.Choice(budget: c.budget, budgetValue: c.budgetValue, policyFile: "policies/" + Self.fileName(for: c.budget),
                                   complexity: c.complexity, predicted: c.predicted, predictedStd: c.predictedStd,
                                   validationAccuracy: c.validationAccuracy, testAccuracy: c.testAccuracy, optimizeMs: c.optimizeMs,
                                   source: try source(of: c, finals: finals),
                                   bestRandomValidation: randomPoints.filter { $0.complexity <= c.budgetValue * (1 + 1e-9) }
                                       .map(\.accuracy).max(),
                                   contest: contest(budget: c.budget, finals: finals, rechecks: rechecks, samples: rows, noise: noise))
        }.sorted { $0.budgetValue < $1.budgetValue }
        let card = ModelStore.checkpoint(for: config.model).flatMap { url -> ModelCard? in
            let cardURL = url.deletingPathExtension().appendingPathExtension("json")
            return (try? Data(contentsOf: cardURL)).flatMap { try? JSONDecoder().decode(ModelCard.self, from: $0) }
        }
        return CampaignSummary(campaign: id, model: config.model, metric: config.metric.rawValue, referenceComplexity: reference,
                               baseAccuracy: card?.validationAccuracy, measurements: points, choices: choices,
                               rounds: roundSummaries, seconds: seconds, measurementNoise: measurementNoise,
                               sensitivityProbes: try CampaignStore.measurements(id, purpose: .sensitivity, in: store).count)
    }
}

extension CampaignRunner {
    /// The contest `verifyChosen` held for `budget`, rebuilt from the stored final measurements, rechecks
    /// (`recheckMeasurements`) and measured samples, and decided on `noise` as it was; nil where it held none.
    func contest(budget: String, finals: [MeasurementRecord], rechecks: [String: MeasurementRecord],
                 samples: [MeasurementRecord], noise: Double?) -> CampaignSummary.Contest? {
        func recheck(_ r: Recheck) -> MeasurementRecord? { rechecks[r.jobID(campaign: id, budget: budget)] }
        guard let pickFirst = finals.first(where: { $0.jobID == finalJobID(budget: budget, split: "validation") })?.accuracy,
              let samplePolicy = (recheck(.sample) ?? recheck(.sampleAgain))?.policy,
              let rival = samples.first(where: {
                  $0.policy == samplePolicy && $0.accuracy != nil && $0.deviceKey == config.devices[0] && $0.split == "validation"
              })
        else { return nil }
        let counted = Recheck.counted(pickFirst: pickFirst, pick: recheck(.pick)?.accuracy,
                                      sample: [recheck(.sample)?.accuracy, recheck(.sampleAgain)?.accuracy],
                                      sampleFirst: rival.accuracy!)
        let decision = ContestDecision(pick: counted.pick, sample: counted.sample, noise: noise)
        return .init(rival: rival.jobID, pickValidation: decision.pick, rivalValidation: decision.sample,
                     margin: decision.margin, noise: noise)
    }

    /// Where `choice`'s policy came from: the final optimization, a refinement round's pick, or another sample. A
    /// choice is the optimizer's while it is the policy its final validation row (in `finals`) measured.
    func source(of choice: ChosenPolicyRecord, finals: [MeasurementRecord]) throws -> CampaignSummary.ChoiceSource {
        let pick = finals.first { $0.jobID == finalJobID(budget: choice.budget, split: "validation") }?.policy
        guard let pick, pick != choice.policy else { return .optimizer }
        let round = try samples().first { $0.policy == choice.policy }?.round ?? 0
        return round > config.sampling.rounds ? .refinement : .measured
    }
}

extension Double {
    /// Self, or nil for NaN and infinities (JSON has no spelling for them).
    var finiteOrNil: Double? { isFinite ? self : nil }
}
