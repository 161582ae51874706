import Foundation
import GRDB
import SeerCompression
import SeerData
import SeerMeasurement
import SeerModels
import SeerWire

/// Measures policies on runtime device keys in two parts (revision 2 of the protocol, PROTOCOL.md "Artifacts").
///
/// Accuracy is a property of the compressed network, latency one of the device. So for a request on a runtime key a
/// `compress` job on the training key (Seer's engine) compresses, fine-tunes and validates the policy and returns the
/// network as an `onnx-qdq/1` artifact with the engine's accuracy; then an `artifact` job on the runtime key times the
/// artifact there and evaluates it on the same images as a check of the runtime's numerics. The campaign records the
/// engine's accuracy and the device's latency; both accuracies, the artifact and its SHA-256 go to `ArtifactStore`.
///
/// Requests on other keys, and latency tables of other keys, go to the wrapped backend unchanged. A runtime key's
/// latency table comes from a `profile` job that describes each kernel (`RuntimeKernelSpec`), since a runtime agent
/// has no Seer model zoo. Job ids derive from the request's (`<id>:compress`, `<id>:device`), so a resumed campaign
/// finds both halves in the store and measures nothing twice.
public final class ArtifactMeasurementBackend: MeasurementBackend {
    let inner: BrokerMeasurementBackend
    let runtimeDevices: Set<String>
    let trainingDevice: String
    let store: SeerStore
    let pollInterval: TimeInterval = 1

    var broker: Broker { inner.broker }

    public init(wrapping inner: BrokerMeasurementBackend, runtimeDevices: [String], trainingDevice: String, store: SeerStore) {
        self.inner = inner
        self.runtimeDevices = Set(runtimeDevices)
        self.trainingDevice = trainingDevice
        self.store = store
    }

    /// The backend a campaign measures with: `backend` itself unless the config names runtime devices, which need
    /// agents (a local backend has none to send artifacts to).
    public static func wrapping(_ backend: MeasurementBackend, config: CampaignConfig, store: SeerStore) throws -> MeasurementBackend {
        guard !config.runtimeDevices.isEmpty else { return backend }
        guard let broker = backend as? BrokerMeasurementBackend, let training = config.trainingDevice else {
            throw CampaignError.config("runtime_devices \(config.runtimeDevices) need agents: run the campaign through the "
                                       + "broker (not --local) with a training_device")
        }
        return ArtifactMeasurementBackend(wrapping: broker, runtimeDevices: config.runtimeDevices, trainingDevice: training,
                                          store: store)
    }

