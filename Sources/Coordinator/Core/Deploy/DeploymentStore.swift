import Foundation
import GRDB
import SeerWire

/// A model the campaign prepared for one power profile of one device key: the policy, its fine-tuned weights on disk,
/// and what it measured.
public struct PreparedModelRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "prepared_model"
    public var campaignID: String
    public var deviceKey: String
    public var profile: String
    /// The profile's budget as configured, e.g. "bitops=20%".
    public var budget: String
    public var budgetValue: Double
    public var policy: String
    public var complexity: Double
    public var predicted: Double
    /// Validation accuracy measured on an agent of the device key, percent.
    public var validationAccuracy: Double?
    public var latencyMs: Double?
    /// The file a redeploy sends: a compressed-model file (safetensors) the coordinator fine-tuned with the
    /// measurement's settings and seed, or on a runtime key the artifact the agent measured.
    public var weightsPath: String?
    public var sha256: String?
    public var sizeBytes: Int?
    public var createdAt: Date
    /// Validation accuracy of the file's own weights on the measurement's images, percent: what a deployment is held
    /// to. Nil for models prepared before it was recorded.
    public var weightsValidationAccuracy: Double?
    /// `WeightsReference.compressedModelFormat` (builtin keys) or an artifact format (`onnx-qdq/1`, runtime keys).
    public var weightsFormat: String = WeightsReference.compressedModelFormat

    enum CodingKeys: String, CodingKey {
        case campaignID = "campaign_id", deviceKey = "device_key", profile, budget, budgetValue = "budget_value", policy
        case complexity, predicted, validationAccuracy = "validation_accuracy", latencyMs = "latency_ms"
        case weightsPath = "weights_path", sha256, sizeBytes = "size_bytes", createdAt = "created_at"
        case weightsValidationAccuracy = "weights_validation_accuracy", weightsFormat = "weights_format"
    }

    /// Memberwise initializer.
    public init(campaignID: String, deviceKey: String, profile: String, budget: String, budgetValue: Double, policy: String,
                complexity: Double, predicted: Double, validationAccuracy: Double? = nil, latencyMs: Double? = nil,
                weightsPath: String? = nil, sha256: String? = nil, sizeBytes: Int? = nil, createdAt: Date) {
        self.campaignID = campaignID
        self.deviceKey = deviceKey
        self.profile = profile
        self.budget = budget
        self.budgetValue = budgetValue
        self.policy = policy
        self.complexity = complexity
        self.predicted = predicted
        self.validationAccuracy = validationAccuracy
        self.latencyMs = latencyMs
        self.weightsPath = weightsPath
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.createdAt = createdAt
    }

    /// Ready to deploy: the weights exist.
    public var isReady: Bool { weightsPath != nil && sha256 != nil }
}

