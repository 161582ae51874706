import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerModels
import SeerTensor
import SeerTraining

/// What measuring one policy does: calibration, fine-tuning, evaluation, latency timing.
public struct EvaluationSettings: Codable, Sendable, Equatable {
    /// SGD steps of fine-tuning on the train split after quantizing and pruning.
    public var finetuneSteps = 100
    public var batchSize = 128
    public var learningRate: Float = 0.01
    public var weightDecay: Float = 5e-4
    /// Training images the activation clips are calibrated on.
    public var calibrationImages = 256
    public var split: Split = .validation
    /// Evaluate on the first N images of the split only (nil: all of it).
    public var evaluationLimit: Int?
    public var seed: UInt64 = 0
    public var latency = LatencySettings()
    /// The SHA-256 of the data to measure on (`Dataset.datasetSHA256`): an executor with other data refuses the job
    /// rather than measure on them. nil: any data (jobs from before PROTOCOL.md revision 3).
    public var datasetSHA256: String?
    /// The input normalization to measure with, overriding the executor's data's own (it is the campaign's setting,
    /// not the agent's); nil: the data's own.
    public var normalization: Normalization?
    /// Training images held out as the validation split (the campaign's `data.validation`); nil: the data's own.
    public var validationCount: Int?
    /// Fine-tuning's random-crop padding in pixels (the campaign's `data.crop_padding`); nil: the data's own.
    public var cropPadding: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case finetuneSteps = "finetune_steps", batchSize = "batch_size", learningRate = "learning_rate"
        case weightDecay = "weight_decay", calibrationImages = "calibration_images", split
        case evaluationLimit = "evaluation_limit", seed, latency
        case datasetSHA256 = "dataset_sha256", normalization, validationCount = "validation_count"
        case cropPadding = "crop_padding"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EvaluationSettings()
        finetuneSteps = try c.value(.finetuneSteps, or: d.finetuneSteps)
        batchSize = try c.value(.batchSize, or: d.batchSize)
        learningRate = try c.value(.learningRate, or: d.learningRate)
        weightDecay = try c.value(.weightDecay, or: d.weightDecay)
        calibrationImages = try c.value(.calibrationImages, or: d.calibrationImages)
        split = try c.value(.split, or: d.split)
        evaluationLimit = try c.decodeIfPresent(Int.self, forKey: .evaluationLimit)
        seed = try c.value(.seed, or: d.seed)
        latency = try c.value(.latency, or: d.latency)
        datasetSHA256 = try c.decodeIfPresent(String.self, forKey: .datasetSHA256)
        normalization = try c.decodeIfPresent(Normalization.self, forKey: .normalization)
        validationCount = try c.decodeIfPresent(Int.self, forKey: .validationCount)
        cropPadding = try c.decodeIfPresent(Int.self, forKey: .cropPadding)
    }

    /// Checks ranges; the message names the field.
    public func validate() throws {
        func fail(_ m: String) -> MeasurementError { .invalidSettings(m) }
        guard finetuneSteps >= 0 else { throw fail("finetune_steps must be at least 0, got \(finetuneSteps)") }
        guard batchSize >= 1 else { throw fail("batch_size must be at least 1, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("learning_rate must be positive, got \(learningRate)") }
        guard weightDecay >= 0 else { throw fail("weight_decay must be at least 0, got \(weightDecay)") }
        guard calibrationImages >= 1 else { throw fail("calibration_images must be at least 1, got \(calibrationImages)") }
        if let l = evaluationLimit, l < 1 { throw fail("evaluation_limit must be at least 1, got \(l)") }
        if let sha = datasetSHA256, sha.count != 64 || !sha.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            throw fail("dataset_sha256 must be 64 lowercase hexadecimal digits, got '\(sha)'")
        }
        if let v = validationCount, v < 0 { throw fail("validation_count must be at least 0, got \(v)") }
        if let p = cropPadding, p < 0 { throw fail("crop_padding must be at least 0, got \(p)") }
        if let normalization {
            do { try normalization.validate(channels: nil, field: "normalization") } catch { throw fail("\(error)") }
        }
        try latency.validate()
    }
}

extension EvaluationSettings {
    /// `data` as these settings measure on it: the dataset they name (else `DataError.datasetMismatch`), under their
    /// normalization, validation split and crop padding when they carry them.
    public func prepare(_ data: Dataset) throws -> Dataset {
        try data.checkIdentity(datasetSHA256)
        var data = try normalization.map { try data.normalized($0) } ?? data
        if let validationCount, validationCount != data.count(.validation) { data = try data.resplit(validationCount: validationCount) }
        if let cropPadding { data = try data.withCropPadding(cropPadding, field: "settings.crop_padding") }
        return data
    }
}

// MARK: On the wire

extension EvaluationSettings {
    /// The largest seed a measure JOB can carry: its settings travel as a JSON object, whose numbers are doubles on
    /// the way (exact integers up to 2^53).
    public static let maxJobSeed: UInt64 = 1 << 53

