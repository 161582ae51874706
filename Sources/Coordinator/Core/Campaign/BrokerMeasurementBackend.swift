import Foundation
import SeerCompression
import SeerMeasurement
import SeerWire

/// Measures through the broker: one `measure` job per request, under the request's stable id.
public final class BrokerMeasurementBackend: MeasurementBackend {
    let broker: Broker
    /// How long to wait in one call before reporting progress again.
    let pollInterval: TimeInterval = 1
    /// Asked between waits: a campaign stopped or a coordinator shutting down ends the wait. A stop withdraws the jobs
    /// still queued; a shutdown leaves them queued on disk for the next coordinator.
    let interruption: () -> CampaignInterruption?

    /// Whose jobs these are (a campaign's name), so that campaigns sharing a device key take turns on it.
    let owner: String?

    public init(broker: Broker, owner: String? = nil, interruption: @escaping () -> CampaignInterruption? = { nil }) {
        self.broker = broker
        self.owner = owner
        self.interruption = interruption
    }

    /// Throws `reason` if the campaign is interrupted, withdrawing `waiting` from the queue when it is stopped; then
    /// the broker's own failure, or that it was stopped, since nothing more will finish.
    func checkInterruption(waiting: Set<JobID>) throws {
        if let reason = interruption() {
            if case .stopped = reason { broker.cancel(waiting.sorted(), reason: "\(reason)") }
            throw reason
        }
        if let failure = broker.failure { throw failure }
        if broker.isStopped { throw BrokerError.stopped }
    }

    /// `broker.submit`, an interruption taking precedence over the stopped broker it explains.
    func submit(_ jobs: [JobRequest]) throws -> [JobID] {
        do {
            return try broker.submit(jobs)
        } catch {
            if let reason = interruption() { throw reason }
            throw error
        }
    }

    public func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        let jobs = try requests.map { r in
            // A row asked for again is unfinished: a failed job of its id is from a failed campaign being resumed.
            JobRequest(deviceKey: r.deviceKey, kind: .measure, payload: try Self.payload(for: r), id: r.id, rerunIfFailed: true,
                       owner: owner)
        }
        var remaining = Set(try submit(jobs))
        while !remaining.isEmpty {
            // Short waits: each finished job is recorded as soon as it is seen, not when the whole batch is done.
            let found = broker.waitForCompletion(jobIDs: Array(remaining), timeout: pollInterval)
            for (id, outcome) in found.sorted(by: { $0.key < $1.key }) where remaining.contains(id) {
                remaining.remove(id)
                try record(id, Self.convert(outcome))
            }
            // A broker that stopped (its store refused a write, or the coordinator is stopping) finishes nothing more.
            if !remaining.isEmpty { try checkInterruption(waiting: remaining) }
        }
    }

    /// Runs a `profile` job with `options.layer_table` on an agent of `deviceKey`; the agent times the layers.
    public func profileLayers(id: String, deviceKey: String, model: String) throws -> LayerLatencyTable {
        try profileLayers(id: id, deviceKey: deviceKey, model: model, layerTable: [:])
    }

    /// `profileLayers` with `layerTable` as the job's `options.layer_table` (a runtime agent's kernel descriptions).
    func profileLayers(id: String, deviceKey: String, model: String,
                       layerTable: [String: JSONValue]) throws -> LayerLatencyTable {
        let payload = JobPayload(model: model, policy: [:], timeouts: JobTimeouts(totalMs: 30 * 60 * 1000),
                                 options: ["layer_table": .object(layerTable)])
        let jobID = try submit([JobRequest(deviceKey: deviceKey, kind: .profile, payload: payload, id: id, owner: owner)])[0]
        var outcome: JobOutcome?
        while outcome == nil {
            outcome = broker.waitForCompletion(jobIDs: [jobID], timeout: pollInterval)[jobID]
            if outcome == nil { try checkInterruption(waiting: [jobID]) }
        }
        switch outcome! {
        case let .done(result, agentID, _):
            guard let object = result.layerTable else {
                throw CampaignError.failed("agent \(agentID) answered the latency-table job \(jobID) without a table")
            }
            do {
                return try JSONDecoder().decode(PackedLayerLatencyTable.self, from: try JSONEncoder().encode(object)).unpacked()
            } catch {
                throw CampaignError.failed("agent \(agentID) sent an invalid latency table: \(error)")
            }
        case let .failed(code, message, _):
            throw CampaignError.failed("latency-table job \(jobID) on \(deviceKey) failed (\(code.rawValue)): \(message)")
        }
    }

    /// The JOB payload of a request: the policy and the measurement settings travel as their JSON objects.
    ///
    /// `settings` is the whole `EvaluationSettings`, encoded by its own Codable conformance, which the agent decodes
    /// with the same type (`EvaluationSettings.fromJobJSON`): a field added to it travels without anyone listing it
    /// here. The protocol's own fields repeat what they can for agents that are not Seer's.
    static func payload(for r: MeasureRequest) throws -> JobPayload {
        let policy = try JSONDecoder().decode([String: JSONValue].self, from: try r.policy.jsonData())
        let s = r.settings
        let settings = try JSONDecoder().decode([String: JSONValue].self, from: try s.jobJSON())
        return JobPayload(model: r.model, policy: policy, finetuneSteps: s.finetuneSteps, split: s.split.rawValue,
                          seed: Int(s.seed),
                          latency: SeerWire.LatencySettings(number: s.latency.number, repeat: s.latency.repeats),
                          settings: settings)
    }

    static func convert(_ outcome: JobOutcome) -> MeasureOutcome {
        switch outcome {
        case let .done(result, agentID, _):
            guard let accuracy = result.accuracy else { return .failed("the agent's result has no accuracy") }
            return .done(MeasuredValues(accuracy: accuracy * 100, latencyMs: result.latency?.medianMs,
                                        energyJ: result.energy?.joules, macs: result.complexity?.macs,
                                        bitops: result.complexity?.bitops, params: result.complexity?.params,
                                        sizeBytes: result.complexity?.sizeBytes, timingsMs: result.timingsMs, agentID: agentID))
        case let .failed(code, message, attempts):
            return .failed("\(code.rawValue) after \(attempts) attempt(s): \(message)")
        }
    }
}
