import Foundation
import SeerCompression
import SeerData
import SeerMeasurement
import SeerModels
import SeerPredictor
import Yams

/// The complexity a budget constrains.
public enum BudgetMetric: String, Codable, Sendable, CaseIterable {
    case bitops, macs, size, latency
    /// Millijoules per image on a simulated accelerator's device key (its cost model's energy per layer).
    case energy

    /// Whether a budget of this metric is on one device key (its latency or energy model).
    public var isPerDevice: Bool { self == .latency || self == .energy }
}

/// One budget: an absolute value, or a fraction of the uncompressed model at 8/8 bits (written "25%").
public struct Budget: Codable, Hashable, Sendable, CustomStringConvertible {
    public var value: Double
    public var isFraction: Bool

    public init(value: Double, isFraction: Bool) {
        self.value = value
        self.isFraction = isFraction
    }

    /// "25%" (a fraction of the 8/8 model) or a plain number; nil for anything else.
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%"), let percent = Double(t.dropLast()) {
            self.init(value: percent / 100, isFraction: true)
        } else if let number = Double(t) {
            self.init(value: number, isFraction: false)
        } else {
            return nil
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Double.self) {
            self.init(value: number, isFraction: false)
            return
        }
        let text = try c.decode(String.self)
        guard text.trimmingCharacters(in: .whitespaces).hasSuffix("%"), let parsed = Budget(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription:
                "a budget is a number or a percentage of the 8/8 model such as \"25%\", got '\(text)'")
        }
        self = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if isFraction { try c.encode(description) } else { try c.encode(value) }
    }

    public var description: String { isFraction ? "\(formatNumber(value * 100))%" : formatNumber(value) }

    /// The budget in the metric's units, given the 8/8 uncompressed reference.
    public func absolute(reference: Double) -> Double { isFraction ? value * reference : value }
}

/// A budget on a named metric, written "METRIC=VALUE" (e.g. "bitops=20%", "size=40000"), as `optimize --budget` and
/// device profiles take it.
public struct MetricBudget: Codable, Hashable, Sendable, CustomStringConvertible {
    public var metric: BudgetMetric
    public var budget: Budget

    public init(metric: BudgetMetric, budget: Budget) {
        self.metric = metric
        self.budget = budget
    }

    /// Parses "METRIC=VALUE"; the error says which part is wrong.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        let metrics = BudgetMetric.allCases.map(\.rawValue).joined(separator: ", ")
        guard parts.count == 2 else { throw CampaignError.config("'\(text)' is not METRIC=VALUE with METRIC one of \(metrics)") }
        guard let metric = BudgetMetric(rawValue: parts[0]) else {
            throw CampaignError.config("'\(parts[0])' in '\(text)' is not a metric (\(metrics))")
        }
        guard let budget = Budget(parsing: parts[1]), budget.value > 0, budget.value.isFinite else {
            throw CampaignError.config("'\(parts[1])' in '\(text)' is not a positive number or percentage such as 20%")
        }
        guard !(budget.isFraction && budget.value > 1) else {
            throw CampaignError.config("'\(text)' is above the uncompressed model")
        }
        self.init(metric: metric, budget: budget)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        do { try self.init(parsing: text) } catch let error as CampaignError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.message)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var description: String { "\(metric.rawValue)=\(budget)" }
}

/// Which acquisition function informative rounds maximize.
public enum AcquisitionKind: String, Codable, Sendable, CaseIterable {
    /// Expected improvement over the best policy measured within each budget (`ExpectedImprovement`), a budget's
    /// share of the round searched within that budget.
    case expectedImprovement = "expected_improvement"
    /// SeerNet's: ensemble spread plus counterfactual sensitivity, near any budget (`UncertaintyAcquisition`).
    case uncertainty
}