    /// These settings as the JSON object a measure JOB carries in `payload.settings` (docs/PROTOCOL.md): every field,
    /// so that what the coordinator measures with is what the agent measures with. Validates first.
    public func jobJSON() throws -> Data {
        try validate()
        guard seed <= Self.maxJobSeed else {
            throw MeasurementError.invalidSettings("seed must be at most 2^53 to travel in a JOB, got \(seed)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// The settings of a measure JOB's `payload.settings`, decoded strictly: a field this build does not know is
    /// refused with its name (rather than silently measured without), a missing one takes its default, and ranges
    /// are validated. Errors name the field under `payload.settings`.
    public static func fromJobJSON(_ data: Data) throws -> EvaluationSettings {
        let settings: EvaluationSettings
        do {
            settings = try JSONDecoder().decode(EvaluationSettings.self, from: data)
        } catch let error as DecodingError {
            throw MeasurementError.invalidSettings(describe(error, under: "payload.settings"))
        }
        do {
            try settings.validate()
        } catch let MeasurementError.invalidSettings(message) {
            throw MeasurementError.invalidSettings("payload.settings.\(message)")
        }
        return settings
    }

    /// A decoding error as "path: what is wrong".
    static func describe(_ error: DecodingError, under root: String) -> String {
        func path(_ keys: [CodingKey]) -> String { ([root] + keys.map(\.stringValue)).joined(separator: ".") }
        switch error {
        case let .dataCorrupted(context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        case let .keyNotFound(key, context):
            return "\(path(context.codingPath + [key])): missing"
        case let .typeMismatch(type, context):
            return "\(path(context.codingPath)): expected \(type)"
        case let .valueNotFound(type, context):
            return "\(path(context.codingPath)): expected \(type), found null"
        @unknown default:
            return "\(root): \(error)"
        }
    }
}

/// Seconds spent in each phase of one measurement.
public struct EvaluationTimings: Codable, Sendable, Equatable {
    public var compression: Double = 0
    public var calibration: Double = 0
    public var finetune: Double = 0
    public var evaluation: Double = 0
    public var latency: Double = 0
}

/// One measured policy: accuracy, latency on this host, complexity, and where the time went.
public struct EvaluationResult: Codable, Sendable, Equatable {
    public var model: String
    public var accuracy: Double
    public var split: String
    public var evaluatedImages: Int
    public var latencyMs: Double
    public var latency: LatencyStatistics
    public var macs: Int
    public var bitops: Int
    public var params: Int
    public var sizeBytes: Int
    public var seconds: Double
    public var timings: EvaluationTimings
    public var finetuneSteps: Int
    public var seed: UInt64

    enum CodingKeys: String, CodingKey {
        case model, accuracy, split, latency, macs, bitops, params, seconds, timings, seed
        case evaluatedImages = "evaluated_images", latencyMs = "latency_ms", sizeBytes = "size_bytes"
        case finetuneSteps = "finetune_steps"
    }
}

/// Measures one compression policy on a base model: prune, quantize and calibrate, fine-tune, evaluate, time.
public enum PolicyEvaluation {
    /// The compressed, calibrated, fine-tuned network (training graph, BN unfolded) and its phase timings.
    public static func compress(base: Model, policy: ResolvedPolicy, data: Dataset, settings: EvaluationSettings,
                                progress: ((Int, Int) -> Void)? = nil) throws -> (model: Model, timings: EvaluationTimings) {
        try settings.validate()
        let data = try settings.prepare(data)
        try base.checkFits(data)
        var timings = EvaluationTimings()
        var clock = Date()
        func lap() -> Double { let now = Date(); defer { clock = now }; return now.timeIntervalSince(clock) }

        let pruned = ChannelPruning.prune(base, policy: policy)
        timings.compression = lap()

        var rng = SeededGenerator(seed: settings.seed &+ 0xCA11)
        let count = min(settings.calibrationImages, data.count(.train))
        let picks = (0..<count).map { _ in rng.nextInt(below: data.count(.train)) }
        let (calibration, _) = try data.batch(split: .train, indices: picks, augment: nil, rng: &rng)
        let quantized = PolicyQuantization.quantize(pruned, policy: policy, calibration: calibration)
        timings.calibration = lap()

        if settings.finetuneSteps > 0 {
            var config = TrainingConfig()
            config.steps = settings.finetuneSteps
            config.batchSize = settings.batchSize
            config.learningRate = settings.learningRate
            config.weightDecay = settings.weightDecay
            config.seed = settings.seed
            try Trainer(model: quantized, data: data, config: config).run { step, total, _, _ in progress?(step, total) }
        }
        timings.finetune = lap()
        return (quantized, timings)
    }

    /// Runs the whole measurement; deterministic for a given policy, settings and seed (thread count fixed).
    public static func run(base: Model, policy: ResolvedPolicy, data: Dataset, settings: EvaluationSettings,
                           progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationResult {
        let start = Date()
        var (model, timings) = try compress(base: base, policy: policy, data: data, settings: settings, progress: progress)
        let data = try settings.prepare(data)
        var clock = Date()
        let images = min(settings.evaluationLimit ?? Int.max, data.count(settings.split))
        let accuracy = try evaluateAccuracy(model, data: data, split: settings.split, limit: images)
        timings.evaluation = Date().timeIntervalSince(clock)
        clock = Date()

        // Timed as deployed: batch norm folded, and convolutions on integers where the bit-widths and the CPU allow
        // (`InferenceArithmetic`; SEER_INFERENCE=float times the float graph).
        let inference = try InferenceArithmetic.selected.get().compile(model.graph.foldingBatchNorm())
        var rng = SeededGenerator(seed: 1)
        let (x, _) = try data.batch(split: .validation, indices: Array(0..<settings.latency.batch), augment: nil, rng: &rng)
        let latency = LatencyTimer.measure(settings.latency) { _ = inference.forward(x) }
        timings.latency = Date().timeIntervalSince(clock)

        let complexity = try Complexity.compute(model: base, policy: policy)
        return EvaluationResult(model: base.name, accuracy: accuracy, split: settings.split.rawValue, evaluatedImages: images,
                                latencyMs: latency.medianMs, latency: latency, macs: complexity.macs, bitops: complexity.bitops,
                                params: complexity.params, sizeBytes: complexity.sizeBytes,
                                seconds: Date().timeIntervalSince(start), timings: timings,
                                finetuneSteps: settings.finetuneSteps, seed: settings.seed)
    }
}
