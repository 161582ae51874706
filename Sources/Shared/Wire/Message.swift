/// The message type names carried in the second frame.
public enum MessageType: String, CaseIterable, Sendable, Codable {
    case ready = "READY"
    case heartbeat = "HEARTBEAT"
    case job = "JOB"
    case result = "RESULT"
    case error = "ERROR"
    case disconnect = "DISCONNECT"
    case profile = "PROFILE"
    case deploy = "DEPLOY"
    case deployed = "DEPLOYED"
}

/// One protocol message: its type and decoded, validated body.
public enum Message: Equatable, Sendable {
    /// Agent -> coordinator: registration.
    case ready(ReadyBody)
    /// Both directions: liveness.
    case heartbeat(HeartbeatBody)
    /// Coordinator -> agent: work to do.
    case job(JobBody)
    /// Agent -> coordinator: a job's measurements.
    case result(ResultBody)
    /// Both directions: a job failed or a message was refused.
    case error(ErrorBody)
    /// Both directions: the sender is going away.
    case disconnect(DisconnectBody)
    /// Agent -> coordinator: the device's battery/power profile changed.
    case profile(ProfileBody)
    /// Coordinator -> agent: install a compressed model.
    case deploy(DeployBody)
    /// Agent -> coordinator: outcome of a DEPLOY.
    case deployed(DeployedBody)

    /// The type name this message is sent under.
    public var type: MessageType {
        switch self {
        case .ready: return .ready
        case .heartbeat: return .heartbeat
        case .job: return .job
        case .result: return .result
        case .error: return .error
        case .disconnect: return .disconnect
        case .profile: return .profile
        case .deploy: return .deploy
        case .deployed: return .deployed
        }
    }
}

// MARK: Vocabulary

/// How an agent runs jobs.
public enum ExecutorKind: String, CaseIterable, Codable, Sendable {
    /// Seer's own Swift engine on the device's CPU.
    case builtin
    /// Latency from a BitFusion accelerator simulator.
    case simBitfusion = "sim-bitfusion"
    /// Latency from a BISMO accelerator simulator.
    case simBismo = "sim-bismo"
    /// An external command the agent runs per job.
    case command
    /// Runs `null` jobs only (a pipeline check). Revision 2 (PROTOCOL.md section 9).
    case null
    /// Runs compressed artifacts on a runtime (onnxruntime, TensorRT, a phone's NN API). Revision 2.
    case runtime
}

/// What a JOB asks for.
public enum JobKind: String, CaseIterable, Codable, Sendable {
    /// Apply the policy, fine-tune, report accuracy, latency and complexity.
    case measure
    /// Apply the policy, report latency and complexity only (no fine-tuning, no accuracy).
    case profile
    /// Do nothing and answer at once: exercises the pipeline and measures its overhead.
    case null
    /// Compress, fine-tune and validate the policy, and return the compressed network as an artifact (revision 2;
    /// sent only to agents that announce the `compress` capability).
    case compress
    /// Measure the artifact in `payload.artifact` on this device: latency, accuracy as a numerics check (revision 2;
    /// sent only to agents that announce the `artifact` capability).
    case artifact
}

/// ERROR codes: job failures (as TVM's measure errors) and protocol refusals.
public enum ErrorCode: String, CaseIterable, Codable, Sendable {
    /// The policy cannot be applied to the model (wrong layer count, bit width out of range...).
    case badPolicy = "bad_policy"
    /// The device ran out of memory.
    case outOfMemory = "out_of_memory"
    /// The job's deadline passed.
    case timeout
    /// Any other failure while running the job.
    case runtimeError = "runtime_error"
    /// Frames or JSON could not be decoded, or values failed validation.
    case malformed
    /// The type frame names no known message.
    case unknownType = "unknown_type"
    /// The header carries a protocol version the receiver does not speak.
    case unsupportedVersion = "unsupported_version"
    /// The message exceeds the size limit.
    case tooLarge = "too_large"
    /// The sender is not allowed to do this (not registered, wrong agent id for its key).
    case unauthorized
    /// The job or deploy id is not known to the receiver.
    case unknownJob = "unknown_job"
    /// The agent is already running a job.
    case busy
    /// The agent cannot run this job kind or device key.
    case unsupported
}

