import Foundation
import GRDB
import SeerWire

/// Why the store could not be opened or written; each names the database file.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The file was migrated by a newer build: it has steps this build does not know.
    case newerSchema(path: String, unknown: [String])
    /// Two migrations share a name.
    case duplicateMigration(String)
    /// A read-only open found no file at `path` (a mistyped `--db`): reading never creates a database.
    case notFound(path: String)
    /// A read-only open found a file without all of this build's migrations: an older Seer's database, which a
    /// command that writes upgrades. Reading cannot migrate.
    case olderSchema(path: String, missing: [String])
    /// A read-only open found a file with none of Seer's migrations (an empty file, another program's database).
    case notSeerDatabase(path: String)
    /// SQLite refused to open or read the file at `path`, for `reason`.
    case database(path: String, reason: String)

    public var description: String {
        switch self {
        case let .newerSchema(path, unknown):
            return "database \(path) was created by a newer Seer (unknown migrations: \(unknown.joined(separator: ", "))); refusing to open it"
        case let .duplicateMigration(name):
            return "migration \"\(name)\" is registered twice"
        case let .notFound(path):
            return "no database \(path): check --db, or create it with a command that writes (serve, campaign run)"
        case let .olderSchema(path, missing):
            return "database \(path) was created by an older Seer (missing migrations: \(missing.joined(separator: ", "))); "
                + "a command that writes (serve, campaign run) upgrades it"
        case let .notSeerDatabase(path):
            return "\(path) is not a Seer database (it has none of its tables)"
        case let .database(path, reason):
            return "database \(path): \(reason)"
        }
    }
}

/// The coordinator's SQLite database: jobs, their attempts and results, and the agents seen.
///
/// One `DatabasePool` in WAL mode, so readers (waiters, CLI summaries, tests in other processes)
/// never block the broker's writes. All access goes through `read {}` / `write {}`. Writes use
/// `synchronous = NORMAL`: a coordinator crash loses nothing committed; a power cut may lose the
/// last few transactions, which is an acceptable trade for thousands of commits per second.
public final class SeerStore: @unchecked Sendable {
    /// The pool, for code that adds its own tables through `migrations` and queries them.
    public let database: DatabasePool
    /// The file path.
    public let path: String

    private static let resultEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// How a store opens its file.
    public enum Access: Sendable {
        /// Creates the file if needed and applies the migrations: what commands that write use.
        case readWrite
        /// Opens an existing, current database for reading only: never creates, migrates or writes anything, so a
        /// mistyped path is an error and a read-only file (or a copy under someone else's account) can be read.
        case readOnly
    }

