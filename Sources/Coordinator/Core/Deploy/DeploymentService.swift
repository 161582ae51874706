import Foundation
import SeerWire

/// Redeploys models as devices change power profile: turns PROFILE messages and `redeploy` requests (rows the CLI
/// writes into the store) into DEPLOYs, and records every deployment with its outcome and timings.
///
/// Runs on one thread (the caller of `run`/`poll`); the broker's poll loop stays the only owner of the socket.
public final class DeploymentService {
    let broker: Broker
    let store: SeerStore
    let planner: DeploymentPlanner
    let log: @Sendable (String) -> Void
    /// Deployments sent and not yet finished, by deploy id.
    private var inFlight: [String: DeploymentRecord] = [:]
    private let clock = ContinuousClock()
    private var started: [String: ContinuousClock.Instant] = [:]
    /// Agents whose battery profile had no model to deploy yet (no campaign for their key, or none with a predictor),
    /// by agent id: the deployment that was skipped and when. They get one once a campaign for their key is done.
    private var waiting: [String: (skipped: DeploymentRecord, since: Date)] = [:]
    private var waitingCheckedAt: ContinuousClock.Instant?

    /// A service deploying from `campaign` (nil: the newest campaign with profiles for the agent's device key).
    public init(broker: Broker, store: SeerStore, campaign: String? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.broker = broker
        self.store = store
        planner = DeploymentPlanner(store: store, campaign: campaign)
        self.log = log
    }

    /// Serves until `stopped()` returns true.
    public func run(until stopped: () -> Bool) {
        while !stopped() {
            do { try poll(timeout: 0.05) } catch { log("deployment: \(error)") }
        }
    }

    /// Handles the device events that arrive within `timeout` seconds and any requested deployments in the store.
    public func poll(timeout: TimeInterval) throws {
        for event in broker.nextDeviceEvents(timeout: timeout) {
            switch event {
            case let .profileChanged(agentID, body): try profileChanged(agentID: agentID, body)
            case let .deployFinished(_, body): try finished(body)
            }
        }
        for request in try DeploymentStore.requested(in: store) where inFlight[request.id] == nil {
            started[request.id] = clock.now
            try send(request)
        }
        try deployToWaitingAgents()
    }

    /// Sends the skipped deployments again once a campaign for their device key has finished since they were skipped
    /// (checked once a second: one query for the campaigns done since the oldest skip, each config decoded once), to
    /// agents still connected and not on another profile since. A stored config that no longer decodes is an error.
    private func deployToWaitingAgents() throws {
        guard let oldest = waiting.values.map(\.since).min(),
              waitingCheckedAt.map({ clock.now - $0 >= .seconds(1) }) ?? true else { return }
        waitingCheckedAt = clock.now
        let finished = try CampaignStore.done(since: oldest, in: store).map { campaign in
            (doneAt: campaign.updatedAt, keys: Set(try campaign.campaignConfig().profiles.keys))
        }
        let connected = Set(broker.agents().map(\.agentID))
        for (agentID, entry) in waiting {
            guard connected.contains(agentID) else {
                waiting[agentID] = nil
                continue
            }
            guard let key = entry.skipped.deviceKey,
                  finished.contains(where: { $0.doneAt >= entry.since && $0.keys.contains(key) }) else { continue }
            waiting[agentID] = nil
            var record = entry.skipped
            record.id = ""
            record.state = "requested"
            record.code = nil
            record.message = nil
            record.finishedAt = nil
            record.totalMs = nil
            record.requestedAt = Date()
            record = try DeploymentStore.insert(record, in: store)
            started[record.id] = clock.now
            log("deploy \(record.id): a campaign for \(key) is done; \(agentID) gets its \(record.profile) model")
            try send(record)
        }
    }