/// Battery state in a PROFILE report.
public enum BatteryStatus: String, CaseIterable, Codable, Sendable {
    /// On external power, charging.
    case charging
    /// On battery.
    case discharging
    /// On external power, fully charged.
    case full
    /// On external power but not charging.
    case notCharging = "not_charging"
    /// The device cannot tell.
    case unknown
}

/// Outcome in a DEPLOYED report.
public enum DeployStatus: String, CaseIterable, Codable, Sendable {
    /// Installed and ready.
    case ok
    /// Not installed; `code` says why.
    case failed
}

// MARK: Bodies

/// READY: an agent announces itself; the coordinator starts heartbeating and may send jobs.
public struct ReadyBody: Codable, Equatable, Sendable {
    /// Stable agent name, unique in the fleet; also its ZeroMQ routing id.
    public var agentID: String
    /// The device class it measures for, e.g. "cpu-x86"; jobs are matched on it.
    public var deviceKey: String
    /// How it runs jobs.
    public var executor: ExecutorKind
    /// What the device is.
    public var device: DeviceDescriptor
    /// The protocol version the agent speaks (same as in its header).
    public var protocolVersion: Int
    /// Job kinds and features it supports: "measure", "profile", "null", "deploy", "energy".
    public var capabilities: [String]

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id", deviceKey = "device_key", executor, device
        case protocolVersion = "protocol_version", capabilities
    }

    /// Memberwise initializer.
    public init(agentID: String, deviceKey: String, executor: ExecutorKind, device: DeviceDescriptor,
                protocolVersion: Int = SeerProtocol.version, capabilities: [String]) {
        self.agentID = agentID
        self.deviceKey = deviceKey
        self.executor = executor
        self.device = device
        self.protocolVersion = protocolVersion
        self.capabilities = capabilities
    }
}

/// The hardware and software of an agent's device.
public struct DeviceDescriptor: Codable, Equatable, Sendable {
    /// Logical CPU cores available to jobs.
    public var cores: Int
    /// Physical memory in bytes.
    public var memoryBytes: Int
    /// Operating system and version, e.g. "Debian 12".
    public var os: String
    /// CPU architecture, e.g. "x86_64", "aarch64".
    public var arch: String?
    /// Hardware model, e.g. "Raspberry Pi 4 Model B".
    public var hardware: String?
    /// Software versions by component, e.g. ["swift": "6.3.1", "libzmq": "4.3.4"].
    public var software: [String: String]

    enum CodingKeys: String, CodingKey {
        case cores, memoryBytes = "memory_bytes", os, arch, hardware, software
    }

    /// Memberwise initializer.
    public init(cores: Int, memoryBytes: Int, os: String, arch: String? = nil, hardware: String? = nil,
                software: [String: String] = [:]) {
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.os = os
        self.arch = arch
        self.hardware = hardware
        self.software = software
    }
}

/// HEARTBEAT: "still here"; from an agent it may say which job it is on.
public struct HeartbeatBody: Codable, Equatable, Sendable {
    /// The job the agent is running, if any (agent -> coordinator only).
    public var jobID: String?

    enum CodingKeys: String, CodingKey { case jobID = "job_id" }

    /// Memberwise initializer.
    public init(jobID: String? = nil) { self.jobID = jobID }
}

/// JOB: one measurement for one agent.
public struct JobBody: Codable, Equatable, Sendable {
    /// Unique per job, chosen by the coordinator; echoed in RESULT/ERROR.
    public var jobID: String
    /// Device class the job targets; must match the agent's.
    public var deviceKey: String
    /// What to do.
    public var kind: JobKind
    /// What to do it with.
    public var payload: JobPayload

    enum CodingKeys: String, CodingKey { case jobID = "job_id", deviceKey = "device_key", kind, payload }

    /// Memberwise initializer.
    public init(jobID: String, deviceKey: String, kind: JobKind, payload: JobPayload) {
        self.jobID = jobID
        self.deviceKey = deviceKey
        self.kind = kind
        self.payload = payload
    }
}

