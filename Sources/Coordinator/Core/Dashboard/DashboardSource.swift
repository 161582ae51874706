import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import SeerSearch

/// Builds `DashboardSnapshot`s from the store (read-only queries) and the broker's live agent list.
///
/// Safe to call from any thread while campaigns run: the store is read through its own connection pool, the broker
/// hands out copies. What is costly and immutable per campaign (its model, cost model and budgets; stored predictor
/// snapshots) is computed once and kept.
public final class DashboardSource: @unchecked Sendable {
    private let store: SeerStore
    private let agents: () -> [AgentSnapshot]
    private let clockMs: () -> Int64
    private let lock = NSLock()
    private var lenses: [String: Result<CampaignLens, Error>] = [:]
    private var predictors: [String: EnsemblePredictor] = [:]

    /// Recent jobs and deployments listed.
    public var listLimit = 50

    /// A source over `store`; `agents` and `clockMs` (the broker clock of their heartbeat times) come from the broker.
    public init(store: SeerStore, agents: @escaping () -> [AgentSnapshot], clockMs: @escaping () -> Int64) {
        self.store = store
        self.agents = agents
        self.clockMs = clockMs
    }

    /// A source on a running broker.
    public convenience init(store: SeerStore, broker: Broker) {
        self.init(store: store, agents: { broker.agents() }, clockMs: { Broker.clockMs() })
    }

