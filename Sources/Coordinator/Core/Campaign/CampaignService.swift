import Foundation

/// The campaigns of the coordinator service (`seer-coordinator serve`): answers the requests the CLI writes into the
/// store (`CampaignRequests`), runs each accepted campaign on a thread of its own against the service's one broker,
/// and carries on after a restart with the campaigns it had taken on.
///
/// Campaigns share the fleet through the broker, which serves the campaigns waiting on a device key in turn
/// (`BrokerCore`'s fair queue), so a long campaign does not hold a short one back.
public final class CampaignService {
    let broker: Broker
    let store: SeerStore
    let log: @Sendable (String) -> Void
    /// Where results go when a request names no folder.
    let resultsRoot: URL

    /// One campaign's thread and how it should end.
    private final class Running: @unchecked Sendable {
        let lock = NSLock()
        private var reason: CampaignInterruption?
        let finished = DispatchSemaphore(value: 0)

        var interruption: CampaignInterruption? {
            lock.lock()
            defer { lock.unlock() }
            return reason
        }

        /// Asks the campaign to end; a shutdown is not overridden by a later stop, nor a stop by a shutdown.
        func interrupt(_ why: CampaignInterruption) {
            lock.lock()
            if reason == nil { reason = why }
            lock.unlock()
        }
    }

    private let lock = NSLock()
    private var running: [String: Running] = [:]

    /// A service running campaigns on `broker`, recording them in `store`.
    public init(broker: Broker, store: SeerStore, resultsRoot: URL = URL(fileURLWithPath: "runs"),
                log: @escaping @Sendable (String) -> Void) {
        self.broker = broker
        self.store = store
        self.resultsRoot = resultsRoot
        self.log = log
    }

    /// Names of the campaigns running now.
    public var runningCampaigns: [String] {
        lock.lock()
        defer { lock.unlock() }
        return running.keys.sorted()
    }

    /// Carries on with the campaigns a previous service took on and did not finish (it was stopped or killed).
    public func resumeUnfinished() throws {
        for (campaign, results) in try CampaignRequests.unfinishedServiceCampaigns(in: store) {
            log("campaign \(campaign.id) was \(campaign.phase.rawValue) when the coordinator stopped: carrying on")
            start(try campaign.campaignConfig(), results: results)
        }
    }

    /// Answers the requests written since the last call.
    public func poll() throws {
        for request in try CampaignRequests.pending(in: store) {
            guard let id = request.id else { continue }
            let (state, message) = answer(request)
            guard try CampaignRequests.answer(id, state, message: message, in: store) else { continue }
            log("campaign \(request.action.rawValue) \(request.campaignID): \(state.rawValue)\(message.map { ", \($0)" } ?? "")")
            if state == .accepted {
                switch request.action {
                case .run, .resume:
                    // Validated by `answer`.
                    if let config = try? self.config(of: request) { start(config, results: request.results) }
                case .stop:
                    lock.lock()
                    running[request.campaignID]?.interrupt(.stopped("campaign stop, request \(id)"))
                    lock.unlock()
                }
            }
        }
    }

    /// Asks every campaign to end because the coordinator is stopping, and waits up to `timeout` seconds for their
    /// threads (a thread in the middle of an optimization notices at its next measurement; its campaign's phase is
    /// left as it is, for the next service to carry on).
    public func shutdown(timeout: TimeInterval = 10) {
        lock.lock()
        let all = Array(running.values)
        lock.unlock()
        for entry in all { entry.interrupt(.shuttingDown) }
        let deadline = DispatchTime.now() + timeout
        for entry in all { _ = entry.finished.wait(timeout: deadline) }
    }

    // MARK: Requests