/// The inputs of a JOB.
public struct JobPayload: Codable, Equatable, Sendable {
    /// Model name the agent knows, e.g. "lenet5-fashion".
    public var model: String
    /// Compression policy, opaque to the protocol (per-layer bits/ratios as the campaign defines them).
    public var policy: [String: JSONValue]
    /// Fine-tuning steps after compression (0: none).
    public var finetuneSteps: Int
    /// Data split accuracy is measured on, e.g. "validation" or "test".
    public var split: String
    /// Seed for everything random in the job, so a job can be repeated exactly.
    public var seed: Int
    /// Latency measurement: runs averaged per sample and samples taken (TVM's number/repeat).
    public var latency: LatencySettings?
    /// Deadlines.
    public var timeouts: JobTimeouts
    /// Executor-specific extras (e.g. the command line for "command"), opaque to the protocol.
    public var options: [String: JSONValue]?
    /// Seer's measurement settings, every one of them (fine-tuning, calibration, evaluation, latency), as the JSON
    /// object of `EvaluationSettings` (SeerMeasurement), which both ends encode and decode; opaque to the protocol.
    /// The fields above that it repeats (`finetune_steps`, `split`, `seed`, `latency`) must agree with it.
    public var settings: [String: JSONValue]?
    /// An `artifact` JOB's compressed network (revision 2).
    public var artifact: ArtifactReference?

    enum CodingKeys: String, CodingKey {
        case model, policy, finetuneSteps = "finetune_steps", split, seed, latency, timeouts, options, settings, artifact
    }

    /// Memberwise initializer.
    public init(model: String, policy: [String: JSONValue], finetuneSteps: Int = 0, split: String = "validation",
                seed: Int = 0, latency: LatencySettings? = nil,
                timeouts: JobTimeouts = JobTimeouts(), options: [String: JSONValue]? = nil,
                settings: [String: JSONValue]? = nil, artifact: ArtifactReference? = nil) {
        self.artifact = artifact
        self.model = model
        self.policy = policy
        self.finetuneSteps = finetuneSteps
        self.split = split
        self.seed = seed
        self.latency = latency
        self.timeouts = timeouts
        self.options = options
        self.settings = settings
    }
}

/// TVM-style latency sampling: each sample times `number` runs; `repeat` samples are taken.
public struct LatencySettings: Codable, Equatable, Sendable {
    /// Runs per sample (>= 1).
    public var number: Int
    /// Samples (>= 1).
    public var `repeat`: Int
    /// Untimed runs first (>= 0).
    public var warmup: Int?

    /// Memberwise initializer.
    public init(number: Int, repeat: Int, warmup: Int? = nil) {
        self.number = number
        self.repeat = `repeat`
        self.warmup = warmup
    }
}

/// A job's deadlines, in milliseconds.
public struct JobTimeouts: Codable, Equatable, Sendable {
    /// The whole job; past it the agent stops and sends ERROR "timeout".
    public var totalMs: Int
    /// Fine-tuning alone, if limited separately.
    public var finetuneMs: Int?
    /// Latency measurement alone, if limited separately.
    public var measureMs: Int?

    enum CodingKeys: String, CodingKey { case totalMs = "total_ms", finetuneMs = "finetune_ms", measureMs = "measure_ms" }

    /// Memberwise initializer.
    public init(totalMs: Int = SeerProtocol.defaultJobTimeoutMs, finetuneMs: Int? = nil, measureMs: Int? = nil) {
        self.totalMs = totalMs
        self.finetuneMs = finetuneMs
        self.measureMs = measureMs
    }
}

/// RESULT: the measurements of one finished job.
public struct ResultBody: Codable, Equatable, Sendable {
    /// The JOB's id.
    public var jobID: String
    /// The reporting agent.
    public var agentID: String
    /// The measurements.
    public var payload: ResultPayload

    enum CodingKeys: String, CodingKey { case jobID = "job_id", agentID = "agent_id", payload }

    /// Memberwise initializer.
    public init(jobID: String, agentID: String, payload: ResultPayload) {
        self.jobID = jobID
        self.agentID = agentID
        self.payload = payload
    }
}

