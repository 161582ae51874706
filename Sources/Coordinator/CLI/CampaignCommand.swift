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

/// `seer-coordinator campaign run|resume|status`.
struct CampaignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign", abstract: "Run, resume or inspect a SeerNet campaign.",
        subcommands: [Run.self, Resume.self, Status.self])

    /// Where measurements run: the agents through a broker this process starts, or in-process.
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
            if !local && !plain && (keys == nil || allow == nil) {
                throw ValidationError("give --keys and --allow (CURVE), or --plain, or --local")
            }
            if plain && (keys != nil || allow != nil) { throw ValidationError("--plain turns CURVE off; drop --keys/--allow") }
        }

        /// Runs `body` with a store and a measurement backend, stopping the broker afterwards.
        func withBackend<T>(data: String, _ body: (SeerStore, MeasurementBackend) throws -> T) throws -> T {
            let store = try SeerStore(path: db)
            if local {
                Threads.set(threads)
                return try body(store, LocalMeasurementBackend(data: try FashionMNIST.load(directory: data)))
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
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a campaign from a config file (YAML).")
        @Option(help: "Campaign config (YAML).") var config: String
        @OptionGroup var backend: BackendFlags

        func run() throws {
            let campaign = try CampaignConfig.load(contentsOf: URL(fileURLWithPath: config))
            try backend.withBackend(data: campaign.data) { store, measurer in
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
            let config = try record.campaignConfig()
            try backend.withBackend(data: config.data) { store, measurer in
                let runner = try CampaignRunner(config: config, store: store, backend: measurer,
                                                resultsDirectory: backend.resultsDirectory(for: config.name))
                try runner.run()
                print("report: \(backend.resultsDirectory(for: config.name).appendingPathComponent("report.html").path)")
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
                print("\(r.id): \(r.phase) — \(r.detail)")
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
                    print(String(format: "  profile %@/%@ (%@): predicted %.2f%%, validation %@, %@", p.deviceKey, p.profile,
                                 p.budget, p.predicted, measured, p.isReady ? "model ready" : "model not prepared yet"))
                }
            }
        }
    }
}