    private func profileChanged(agentID: String, _ body: ProfileBody) throws {
        let now = Date()
        waiting[agentID] = nil
        var record = DeploymentRecord(id: "", agentID: agentID, deviceKey: body.deviceKey, profile: body.profile,
                                      trigger: "battery", state: "requested", capacityPercent: body.capacityPercent,
                                      batteryStatus: body.status.rawValue, requestedAt: now)
        // A PROFILE re-announced after a reconnect changes nothing if that profile's model is in place.
        if let last = try DeploymentStore.lastSuccessful(agentID: agentID, in: store), last.profile == body.profile,
           inFlight.values.allSatisfy({ $0.agentID != agentID }) {
            record.state = "skipped"
            record.message = "already running the \(body.profile) model (\(last.id))"
            record.finishedAt = now
            try DeploymentStore.insert(record, in: store)
            return
        }
        record = try DeploymentStore.insert(record, in: store)
        started[record.id] = clock.now
        try send(record)
    }

    private func send(_ request: DeploymentRecord) throws {
        var record = request
        do {
            let deviceKey: String
            if let key = record.deviceKey {
                deviceKey = key
            } else if let agent = try store.agents().first(where: { $0.id == record.agentID }) {
                deviceKey = agent.deviceKey
            } else {
                throw CampaignError.notFound("agent \(record.agentID) has never registered with this coordinator (\(store.path))")
            }
            record.deviceKey = deviceKey
            let plan = try planner.plan(deployID: record.id, deviceKey: deviceKey, profile: record.profile,
                                        campaign: record.campaignID)
            record.source = plan.source
            record.campaignID = plan.campaignID
            record.policy = plan.policyJSON
            record.sha256 = plan.body.weights.sha256
            record.sizeBytes = plan.body.weights.sizeBytes
            try broker.deploy(agentID: record.agentID, plan.body)
            record.state = "sent"
            record.sentAt = Date()
            try DeploymentStore.update(record, in: store)
            inFlight[record.id] = record
            log("deploy \(record.id): \(plan.source) model for \(deviceKey)/\(record.profile) to \(record.agentID) "
                + "(\(plan.body.weights.sizeBytes) bytes)")
        } catch let error as CampaignError where record.trigger == "battery" && error.isNotFound {
            // Nothing to deploy for this profile yet (an agent that came up before any campaign for its key finished):
            // not a failure of the agent's; it gets the model when there is one.
            record.state = "skipped"
            record.message = "no model yet: \(error.message); sent once a campaign for \(record.deviceKey ?? "its key") is done"
            try finish(&record)
            waiting[record.agentID] = (record, Date())
            log("deploy \(record.id) to \(record.agentID) waits: \(error.message)")
        } catch {
            record.state = "failed"
            record.code = ErrorCode.runtimeError.rawValue
            record.message = (error as? CampaignError)?.message ?? "\(error)"
            try finish(&record)
            log("deploy \(record.id) to \(record.agentID) failed before sending: \(record.message!)")
        }
    }

    private func finished(_ body: DeployedBody) throws {
        let tracked = inFlight.removeValue(forKey: body.deployID)
        guard var record = try tracked ?? DeploymentStore.deployment(body.deployID, in: store), !record.isFinished else {
            log("DEPLOYED for unknown or finished deploy \(body.deployID)")
            return
        }
        record.state = body.status == .ok ? "ok" : "failed"
        record.code = body.code?.rawValue
        record.message = body.message
        record.timings = String(decoding: try JSONEncoder.sorted.encode(body.timingsMs), as: UTF8.self)
        try finish(&record)
        log(String(format: "deploy %@ on %@: %@ in %.0f ms%@", record.id, record.agentID, record.state, record.totalMs ?? 0,
                   body.message.map { " (\($0))" } ?? ""))
    }

    private func finish(_ record: inout DeploymentRecord) throws {
        record.finishedAt = Date()
        if let start = started.removeValue(forKey: record.id) {
            let elapsed = clock.now - start
            record.totalMs = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        } else {
            record.totalMs = record.finishedAt!.timeIntervalSince(record.requestedAt) * 1000
        }
        try DeploymentStore.update(record, in: store)
    }
}
