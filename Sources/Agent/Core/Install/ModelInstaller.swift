import Foundation
import SeerCompression
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import SeerTraining
import SeerWire

/// The builtin `Deployer`: verifies a DEPLOY's weights, builds the network (fine-tuning it first when the weights are
/// the base checkpoint), checks it on a validation batch, and swaps it in as the deploy directory's `current`.
///
/// Nothing touches `current` until every check passed: a failed deploy leaves the running model in place (its staged
/// release is pruned), so a device never runs a model that did not pass its own validation batch.
public final class ModelInstaller: Deployer, @unchecked Sendable {
    let directory: DeployDirectory
    let agentID: String
    let dataSpec: DataSpec
    let log: @Sendable (String) -> Void
    /// Loaded on first use, on the job thread (the only thread that installs).
    private var data: [[Int]: Dataset] = [:]

    /// Validation images when the DEPLOY names none.
    public static let defaultValidationImages = 256

    /// An installer into `directory` that validates on the data `dataSpec` names.
    public init(directory: DeployDirectory, agentID: String, dataSpec: DataSpec = .fashionMNIST,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.directory = directory
        self.agentID = agentID
        self.dataSpec = dataSpec
        self.log = log
    }

    /// Why an install failed, with the wire code the DEPLOYED carries.
    struct Failure: Error {
        var code: ErrorCode
        var message: String
    }

    public func install(_ deploy: DeployBody, cancel: CancellationFlag) -> DeployedBody {
        let start = Date()
        var timings: [String: Double] = [:]
        var clock = Date()
        func lap(_ phase: String) {
            let now = Date()
            timings[phase] = now.timeIntervalSince(clock) * 1000
            clock = now
        }
        do {
            guard deploy.weights.effectiveFormat == WeightsReference.compressedModelFormat else {
                throw Failure(code: .unsupported, message: "weights.format '\(deploy.weights.effectiveFormat)': this agent installs "
                              + "Seer's compressed-model files (\(WeightsReference.compressedModelFormat)) only")
            }
            let bytes = try fetch(deploy.weights, inline: deploy.inlineWeights)
            lap("fetch")
            do { try DeployDirectory.verify(bytes, sha256: deploy.weights.sha256, sizeBytes: deploy.weights.sizeBytes) } catch {
                throw Failure(code: .runtimeError, message: "weights rejected: \(error)")
            }
            lap("verify")
            let (model, modelBytes, policy) = try build(deploy, weights: bytes, lap: lap)
            let images = deploy.validation?.images ?? Self.defaultValidationImages
            let dataset = try loadData(for: model, deploy)
            let accuracy: Double
            do { accuracy = try evaluateAccuracy(model, data: dataset, split: .validation, limit: images) / 100 } catch {
                throw Failure(code: .runtimeError, message: "validation batch failed: \(error)")
            }
            lap("validate")
            if let floor = deploy.validation?.minAccuracy, accuracy < floor {
                throw Failure(code: .runtimeError, message: String(
                    format: "validation accuracy %.2f%% on %d images is below the floor %.2f%%; kept the current model",
                    accuracy * 100, images, floor * 100))
            }
            guard !cancel.isCancelled else { throw Failure(code: .timeout, message: "cancelled before the swap") }
            let metadata: [String: JSONValue] = [
                "validation_accuracy": .number(accuracy), "validation_images": .number(Double(images)),
                "source": .string(deploy.finetune == nil ? "prepared" : "fine-tuned on the agent"),
                "weights_sha256": .string(deploy.weights.sha256),
            ]
            let release: DeployedRelease
            do {
                release = try directory.stage(deployID: deploy.deployID, modelBytes: modelBytes,
                                              policy: try policyObject(policy), profile: deploy.profile, model: deploy.model,
                                              metadata: metadata)
                lap("stage")
                try directory.activate(release)
                lap("activate")
            } catch let error as Failure {
                throw error
            } catch {
                throw Failure(code: .runtimeError, message: "install failed: \(error)")
            }
            _ = try? directory.prune()
            timings["total"] = Date().timeIntervalSince(start) * 1000
            log(String(format: "installed %@ (%@) as current: validation %.2f%% on %d images", deploy.deployID,
                       deploy.profile, accuracy * 100, images))
            return DeployedBody(deployID: deploy.deployID, agentID: agentID, status: .ok, timingsMs: timings,
                                message: String(format: "validation accuracy %.2f%% on %d images", accuracy * 100, images))
        } catch {
            let failure = error as? Failure ?? Failure(code: .runtimeError, message: "\(error)")
            _ = try? directory.prune()  // a staged release that never became current
            timings["total"] = Date().timeIntervalSince(start) * 1000
            log("deploy \(deploy.deployID) failed (\(failure.code.rawValue)): \(failure.message)")
            return DeployedBody(deployID: deploy.deployID, agentID: agentID, status: .failed, timingsMs: timings,
                                code: failure.code, message: String(failure.message.prefix(4_000)))
        }
    }