    public func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        let onRuntime = requests.filter { runtimeDevices.contains($0.deviceKey) }
        let others = requests.filter { !runtimeDevices.contains($0.deviceKey) }
        // Training jobs first, so the training agents work while the other keys' requests run.
        var pending: [String: MeasureRequest] = [:]
        var training: [String: String] = [:]  // compress job id -> request id
        if !onRuntime.isEmpty {
            let jobs = try onRuntime.map { r in
                JobRequest(deviceKey: trainingDevice, kind: .compress, payload: try BrokerMeasurementBackend.payload(for: r),
                           id: Self.compressJobID(r.id), rerunIfFailed: true, owner: inner.owner)
            }
            for (r, id) in zip(onRuntime, try inner.submit(jobs)) {
                pending[r.id] = r
                training[id] = r.id
            }
        }
        if !others.isEmpty { try inner.measure(others, record: record) }
        var timing: [String: (request: MeasureRequest, engine: ResultPayload, trainer: String)] = [:]  // device job id ->
        while !training.isEmpty || !timing.isEmpty {
            let found = broker.waitForCompletion(jobIDs: Array(training.keys) + Array(timing.keys), timeout: pollInterval)
            for (jobID, outcome) in found.sorted(by: { $0.key < $1.key }) {
                if let requestID = training.removeValue(forKey: jobID) {
                    let request = pending[requestID]!
                    switch outcome {
                    case let .done(result, agentID, _):
                        do {
                            let deviceJob = try artifactJob(for: request, engine: result, trainer: agentID)
                            let id = try inner.submit([deviceJob])[0]
                            timing[id] = (request, result, agentID)
                        } catch let error as CampaignError {
                            try record(requestID, .failed(error.message))
                        }
                    case let .failed(code, message, attempts):
                        try record(requestID, .failed("training (compress) on \(trainingDevice): \(code.rawValue) after "
                                                      + "\(attempts) attempt(s): \(message)"))
                    }
                } else if let entry = timing.removeValue(forKey: jobID) {
                    try record(entry.request.id, try combine(entry.request, engine: entry.engine, trainer: entry.trainer,
                                                             device: outcome))
                }
            }
            if !(training.isEmpty && timing.isEmpty) { try inner.checkInterruption(waiting: Set(training.keys).union(timing.keys)) }
        }
    }

    public func profileLayers(id: String, deviceKey: String, model: String) throws -> LayerLatencyTable {
        guard runtimeDevices.contains(deviceKey) else { return try inner.profileLayers(id: id, deviceKey: deviceKey, model: model) }
        let keeps = LayerProfilerSettings().keeps
        let kernels = try RuntimeKernelSpec.all(model: try ModelStore.load(model), keeps: keeps)
        let request: [String: JSONValue] = ["keeps": .array(keeps.map { .number($0) }),
                                            "kernels": try JSONValue.decoded(from: kernels)]
        return try inner.profileLayers(id: id, deviceKey: deviceKey, model: model, layerTable: request)
    }

    // MARK: the two halves

    static func compressJobID(_ requestID: String) -> String { "\(requestID):compress" }
    static func deviceJobID(_ requestID: String) -> String { "\(requestID):device" }

    /// The `artifact` JOB of `request` for the artifact the training agent returned; saves the artifact.
    func artifactJob(for request: MeasureRequest, engine: ResultPayload, trainer: String) throws -> JobRequest {
        guard let artifact = engine.artifact else {
            throw CampaignError.failed("training agent \(trainer) answered compress job \(Self.compressJobID(request.id)) "
                                       + "without an artifact")
        }
        let bytes: Data
        do {
            guard let inline = try artifact.inlineBytes(in: .result) else { throw CampaignError.failed("no inline data") }
            bytes = inline
        } catch {
            throw CampaignError.failed("artifact of \(Self.compressJobID(request.id)) from \(trainer): \(error)")
        }
        let digest = SHA256.hex(SHA256.hash([UInt8](bytes)))
        guard digest == artifact.sha256 else {
            throw CampaignError.failed("artifact of \(Self.compressJobID(request.id)) from \(trainer) has SHA-256 \(digest), "
                                       + "not the \(artifact.sha256) it is named by")
        }
        try ArtifactStore.save(ArtifactRecord(sha256: digest, format: artifact.format, sizeBytes: bytes.count, model: request.model,
                                              policy: String(decoding: try request.policy.jsonData(), as: UTF8.self),
                                              data: bytes, createdAt: Date()), in: store)
        var payload = try BrokerMeasurementBackend.payload(for: request)
        payload.artifact = artifact
        return JobRequest(deviceKey: request.deviceKey, kind: .artifact, payload: payload, id: Self.deviceJobID(request.id),
                          rerunIfFailed: true, owner: inner.owner)
    }

    /// One measurement from both halves: the engine's accuracy and complexity, the device's latency (and energy).
    func combine(_ request: MeasureRequest, engine: ResultPayload, trainer: String, device: JobOutcome) throws -> MeasureOutcome {
        switch device {
        case let .failed(code, message, attempts):
            return .failed("artifact on \(request.deviceKey): \(code.rawValue) after \(attempts) attempt(s): \(message)")
        case let .done(result, agentID, _):
            guard let engineAccuracy = engine.accuracy else { return .failed("training agent \(trainer) reported no accuracy") }
            guard let latency = result.latency else { return .failed("runtime agent \(agentID) reported no latency") }
            try ArtifactStore.save(ArtifactMeasurementRecord(
                jobID: request.id, deviceKey: request.deviceKey, sha256: engine.artifact!.sha256, trainingAgent: trainer,
                runtimeAgent: agentID, engineAccuracy: engineAccuracy * 100, deviceAccuracy: result.accuracy.map { $0 * 100 },
                latencyMs: latency.medianMs, createdAt: Date()), in: store)
            var timings = engine.timingsMs.mapKeys { "train.\($0)" }
            timings.merge(result.timingsMs.mapKeys { "device.\($0)" }) { a, _ in a }
            return .done(MeasuredValues(accuracy: engineAccuracy * 100, latencyMs: latency.medianMs,
                                        energyJ: result.energy?.joules, macs: engine.complexity?.macs,
                                        bitops: engine.complexity?.bitops, params: engine.complexity?.params,
                                        sizeBytes: engine.complexity?.sizeBytes, timingsMs: timings, agentID: agentID))
        }
    }
}

extension Dictionary where Key == String {
    fileprivate func mapKeys(_ transform: (String) -> String) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: map { (transform($0.key), $0.value) })
    }
}

extension JSONValue {
    /// `value` as JSON, through its Codable conformance.
    static func decoded<T: Encodable>(from value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(value))
    }
}
