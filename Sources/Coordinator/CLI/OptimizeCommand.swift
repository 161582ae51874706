import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerModels
import SeerPredictor
import SeerSearch

/// `seer-coordinator optimize`: re-optimizes a policy for a new budget against a campaign's stored predictor.
struct OptimizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Best policy for a budget from a stored predictor, in milliseconds, with no new measurements.")

    @Option(help: "Campaign name.") var campaign: String
    @Option(help: "METRIC=VALUE with METRIC bitops, macs, size or latency (ms); VALUE a number or a percentage of the 8/8 model.")
    var budget: String
    @Option(help: "Device key of a latency budget (default: the campaign's latency_device).") var device: String?
    @Option(help: "SQLite database.") var db = "seer.sqlite"
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        do { _ = try MetricBudget(parsing: budget) } catch let error as CampaignError {
            throw ValidationError("--budget: \(error.message)")
        }
    }

    func run() throws {
        // Only reads: a mistyped --db is an error, not a new empty database, and a read-only file will do.
        let store = try SeerStore(path: db, access: .readOnly)
        guard let record = try CampaignStore.campaign(campaign, in: store) else {
            throw CampaignError.notFound("no campaign '\(campaign)' in \(db)")
        }
        let config = try record.campaignConfig()
        let target = try MetricBudget(parsing: budget)
        let metric = target.metric
        let result = try store.namingErrors {
            try ReOptimization.optimize(campaign: config, for: target, deviceKey: device, store: store)
        }
        if json {
            let object: [String: Any] = [
                "campaign": campaign, "metric": metric.rawValue, "budget": result.budget,
                "complexity": result.complexity, "predicted_accuracy": result.predictedMean,
                "predicted_std": result.predictedStd, "extrapolation": result.extrapolation,
                "milliseconds": result.seconds * 1000,
                "policy": try JSONSerialization.jsonObject(with: result.policy.policy().jsonData()),
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "predicted %.2f%% ± %.2f (extrapolation error %.2f) at %@ %@ (budget %@) in %.2f ms",
                         result.predictedMean, result.predictedStd, result.extrapolation, formatCount(result.complexity),
                         metric.rawValue, formatCount(result.budget), result.seconds * 1000))
            print(String(decoding: try result.policy.policy().jsonData(), as: UTF8.self))
        }
    }

    func formatCount(_ x: Double) -> String { String(format: "%.4g", x) }
}
