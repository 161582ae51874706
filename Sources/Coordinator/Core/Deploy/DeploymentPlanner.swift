import Foundation
import SeerData
import SeerModels
import SeerWire

/// What to send an agent for a profile: the campaign's prepared model, or a policy re-optimized against the stored
/// predictor that the agent fine-tunes briefly itself.
public struct DeploymentPlan: Sendable {
    public var campaignID: String
    /// "prepared" or "reoptimized".
    public var source: String
    public var body: DeployBody
    public var policyJSON: String
}

/// Chooses the model for (device key, profile) from a campaign in the store. No sockets: the service sends the plan.
public struct DeploymentPlanner {
    let store: SeerStore
    /// The campaign to deploy from; nil: the newest campaign that names profiles for the device key.
    let campaign: String?

    /// Images of the validation split the agent evaluates before swapping a model in.
    public static let validationImages = 256
    /// How far below its measured validation accuracy a prepared model may score on that batch (256 images: a
    /// binomial standard deviation of about 2 points at 90%, so 8 points is 4 sigma, while a broken model scores ~10%).
    public static let preparedSlack = 0.08
    /// The same for a re-optimized policy, checked against its prediction, which over-predicts on tens of samples.
    public static let reoptimizedSlack = 0.15

    public init(store: SeerStore, campaign: String?) {
        self.store = store
        self.campaign = campaign
    }

    /// The campaign (and its config) that serves `deviceKey`.
    func campaignConfig(for deviceKey: String, preferring requested: String?) throws -> CampaignConfig {
        if let name = requested ?? campaign {
            guard let record = try CampaignStore.campaign(name, in: store) else {
                throw CampaignError.notFound("no campaign '\(name)' in \(store.path)")
            }
            return try record.campaignConfig()
        }
        for record in try CampaignStore.campaigns(in: store).reversed() {
            let config = try record.campaignConfig()
            if config.profiles[deviceKey] != nil { return config }
        }
        throw CampaignError.notFound("no campaign in \(store.path) defines profiles for device key \(deviceKey)")
    }