/// One deployment to one agent: asked for (battery change or by hand), sent, and how it ended, with timings.
public struct DeploymentRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "deployment"
    public var id: String
    public var agentID: String
    public var deviceKey: String?
    public var profile: String
    /// "battery" (a PROFILE from the agent) or "manual" (`seer-coordinator redeploy`).
    public var trigger: String
    /// requested -> sent -> ok | failed; "skipped" when the agent already runs that profile's model.
    public var state: String
    /// "prepared" (the campaign's fine-tuned model) or "reoptimized" (policy from the stored predictor, fine-tuned on
    /// the agent); nil until planned.
    public var source: String?
    public var campaignID: String?
    public var policy: String?
    public var sha256: String?
    public var sizeBytes: Int?
    public var capacityPercent: Double?
    public var batteryStatus: String?
    public var code: String?
    public var message: String?
    /// The agent's per-phase timings (JSON).
    public var timings: String?
    public var requestedAt: Date
    public var sentAt: Date?
    public var finishedAt: Date?
    /// From the request (PROFILE received, or the CLI's row) to DEPLOYED received, milliseconds.
    public var totalMs: Double?

    enum CodingKeys: String, CodingKey {
        case id, agentID = "agent_id", deviceKey = "device_key", profile, trigger, state, source, campaignID = "campaign_id"
        case policy, sha256, sizeBytes = "size_bytes", capacityPercent = "capacity_percent", batteryStatus = "battery_status"
        case code, message, timings, requestedAt = "requested_at", sentAt = "sent_at", finishedAt = "finished_at"
        case totalMs = "total_ms"
    }

    /// A new row; the other fields are filled in as the deployment proceeds.
    public init(id: String, agentID: String, deviceKey: String? = nil, profile: String, trigger: String, state: String,
                campaignID: String? = nil, capacityPercent: Double? = nil, batteryStatus: String? = nil, requestedAt: Date) {
        self.id = id
        self.agentID = agentID
        self.deviceKey = deviceKey
        self.profile = profile
        self.trigger = trigger
        self.state = state
        self.campaignID = campaignID
        self.capacityPercent = capacityPercent
        self.batteryStatus = batteryStatus
        self.requestedAt = requestedAt
    }

    /// Whether the deployment reached its end.
    public var isFinished: Bool { ["ok", "failed", "skipped"].contains(state) }
}

/// Deployment tables and their queries.
public enum DeploymentStore {
    /// Deployment schema steps (issue 6), appended after the campaign's. Frozen.
    public static let migrations: [StoreMigration] = [
        StoreMigration("deployment-v1-tables") { db in
            try db.create(table: "prepared_model") { t in
                t.column("campaign_id", .text).notNull().references("campaign", onDelete: .cascade)
                t.column("device_key", .text).notNull()
                t.column("profile", .text).notNull()
                t.column("budget", .text).notNull()
                t.column("budget_value", .double).notNull()
                t.column("policy", .jsonText).notNull()
                t.column("complexity", .double).notNull()
                t.column("predicted", .double).notNull()
                t.column("validation_accuracy", .double)
                t.column("latency_ms", .double)
                t.column("weights_path", .text)
                t.column("sha256", .text)
                t.column("size_bytes", .integer)
                t.column("created_at", .datetime).notNull()
                t.primaryKey(["campaign_id", "device_key", "profile"])
            }
            try db.create(table: "deployment") { t in
                t.primaryKey("id", .text)
                t.column("agent_id", .text).notNull()
                t.column("device_key", .text)
                t.column("profile", .text).notNull()
                t.column("trigger", .text).notNull().check(sql: "\"trigger\" IN ('battery', 'manual')")
                t.column("state", .text).notNull().check(sql: "state IN ('requested', 'sent', 'ok', 'failed', 'skipped')")
                t.column("source", .text)
                t.column("campaign_id", .text)
                t.column("policy", .jsonText)
                t.column("sha256", .text)
                t.column("size_bytes", .integer)
                t.column("capacity_percent", .double)
                t.column("battery_status", .text)
                t.column("code", .text)
                t.column("message", .text)
                t.column("timings", .jsonText)
                t.column("requested_at", .datetime).notNull()
                t.column("sent_at", .datetime)
                t.column("finished_at", .datetime)
                t.column("total_ms", .double)
            }
            try db.create(index: "deployment_on_agent", on: "deployment", columns: ["agent_id", "requested_at"])
            try db.create(index: "deployment_on_state", on: "deployment", columns: ["state"])
        },
    ]

    /// Prepared models' weights: their own accuracy and their format (issue 12: deployed weights are the measured
    /// ones). Frozen.
    public static let weightsMigrations: [StoreMigration] = [
        StoreMigration("deployment-v2-prepared-weights") { db in
            try db.alter(table: "prepared_model") { t in
                t.add(column: "weights_validation_accuracy", .double)
                t.add(column: "weights_format", .text).notNull().defaults(to: "seer-compressed/1")
            }
        },
    ]

    public static func savePrepared(_ record: PreparedModelRecord, in store: SeerStore) throws {
        try store.database.write { db in try record.save(db) }
    }

