import Foundation
import GRDB

/// Where a campaign stands; stored as its raw value.
public enum CampaignPhase: String, Codable, Sendable, CaseIterable {
    /// Recorded, nothing measured yet.
    case created
    /// Measuring the per-layer sensitivity probes.
    case sensitivity
    /// Measuring the predictor's training samples (random, informative and refinement rounds).
    case sampling
    /// Optimizing a policy for every budget.
    case optimizing
    /// Measuring the chosen policies.
    case verifying
    /// Preparing a model for every device profile.
    case preparing
    /// Finished; the results folder is written.
    case done
    /// It could not go on; `detail` says why. `campaign resume` measures its failed rows again and carries on.
    case failed
    /// Stopped by `campaign stop`; `campaign resume` carries on.
    case stopped

    /// Whether nothing more happens to the campaign until someone resumes it.
    public var isFinal: Bool { self == .done || self == .failed || self == .stopped }
}

/// A campaign: its config and how far it has come.
public struct CampaignRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "campaign"
    public var id: String
    public var config: String          // the config as JSON
    public var phase: CampaignPhase
    /// What the phase is doing, or (when failed) why the campaign stopped.
    public var detail: String
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, config, phase, detail, createdAt = "created_at", updatedAt = "updated_at"
    }

    /// The stored config.
    public func campaignConfig() throws -> CampaignConfig {
        try JSONDecoder().decode(CampaignConfig.self, from: Data(config.utf8))
    }

    /// Memberwise initializer.
    public init(id: String, config: String, phase: CampaignPhase, detail: String, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.config = config
        self.phase = phase
        self.detail = detail
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Why a policy was measured.
public enum MeasurementPurpose: String, Codable, Sendable, CaseIterable {
    /// Predictor training data: random, informative and refinement rounds.
    case sample
    /// A chosen policy's verification, or a profile's model.
    case final
    /// A per-layer sensitivity probe: one variable lowered, no fine-tuning, a fixed batch (`SensitivityTable`).
    case sensitivity
    /// A round-0 policy measured again with another seed, to estimate the measurement noise.
    case noise
}

/// One planned or finished measurement of a policy on a device; planned rows are written before their jobs
/// are submitted, so a resumed campaign measures exactly the same policies.
public struct MeasurementRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "measurement"
    public var jobID: String
    public var campaignID: String
    public var purpose: MeasurementPurpose
    public var round: Int
    public var position: Int
    public var policy: String         // Policy JSON, every layer listed
    public var deviceKey: String
    public var split: String
    public var accuracy: Double?      // percent
    public var latencyMs: Double?
    public var energyJ: Double?
    public var macs: Int?
    public var bitops: Int?
    public var params: Int?
    public var sizeBytes: Int?
    public var timings: String?       // JSON [phase: ms]
    public var agentID: String?
    public var error: String?
    public var createdAt: Date
    public var finishedAt: Date?
    /// Added to the campaign's seed for this measurement: 0 measures the campaign's own network for the policy; a
    /// repeat of a policy takes an offset no other measurement of it has (noise repeats 1, contest rechecks 2 and 3).
    public var seedOffset: Int = 0

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", campaignID = "campaign_id", purpose, round, position, policy, deviceKey = "device_key"
        case split, accuracy, latencyMs = "latency_ms", energyJ = "energy_j", macs, bitops, params, sizeBytes = "size_bytes"
        case timings, agentID = "agent_id", error, createdAt = "created_at", finishedAt = "finished_at"
        case seedOffset = "seed_offset"
    }

    public var isFinished: Bool { accuracy != nil || error != nil }
    /// Whether the row measured the network the campaign's own settings and seed give for its policy: a sample or a
    /// final measurement, not a probe (no fine-tuning) or a noise repeat (another seed).
    public var measuresCampaignNetwork: Bool { purpose == .sample || purpose == .final }
}

extension CampaignStore {
    /// Each measurement's seed as a column of its own, where a noise row's round carried it before (issue 11's
    /// rechecks). Frozen.
    public static let seedMigrations: [StoreMigration] = [
        StoreMigration("campaign-v4-measurement-seed-offset") { db in
            try db.alter(table: "measurement") { t in t.add(column: "seed_offset", .integer).notNull().defaults(to: 0) }
            // What `measurementSettings` derived from a noise row's round until now.
            try db.execute(sql: "UPDATE measurement SET seed_offset = 1 + round WHERE purpose = 'noise'")
        },
    ]
}

