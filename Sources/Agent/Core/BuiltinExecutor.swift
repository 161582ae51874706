import Foundation
import SeerCompression
import SeerData
import SeerMeasurement
import SeerModels
import SeerTensor
import SeerWire

/// Measures policies with the engine on this host: real accuracy after fine-tuning, real latency.
///
/// Its settings come from `payload.settings` (`EvaluationSettings`, decoded strictly, as Seer's coordinator sends
/// them); without it, from the protocol's fields and the options `evaluation_limit` (images of the split),
/// `batch_size`, `calibration_images`, `learning_rate`, `min_repeat_ms`.
public final class BuiltinExecutor: Executor {
    public let kind: ExecutorKind
    public var capabilities: [String] {
        // `compress` exports what the engine trained; a simulator's latency is not for that artifact's device.
        [JobKind.measure.rawValue, JobKind.profile.rawValue, JobKind.null.rawValue] + (costModel == nil ? [JobKind.compress.rawValue] : [])
    }
    let options: [String: String]
    /// Loaded on first use, per model input shape (image folders are resized to it).
    private var data: [[Int]: Dataset] = [:]
    private var bases: [String: Model] = [:]
    /// Called after the engine's measurement, to replace latency and add energy (the simulated accelerators).
    let costModel: AcceleratorModel?

    /// `--executor-option data=PATH` (and `data-mean`, `data-std`, `data-layout`: `DataSpec.agentOptions`) chooses the data.
    public init(settings: ExecutorSettings, kind: ExecutorKind = .builtin, costModel: AcceleratorModel? = nil) {
        self.kind = kind
        self.costModel = costModel
        options = settings.options
        if let t = settings.options["threads"], let n = Int(t), n >= 1 { Threads.set(n) } else { Threads.set(1) }
    }

    public func run(_ job: JobBody, cancel: CancellationFlag?) throws(ExecutorError) -> ResultPayload {
        if job.kind == .null { return ResultPayload() }
        if job.kind == .profile { return try profile(job.payload) }
        guard job.kind == .measure || (job.kind == .compress && costModel == nil) else { throw .unsupported("the builtin executor measures; it cannot run \(job.kind.rawValue) jobs") }
        let payload = job.payload
        let base: Model, policy: ResolvedPolicy, settings: EvaluationSettings
        do {
            base = try model(payload.model)
            let policyData = try JSONEncoder().encode(payload.policy)
            policy = try Policy.decode(json: policyData).resolve(for: base)
            settings = try Self.settings(from: payload)
        } catch {
            throw .badPolicy("\(error)")
        }
        do {
            let dataset = try loadData(for: base)
            if job.kind == .compress { return try CompressJob.run(base: base, policy: policy, settings: settings, data: dataset) }
            // No cancellation check: a job the agent gave up on finishes and its result is ignored (PROTOCOL.md).
            let result = try PolicyEvaluation.run(base: base, policy: policy, data: dataset, settings: settings)
            var payloadOut = ResultPayload(
                accuracy: result.accuracy / 100,
                latency: LatencyStats(medianMs: result.latency.medianMs, meanMs: result.latency.meanMs,
                                      minMs: result.latency.minMs, maxMs: result.latency.maxMs, stdMs: result.latency.stdMs,
                                      number: result.latency.number, repeat: result.latency.repeats),
                complexity: SeerWire.Complexity(macs: result.macs, bitops: result.bitops, params: result.params,
                                                sizeBytes: result.sizeBytes),
                timingsMs: ["compression": result.timings.compression * 1000, "calibration": result.timings.calibration * 1000,
                            "finetune": result.timings.finetune * 1000, "evaluation": result.timings.evaluation * 1000,
                            "latency": result.timings.latency * 1000, "total": result.seconds * 1000])
            if let costModel {
                let report = try SeerCompression.Complexity.compute(model: base, policy: policy)
                let estimate = costModel.estimate(report, batch: settings.latency.batch)
                payloadOut.latency = LatencyStats(medianMs: estimate.latencyMs, meanMs: estimate.latencyMs,
                                                  minMs: estimate.latencyMs, maxMs: estimate.latencyMs, stdMs: 0,
                                                  number: 1, repeat: 1)
                payloadOut.energy = Energy(joules: estimate.energyMJ / 1000)
            }
            return payloadOut
        } catch let error as ExecutorError {
            throw error
        } catch {
            throw .runtimeError("\(error)")
        }
    }

