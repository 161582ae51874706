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
    @Option(help: "METRIC=VALUE with METRIC bitops, macs or size; VALUE a number or a percentage of the 8/8 model.")
    var budget: String
    @Option(help: "Device key (for latency budgets; accepted for symmetry with deployment).") var device: String?
    @Option(help: "SQLite database.") var db = "seer.sqlite"
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        let parts = budget.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, BudgetMetric(rawValue: parts[0]) != nil else {
            throw ValidationError("--budget must be METRIC=VALUE with METRIC in \(BudgetMetric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (try? parsedBudget()) != nil else { throw ValidationError("--budget value '\(parts[1])' is not a number or a percentage") }
    }

    func parsedBudget() throws -> (BudgetMetric, Budget) {
        let parts = budget.split(separator: "=", maxSplits: 1).map(String.init)
        guard let value = Budget(parsing: parts[1]) else { throw ValidationError("not a number") }
        return (BudgetMetric(rawValue: parts[0])!, value)
    }

    func run() throws {
        let store = try SeerStore(path: db)
        guard let record = try CampaignStore.campaign(campaign, in: store) else {
            throw CampaignError.notFound("no campaign '\(campaign)' in \(db)")
        }
        var config = try JSONDecoder().decode(CampaignConfig.self, from: Data(record.config.utf8))
        let (metric, budgetValue) = try parsedBudget()
        config.metric = metric
        config.budgets = [budgetValue]
        try config.validate()
        let result = try ReOptimization.optimize(campaign: config, store: store)
        if json {
            let object: [String: Any] = [
                "campaign": campaign, "metric": metric.rawValue, "budget": result.budget,
                "complexity": result.complexity, "predicted_accuracy": result.predictedMean,
                "predicted_std": result.predictedStd, "milliseconds": result.seconds * 1000,
                "policy": try JSONSerialization.jsonObject(with: result.policy.policy().jsonData()),
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "predicted %.2f%% ± %.2f at %@ %@ (budget %@) in %.2f ms", result.predictedMean, result.predictedStd,
                         formatCount(result.complexity), metric.rawValue, formatCount(result.budget), result.seconds * 1000))
            print(String(decoding: try result.policy.policy().jsonData(), as: UTF8.self))
        }
    }

    func formatCount(_ x: Double) -> String { String(format: "%.4g", x) }
}