    public func snapshot(at now: Date = Date()) throws -> DashboardSnapshot {
        let nowMs = clockMs()
        let profiles = try DeploymentStore.lastSuccessfulProfiles(in: store)
        let agentList = agents().sorted { ($0.deviceKey, $0.agentID) < ($1.deviceKey, $1.agentID) }.map { a in
            DashboardSnapshot.Agent(
                id: a.agentID, deviceKey: a.deviceKey, executor: a.executor.rawValue,
                hardware: [a.device.hardware, a.device.arch, "\(a.device.cores) cores"].compactMap { $0 }.joined(separator: ", "),
                heartbeatAgeMs: max(0, nowMs - a.lastHeardMs), currentJob: a.currentJob, jobsDone: a.jobsDone,
                failuresInARow: a.failuresInARow,
                quarantineLeftMs: a.quarantinedUntilMs.flatMap { $0 > nowMs ? $0 - nowMs : nil },
                profile: profiles[a.agentID])
        }
        let counts = try store.stateCounts()
        let jobs = try store.recentJobs(limit: listLimit).map { j in
            DashboardSnapshot.Job(id: j.id, deviceKey: j.deviceKey, kind: j.kind.rawValue, state: j.state.rawValue,
                                  attempts: j.attempts, agent: j.agentID, error: j.lastError, owner: j.owner,
                                  updatedAt: j.updatedAt)
        }
        let campaigns = try CampaignStore.campaigns(in: store).sorted { $0.updatedAt > $1.updatedAt }.map(campaign)
        let deployments = try DeploymentStore.deployments(limit: listLimit, in: store).map { d in
            DashboardSnapshot.Deployment(id: d.id, agent: d.agentID, deviceKey: d.deviceKey, profile: d.profile,
                                         trigger: d.trigger, state: d.state, source: d.source, campaign: d.campaignID,
                                         totalMs: d.totalMs, message: d.message,
                                         updatedAt: d.finishedAt ?? d.sentAt ?? d.requestedAt)
        }
        return DashboardSnapshot(generatedAt: now, agents: agentList,
                                 jobsByState: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }),
                                 recentJobs: jobs, campaigns: campaigns, deployments: deployments)
    }

    /// What `/metrics` reports, without the snapshot's campaign views.
    public func metrics() throws -> MetricsSnapshot {
        let nowMs = clockMs()
        let agents = agents().map { a in
            MetricsSnapshot.Agent(deviceKey: a.deviceKey, busy: a.currentJob != nil,
                                  quarantined: (a.quarantinedUntilMs ?? .min) > nowMs)
        }
        let phases = Dictionary(try CampaignStore.campaigns(in: store).map { ($0.phase.rawValue, 1) }, uniquingKeysWith: +)
        return MetricsSnapshot(jobsByState: Dictionary(uniqueKeysWithValues: try store.stateCounts().map { ($0.key.rawValue, $0.value) }),
                               agents: agents, campaignsByPhase: phases, jobSeconds: try store.finishedJobDurations())
    }

    // MARK: campaigns

    private func campaign(_ record: CampaignRecord) throws -> DashboardSnapshot.Campaign {
        let rows = try CampaignStore.measurements(record.id, in: store).filter(\.measuresCampaignNetwork)
        var view = DashboardSnapshot.Campaign(
            id: record.id, model: "", metric: "", phase: record.phase.rawValue, detail: record.detail,
            updatedAt: record.updatedAt, round: nil, planned: rows.count,
            measured: rows.filter { $0.accuracy != nil }.count, failed: rows.filter { $0.error != nil }.count,
            budgets: [], points: [])
        let config: CampaignConfig
        do {
            config = try record.campaignConfig()
        } catch {
            view.viewError = "stored config: \(error)"
            return view
        }
        view.model = config.model
        view.metric = config.metric.rawValue
        let samples = rows.filter { $0.purpose == .sample && $0.accuracy != nil && $0.split == "validation" }
        view.round = samples.map(\.round).max()
        view.points = samples.map { .init(round: $0.round, complexity: Self.metricValue(config.metric, $0), accuracy: $0.accuracy!) }
        let chosen = Dictionary(try CampaignStore.chosen(record.id, in: store).map { ($0.budget, $0) }, uniquingKeysWith: { a, _ in a })
        let lens = self.lens(record.id, config)
        for (i, budget) in config.budgets.enumerated() {
            let c = chosen[budget.description]
            let value = c?.budgetValue ?? (try? lens.get())?.budgets[i]
            let best = value.flatMap { v in view.points.filter { ($0.complexity ?? .infinity) <= v * (1 + 1e-9) }.map(\.accuracy).max() }
            view.budgets.append(.init(budget: budget.description, value: value, bestMeasured: best,
                                      chosenValidation: c?.validationAccuracy, chosenTest: c?.testAccuracy,
                                      chosenPredicted: c?.predicted))
        }
        switch lens {
        case .failure(let error):
            view.viewError = "cost model: \(error)"
        case .success(let lens):
            do {
                try addPredictorQuality(&view, record.id, lens, samples)
            } catch {
                view.viewError = "predictor quality: \(error)"
            }
        }
        return view
    }

    /// The newest round that a stored predictor had not seen: its mean |predicted - measured| and Kendall tau there.
    private func addPredictorQuality(_ view: inout DashboardSnapshot.Campaign, _ id: String, _ lens: CampaignLens,
                                     _ samples: [MeasurementRecord]) throws {
        for round in Set(samples.map(\.round)).sorted(by: >) where round > 0 {
            guard let predictor = try predictor(id, round: round - 1) else { continue }
            let fresh = samples.filter { $0.round == round }
            var predicted: [Double] = [], measured: [Double] = []
            for row in fresh {
                let policy = try Policy.decode(json: Data(row.policy.utf8)).resolve(for: lens.base)
                predicted.append(predictor.predict(try lens.encoding.features(of: policy)).mean)
                measured.append(row.accuracy!)
            }
            let errors: [Double] = zip(predicted, measured).map { abs($0 - $1) }
            view.predictorRound = round
            view.predictorMeanAbsoluteError = errors.reduce(0, +) / Double(errors.count)
            view.predictorKendallTau = errors.count >= 2 ? Metrics.kendallTau(predicted, measured).finiteOrNil : nil
            return
        }
    }

    private func predictor(_ id: String, round: Int) throws -> EnsemblePredictor? {
        let key = "\(id)\n\(round)"
        if let cached = (lock.withLock { predictors[key] }) { return cached }
        guard let snapshot = try CampaignStore.snapshot(id, round: round, in: store) else { return nil }
        let predictor = try EnsemblePredictor.load(json: Data(snapshot.predictor.utf8))
        lock.withLock { predictors[key] = predictor }
        return predictor
    }

    private func lens(_ id: String, _ config: CampaignConfig) -> Result<CampaignLens, Error> {
        if let cached = (lock.withLock { lenses[id] }) { return cached }
        let lens = Result { try CampaignLens(config: config, store: store) }
        // A latency budget's table appears once profiled: only a success is final.
        if case .success = lens { lock.withLock { lenses[id] = lens } }
        return lens
    }

    /// A measurement's value on the campaign's budget metric, as the agent reported it.
    static func metricValue(_ metric: BudgetMetric, _ row: MeasurementRecord) -> Double? {
        switch metric {
        case .bitops: return row.bitops.map(Double.init)
        case .macs: return row.macs.map(Double.init)
        case .size: return row.sizeBytes.map(Double.init)
        case .latency: return row.latencyMs
        // Energy budgets are per image on a simulated accelerator; the row's joules are the run's, not comparable.
        case .energy: return nil
        }
    }
}

/// A campaign's model, policy encoding and budgets in the metric's unit.
struct CampaignLens {
    let base: Model
    let encoding: PolicyEncoding
    let budgets: [Double]

    init(config: CampaignConfig, store: SeerStore) throws {
        base = try ModelStore.load(config.checkpoint ?? config.model)
        encoding = PolicyEncoding(model: base, space: config.space)
        let (_, reference) = try CostModels.make(metric: config.metric, config: config, base: base, encoding: encoding,
                                                 deviceKey: config.latencyDevice, store: store, backend: nil)
        budgets = config.budgets.map { $0.absolute(reference: reference) }
    }
}