    /// A `profile` job: with `options.layer_table` the per-layer latency table of the model on this executor
    /// (`keeps`, optional, the kept-fraction grid); without, the policy's latency and complexity, no fine-tuning.
    private func profile(_ payload: JobPayload) throws(ExecutorError) -> ResultPayload {
        let start = Date()
        let base: Model
        do { base = try model(payload.model) } catch { throw .badPolicy("\(error)") }
        if case .object(let request)? = payload.options?["layer_table"] {
            var settings = LayerProfilerSettings()
            if case .array(let keeps)? = request["keeps"] {
                settings.keeps = keeps.compactMap { if case .number(let k) = $0 { return k } else { return nil } }
                guard settings.keeps.count == keeps.count else { throw .badPolicy("options.layer_table.keeps must hold numbers") }
            }
            do {
                try settings.validate()
            } catch {
                throw .badPolicy("options.layer_table: \(error)")
            }
            do {
                let table = try LayerProfiler.profile(model: base, executor: kind.rawValue, settings: settings)
                // Packed: an accelerator's table as plain JSON entries would overrun the 1 MiB RESULT limit.
                let object = try JSONDecoder().decode([String: JSONValue].self,
                                                      from: try JSONEncoder().encode(try PackedLayerLatencyTable(table)))
                return ResultPayload(timingsMs: ["total": Date().timeIntervalSince(start) * 1000], layerTable: object)
            } catch {
                throw .runtimeError("profiling failed: \(error)")
            }
        }
        let policy: ResolvedPolicy, settings: EvaluationSettings
        do {
            policy = try Policy.decode(json: try JSONEncoder().encode(payload.policy)).resolve(for: base)
            settings = try Self.settings(from: payload)
        } catch {
            throw .badPolicy("\(error)")
        }
        do {
            let report = try SeerCompression.Complexity.compute(model: base, policy: policy)
            let latency: LatencyStats
            if let costModel {
                let ms = costModel.estimate(report, batch: settings.latency.batch).latencyMs
                latency = LatencyStats(medianMs: ms, meanMs: ms, minMs: ms, maxMs: ms, stdMs: 0, number: 1, repeat: 1)
            } else {
                let l = try LayerProfiler.endToEndLatency(model: base, policy: policy, timing: settings.latency)
                latency = LatencyStats(medianMs: l.medianMs, meanMs: l.meanMs, minMs: l.minMs, maxMs: l.maxMs, stdMs: l.stdMs,
                                       number: l.number, repeat: l.repeats)
            }
            return ResultPayload(latency: latency,
                                 complexity: SeerWire.Complexity(macs: report.macs, bitops: report.bitops, params: report.params,
                                                                 sizeBytes: report.sizeBytes),
                                 timingsMs: ["total": Date().timeIntervalSince(start) * 1000])
        } catch {
            throw .runtimeError("\(error)")
        }
    }

    private func loadData(for model: Model) throws -> Dataset {
        if let known = data[model.inputShape] { return known }
        let loaded = try DataSpec.agentOptions(options).load(imageShape: model.inputShape)
        data[model.inputShape] = loaded
        return loaded
    }

    private func model(_ name: String) throws -> Model {
        if let m = bases[name] { return m }
        let m = try ModelStore.load(name)
        bases[name] = m
        return m
    }

    /// The options a job without `payload.settings` may carry instead (older senders, hand-written jobs).
    static let settingsOptions = ["evaluation_limit", "batch_size", "calibration_images", "learning_rate", "min_repeat_ms"]

    static func settings(from payload: JobPayload) throws -> EvaluationSettings {
        if let object = payload.settings { return try settings(object, agreeingWith: payload) }
        var s = EvaluationSettings()
        s.finetuneSteps = payload.finetuneSteps
        guard let split = Split(rawValue: payload.split), split != .train else {
            throw MeasurementError.invalidSettings("split must be validation or test, got '\(payload.split)'")
        }
        s.split = split
        s.seed = UInt64(truncatingIfNeeded: payload.seed)
        if let l = payload.latency {
            s.latency.number = l.number
            s.latency.repeats = l.repeat
        }
        let options = payload.options ?? [:]
        func int(_ key: String) -> Int? { if case .number(let v)? = options[key] { return Int(v) } else { return nil } }
        func double(_ key: String) -> Double? { if case .number(let v)? = options[key] { return v } else { return nil } }
        if let v = int("evaluation_limit") { s.evaluationLimit = v }
        if let v = int("batch_size") { s.batchSize = v }
        if let v = int("calibration_images") { s.calibrationImages = v }
        if let v = double("learning_rate") { s.learningRate = Float(v) }
        if let v = double("min_repeat_ms") { s.latency.minRepeatMs = v }
        try s.validate()
        return s
    }

    /// `payload.settings`, decoded strictly with the type the coordinator encoded it with; the protocol fields that
    /// repeat a setting must say the same, and the options that predate it must be absent: one source of truth.
    static func settings(_ object: [String: JSONValue], agreeingWith payload: JobPayload) throws -> EvaluationSettings {
        let s = try EvaluationSettings.fromJobJSON(try JSONEncoder().encode(object))
        guard s.split != .train else {
            throw MeasurementError.invalidSettings("payload.settings.split must be validation or test, got 'train'")
        }
        func disagree(_ field: String, _ wire: Any, _ setting: Any) -> MeasurementError {
            .invalidSettings("payload.\(field) is \(wire) but payload.settings says \(setting)")
        }
        guard payload.finetuneSteps == s.finetuneSteps else { throw disagree("finetune_steps", payload.finetuneSteps, s.finetuneSteps) }
        guard payload.split == s.split.rawValue else { throw disagree("split", "'\(payload.split)'", "'\(s.split.rawValue)'") }
        guard payload.seed >= 0, UInt64(payload.seed) == s.seed else { throw disagree("seed", payload.seed, s.seed) }
        if let latency = payload.latency {
            guard latency.number == s.latency.number else { throw disagree("latency.number", latency.number, s.latency.number) }
            guard latency.repeat == s.latency.repeats else { throw disagree("latency.repeat", latency.repeat, s.latency.repeats) }
        }
        if let legacy = settingsOptions.first(where: { payload.options?[$0] != nil }) {
            throw MeasurementError.invalidSettings("payload.options.\(legacy) is not read when payload.settings is given; "
                                                   + "put it in payload.settings")
        }
        return s
    }
}