/// How the campaign picks policies to measure.
public struct SamplingConfig: Codable, Sendable, Equatable {
    /// Images of the fixed validation batch each per-layer sensitivity probe is evaluated on (no fine-tuning); the
    /// sensitivities become the predictor's prior. 0 measures none.
    public var sensitivityImages = 512
    /// Random policies measured before the first predictor is trained.
    public var initial = 16
    /// Round-0 policies measured a second time with another seed, to estimate the measurement noise.
    public var noiseRepeats = 2
    /// Rounds of informative sampling after that.
    public var rounds = 2
    /// Policies measured per round.
    public var perRound = 8
    /// Policies are sampled with complexity in [band[0], band[1]] x budget of some budget.
    public var band: [Double] = [0.6, 1.0]
    /// Refinement rounds: measure the policies the optimizer picks for the budgets and refit, so that the final
    /// predictor has seen the region the optimizer goes to instead of extrapolating into it.
    public var refine = 1
    /// What informative rounds maximize.
    public var acquisition = AcquisitionKind.expectedImprovement
    /// Fewest level steps between an informative policy and any policy measured or picked before it.
    public var minimumDistance = 3

    enum CodingKeys: String, CodingKey, CaseIterable {
        case sensitivityImages = "sensitivity_images", initial, noiseRepeats = "noise_repeats", rounds
        case perRound = "per_round", band, refine, acquisition, minimumDistance = "minimum_distance"
    }
    public init() {}
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self), d = SamplingConfig()
        sensitivityImages = try c.value(.sensitivityImages, or: d.sensitivityImages)
        noiseRepeats = try c.value(.noiseRepeats, or: d.noiseRepeats)
        acquisition = try c.value(.acquisition, or: d.acquisition)
        minimumDistance = try c.value(.minimumDistance, or: d.minimumDistance)
        refine = try c.value(.refine, or: d.refine)
        initial = try c.value(.initial, or: d.initial)
        rounds = try c.value(.rounds, or: d.rounds)
        perRound = try c.value(.perRound, or: d.perRound)
        band = try c.value(.band, or: d.band)
    }
}

/// Settings of the predictor ensemble.
public struct PredictorConfig: Codable, Sendable, Equatable {
    public var members = 8
    /// Hidden units of the residual MLPs (0: ridge members only). 0 by default: on the tens of noisy rows a
    /// campaign measures, an MLP fits the noise in per-layer directions the optimizer then follows, and the picks lost
    /// to the sensitivity allocation the campaign had measured (bench/search-quality, three test fine-tunings,
    /// README "Search quality over seeds").
    public var hidden = 0
    /// Feature sets the predictor may choose from: `standard` (squares, neighbour products, aggregates; best on
    /// hundreds of rows) or `linear` (per-layer ratios and log2 bit-widths only: extrapolates less on few rows; the
    /// default, for the same reason as `hidden`).
    public var features = "linear"
    /// What the predictor regresses on: `log_error` (-log of the error rate; see `TargetScale.logError` for why it is
    /// the default) or `accuracy`.
    public var target = TargetScale.logError
    enum CodingKeys: String, CodingKey, CaseIterable { case members, hidden, features, target }
    public init() {}
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self), d = PredictorConfig()
        members = try c.value(.members, or: d.members)
        hidden = try c.value(.hidden, or: d.hidden)
        features = try c.value(.features, or: d.features)
        target = try c.value(.target, or: d.target)
    }
}

/// Settings of the gradient policy optimizer.
public struct OptimizerConfig: Codable, Sendable, Equatable {
    /// Random feasible starts besides the all-minimum policy.
    public var restarts = 3
    /// Gradient steps per start.
    public var iterations = 30
    /// Weight of the predictor's extrapolation error against its prediction (`PolicyOptimizer.Settings.pessimism`):
    /// a predictor fitted on tens of policies over-predicts far from them, which is where the plain optimizer goes.
    /// 10 by default: with 3 (the best of 0 to 6 on two demo campaigns, `bench/pick-quality`) the picks lost to the
    /// sensitivity allocation over seeds, the predictor's spread being of the size of the differences left to find
    /// (bench/search-quality, README "Search quality over seeds").
    public var pessimism = 10.0
    enum CodingKeys: String, CodingKey, CaseIterable { case restarts, iterations, pessimism }
    public init() {}
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self), d = OptimizerConfig()
        restarts = try c.value(.restarts, or: d.restarts)
        iterations = try c.value(.iterations, or: d.iterations)
        pessimism = try c.value(.pessimism, or: d.pessimism)
    }
}