    public static func prepared(campaign: String, in store: SeerStore) throws -> [PreparedModelRecord] {
        try store.database.read { db in
            try PreparedModelRecord.filter(Column("campaign_id") == campaign)
                .order(Column("device_key"), Column("profile")).fetchAll(db)
        }
    }

    public static func prepared(campaign: String, deviceKey: String, profile: String, in store: SeerStore) throws
        -> PreparedModelRecord? {
        try store.database.read { db in
            try PreparedModelRecord.fetchOne(db, key: ["campaign_id": campaign, "device_key": deviceKey, "profile": profile])
        }
    }

    /// Inserts a deployment row under a fresh id "dep-N-XXXXXX": N counts this database's deployments, the random
    /// suffix keeps ids unique on an agent that served another coordinator database before (its releases keep their ids).
    @discardableResult
    public static func insert(_ record: DeploymentRecord, in store: SeerStore) throws -> DeploymentRecord {
        try store.database.write { db in
            var row = record
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deployment") ?? 0
            repeat {
                row.id = "dep-\(count + 1)-" + String(format: "%06x", UInt32.random(in: 0..<(1 << 24)))
            } while try DeploymentRecord.fetchOne(db, key: row.id) != nil
            try row.insert(db)
            return row
        }
    }

    /// Fails a request no coordinator picked up (so a `serve` started later does not act on a stale request);
    /// returns false if it was picked up meanwhile.
    @discardableResult
    public static func withdraw(_ id: String, reason: String, in store: SeerStore) throws -> Bool {
        try store.database.write { db in
            try db.execute(sql: """
                UPDATE deployment SET state = 'failed', code = 'timeout', message = ?, finished_at = ?
                WHERE id = ? AND state = 'requested'
                """, arguments: [reason, Date(), id])
            return db.changesCount > 0
        }
    }

    public static func update(_ record: DeploymentRecord, in store: SeerStore) throws {
        try store.database.write { db in try record.update(db) }
    }

    public static func deployment(_ id: String, in store: SeerStore) throws -> DeploymentRecord? {
        try store.database.read { db in try DeploymentRecord.fetchOne(db, key: id) }
    }

    /// Rows the CLI asked for that no coordinator has picked up yet, oldest first.
    public static func requested(in store: SeerStore) throws -> [DeploymentRecord] {
        try store.database.read { db in
            try DeploymentRecord.filter(Column("state") == "requested").order(Column("requested_at")).fetchAll(db)
        }
    }

    /// The agent's deployments, newest first.
    public static func deployments(agentID: String? = nil, limit: Int = 50, in store: SeerStore) throws -> [DeploymentRecord] {
        try store.database.read { db in
            var request = DeploymentRecord.all()
            if let agentID { request = request.filter(Column("agent_id") == agentID) }
            return try request.order(Column("requested_at").desc, Column("id").desc).limit(limit).fetchAll(db)
        }
    }

    /// The agent's last successful deployment.
    public static func lastSuccessful(agentID: String, in store: SeerStore) throws -> DeploymentRecord? {
        try store.database.read { db in
            try DeploymentRecord.filter(Column("agent_id") == agentID && Column("state") == "ok")
                .order(Column("finished_at").desc).fetchOne(db)
        }
    }

    /// Each agent's profile of its last successful deployment, in one query.
    public static func lastSuccessfulProfiles(in store: SeerStore) throws -> [String: String] {
        try store.database.read { db in
            // SQLite takes the bare column of the row holding MAX(): the newest ok deployment's profile per agent.
            let rows = try Row.fetchAll(db, sql: """
                SELECT agent_id, profile, MAX(finished_at) FROM deployment WHERE state = 'ok' GROUP BY agent_id
                """)
            return Dictionary(rows.map { ($0["agent_id"] as String, $0["profile"] as String) }, uniquingKeysWith: { a, _ in a })
        }
    }
}