    /// The weights: the DEPLOY's fourth frame, or a file:// URI on a shared file system.
    func fetch(_ reference: WeightsReference, inline: [UInt8]?) throws -> [UInt8] {
        if let inline { return inline }
        guard let text = reference.uri, let url = URL(string: text), url.isFileURL else {
            throw Failure(code: .unsupported, message: "weights.uri \(reference.uri ?? "") is not a file:// URI; this agent fetches no other scheme")
        }
        do { return [UInt8](try Data(contentsOf: url)) } catch {
            throw Failure(code: .runtimeError, message: "cannot read weights \(url.path): \(error.localizedDescription)")
        }
    }

    /// The network to validate and the compressed-model file bytes to install.
    private func build(_ deploy: DeployBody, weights: [UInt8], lap: (String) -> Void) throws
        -> (model: Model, bytes: [UInt8], policy: ResolvedPolicy) {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("seer-deploy-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).safetensors")
        defer { try? FileManager.default.removeItem(at: scratch) }
        do { try Data(weights).write(to: scratch) } catch {
            throw Failure(code: .runtimeError, message: "cannot write \(scratch.path): \(error.localizedDescription)")
        }
        let policy: ResolvedPolicy
        let architecture: Model
        do {
            architecture = try ModelZoo.make(deploy.model)
            policy = try Policy.decode(json: try JSONEncoder().encode(deploy.policy)).resolve(for: architecture)
        } catch {
            throw Failure(code: .badPolicy, message: "\(error)")
        }
        guard let finetune = deploy.finetune else {
            // A prepared model: the file is the compressed network itself, and must carry exactly this policy.
            do {
                let loaded = try CompressedModelFile.load(from: scratch, expecting: policy)
                lap("load")
                return (loaded.model, weights, policy)
            } catch {
                throw Failure(code: .badPolicy, message: "the weights are not the compressed model of this policy: \(error)")
            }
        }
        // Base weights: compress and fine-tune briefly here, then keep the result as a compressed-model file.
        do { try Checkpoint.load(architecture, from: scratch) } catch {
            throw Failure(code: .badPolicy, message: "the weights are not a \(deploy.model) checkpoint: \(error)")
        }
        lap("load")
        var settings = EvaluationSettings()
        settings.finetuneSteps = finetune.steps
        settings.seed = UInt64(finetune.seed)
        let options = finetune.options ?? [:]
        if case .number(let v)? = options["batch_size"] { settings.batchSize = Int(v) }
        if case .number(let v)? = options["calibration_images"] { settings.calibrationImages = Int(v) }
        if case .number(let v)? = options["learning_rate"] { settings.learningRate = Float(v) }
        if case .number(let v)? = options["weight_decay"] { settings.weightDecay = Float(v) }
        let compressed: Model
        do {
            var data = try loadData(for: architecture, deploy)
            if case .number(let v)? = options["crop_padding"] {
                guard let padding = Int(exactly: v) else {
                    throw Failure(code: .badPolicy, message: "finetune.options.crop_padding must be an integer, got \(v)")
                }
                data = try data.withCropPadding(padding, field: "finetune.options.crop_padding")
            }
            compressed = try PolicyEvaluation.compress(base: architecture, policy: policy, data: data, settings: settings).model
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(code: .runtimeError, message: "fine-tuning failed: \(error)")
        }
        lap("finetune")
        do {
            try CompressedModelFile.save(compressed, policy: policy, to: scratch, metadata: [
                "finetune_steps": String(finetune.steps), "seed": String(finetune.seed),
                "base_sha256": deploy.weights.sha256,
            ])
            return (compressed, [UInt8](try Data(contentsOf: scratch)), policy)
        } catch {
            throw Failure(code: .runtimeError, message: "cannot save the fine-tuned model: \(error)")
        }
    }

    /// This agent's data for `model`'s input, as `deploy` names them (revision 3): refused when they are other data,
    /// under the campaign's normalization and validation split.
    private func loadData(for model: Model, _ deploy: DeployBody) throws -> Dataset {
        let loaded: Dataset
        do {
            loaded = try data[model.inputShape] ?? dataSpec.load(imageShape: model.inputShape)
        } catch {
            throw Failure(code: .runtimeError, message: "no validation data: \(error)")
        }
        data[model.inputShape] = loaded
        var settings = EvaluationSettings()
        settings.datasetSHA256 = deploy.validation?.datasetSHA256
        settings.normalization = deploy.validation?.normalization.map {
            Normalization(mean: $0.mean.map(Float.init), std: $0.std.map(Float.init))
        }
        settings.validationCount = deploy.validation?.validationCount
        do { return try settings.prepare(loaded) } catch {
            throw Failure(code: .runtimeError, message: "\(error)")
        }
    }

    private func policyObject(_ policy: ResolvedPolicy) throws -> [String: JSONValue] {
        try JSONDecoder().decode([String: JSONValue].self, from: try policy.policy().jsonData())
    }
}