    /// The config a run or resume request asks for.
    private func config(of request: CampaignRequestRecord) throws -> CampaignConfig {
        switch request.action {
        case .run:
            guard let json = request.config else { throw CampaignError.config("the run request carries no config") }
            let config = try JSONDecoder().decode(CampaignConfig.self, from: Data(json.utf8))
            try config.validate()
            guard config.name == request.campaignID else {
                throw CampaignError.config("the request is for \(request.campaignID) but its config is named \(config.name)")
            }
            return config
        case .resume, .stop:
            guard let stored = try CampaignStore.campaign(request.campaignID, in: store) else {
                throw CampaignError.notFound("no campaign \(request.campaignID) in \(store.path)")
            }
            return try stored.campaignConfig()
        }
    }

    /// Whether to accept `request`, and what to tell its sender.
    private func answer(_ request: CampaignRequestRecord) -> (CampaignRequestState, String?) {
        let name = request.campaignID
        lock.lock()
        let isRunning = running[name] != nil
        lock.unlock()
        do {
            let stored = try CampaignStore.campaign(name, in: store)
            switch request.action {
            case .stop:
                // A thread that has just recorded its stop or failure is still finishing: nothing to stop.
                guard isRunning, stored?.phase.isFinal != true else {
                    return (.refused, "campaign \(name) is not running" + (stored.map { " (it is \($0.phase.rawValue))" } ?? ""))
                }
                return (.accepted, "stopping")
            case .run, .resume:
                guard !isRunning else { return (.refused, "campaign \(name) is already running") }
                let config = try config(of: request)
                if let stored, (try? stored.campaignConfig()) != config {
                    return (.refused, "campaign '\(name)' exists with a different config; use `campaign resume` or another name")
                }
                return (.accepted, stored.map { "carrying on from \($0.phase.rawValue)" } ?? "started")
            }
        } catch {
            return (.refused, "\(error)")
        }
    }

    // MARK: Campaign threads

    private func start(_ config: CampaignConfig, results: String?) {
        let entry = Running()
        lock.lock()
        guard running[config.name] == nil else {
            lock.unlock()
            return
        }
        running[config.name] = entry
        lock.unlock()
        let directory = results.map { URL(fileURLWithPath: $0) } ?? resultsRoot.appendingPathComponent(config.name)
        let thread = Thread { [self] in
            defer {
                lock.lock()
                running[config.name] = nil
                lock.unlock()
                entry.finished.signal()
            }
            run(config, in: directory, entry: entry)
        }
        thread.name = "campaign-\(config.name)"
        thread.stackSize = 16 << 20
        thread.start()
    }

    private func run(_ config: CampaignConfig, in directory: URL, entry: Running) {
        let log = self.log
        let backend = BrokerMeasurementBackend(broker: broker, owner: config.name, interruption: { entry.interruption })
        let runner: CampaignRunner
        do {
            runner = try CampaignRunner(config: config, store: store, backend: backend, resultsDirectory: directory,
                                        showProgress: false, log: { log($0) })
        } catch {
            // Before the runner existed (model, latency table): recorded here, so `campaign status` says why.
            recordSetupFailure(config, error)
            return
        }
        do {
            try runner.run()
            log("campaign \(config.name) done: \(directory.appendingPathComponent("report.html").path)")
        } catch let interruption as CampaignInterruption {
            log("campaign \(config.name): \(interruption)")
        } catch {
            log("campaign \(config.name) failed: \(error)")
        }
    }

    private func recordSetupFailure(_ config: CampaignConfig, _ error: Error) {
        if case .shuttingDown? = error as? CampaignInterruption { return }
        let phase: CampaignPhase = error is CampaignInterruption ? .stopped : .failed
        log("campaign \(config.name) \(phase.rawValue) before it started: \(error)")
        do {
            if try CampaignStore.campaign(config.name, in: store) != nil {
                try CampaignStore.setPhase(config.name, phase, detail: "\(error)", in: store)
            } else {
                let now = Date()
                let json = String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self)
                try CampaignStore.save(CampaignRecord(id: config.name, config: json, phase: phase, detail: "\(error)",
                                                      createdAt: now, updatedAt: now), in: store)
            }
        } catch let recording {
            log("campaign \(config.name): recording that it failed in \(store.path) failed too: \(recording)")
        }
    }
}
