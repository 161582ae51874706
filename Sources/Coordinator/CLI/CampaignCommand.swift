import ArgumentParser
import Dispatch
import Foundation
import SeerCompression
import SeerCoordinator
import SeerData
import SeerModels
import SeerTensor
import SeerTransport
import SeerWire

/// `seer-coordinator campaign run|resume|stop|list|status`.
///
/// With a `seer-coordinator serve` running on --db, `run`, `resume` and `stop` are requests to it (the control
/// channel, docs/SERVICE.md): the campaign runs in the service, on its agents, and `run`/`resume` follow its progress
/// until Ctrl-C detaches. Without one, `run` and `resume` are a coordinator of their own for one campaign (a broker of
/// their own, or with --local no agents at all), holding the database's coordinator lock while they run.
struct CampaignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign", abstract: "Run, resume, stop or inspect SeerNet campaigns.",
        subcommands: [Run.self, Resume.self, Stop.self, List.self, Status.self])

    /// Where measurements run: the service on --db, the agents through a broker this process starts, or in-process.
    struct BackendFlags: ParsableArguments {
        @Option(help: "SQLite database of jobs, measurements, predictor snapshots and chosen policies.")
        var db = "seer.sqlite"
        @Option(help: "Endpoint the broker binds.") var bind = "tcp://127.0.0.1:5555"
        @Option(help: "Coordinator key directory (seer-coordinator keygen).") var keys: String?
        @Option(help: "Agent public keys allowed in: a file (one per line) or a directory of *.key files.") var allow: String?
        @Flag(help: "Plain TCP without CURVE (tests and closed lab networks only).") var plain = false
        @Flag(help: "Measure in this process instead of on agents.") var local = false
        @Option(help: "Results folder (default runs/<campaign>).") var results: String?
        @Option(help: "Threads for in-process measurement.") var threads = 1

        func validate() throws {
            if plain && (keys != nil || allow != nil) { throw ValidationError("--plain turns CURVE off; drop --keys/--allow") }
        }

        /// The running service to send requests to: only when one owns --db and --local is not given.
        func service() -> CampaignServiceClient? { local ? nil : CampaignServiceClient.service(owning: db) }

        /// Runs `body` with a store and a measurement backend, as the database's only coordinator (its lock held),
        /// stopping the broker afterwards.
        func withBackend<T>(campaign: CampaignConfig, _ body: (SeerStore, MeasurementBackend) throws -> T) throws -> T {
            if !local && !plain && (keys == nil || allow == nil) {
                throw ValidationError("no `seer-coordinator serve` owns \(db): give --keys and --allow (CURVE), or --plain, "
                                      + "for a broker of this command's own, or --local")
            }
            // Taken before the store is opened, so that a refused command has not touched the jobs of the owner.
            let lock = try CoordinatorLock(database: db, command: local ? "campaign run --local" : "campaign run")
            defer { lock.release() }
            let store = try SeerStore(path: db)
            if local {
                Threads.set(threads)
                // Image folders are resized to the model's input, so the model comes first.
                let inputShape = try ModelStore.load(campaign.checkpoint ?? campaign.model).inputShape
                return try body(store, LocalMeasurementBackend(data: try campaign.data.load(imageShape: inputShape)))
            }
            let security: BrokerSecurity = plain ? .plain
                : .curve(serverKeys: try CurveKeyFiles.loadPair(from: keys!), allowedAgentKeys: try CurveKeyFiles.loadAllowList(allow!))
            let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("broker: \($0)\n".utf8)) }
            let broker = try Broker(store: store, options: BrokerOptions(endpoint: bind, security: security, log: log))
            broker.start()
            defer { broker.stop() }
            FileHandle.standardError.write(Data("broker listening on \(broker.endpoint)\n".utf8))
            return try body(store, BrokerMeasurementBackend(broker: broker))
        }

        func resultsDirectory(for name: String) -> URL { URL(fileURLWithPath: results ?? "runs/\(name)") }

        /// The results folder a service should use: absolute, since the service has its own working directory.
        var absoluteResults: String? { results.map { URL(fileURLWithPath: $0).standardizedFileURL.path } }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a campaign from a config file (YAML).")
        @Option(help: "Campaign config (YAML).") var config: String
        @OptionGroup var backend: BackendFlags

        func run() throws {
            var campaign = try CampaignConfig.load(contentsOf: URL(fileURLWithPath: config))
            if let service = backend.service() {
                // Paths in the config are the user's, relative to this directory; the service has its own.
                campaign.checkpoint = campaign.checkpoint.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let json = String(decoding: try encoder.encode(campaign), as: UTF8.self)
                let request = try service.send(CampaignRequestRecord(campaignID: campaign.name, action: .run, config: json,
                                                                     results: backend.absoluteResults))
                print("campaign \(campaign.name) submitted to \(service.holder): \(request.message ?? "accepted")")
                try service.follow(campaign.name, since: request, resultsHint: backend.absoluteResults.map { $0 + "/report.html" })
                return
            }
            try backend.withBackend(campaign: campaign) { store, measurer in
                let runner = try CampaignRunner(config: campaign, store: store, backend: measurer,
                                                resultsDirectory: backend.resultsDirectory(for: campaign.name))
                try runner.run()
                print("report: \(backend.resultsDirectory(for: campaign.name).appendingPathComponent("report.html").path)")
            }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Carry on with a campaign after a crash or kill.")
        @Option(help: "Campaign name (default: the most recent).") var campaign: String?
        @OptionGroup var backend: BackendFlags

        func run() throws {
            // There is nothing to resume in a database that does not exist: a mistyped --db must not create one.
            guard FileManager.default.fileExists(atPath: backend.db) else { throw StoreError.notFound(path: backend.db) }
            let store = try SeerStore(path: backend.db)
            let record = try campaign.map { try CampaignStore.campaign($0, in: store) } ?? CampaignStore.campaigns(in: store).last
            guard let record else { throw CampaignError.notFound("no campaign \(campaign ?? "") in \(backend.db)") }
            if let service = backend.service() {
                let request = try service.send(CampaignRequestRecord(campaignID: record.id, action: .resume,
                                                                     results: backend.absoluteResults))
                print("campaign \(record.id) resumed by \(service.holder): \(request.message ?? "accepted")")
                try service.follow(record.id, since: request, resultsHint: backend.absoluteResults.map { $0 + "/report.html" })
                return
            }
            let config = try record.campaignConfig()
            try backend.withBackend(campaign: config) { store, measurer in
                let runner = try CampaignRunner(config: config, store: store, backend: measurer,
                                                resultsDirectory: backend.resultsDirectory(for: config.name))
                try runner.run()
                print("report: \(backend.resultsDirectory(for: config.name).appendingPathComponent("report.html").path)")
            }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a campaign running in `seer-coordinator serve`: its queued jobs are withdrawn, running ones "
                + "finish and are recorded; `campaign resume` carries on.")
        @Option(help: "Campaign name.") var campaign: String
        @Option(help: "SQLite database of the running coordinator.") var db = "seer.sqlite"
        @Option(help: "Seconds to wait for the campaign to stop.") var waitS = 60.0

        func run() throws {
            guard let service = CampaignServiceClient.service(owning: db) else {
                throw CampaignError.notFound("no `seer-coordinator serve` owns \(db), so no campaign runs there to stop "
                                             + "(a one-shot `campaign run` stops with Ctrl-C)")
            }
            _ = try service.send(CampaignRequestRecord(campaignID: campaign, action: .stop))
            let store = try SeerStore(path: db, access: .readOnly)
            let deadline = Date(timeIntervalSinceNow: waitS)
            while Date() < deadline {
                if let record = try CampaignStore.campaign(campaign, in: store), record.phase.isFinal {
                    print("\(campaign): \(record.phase.rawValue) — \(record.detail)")
                    return
                }
                usleep(100_000)
            }
            print("\(campaign): stopping (its queued jobs are withdrawn; it stops at its next measurement)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the campaigns in a database.")
        @Option(help: "SQLite database.") var db = "seer.sqlite"

        func run() throws {
            let store = try SeerStore(path: db, access: .readOnly)
            let holder = CoordinatorLock.currentHolder(of: db)
            print("database \(db): " + (holder.map { "owned by \($0)" } ?? "no coordinator running"))
            let formatter = ISO8601DateFormatter()
            for r in try CampaignStore.campaigns(in: store) {
                let rows = try CampaignStore.measurements(r.id, in: store)
                print("\(r.id)\t\(r.phase.rawValue)\t\(rows.filter(\.isFinished).count)/\(rows.count) measured\t"
                      + "updated \(formatter.string(from: r.updatedAt))\t\(r.detail)")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show where campaigns stand.")
        @Option(help: "SQLite database.") var db = "seer.sqlite"
        @Option(help: "Campaign name (default: all).") var campaign: String?

        func run() throws {
            // Only reads: a mistyped --db is an error, not a new empty database, and a read-only file will do.
            let store = try SeerStore(path: db, access: .readOnly)
            let records = try CampaignStore.campaigns(in: store).filter { campaign == nil || $0.id == campaign }
            guard !records.isEmpty else { throw CampaignError.notFound("no campaign \(campaign ?? "") in \(db)") }
            for r in records {
                print("\(r.id): \(r.phase.rawValue) — \(r.detail)")
                let rows = try CampaignStore.measurements(r.id, in: store)
                for round in Set(rows.filter { $0.purpose == .sample }.map(\.round)).sorted() {
                    let inRound = rows.filter { $0.purpose == .sample && $0.round == round }
                    print("  round \(round): \(inRound.filter { $0.accuracy != nil }.count)/\(inRound.count) measured"
                          + (inRound.contains { $0.error != nil } ? ", \(inRound.filter { $0.error != nil }.count) failed" : ""))
                }
                for c in try CampaignStore.chosen(r.id, in: store) {
                    let measured = c.validationAccuracy.map { String(format: "%.2f%%", $0) } ?? "not measured yet"
                    print(String(format: "  budget %@: predicted %.2f%%, validation %@, test %@", c.budget, c.predicted, measured,
                                 c.testAccuracy.map { String(format: "%.2f%%", $0) } ?? "–"))
                }
                for p in try DeploymentStore.prepared(campaign: r.id, in: store) {
                    let measured = p.validationAccuracy.map { String(format: "%.2f%%", $0) } ?? "not measured yet"
                    let file = p.weightsValidationAccuracy.map { String(format: "%.2f%% for the weights deployed (%@)", $0, p.weightsFormat) }
                    print(String(format: "  profile %@/%@ (%@): predicted %.2f%%, validation %@ on the agent, %@", p.deviceKey, p.profile,
                                 p.budget, p.predicted, measured, p.isReady ? (file ?? "model ready") : "model not prepared yet"))
                }
            }
        }
    }
}