/// A campaign: which model to compress, in which space, under which budgets, measured how and where.
public struct CampaignConfig: Codable, Sendable, Equatable {
    public var name: String
    public var model: String
    /// A checkpoint path; nil takes the zoo model's committed checkpoint.
    public var checkpoint: String?
    /// The data to measure on (`data: {format, path, mean, std, ...}` or a bare path); `parse` pins its SHA-256.
    public var data = DataSpec.fashionMNIST
    public var space = SearchSpace.default
    public var metric = BudgetMetric.bitops
    /// The device key whose latency (or energy) the budgets constrain when `metric` is latency or energy
    /// (milliseconds or millijoules per image, or a percentage of the 8/8 unpruned model's on that device).
    public var latencyDevice: String?
    public var budgets: [Budget]
    /// Device keys of the agents that measure.
    public var devices: [String] = ["cpu-x86"]
    public var measurement = EvaluationSettings()
    public var sampling = SamplingConfig()
    public var predictor = PredictorConfig()
    public var optimizer = OptimizerConfig()
    /// Per device key, named power profiles (e.g. performance / balanced / saver), each a budget; the campaign
    /// prepares a fine-tuned model for every one, and redeploys pick them when a device's battery profile changes.
    public var profiles: [String: [String: MetricBudget]] = [:]
    public var seed: UInt64 = 0
    /// Device keys whose agents run compressed artifacts (a runtime such as onnxruntime, no Seer engine): a policy
    /// measured there is compressed, fine-tuned and validated by a `compress` job on `trainingDevice`, and its artifact
    /// timed (and checked) by an `artifact` job on the runtime key (`ArtifactMeasurementBackend`).
    public var runtimeDevices: [String] = []
    /// The device key whose (builtin) agents train for the runtime devices.
    public var trainingDevice: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, model, checkpoint, data, space, metric, budgets, devices, measurement, sampling, predictor, optimizer
        case profiles, seed, latencyDevice = "latency_device"
        case runtimeDevices = "runtime_devices", trainingDevice = "training_device"
    }

    public init(name: String, model: String, budgets: [Budget]) {
        self.name = name
        self.model = model
        self.budgets = budgets
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = CampaignConfig(name: "", model: "", budgets: [])
        name = try c.decode(String.self, forKey: .name)
        model = try c.decode(String.self, forKey: .model)
        checkpoint = try c.decodeIfPresent(String.self, forKey: .checkpoint)
        data = try c.decodeIfPresent(DataSpec.self, forKey: .data) ?? defaults.data
        space = try c.decodeIfPresent(SearchSpace.self, forKey: .space) ?? defaults.space
        metric = try c.decodeIfPresent(BudgetMetric.self, forKey: .metric) ?? defaults.metric
        latencyDevice = try c.decodeIfPresent(String.self, forKey: .latencyDevice)
        budgets = try c.decode([Budget].self, forKey: .budgets)
        devices = try c.decodeIfPresent([String].self, forKey: .devices) ?? defaults.devices
        measurement = try c.decodeIfPresent(EvaluationSettings.self, forKey: .measurement) ?? defaults.measurement
        sampling = try c.decodeIfPresent(SamplingConfig.self, forKey: .sampling) ?? defaults.sampling
        predictor = try c.decodeIfPresent(PredictorConfig.self, forKey: .predictor) ?? defaults.predictor
        optimizer = try c.decodeIfPresent(OptimizerConfig.self, forKey: .optimizer) ?? defaults.optimizer
        profiles = try c.decodeIfPresent([String: [String: MetricBudget]].self, forKey: .profiles) ?? defaults.profiles
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
        runtimeDevices = try c.decodeIfPresent([String].self, forKey: .runtimeDevices) ?? defaults.runtimeDevices
        trainingDevice = try c.decodeIfPresent(String.self, forKey: .trainingDevice)
    }

    /// Reads a YAML (or JSON) campaign file and validates it; errors name the field.
    public static func load(contentsOf url: URL) throws -> CampaignConfig {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw CampaignError.config("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try parse(yaml: text, source: url.path)
    }

    /// Parses and validates a campaign from YAML text.
    ///
    /// An ONNX `model:` is pinned here (`ModelReference.canonical`: absolute path and SHA-256), so that jobs name the
    /// very file the coordinator read and agents refuse another one.
    public static func parse(yaml text: String, source: String = "config") throws -> CampaignConfig {
        var config: CampaignConfig
        do {
            config = try YAMLDecoder().decode(CampaignConfig.self, from: text)
        } catch let error as DecodingError {
            throw CampaignError.config("\(source): \(describe(error))")
        } catch {
            throw CampaignError.config("\(source): \(error)")
        }
        if ModelReference.isOnnx(config.model) {
            do { config.model = try ModelReference.canonical(config.model) } catch {
                throw CampaignError.config("\(source): model: \(error)")
            }
        }
        do { try config.pinData() } catch { throw CampaignError.config("\(source): \(error)") }
        try config.validate()
        return config
    }

    /// Pins `data` (absolute path, format, SHA-256) and puts what identifies it into `measurement`, so that every job
    /// names the data the coordinator read, with the campaign's normalization and validation split; agents with other
    /// data refuse the jobs (`EvaluationSettings.prepare`).
    mutating func pinData() throws {
        for (field, isSet) in [("dataset_sha256", measurement.datasetSHA256 != nil), ("normalization", measurement.normalization != nil),
                               ("validation_count", measurement.validationCount != nil),
                               ("crop_padding", measurement.cropPadding != nil)] where isSet {
            throw CampaignError.config("measurement.\(field): set from data: (data.sha256, data.mean/std, data.validation, "
                                       + "data.crop_padding), not here")
        }
        try data.validate()
        var pinned = try data.pinned()
        let format = try pinned.resolvedFormat()
        pinned.format = format
        data = pinned
        measurement.datasetSHA256 = pinned.sha256
        measurement.normalization = pinned.normalization(for: format)
        measurement.validationCount = pinned.validation
        measurement.cropPadding = pinned.cropPadding
    }

    /// Cross-field checks.
    public func validate() throws {
        func fail(_ m: String) -> CampaignError { .config(m) }
        // The name is an id and the folder runs/<name>: "." or ".." would put results in (or above) the working
        // directory, a leading "." hides them, and a folder name has at most 255 bytes.
        guard !name.isEmpty, name.utf8.count <= 255, !name.hasPrefix("."),
              name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw fail("name: 1 to 255 bytes of letters, digits, '-', '_' or '.', not starting with '.', got '\(name)'")
        }
        guard ModelZoo.names.contains(model) && model != "resnet18" || ModelReference.isOnnx(model) else {
            throw fail("model: '\(model)' is neither a trainable zoo model (\(ModelZoo.names.filter { $0 != "resnet18" }.joined(separator: ", "))) "
                       + "nor a PATH.onnx")
        }
        guard !budgets.isEmpty else { throw fail("budgets: give at least one budget") }
        for (i, b) in budgets.enumerated() {
            guard b.value > 0, b.value.isFinite else { throw fail("budgets[\(i)]: must be positive, got \(b)") }
            if b.isFraction && b.value > 1 { throw fail("budgets[\(i)]: \(b) is above the uncompressed model") }
        }
        if metric.isPerDevice {
            guard let device = latencyDevice else { throw fail("latency_device: required when metric is \(metric.rawValue)") }
            guard devices.contains(device) else { throw fail("latency_device: '\(device)' is not among devices \(devices)") }
        }
        guard !devices.isEmpty else { throw fail("devices: give at least one device key") }
        for device in runtimeDevices where !devices.contains(device) {
            throw fail("runtime_devices: '\(device)' is not among devices \(devices)")
        }
        if !runtimeDevices.isEmpty {
            guard let trainingDevice else { throw fail("training_device: required with runtime_devices (the key whose agents train)") }
            guard !runtimeDevices.contains(trainingDevice) else {
                throw fail("training_device: '\(trainingDevice)' is a runtime device; training needs Seer's engine")
            }
        } else if trainingDevice != nil {
            throw fail("training_device: only meaningful with runtime_devices")
        }
        guard sampling.initial >= 4 else { throw fail("sampling.initial: at least 4 policies to train a predictor on, got \(sampling.initial)") }
        guard sampling.rounds >= 0 else { throw fail("sampling.rounds: must be at least 0, got \(sampling.rounds)") }
        guard sampling.refine >= 0 else { throw fail("sampling.refine: must be at least 0, got \(sampling.refine)") }
        guard sampling.sensitivityImages >= 0 else {
            throw fail("sampling.sensitivity_images: must be at least 0 (0: no sensitivity prior), got \(sampling.sensitivityImages)")
        }
        guard sampling.noiseRepeats >= 0, sampling.noiseRepeats <= sampling.initial else {
            throw fail("sampling.noise_repeats: from 0 to sampling.initial (\(sampling.initial)), got \(sampling.noiseRepeats)")
        }
        guard sampling.minimumDistance >= 1 else {
            throw fail("sampling.minimum_distance: must be at least 1 (1 only forbids repeats), got \(sampling.minimumDistance)")
        }
        guard sampling.perRound >= 1 else { throw fail("sampling.per_round: must be at least 1, got \(sampling.perRound)") }
        guard sampling.band.count == 2, sampling.band[0] > 0, sampling.band[0] < sampling.band[1], sampling.band[1] <= 1.5 else {
            throw fail("sampling.band: two fractions 0 < low < high <= 1.5, got \(sampling.band)")
        }
        guard predictor.members >= 1 else { throw fail("predictor.members: must be at least 1, got \(predictor.members)") }
        guard ["standard", "linear"].contains(predictor.features) else {
            throw fail("predictor.features: 'standard' or 'linear', got '\(predictor.features)'")
        }
        guard predictor.hidden >= 0 else { throw fail("predictor.hidden: must be at least 0, got \(predictor.hidden)") }
        guard optimizer.restarts >= 1 else { throw fail("optimizer.restarts: must be at least 1, got \(optimizer.restarts)") }
        guard optimizer.iterations >= 1 else { throw fail("optimizer.iterations: must be at least 1, got \(optimizer.iterations)") }
        guard optimizer.pessimism.isFinite, optimizer.pessimism >= 0 else {
            throw fail("optimizer.pessimism: must be a number >= 0, got \(optimizer.pessimism)")
        }
        do { try measurement.validate() } catch { throw fail("measurement: \(error)") }
        for (device, named) in profiles.sorted(by: { $0.key < $1.key }) {
            guard devices.contains(device) else {
                throw fail("profiles.\(device): not among devices \(devices); a profile's model is measured on its device key")
            }
            guard !named.isEmpty else { throw fail("profiles.\(device): name at least one profile") }
            for name in named.keys.sorted() {
                guard !name.isEmpty, name.utf8.count <= 255, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw fail("profiles.\(device): profile name '\(name)' must be 1 to 255 bytes without control characters")
                }
            }
        }
    }

    /// The profiles of every device key as (device key, profile, budget), sorted by device key and profile name.
    public var profileList: [(deviceKey: String, profile: String, budget: MetricBudget)] {
        profiles.sorted { $0.key < $1.key }.flatMap { device, named in
            named.sorted { $0.key < $1.key }.map { (deviceKey: device, profile: $0.key, budget: $0.value) }
        }
    }
}

/// Errors of campaigns; the message names what is wrong.
public enum CampaignError: Error, CustomStringConvertible, LocalizedError {
    case config(String)
    case notFound(String)
    case failed(String)

    /// The message without the kind prefix.
    public var message: String {
        switch self {
        case .config(let m), .notFound(let m), .failed(let m): return m
        }
    }

    /// Something asked for does not exist (yet): a campaign, a predictor, a profile, a checkpoint.
    public var isNotFound: Bool {
        if case .notFound = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .config(let m): return "invalid campaign config: \(m)"
        case .notFound(let m): return m
        case .failed(let m): return "campaign failed: \(m)"
        }
    }
    public var errorDescription: String? { description }
}

/// "field.path: what was wrong" from a decoding error.
func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
    }
    switch error {
    case .keyNotFound(let key, let ctx): return "\(path(ctx.codingPath + [key])): required field is missing"
    case .typeMismatch(let type, let ctx): return "\(path(ctx.codingPath)): expected \(type)"
    case .valueNotFound(let type, let ctx): return "\(path(ctx.codingPath)): expected \(type), found null"
    case .dataCorrupted(let ctx): return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
    @unknown default: return "\(error)"
    }
}

func formatNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(format: "%.4g", x)
}