/// What a job measured; a `profile` job has no accuracy, a `null` job may have nothing but timings.
public struct ResultPayload: Codable, Equatable, Sendable {
    /// Top-1 accuracy as a fraction in [0, 1].
    public var accuracy: Double?
    /// Inference latency statistics.
    public var latency: LatencyStats?
    /// Size and cost of the compressed model.
    public var complexity: Complexity?
    /// Wall-clock time per phase in milliseconds, e.g. ["finetune": 812.5, "total": 1204.0].
    public var timingsMs: [String: Double]
    /// Energy per inference, when the device can measure it.
    public var energy: Energy?
    /// A `profile` job asked for per-layer latencies (`options.layer_table`): the lookup table, opaque here
    /// (Seer's `LayerLatencyTable` JSON, see docs/LATENCY.md).
    public var layerTable: [String: JSONValue]?
    /// A `compress` job's compressed network (revision 2).
    public var artifact: ArtifactReference?

    enum CodingKeys: String, CodingKey {
        case accuracy, latency, complexity, timingsMs = "timings_ms", energy, layerTable = "layer_table", artifact
    }

    /// Memberwise initializer.
    public init(accuracy: Double? = nil, latency: LatencyStats? = nil, complexity: Complexity? = nil,
                timingsMs: [String: Double] = [:], energy: Energy? = nil, layerTable: [String: JSONValue]? = nil,
                artifact: ArtifactReference? = nil) {
        self.artifact = artifact
        self.accuracy = accuracy
        self.latency = latency
        self.complexity = complexity
        self.timingsMs = timingsMs
        self.energy = energy
        self.layerTable = layerTable
    }
}

/// Latency of one inference over `repeat` samples of `number` runs each, milliseconds.
public struct LatencyStats: Codable, Equatable, Sendable {
    /// Median over samples.
    public var medianMs: Double
    /// Mean over samples.
    public var meanMs: Double?
    /// Fastest sample.
    public var minMs: Double
    /// Slowest sample.
    public var maxMs: Double
    /// Standard deviation across samples.
    public var stdMs: Double?
    /// Runs per sample.
    public var number: Int
    /// Samples.
    public var `repeat`: Int

    enum CodingKeys: String, CodingKey {
        case medianMs = "median_ms", meanMs = "mean_ms", minMs = "min_ms", maxMs = "max_ms", stdMs = "std_ms"
        case number, `repeat`
    }

    /// Memberwise initializer.
    public init(medianMs: Double, meanMs: Double? = nil, minMs: Double, maxMs: Double, stdMs: Double? = nil,
                number: Int, repeat: Int) {
        self.medianMs = medianMs
        self.meanMs = meanMs
        self.minMs = minMs
        self.maxMs = maxMs
        self.stdMs = stdMs
        self.number = number
        self.repeat = `repeat`
    }
}

/// Cost of a compressed model.
public struct Complexity: Codable, Equatable, Sendable {
    /// Multiply-accumulates per inference.
    public var macs: Int
    /// Sum over MACs of weight bits x activation bits (quantized cost).
    public var bitops: Int
    /// Remaining (non-pruned) parameters.
    public var params: Int
    /// Serialized model size in bytes.
    public var sizeBytes: Int

    enum CodingKeys: String, CodingKey { case macs, bitops, params, sizeBytes = "size_bytes" }

    /// Memberwise initializer.
    public init(macs: Int, bitops: Int, params: Int, sizeBytes: Int) {
        self.macs = macs
        self.bitops = bitops
        self.params = params
        self.sizeBytes = sizeBytes
    }
}

/// Energy per inference.
public struct Energy: Codable, Equatable, Sendable {
    /// Joules per inference.
    public var joules: Double
    /// Average power while measuring, watts.
    public var averageWatts: Double?

    enum CodingKeys: String, CodingKey { case joules, averageWatts = "average_watts" }

    /// Memberwise initializer.
    public init(joules: Double, averageWatts: Double? = nil) {
        self.joules = joules
        self.averageWatts = averageWatts
    }
}

