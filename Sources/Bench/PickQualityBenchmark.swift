import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerData
import SeerMeasurement
import SeerModels
import SeerPredictor
import SeerSearch
import SeerTensor

/// The optimizer's picks against a finished campaign's own measurements, for several weights of the predictor's
/// extrapolation error (`optimizer.pessimism`).
///
/// From a campaign database (e.g. `make demo`'s runs/demo/seer.sqlite): the predictor refitted as the campaign's last
/// round fitted it (every measured sample, its settings and seed), then per pessimism and budget the optimizer's pick,
/// measured in this process with the campaign's measurement settings on validation, against the best sample the
/// campaign measured within that budget (same settings and seed, so the two are comparable up to the run-to-run noise
/// of fine-tuning, about a point on 1,000 images).
struct PickQualityBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pick-quality")

    @Option(help: "Campaign database.") var db = "runs/demo/seer.sqlite"
    @Option(help: "Campaign name.") var campaign = "demo"
    @Option(help: "Pessimism weights to compare, comma separated.") var pessimism = "0,1,2,3"
    @Option(help: "Threads for measuring.") var threads = 2

    func run() throws {
        Threads.set(threads)
        let weights = try pessimism.split(separator: ",").map { part -> Double in
            guard let w = Double(part.trimmingCharacters(in: .whitespaces)), w.isFinite, w >= 0 else {
                throw ValidationError("--pessimism: '\(part)' is not a number >= 0")
            }
            return w
        }
        let store = try SeerStore(path: db)
        guard let record = try CampaignStore.campaign(campaign, in: store) else {
            throw ValidationError("no campaign '\(campaign)' in \(db)")
        }
        let config = try record.campaignConfig()
        let base = try ModelStore.load(config.checkpoint ?? config.model)
        let data = try config.data.load(imageShape: base.inputShape)
        let encoding = PolicyEncoding(model: base, space: config.space)
        let samples = try CampaignStore.measurements(campaign, purpose: .sample, in: store).filter { $0.accuracy != nil }
        let resolved = try samples.map { try Policy.decode(json: Data($0.policy.utf8)).resolve(for: base, space: config.space) }
        // The campaign's last predictor (with its sensitivity prior and noise floor); refitted for campaigns stored
        // before the predictor measured its extrapolation.
        let stored = try CampaignStore.latestSnapshot(campaign, in: store).map { try EnsemblePredictor.load(json: Data($0.predictor.utf8)) }
        let predictor = try stored.flatMap { $0.support == nil ? nil : $0 }
            ?? config.fitPredictor(encoding: encoding, features: try resolved.map(encoding.features(of:)),
                                   targets: samples.map { $0.accuracy! }, round: samples.map(\.round).max() ?? 0)
        let (complexity, reference) = try CostModels.make(metric: config.metric, config: config, base: base,
                                                          encoding: encoding, deviceKey: nil, store: store, backend: nil)
        let problem = try SearchProblem(encoding: encoding, predictor: predictor, complexity: complexity)
        let costs = try resolved.map { problem.cost(levels: try encoding.levels(of: $0)) }
        var settings = config.measurement
        settings.split = .validation
        settings.seed = config.seed
        var measured = [[Int]: Double]()
        var result: [String: Any] = ["db": db, "campaign": campaign, "samples": samples.count, "threads": threads]
        var regrets = [String: [Double]]()
        for budget in config.budgets {
            let value = budget.absolute(reference: reference)
            let best = samples.indices.filter { costs[$0] <= value }.map { samples[$0].accuracy! }.max()
            var row: [String: Any] = ["best_sample": best ?? NSNull()]
            for w in weights {
                var optimizer = config.policyOptimizer.settings
                optimizer.pessimism = w
                // Warm-started from the best samples within the budget, as the campaign's optimizer is.
                let warm = try samples.indices.filter { costs[$0] <= value }.sorted { samples[$0].accuracy! > samples[$1].accuracy! }
                    .prefix(3).map { try encoding.levels(of: resolved[$0]) }
                let pick = try PolicyOptimizer(settings: optimizer).optimize(problem, budget: value, warmStarts: warm)
                if measured[pick.levels] == nil {
                    log("budget \(budget), pessimism \(w): measuring the pick (predicted \(String(format: "%.2f", pick.predictedMean)))")
                    measured[pick.levels] = try PolicyEvaluation.run(base: base, policy: pick.policy, data: data,
                                                                     settings: settings).accuracy
                }
                let accuracy = measured[pick.levels]!
                row["pessimism_\(w)"] = ["predicted": pick.predictedMean, "measured": accuracy,
                                         "extrapolation": pick.extrapolation]
                if let best { regrets["\(w)", default: []].append(accuracy - best) }
            }
            result[budget.description] = row
        }
        for (w, values) in regrets {
            result["mean_pick_minus_best_sample_\(w)"] = values.reduce(0, +) / Double(values.count)
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }

    private func log(_ message: String) { FileHandle.standardError.write(Data("bench/pick-quality: \(message)\n".utf8)) }
}