/// The predictor after a round, as JSON, with how many measurements it was fitted on.
public struct PredictorSnapshotRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "predictor_snapshot"
    public var campaignID: String
    public var round: Int
    public var rows: Int
    public var predictor: String
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case campaignID = "campaign_id", round, rows, predictor, createdAt = "created_at"
    }
}

/// The policy chosen for one budget, with its prediction and (once verified) its measurements.
public struct ChosenPolicyRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "chosen_policy"
    public var campaignID: String
    public var budget: String
    public var metric: String
    public var budgetValue: Double
    public var policy: String
    public var complexity: Double
    public var predicted: Double
    public var predictedStd: Double
    public var optimizeMs: Double
    public var validationAccuracy: Double?
    public var testAccuracy: Double?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case campaignID = "campaign_id", budget, metric, budgetValue = "budget_value", policy, complexity, predicted
        case predictedStd = "predicted_std", optimizeMs = "optimize_ms", validationAccuracy = "validation_accuracy"
        case testAccuracy = "test_accuracy", createdAt = "created_at"
    }
}

/// Campaign tables and their queries, on the coordinator's store.
public enum CampaignStore {
    /// Campaign schema steps (issue 5), appended after the fabric's. Frozen.
    public static let migrations: [StoreMigration] = [
        StoreMigration("campaign-v1-tables") { db in
            try db.create(table: "campaign") { t in
                t.primaryKey("id", .text)
                t.column("config", .jsonText).notNull()
                t.column("phase", .text).notNull()
                t.column("detail", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(table: "measurement") { t in
                t.primaryKey("job_id", .text)
                t.column("campaign_id", .text).notNull().references("campaign", onDelete: .cascade)
                t.column("purpose", .text).notNull().check(sql: "purpose IN ('sample', 'final')")
                t.column("round", .integer).notNull()
                t.column("position", .integer).notNull()
                t.column("policy", .jsonText).notNull()
                t.column("device_key", .text).notNull()
                t.column("split", .text).notNull()
                t.column("accuracy", .double)
                t.column("latency_ms", .double)
                t.column("energy_j", .double)
                t.column("macs", .integer)
                t.column("bitops", .integer)
                t.column("params", .integer)
                t.column("size_bytes", .integer)
                t.column("timings", .jsonText)
                t.column("agent_id", .text)
                t.column("error", .text)
                t.column("created_at", .datetime).notNull()
                t.column("finished_at", .datetime)
            }
            try db.create(index: "measurement_on_campaign", on: "measurement", columns: ["campaign_id", "purpose", "round"])
            try db.create(table: "predictor_snapshot") { t in
                t.column("campaign_id", .text).notNull().references("campaign", onDelete: .cascade)
                t.column("round", .integer).notNull()
                t.column("rows", .integer).notNull()
                t.column("predictor", .jsonText).notNull()
                t.column("created_at", .datetime).notNull()
                t.primaryKey(["campaign_id", "round"])
            }
            try db.create(table: "chosen_policy") { t in
                t.column("campaign_id", .text).notNull().references("campaign", onDelete: .cascade)
                t.column("budget", .text).notNull()
                t.column("metric", .text).notNull()
                t.column("budget_value", .double).notNull()
                t.column("policy", .jsonText).notNull()
                t.column("complexity", .double).notNull()
                t.column("predicted", .double).notNull()
                t.column("predicted_std", .double).notNull()
                t.column("optimize_ms", .double).notNull()
                t.column("validation_accuracy", .double)
                t.column("test_accuracy", .double)
                t.column("created_at", .datetime).notNull()
                t.primaryKey(["campaign_id", "budget"])
            }
        },
        // Sensitivity probes and noise repeats are measurements too; SQLite cannot widen a CHECK in place, so the
        // table is rebuilt with the same columns.
        StoreMigration("campaign-v2-measurement-purposes") { db in
            try db.create(table: "measurement_v2") { t in
                t.primaryKey("job_id", .text)
                t.column("campaign_id", .text).notNull().references("campaign", onDelete: .cascade)
                t.column("purpose", .text).notNull().check(sql: "purpose IN ('sample', 'final', 'sensitivity', 'noise')")
                t.column("round", .integer).notNull()
                t.column("position", .integer).notNull()
                t.column("policy", .jsonText).notNull()
                t.column("device_key", .text).notNull()
                t.column("split", .text).notNull()
                t.column("accuracy", .double)
                t.column("latency_ms", .double)
                t.column("energy_j", .double)
                t.column("macs", .integer)
                t.column("bitops", .integer)
                t.column("params", .integer)
                t.column("size_bytes", .integer)
                t.column("timings", .jsonText)
                t.column("agent_id", .text)
                t.column("error", .text)
                t.column("created_at", .datetime).notNull()
                t.column("finished_at", .datetime)
            }
            try db.execute(sql: "INSERT INTO measurement_v2 SELECT * FROM measurement")
            try db.drop(table: "measurement")
            try db.rename(table: "measurement_v2", to: "measurement")
            try db.create(index: "measurement_on_campaign", on: "measurement", columns: ["campaign_id", "purpose", "round"])
        },
    ]

    public static func campaign(_ id: String, in store: SeerStore) throws -> CampaignRecord? {
        try store.database.read { db in try CampaignRecord.fetchOne(db, key: id) }
    }

    public static func campaigns(in store: SeerStore) throws -> [CampaignRecord] {
        try store.database.read { db in try CampaignRecord.order(Column("created_at")).fetchAll(db) }
    }

    /// The campaigns done whose row last changed at or after `since`, oldest first.
    public static func done(since: Date, in store: SeerStore) throws -> [CampaignRecord] {
        try store.database.read { db in
            try CampaignRecord.filter(Column("phase") == CampaignPhase.done.rawValue && Column("updated_at") >= since)
                .order(Column("updated_at")).fetchAll(db)
        }
    }

    public static func save(_ record: CampaignRecord, in store: SeerStore) throws {
        try store.database.write { db in try record.save(db) }
    }

    public static func setPhase(_ id: String, _ phase: CampaignPhase, detail: String, in store: SeerStore) throws {
        try store.database.write { db in
            try db.execute(sql: "UPDATE campaign SET phase = ?, detail = ?, updated_at = ? WHERE id = ?",
                           arguments: [phase.rawValue, detail, Date(), id])
        }
    }

    /// Makes the campaign's failed measurements (an error and no result) unfinished again, so that the next run
    /// measures them; returns how many.
    @discardableResult
    public static func reopenFailedMeasurements(_ id: String, in store: SeerStore) throws -> Int {
        try store.database.write { db in
            try db.execute(sql: """
                UPDATE measurement SET error = NULL, agent_id = NULL, finished_at = NULL
                WHERE campaign_id = ? AND error IS NOT NULL AND accuracy IS NULL
                """, arguments: [id])
            return db.changesCount
        }
    }

    public static func measurements(_ id: String, purpose: MeasurementPurpose? = nil,
                                    in store: SeerStore) throws -> [MeasurementRecord] {
        try store.database.read { db in
            var request = MeasurementRecord.filter(Column("campaign_id") == id)
            if let purpose { request = request.filter(Column("purpose") == purpose.rawValue) }
            return try request.order(Column("round"), Column("position"), Column("job_id")).fetchAll(db)
        }
    }

    /// Inserts planned rows that are not there yet (a resumed plan keeps its first version).
    public static func plan(_ rows: [MeasurementRecord], in store: SeerStore) throws {
        try store.database.write { db in
            for row in rows where try MeasurementRecord.fetchOne(db, key: row.jobID) == nil { try row.insert(db) }
        }
    }

    public static func update(_ row: MeasurementRecord, in store: SeerStore) throws {
        try store.database.write { db in try row.update(db) }
    }

    public static func saveSnapshot(_ snapshot: PredictorSnapshotRecord, in store: SeerStore) throws {
        try store.database.write { db in try snapshot.save(db) }
    }

    public static func latestSnapshot(_ id: String, in store: SeerStore) throws -> PredictorSnapshotRecord? {
        try store.database.read { db in
            try PredictorSnapshotRecord.filter(Column("campaign_id") == id).order(Column("round").desc).fetchOne(db)
        }
    }

    public static func snapshot(_ id: String, round: Int, in store: SeerStore) throws -> PredictorSnapshotRecord? {
        try store.database.read { db in
            try PredictorSnapshotRecord.filter(Column("campaign_id") == id && Column("round") == round).fetchOne(db)
        }
    }

    public static func chosen(_ id: String, in store: SeerStore) throws -> [ChosenPolicyRecord] {
        try store.database.read { db in try ChosenPolicyRecord.filter(Column("campaign_id") == id).fetchAll(db) }
    }

    public static func saveChosen(_ record: ChosenPolicyRecord, in store: SeerStore) throws {
        try store.database.write { db in try record.save(db) }
    }
}