/// ERROR: a job failed, or a message was refused.
public struct ErrorBody: Codable, Equatable, Sendable {
    /// The job (or deploy) the error is about; absent for protocol errors not tied to one.
    public var jobID: String?
    /// What went wrong, machine-readable.
    public var code: ErrorCode
    /// What went wrong, for people.
    public var message: String

    enum CodingKeys: String, CodingKey { case jobID = "job_id", code, message }

    /// Memberwise initializer.
    public init(jobID: String? = nil, code: ErrorCode, message: String) {
        self.jobID = jobID
        self.code = code
        self.message = message
    }
}

/// DISCONNECT: the sender is leaving (agent shutting down, coordinator refusing or stopping).
public struct DisconnectBody: Codable, Equatable, Sendable {
    /// Why.
    public var reason: String

    /// Memberwise initializer.
    public init(reason: String) { self.reason = reason }
}

/// PROFILE: the device switched power profile or its battery changed notably; may trigger a redeploy.
public struct ProfileBody: Codable, Equatable, Sendable {
    /// The reporting agent.
    public var agentID: String
    /// Its device class.
    public var deviceKey: String
    /// Profile name, e.g. "performance", "balanced", "powersave".
    public var profile: String
    /// Battery charge, percent in [0, 100].
    public var capacityPercent: Double
    /// Charging state.
    public var status: BatteryStatus

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id", deviceKey = "device_key", profile, capacityPercent = "capacity_percent", status
    }

    /// Memberwise initializer.
    public init(agentID: String, deviceKey: String, profile: String, capacityPercent: Double, status: BatteryStatus) {
        self.agentID = agentID
        self.deviceKey = deviceKey
        self.profile = profile
        self.capacityPercent = capacityPercent
        self.status = status
    }
}

/// DEPLOY: install the model compressed with `policy` for `profile`.
public struct DeployBody: Codable, Equatable, Sendable {
    /// Unique per deployment; echoed in DEPLOYED.
    public var deployID: String
    /// Device class the model is built for; must match the agent's.
    public var deviceKey: String
    /// The power profile this deployment is for.
    public var profile: String
    /// Model name the agent knows.
    public var model: String
    /// Compression policy, opaque to the protocol.
    public var policy: [String: JSONValue]
    /// Where the weights are and how to check them.
    public var weights: WeightsReference
    /// The weights themselves when sent in the message (4th frame) rather than by `weights.uri`; not in the JSON.
    public var inlineWeights: [UInt8]?
    /// The quick check the agent runs before swapping the model in; nil: the agent's default batch, no floor.
    public var validation: DeployValidation?
    /// Present when the weights are the uncompressed base checkpoint: compress with `policy` and fine-tune briefly.
    public var finetune: DeployFinetune?

    enum CodingKeys: String, CodingKey {
        case deployID = "deploy_id", deviceKey = "device_key", profile, model, policy, weights, validation, finetune
    }

    /// Memberwise initializer.
    public init(deployID: String, deviceKey: String, profile: String, model: String, policy: [String: JSONValue],
                weights: WeightsReference, inlineWeights: [UInt8]? = nil, validation: DeployValidation? = nil,
                finetune: DeployFinetune? = nil) {
        self.deployID = deployID
        self.deviceKey = deviceKey
        self.profile = profile
        self.model = model
        self.policy = policy
        self.weights = weights
        self.inlineWeights = inlineWeights
        self.validation = validation
        self.finetune = finetune
    }
}

/// DEPLOY's quick validation batch: the agent refuses a model below `minAccuracy` on it.
public struct DeployValidation: Codable, Equatable, Sendable {
    /// Images of the validation split to evaluate.
    public var images: Int
    /// Lowest acceptable top-1 accuracy as a fraction; nil: report the accuracy, refuse nothing.
    public var minAccuracy: Double?
    /// Revision 3: the SHA-256 of the data to validate (and fine-tune) on; an agent with other data refuses the DEPLOY.
    public var datasetSHA256: String?
    /// Revision 3: the campaign's input normalization, as in JOB `payload.settings.normalization`.
    public var normalization: DataNormalization?
    /// Revision 3: training images held out as the validation split, as in JOB `payload.settings.validation_count`.
    public var validationCount: Int?

