import GRDB

/// One named schema step. Once shipped, a step's name and body never change: fix mistakes with a new step.
public struct StoreMigration: Sendable {
    /// Unique, frozen name recorded in `grdb_migrations`.
    public let name: String
    /// The schema change, run once in its own transaction.
    public let migrate: @Sendable (Database) throws -> Void

    /// A step named `name` doing `migrate`.
    public init(_ name: String, migrate: @escaping @Sendable (Database) throws -> Void) {
        self.name = name
        self.migrate = migrate
    }
}

extension SeerStore {
    /// Every migration the coordinator applies, in order.
    ///
    /// Append-only: later work (campaign tables, ...) adds its own `[StoreMigration]` list in its own
    /// file and appends it here, e.g. `fabricMigrations + CampaignStore.migrations`. Never reorder,
    /// rename or edit a shipped step; a database that has steps this build does not know is refused.
    public static var migrations: [StoreMigration] {
        fabricMigrations + CampaignStore.migrations + DeploymentStore.migrations + CostModels.migrations
            + serviceMigrations
            + ArtifactStore.migrations
            + DeploymentStore.weightsMigrations
            + CampaignStore.seedMigrations
    }

    /// Agent quarantines and campaign requests to the coordinator service (issue 12). Frozen.
    public static let serviceMigrations: [StoreMigration] = [
        StoreMigration("fabric-v2-agent-quarantine") { db in
            try db.alter(table: "agent") { t in
                t.add(column: "quarantined_until", .datetime)
                t.add(column: "quarantine_reason", .text)
            }
        },
        StoreMigration("campaign-v3-requests") { db in
            try db.create(table: "campaign_request") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("campaign_id", .text).notNull()
                t.column("action", .text).notNull().check(sql: "action IN ('run', 'resume', 'stop')")
                t.column("config", .jsonText)
                t.column("results", .text)
                t.column("state", .text).notNull().check(sql: "state IN ('requested', 'accepted', 'refused', 'withdrawn')")
                t.column("message", .text)
                t.column("requested_at", .datetime).notNull()
                t.column("answered_at", .datetime)
            }
            try db.create(index: "campaign_request_on_state", on: "campaign_request", columns: ["state"])
        },
        StoreMigration("fabric-v3-job-owner") { db in
            try db.alter(table: "job") { t in t.add(column: "owner", .text) }
        },
    ]

    /// The job queue and agent registry (issue 4). Frozen.
    public static let fabricMigrations: [StoreMigration] = [
        StoreMigration("fabric-v1-job") { db in
            try db.create(table: "job") { t in
                t.primaryKey("id", .text)
                t.column("device_key", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("payload", .jsonText).notNull()
                t.column("state", .text).notNull()
                    .check(sql: "state IN ('queued', 'running', 'done', 'failed')")
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("max_attempts", .integer).notNull()
                t.column("agent_id", .text)
                t.column("last_error", .text)
                t.column("last_error_code", .text)
                t.column("result", .jsonText)
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
                t.column("finished_at", .datetime)
            }
            // Restart scans unfinished jobs; campaigns count by state.
            try db.create(index: "job_on_state", on: "job", columns: ["state"])
        },
        StoreMigration("fabric-v1-agent") { db in
            try db.create(table: "agent") { t in
                t.primaryKey("id", .text)
                t.column("device_key", .text).notNull()
                t.column("executor", .text).notNull()
                t.column("public_key", .text)
                t.column("descriptor", .jsonText).notNull()
                t.column("capabilities", .jsonText).notNull()
                t.column("first_seen", .datetime).notNull()
                t.column("last_seen", .datetime).notNull()
                t.column("connected", .boolean).notNull().defaults(to: false)
            }
        },
    ]
}
