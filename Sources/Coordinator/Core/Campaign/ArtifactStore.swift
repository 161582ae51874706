import Foundation
import GRDB

/// A compressed network a training agent produced, by SHA-256 (`ArtifactMeasurementBackend`).
public struct ArtifactRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "artifact"
    public var sha256: String
    public var format: String
    public var sizeBytes: Int
    public var model: String
    /// Policy JSON of the request that produced it.
    public var policy: String
    public var data: Data
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case sha256, format, sizeBytes = "size_bytes", model, policy, data, createdAt = "created_at"
    }
}

/// One measurement on a runtime device: which artifact, who trained and who timed it, and both accuracies (percent),
/// the engine's (what the campaign records) and the device's (a check of the runtime's numerics).
public struct ArtifactMeasurementRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "artifact_measurement"
    /// The measurement's job id (the campaign's `measurement.job_id`).
    public var jobID: String
    public var deviceKey: String
    public var sha256: String
    public var trainingAgent: String
    public var runtimeAgent: String
    public var engineAccuracy: Double
    public var deviceAccuracy: Double?
    public var latencyMs: Double
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", deviceKey = "device_key", sha256, trainingAgent = "training_agent"
        case runtimeAgent = "runtime_agent", engineAccuracy = "engine_accuracy", deviceAccuracy = "device_accuracy"
        case latencyMs = "latency_ms", createdAt = "created_at"
    }
}

/// The artifact tables.
public enum ArtifactStore {
    /// Artifact schema step, appended after the latency tables. Frozen.
    public static let migrations: [StoreMigration] = [
        StoreMigration("artifact-v1") { db in
            try db.create(table: "artifact") { t in
                t.primaryKey("sha256", .text)
                t.column("format", .text).notNull()
                t.column("size_bytes", .integer).notNull()
                t.column("model", .text).notNull()
                t.column("policy", .jsonText).notNull()
                t.column("data", .blob).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "artifact_measurement") { t in
                t.primaryKey("job_id", .text)
                t.column("device_key", .text).notNull()
                t.column("sha256", .text).notNull().references("artifact")
                t.column("training_agent", .text).notNull()
                t.column("runtime_agent", .text).notNull()
                t.column("engine_accuracy", .double).notNull()
                t.column("device_accuracy", .double)
                t.column("latency_ms", .double).notNull()
                t.column("created_at", .datetime).notNull()
            }
        },
    ]

    static func save(_ record: ArtifactRecord, in store: SeerStore) throws {
        // The same network from a repeated job is the same file: keep the first.
        try store.database.write { db in try record.insert(db, onConflict: .ignore) }
    }

    static func save(_ record: ArtifactMeasurementRecord, in store: SeerStore) throws {
        try store.database.write { db in try record.save(db) }
    }

    /// Every measurement on runtime devices whose job id starts with `prefix` (a campaign's "<name>:").
    public static func measurements(prefix: String, in store: SeerStore) throws -> [ArtifactMeasurementRecord] {
        try store.database.read { db in
            try ArtifactMeasurementRecord.filter(Column("job_id").like("\(prefix)%")).order(Column("job_id")).fetchAll(db)
        }
    }

    /// The runtime measurement of job `jobID`, if any.
    public static func measurement(jobID: String, in store: SeerStore) throws -> ArtifactMeasurementRecord? {
        try store.database.read { db in try ArtifactMeasurementRecord.fetchOne(db, key: jobID) }
    }

    /// The artifact named `sha256`, if stored.
    public static func artifact(_ sha256: String, in store: SeerStore) throws -> ArtifactRecord? {
        try store.database.read { db in try ArtifactRecord.fetchOne(db, key: sha256) }
    }
}