    /// Opens the database at `path` (creating it if needed when `access` is `.readWrite`) with `migrations`
    /// applied in order; `.readOnly` requires them all to be applied already.
    ///
    /// Errors name the file. A failed open removes what it created (the file itself when it did not exist, and
    /// the `-wal`/`-shm` files SQLite made), so it cannot leave a stray database or WAL files behind.
    public init(path: String, access: Access = .readWrite, migrations: [StoreMigration] = SeerStore.migrations) throws {
        var migrator = DatabaseMigrator()
        var names: [String] = []
        for step in migrations {
            guard !names.contains(step.name) else { throw StoreError.duplicateMigration(step.name) }
            names.append(step.name)
            migrator.registerMigration(step.name, migrate: step.migrate)
        }
        let manager = FileManager.default
        // SQLite would only say "unable to open database file".
        if access == .readOnly, !manager.fileExists(atPath: path) { throw StoreError.notFound(path: path) }
        // No other process has the database open when its -wal and -shm files are absent (they exist while any
        // connection does), so removing the ones this open made cannot pull them from under anyone.
        let created = [path, path + "-wal", path + "-shm"].filter { !manager.fileExists(atPath: $0) }

        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.readonly = access == .readOnly
        if access == .readWrite {
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }
        var opened: DatabasePool?
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            opened = pool
            let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
            let unknown = applied.subtracting(names)
            guard unknown.isEmpty else { throw StoreError.newerSchema(path: path, unknown: unknown.sorted()) }
            switch access {
            case .readWrite:
                try migrator.migrate(pool)
                // The reader that looked at the applied steps predates the new schema: later reads get fresh ones.
                if !applied.isSuperset(of: names) { pool.invalidateReadOnlyConnections() }
            case .readOnly:
                guard !applied.isEmpty || names.isEmpty else { throw StoreError.notSeerDatabase(path: path) }
                let missing = names.filter { !applied.contains($0) }
                guard missing.isEmpty else { throw StoreError.olderSchema(path: path, missing: missing) }
            }
        } catch {
            // Close before removing, so that SQLite does not recreate or write to what is removed.
            try? opened?.close()
            opened = nil
            for file in created where manager.fileExists(atPath: file) { try? manager.removeItem(atPath: file) }
            throw Self.naming(error, path: path)
        }
        database = opened!
        self.path = path
    }

    /// `error` as a `StoreError` naming `path`: SQLite's own messages do not say which file they are about.
    static func naming(_ error: Error, path: String) -> Error {
        guard let error = error as? DatabaseError else { return error }
        return StoreError.database(path: path, reason: error.description)
    }

    /// Runs `body`, reporting SQLite errors from it as `StoreError.database` naming this store's file.
    public func namingErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw Self.naming(error, path: path) }
    }

    // MARK: Writes

    /// Applies `changes` in order in one transaction; finished jobs are never changed again.
    ///
    /// Every job UPDATE is guarded by `state IN ('queued', 'running')`, so a late or duplicated
    /// RESULT can never overwrite or re-record a finished job (results are idempotent by job id),
    /// and a resubmitted id keeps its first row (`INSERT OR IGNORE`).
    public func apply(_ changes: [StoreChange], at now: Date = Date()) throws {
        guard !changes.isEmpty else { return }
        // One timestamp per batch, converted once: date formatting is a visible cost at thousands of changes per second.
        let stamp = now.databaseValue
        try database.write { db in
            for change in changes {
                try apply(change, db: db, now: stamp)
            }
        }
    }

    /// The last payload written and its JSON: jobs submitted in bulk often share one payload, and
    /// comparing is much cheaper than encoding. Touched only inside `write {}`, which serializes it.
    private var lastPayload: (payload: JobPayload, json: String)?

    private func payloadJSON(_ payload: JobPayload) throws -> String {
        if let last = lastPayload, last.payload == payload { return last.json }
        let text = try Self.json(payload)
        lastPayload = (payload, text)
        return text
    }

    private static func json<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try resultEncoder.encode(value), as: UTF8.self)
    }

    private func apply(_ change: StoreChange, db: Database, now: DatabaseValue) throws {
        let unfinished = "state IN ('queued', 'running')"
        switch change {
        case let .jobSubmitted(submission):
            // The columns of JobRecord, written directly: the record machinery costs more than the row at this rate.
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO job (id, device_key, kind, payload, state, attempts, max_attempts, created_at, updated_at,
                                           owner)
                VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)
                """).execute(arguments: [submission.id, submission.deviceKey, submission.kind.rawValue, try payloadJSON(submission.payload),
                                         submission.maxAttempts, now, now, submission.owner])
        case let .jobDispatched(id, agentID, attempts):
            try db.cachedStatement(sql: """
                UPDATE job SET state = 'running', agent_id = ?, attempts = ?, updated_at = ? WHERE id = ? AND \(unfinished)
                """).execute(arguments: [agentID, attempts, now, id])
        case let .jobRequeued(id, attempts, code, message):
            try db.cachedStatement(sql: """
                UPDATE job SET state = 'queued', agent_id = NULL, attempts = ?,
                    last_error = coalesce(?, last_error), last_error_code = coalesce(?, last_error_code), updated_at = ?
                WHERE id = ? AND \(unfinished)
                """).execute(arguments: [attempts, message, code?.rawValue, now, id])
        case let .jobDone(id, agentID, attempts, result):
            try db.cachedStatement(sql: """
                UPDATE job SET state = 'done', agent_id = ?, attempts = ?, result = ?, updated_at = ?, finished_at = ?
                WHERE id = ? AND \(unfinished)
                """).execute(arguments: [agentID, attempts, try Self.json(result), now, now, id])
        case let .jobFailed(id, attempts, code, message):
            try db.cachedStatement(sql: """
                UPDATE job SET state = 'failed', agent_id = NULL, attempts = ?, last_error = ?, last_error_code = ?,
                    updated_at = ?, finished_at = ?
                WHERE id = ? AND \(unfinished)
                """).execute(arguments: [attempts, message, code.rawValue, now, now, id])
        case let .agentRegistered(ready, publicKey):
            let record = AgentRecord(ready: ready, publicKey: publicKey, at: Date.fromDatabaseValue(now) ?? Date())
            // first_seen and the key binding survive re-registration; everything else is the latest READY.
            try record.insert(db, onConflict: .ignore)
            try db.cachedStatement(sql: """
                UPDATE agent SET device_key = ?, executor = ?, public_key = coalesce(public_key, ?), descriptor = ?, capabilities = ?,
                    last_seen = ?, connected = 1 WHERE id = ?
                """).execute(arguments: [ready.deviceKey, ready.executor.rawValue, publicKey,
                                         try Self.json(ready.device), try Self.json(ready.capabilities),
                                         now, ready.agentID])
        case let .agentLeft(agentID):
            try db.cachedStatement(sql: "UPDATE agent SET last_seen = ?, connected = 0 WHERE id = ?")
                .execute(arguments: [now, agentID])
        case let .agentQuarantined(agentID, forMs, reason):
            let batchTime = Date.fromDatabaseValue(now) ?? Date()
            try db.cachedStatement(sql: "UPDATE agent SET quarantined_until = ?, quarantine_reason = ? WHERE id = ?")
                .execute(arguments: [batchTime.addingTimeInterval(Double(forMs) / 1000), reason, agentID])
        }
    }

    /// Called once at coordinator start: jobs left `running` by a previous process go back to `queued`.
    ///
    /// The interrupted dispatch is not counted against the job (its attempt count goes down by one):
    /// the coordinator stopping is not the job's fault. Returns how many jobs were requeued.
    @discardableResult
    public func recoverInterruptedJobs(at now: Date = Date()) throws -> Int {
        try database.write { db in
            try db.execute(sql: """
                UPDATE job SET state = 'queued', agent_id = NULL, attempts = max(attempts - 1, 0), updated_at = ?
                WHERE state = 'running'
                """, arguments: [now])
            let count = db.changesCount
            try db.execute(sql: "UPDATE agent SET connected = 0 WHERE connected = 1")
            // Quarantines live in the broker that imposed them; a new one starts every agent with a clean record.
            try db.execute(sql: "UPDATE agent SET quarantined_until = NULL WHERE quarantined_until IS NOT NULL")
            return count
        }
    }

    /// Puts failed jobs back in the queue from their first attempt, their last error kept until a new one replaces
    /// it; jobs in any other state are left alone. Returns how many were requeued.
    @discardableResult
    public func requeueFailedJobs(_ ids: [JobID], at now: Date = Date()) throws -> Int {
        try namingErrors {
            try database.write { db in
                var count = 0
                for id in ids {
                    try db.execute(sql: """
                        UPDATE job SET state = 'queued', attempts = 0, agent_id = NULL, result = NULL, finished_at = NULL,
                            updated_at = ?
                        WHERE id = ? AND state = 'failed'
                        """, arguments: [now, id])
                    count += db.changesCount
                }
                return count
            }
        }
    }

    // MARK: Reads

    /// The row of job `id`, if any.
    public func job(_ id: JobID) throws -> JobRecord? {
        try database.read { db in try JobRecord.fetchOne(db, key: id) }
    }

    /// Jobs in `state` (all if nil), in submission order.
    public func jobs(state: JobState? = nil) throws -> [JobRecord] {
        try database.read { db in
            var request = JobRecord.all()
            if let state { request = request.filter(JobRecord.Columns.state == state.rawValue) }
            return try request.order(Column.rowID).fetchAll(db)
        }
    }

    /// The `limit` most recently changed jobs, newest first.
    public func recentJobs(limit: Int) throws -> [JobRecord] {
        try database.read { db in
            try JobRecord.order(JobRecord.Columns.updatedAt.desc, Column.rowID.desc).limit(limit).fetchAll(db)
        }
    }

    /// Seconds from submission to the end of every finished (done or failed) job.
    public func finishedJobDurations() throws -> [Double] {
        try database.read { db in
            try JobRecord.filter([JobState.done.rawValue, JobState.failed.rawValue].contains(JobRecord.Columns.state))
                .fetchAll(db).compactMap { job in job.finishedAt.map { $0.timeIntervalSince(job.createdAt) } }
        }
    }

    /// Queued and running jobs, in submission order: what a restarted broker must finish.
    public func unfinishedJobs() throws -> [JobRecord] {
        try database.read { db in
            try JobRecord.filter([JobState.queued.rawValue, JobState.running.rawValue].contains(JobRecord.Columns.state))
                .order(Column.rowID).fetchAll(db)
        }
    }

    /// How job `id` ended; nil if it is unknown or not finished.
    public func outcome(of id: JobID) throws -> JobOutcome? {
        try job(id)?.outcome
    }

    /// Number of jobs per state (states without jobs are 0).
    public func stateCounts() throws -> [JobState: Int] {
        try database.read { db in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM job GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    /// Every agent ever registered.
    public func agents() throws -> [AgentRecord] {
        try database.read { db in try AgentRecord.order(Column("id")).fetchAll(db) }
    }

    /// agent_id -> the CURVE public key it first registered with, so a restarted coordinator keeps the bindings.
    public func agentKeyBindings() throws -> [String: String] {
        try database.read { db in
            var bindings: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, public_key FROM agent WHERE public_key IS NOT NULL") {
                bindings[row["id"]] = row["public_key"]
            }
            return bindings
        }
    }
}
