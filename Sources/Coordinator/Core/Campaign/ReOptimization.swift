import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import SeerSearch

/// Re-optimizing against a stored predictor: what redeployment needs, no training and no measurements.
public enum ReOptimization {
    /// The best policy for `target` under `campaign`'s latest predictor snapshot; a latency budget is on `deviceKey`
    /// (default: the campaign's latency device), whose stored latency table and measured latencies give the model.
    public static func optimize(campaign config: CampaignConfig, for target: MetricBudget, deviceKey: String? = nil,
                                store: SeerStore) throws -> SearchResult {
        guard let snapshot = try CampaignStore.latestSnapshot(config.name, in: store) else {
            throw CampaignError.notFound("campaign '\(config.name)' has no predictor yet; run it first")
        }
        let device = deviceKey ?? config.latencyDevice ?? config.devices.first
        if target.metric.isPerDevice, let device, !config.devices.contains(device) {
            throw CampaignError.config("device key \(device) is not among campaign '\(config.name)''s devices \(config.devices)")
        }
        let predictor = try EnsemblePredictor.load(json: Data(snapshot.predictor.utf8))
        let base = try ModelZoo.make(config.model)  // shapes suffice: no weights are needed to optimize
        return try optimize(campaign: config, predictor: predictor, base: base,
                            encoding: PolicyEncoding(model: base, space: config.space), for: target, deviceKey: device,
                            store: store, backend: nil)
    }

    /// The best policy for `target` under `predictor` (its `budget` in the metric's units); `backend` profiles a
    /// latency table the store does not hold yet (nil: it must be there).
    static func optimize(campaign config: CampaignConfig, predictor: EnsemblePredictor, base: Model, encoding: PolicyEncoding,
                         for target: MetricBudget, deviceKey: String?, store: SeerStore,
                         backend: MeasurementBackend?) throws -> SearchResult {
        let (complexity, reference) = try CostModels.make(metric: target.metric, config: config, base: base, encoding: encoding,
                                                          deviceKey: deviceKey, store: store, backend: backend)
        let budget = target.budget.absolute(reference: reference)
        return try config.policyOptimizer.optimize(try SearchProblem(encoding: encoding, predictor: predictor, complexity: complexity), budget: budget)
    }
}

extension PredictorConfig {
    /// The ensemble these settings describe.
    var ensemble: EnsembleConfiguration {
        var configuration = EnsembleConfiguration.standard
        configuration.members = members
        if hidden == 0 { configuration.mlp = nil } else { configuration.mlp?.hiddenUnits = hidden }
        if features == "linear" { configuration.featureCandidates = [.baseOnly] }
        configuration.target = target
        return configuration
    }
}

extension CampaignConfig {
    /// The campaign's predictor on measured policies (feature rows of `encoding`) as round `round` fits it.
    /// `prior` (per-layer sensitivities) joins every candidate feature set; `measurementNoise` floors the
    /// extrapolation error's scale.
    public func fitPredictor(encoding: PolicyEncoding, features: [[Double]], targets: [Double], round: Int,
                             prior: SensitivityPrior? = nil, measurementNoise: Double? = nil) throws -> EnsemblePredictor {
        var configuration = self.predictor.ensemble
        configuration.measurementNoise = measurementNoise
        var predictor = EnsemblePredictor(schema: encoding.schema, configuration: configuration, prior: prior)
        try predictor.fit(features: features, targets: targets, seed: seed &+ UInt64(round))
        return predictor
    }

    /// The gradient optimizer with this campaign's settings and seed.
    public var policyOptimizer: PolicyOptimizer {
        var settings = PolicyOptimizer.Settings()
        settings.randomStarts = optimizer.restarts
        settings.iterations = optimizer.iterations
        settings.seed = seed
        settings.pessimism = optimizer.pessimism
        return PolicyOptimizer(settings: settings)
    }
}
