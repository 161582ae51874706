import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import SeerSearch

/// Re-optimizing against a stored predictor: what redeployment needs, no training and no measurements.
public enum ReOptimization {
    /// The best policy for `target` under `campaign`'s latest predictor snapshot.
    public static func optimize(campaign config: CampaignConfig, for target: MetricBudget, store: SeerStore) throws -> SearchResult {
        var config = config
        config.metric = target.metric
        config.budgets = [target.budget]
        config.profiles = [:]
        try config.validate()
        guard let snapshot = try CampaignStore.latestSnapshot(config.name, in: store) else {
            throw CampaignError.notFound("campaign '\(config.name)' has no predictor yet; run it first")
        }
        let predictor = try EnsemblePredictor.load(json: Data(snapshot.predictor.utf8))
        let base = try ModelZoo.make(config.model)  // shapes suffice: no weights are needed to optimize
        let encoding = PolicyEncoding(model: base, space: config.space)
        let complexity = try LayerwiseComplexity(model: base, encoding: encoding, metric: config.metric.searchMetric)
        let eight = try SeerCompression.Complexity.compute(model: base, policy: try Policy(bits: "8/8").resolve(for: base))
        let budget = config.budgets[0].absolute(reference: Double(config.metric.value(of: eight)))
        var settings = PolicyOptimizer.Settings()
        settings.randomStarts = config.optimizer.restarts
        settings.iterations = config.optimizer.iterations
        settings.seed = config.seed
        return try PolicyOptimizer(settings: settings)
            .optimize(try SearchProblem(encoding: encoding, predictor: predictor, complexity: complexity), budget: budget)
    }
}