    /// The plan for `profile` on an agent of `deviceKey`, under deploy id `deployID`.
    public func plan(deployID: String, deviceKey: String, profile: String, campaign requested: String? = nil) throws -> DeploymentPlan {
        let config = try campaignConfig(for: deviceKey, preferring: requested)
        guard let budget = config.profiles[deviceKey]?[profile] else {
            let known = (config.profiles[deviceKey] ?? [:]).keys.sorted()
            throw CampaignError.notFound("campaign '\(config.name)' has no profile '\(profile)' for device key \(deviceKey)"
                + (known.isEmpty ? "" : " (it has \(known.joined(separator: ", ")))"))
        }
        if let prepared = try DeploymentStore.prepared(campaign: config.name, deviceKey: deviceKey, profile: profile, in: store),
           prepared.isReady, let path = prepared.weightsPath, let sha = prepared.sha256 {
            let bytes = try readWeights(path, expecting: sha)
            // Held to the accuracy of the weights sent; models prepared before that was recorded, to the agent's.
            let floor = (prepared.weightsValidationAccuracy ?? prepared.validationAccuracy).map { max(0, $0 / 100 - Self.preparedSlack) }
            var (weights, inline) = Self.carry(bytes, sha256: sha, file: URL(fileURLWithPath: path))
            // Absent means Seer's compressed-model file, so builtin agents of revision 1 still understand it.
            if prepared.weightsFormat != WeightsReference.compressedModelFormat { weights.format = prepared.weightsFormat }
            let body = DeployBody(deployID: deployID, deviceKey: deviceKey, profile: profile, model: config.model,
                                  policy: try policyObject(prepared.policy), weights: weights, inlineWeights: inline,
                                  validation: Self.validation(minAccuracy: floor, config: config))
            return DeploymentPlan(campaignID: config.name, source: "prepared", body: body, policyJSON: prepared.policy)
        }
        // No prepared model (a profile added after the campaign, or preparation not finished): re-optimize, and the
        // agent fine-tunes, which a runtime agent cannot.
        guard !config.runtimeDevices.contains(deviceKey) else {
            throw CampaignError.notFound("campaign '\(config.name)' has no prepared model for \(deviceKey)/\(profile), and "
                                         + "\(deviceKey) is a runtime key: its agents install measured artifacts only and "
                                         + "cannot fine-tune a re-optimized policy (`campaign resume` prepares the profiles)")
        }
        let result = try ReOptimization.optimize(campaign: config, for: budget, deviceKey: deviceKey, store: store)
        let policyJSON = String(decoding: try result.policy.policy().jsonData(), as: UTF8.self)
        let checkpoint: URL
        if let path = config.checkpoint {
            checkpoint = URL(fileURLWithPath: path)
        } else if let committed = ModelStore.checkpoint(for: config.model) {
            checkpoint = committed
        } else {
            throw CampaignError.notFound("no checkpoint for \(config.model) to fine-tune from")
        }
        let bytes = [UInt8](try Data(contentsOf: checkpoint))
        let m = config.measurement
        let (weights, inline) = Self.carry(bytes, sha256: SHA256.hex(SHA256.hash(bytes)), file: checkpoint)
        var finetuneOptions: [String: JSONValue] = [
            "batch_size": .number(Double(m.batchSize)), "learning_rate": .number(Double(m.learningRate)),
            "weight_decay": .number(Double(m.weightDecay)), "calibration_images": .number(Double(m.calibrationImages)),
        ]
        if let padding = m.cropPadding { finetuneOptions["crop_padding"] = .number(Double(padding)) }
        let body = DeployBody(
            deployID: deployID, deviceKey: deviceKey, profile: profile, model: config.model, policy: try policyObject(policyJSON),
            weights: weights, inlineWeights: inline,
            validation: Self.validation(minAccuracy: max(0, result.predictedMean / 100 - Self.reoptimizedSlack), config: config),
            finetune: DeployFinetune(steps: m.finetuneSteps, seed: Int(clamping: config.seed), options: finetuneOptions))
        return DeploymentPlan(campaignID: config.name, source: "reoptimized", body: body, policyJSON: policyJSON)
    }

    /// The validation batch of a DEPLOY, naming the campaign's data (revision 3) so that an agent with other data
    /// refuses it rather than validate on them.
    static func validation(minAccuracy: Double?, config: CampaignConfig) -> DeployValidation {
        let m = config.measurement
        return DeployValidation(images: validationImages, minAccuracy: minAccuracy, datasetSHA256: m.datasetSHA256,
                                normalization: m.normalization.map { DataNormalization(mean: $0.mean.map(Double.init),
                                                                                       std: $0.std.map(Double.init)) },
                                validationCount: m.validationCount)
    }

    /// Weights travel in the DEPLOY message when they fit beside a full JSON frame; larger ones by file:// URI,
    /// which needs a file system the agent shares.
    static func carry(_ bytes: [UInt8], sha256: String, file: URL) -> (WeightsReference, [UInt8]?) {
        if bytes.count <= SeerProtocol.maxDeployMessageBytes - SeerProtocol.maxBodyBytes - 64 {
            return (WeightsReference(sha256: sha256, sizeBytes: bytes.count), bytes)
        }
        return (WeightsReference(uri: file.absoluteString, sha256: sha256, sizeBytes: bytes.count), nil)
    }

    private func readWeights(_ path: String, expecting sha: String) throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw CampaignError.failed("cannot read the prepared model \(path): \(error.localizedDescription)")
        }
        guard SHA256.hex(SHA256.hash(bytes)) == sha else {
            throw CampaignError.failed("the prepared model \(path) changed since the campaign wrote it (SHA-256 differs)")
        }
        return bytes
    }

    private func policyObject(_ json: String) throws -> [String: JSONValue] {
        try JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8))
    }
}
