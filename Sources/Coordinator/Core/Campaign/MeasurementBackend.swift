import Foundation
import SeerCompression
import SeerData
import SeerMeasurement
import SeerModels

/// One policy to measure on one device key.
public struct MeasureRequest: Sendable {
    /// Stable id: resubmitting it after a restart never measures twice.
    public var id: String
    public var deviceKey: String
    public var model: String
    public var policy: Policy
    public var settings: EvaluationSettings
}

/// What a measurement gave.
public struct MeasuredValues: Sendable, Equatable {
    /// Top-1 accuracy in percent.
    public var accuracy: Double
    public var latencyMs: Double?
    public var energyJ: Double?
    public var macs: Int?
    public var bitops: Int?
    public var params: Int?
    public var sizeBytes: Int?
    public var timingsMs: [String: Double]
    public var agentID: String?

    public init(accuracy: Double, latencyMs: Double? = nil, energyJ: Double? = nil, macs: Int? = nil, bitops: Int? = nil,
                params: Int? = nil, sizeBytes: Int? = nil, timingsMs: [String: Double] = [:], agentID: String? = nil) {
        self.accuracy = accuracy
        self.latencyMs = latencyMs
        self.energyJ = energyJ
        self.macs = macs
        self.bitops = bitops
        self.params = params
        self.sizeBytes = sizeBytes
        self.timingsMs = timingsMs
        self.agentID = agentID
    }
}

public enum MeasureOutcome: Sendable, Equatable {
    case done(MeasuredValues)
    case failed(String)
}

/// Where a campaign's measurements run: the agents through the broker, or this process (tests, benchmarks).
public protocol MeasurementBackend: AnyObject {
    /// Measures every request (idempotent by id), handing each outcome to `record` as soon as it arrives, so that
    /// nothing finished is lost if the caller is interrupted before the rest.
    func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws
    /// The per-layer latency table of `model` on a device of `deviceKey` (a `profile` job with `layer_table`).
    func profileLayers(id: String, deviceKey: String, model: String) throws -> LayerLatencyTable
}

extension MeasurementBackend {
    /// Profiles on this host with the engine: what a local campaign (tests, benchmarks) measures latency on.
    public func profileLayers(id: String, deviceKey: String, model: String) throws -> LayerLatencyTable {
        try LayerProfiler.profile(model: try ModelStore.load(model), executor: "builtin")
    }
}

/// Measures in this process with the engine, one policy after another.
public final class LocalMeasurementBackend: MeasurementBackend {
    let data: Dataset
    private var bases: [String: Model] = [:]
    private var finished: [String: MeasureOutcome] = [:]

    public init(data: Dataset, bases: [Model] = []) {
        self.data = data
        for b in bases { self.bases[b.name] = b }
    }

    public func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        for r in requests {
            if let known = finished[r.id] {
                try record(r.id, known)
            } else {
                let outcome: MeasureOutcome
                do {
                    let base = try bases[r.model] ?? ModelStore.load(r.model)
                    bases[r.model] = base
                    let result = try PolicyEvaluation.run(base: base, policy: try r.policy.resolve(for: base), data: data,
                                                          settings: r.settings)
                    outcome = .done(MeasuredValues(
                        accuracy: result.accuracy, latencyMs: result.latencyMs, energyJ: nil, macs: result.macs,
                        bitops: result.bitops, params: result.params, sizeBytes: result.sizeBytes,
                        timingsMs: ["total": result.seconds * 1000, "finetune": result.timings.finetune * 1000],
                        agentID: "local"))
                } catch {
                    outcome = .failed("\(error)")
                }
                finished[r.id] = outcome
                try record(r.id, outcome)
            }
        }
    }
}