    enum CodingKeys: String, CodingKey {
        case images, minAccuracy = "min_accuracy", datasetSHA256 = "dataset_sha256", normalization
        case validationCount = "validation_count"
    }

    /// Memberwise initializer.
    public init(images: Int, minAccuracy: Double? = nil, datasetSHA256: String? = nil, normalization: DataNormalization? = nil,
                validationCount: Int? = nil) {
        self.images = images
        self.minAccuracy = minAccuracy
        self.datasetSHA256 = datasetSHA256
        self.normalization = normalization
        self.validationCount = validationCount
    }
}

/// Per-channel input normalization on the wire, (x - mean[c]) / std[c]: one value for every channel or one per channel.
public struct DataNormalization: Codable, Equatable, Sendable {
    public var mean: [Double]
    public var std: [Double]

    /// Memberwise initializer.
    public init(mean: [Double], std: [Double]) {
        self.mean = mean
        self.std = std
    }
}

/// DEPLOY of a policy with no prepared model: the agent compresses the base weights and fine-tunes them briefly.
public struct DeployFinetune: Codable, Equatable, Sendable {
    /// SGD steps.
    public var steps: Int
    /// Seed of calibration, fine-tuning and shuffling.
    public var seed: Int
    /// Extras for the agent's fine-tuning (`batch_size`, `learning_rate`, `calibration_images`), opaque.
    public var options: [String: JSONValue]?

    /// Memberwise initializer.
    public init(steps: Int, seed: Int, options: [String: JSONValue]? = nil) {
        self.steps = steps
        self.seed = seed
        self.options = options
    }
}

/// Identifies a weights blob: by URI, or inline in the DEPLOY message when `uri` is absent.
public struct WeightsReference: Codable, Equatable, Sendable {
    /// Where to fetch the weights (e.g. "file:///models/x.bin", "https://..."); nil: they are the DEPLOY's 4th frame.
    public var uri: String?
    /// SHA-256 of the blob, 64 lowercase hex digits; the agent must verify it before installing.
    public var sha256: String
    /// Blob size in bytes.
    public var sizeBytes: Int
    /// What the blob is (revision 2): `onnx-qdq/1` for an artifact (runtime agents); absent or
    /// `seer-compressed/1`: Seer's compressed-model file (builtin agents).
    public var format: String?

    enum CodingKeys: String, CodingKey { case uri, sha256, sizeBytes = "size_bytes", format }

    /// Seer's compressed-model file (docs/COMPRESSION.md), the format when `format` is absent.
    public static let compressedModelFormat = "seer-compressed/1"

    /// Memberwise initializer.
    public init(uri: String? = nil, sha256: String, sizeBytes: Int, format: String? = nil) {
        self.uri = uri
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.format = format
    }

    /// The blob's format, with absent read as Seer's compressed-model file.
    public var effectiveFormat: String { format ?? Self.compressedModelFormat }
}

/// DEPLOYED: how a DEPLOY went.
public struct DeployedBody: Codable, Equatable, Sendable {
    /// The DEPLOY's id.
    public var deployID: String
    /// The reporting agent.
    public var agentID: String
    /// Installed or not.
    public var status: DeployStatus
    /// Wall-clock time per phase in milliseconds, e.g. ["fetch": 120, "verify": 8, "load": 40].
    public var timingsMs: [String: Double]
    /// Required when `status` is failed.
    public var code: ErrorCode?
    /// Details for people.
    public var message: String?

    enum CodingKeys: String, CodingKey {
        case deployID = "deploy_id", agentID = "agent_id", status, timingsMs = "timings_ms", code, message
    }

    /// Memberwise initializer.
    public init(deployID: String, agentID: String, status: DeployStatus, timingsMs: [String: Double] = [:],
                code: ErrorCode? = nil, message: String? = nil) {
        self.deployID = deployID
        self.agentID = agentID
        self.status = status
        self.timingsMs = timingsMs
        self.code = code
        self.message = message
    }
}
