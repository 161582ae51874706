import Foundation
import GRDB

/// Why a campaign stopped before its end without failing.
public enum CampaignInterruption: Error, Equatable, CustomStringConvertible {
    /// `campaign stop` asked for it; its queued jobs are withdrawn.
    case stopped(String)
    /// The coordinator is shutting down; its jobs stay queued and the next `serve` carries the campaign on.
    case shuttingDown

    public var description: String {
        switch self {
        case let .stopped(reason): return "stopped: \(reason)"
        case .shuttingDown: return "the coordinator is shutting down"
        }
    }
}

/// What a request asks the coordinator service to do with a campaign.
public enum CampaignAction: String, Codable, Sendable {
    /// Start a new campaign (or carry on with one of the same config).
    case run
    /// Carry on with a stored campaign; a failed or stopped one measures its failed rows again.
    case resume
    /// Stop a running campaign: its queued jobs are withdrawn, what is running finishes and is recorded.
    case stop
}

/// Where a request stands.
public enum CampaignRequestState: String, Codable, Sendable {
    /// Written by the CLI, not yet seen by the service.
    case requested
    /// The service acted on it.
    case accepted
    /// The service refused it; `message` says why.
    case refused
    /// Nobody answered in time and the CLI took it back, so that a later `serve` does not act on it.
    case withdrawn
}

/// A request to the coordinator service (`seer-coordinator serve`), written into its database by the CLI.
///
/// This table is the control channel: the service polls it and answers in the row. It is local by construction and
/// authenticated by the file system: only who may write the database (which holds every result anyway) can submit,
/// stop or resume campaigns. See docs/SERVICE.md.
public struct CampaignRequestRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "campaign_request"
    public var id: Int64?
    public var campaignID: String
    public var action: CampaignAction
    /// The config as JSON (run).
    public var config: String?
    /// Results folder, absolute (run, resume); nil: runs/<campaign> in the service's working directory.
    public var results: String?
    public var state: CampaignRequestState
    public var message: String?
    public var requestedAt: Date
    public var answeredAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, campaignID = "campaign_id", action, config, results, state, message
        case requestedAt = "requested_at", answeredAt = "answered_at"
    }

    /// A new request.
    public init(campaignID: String, action: CampaignAction, config: String? = nil, results: String? = nil) {
        self.campaignID = campaignID
        self.action = action
        self.config = config
        self.results = results
        state = .requested
        requestedAt = Date()
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The control channel's queries.
public enum CampaignRequests {
    /// Writes `request`; returns it with its id.
    public static func submit(_ request: CampaignRequestRecord, in store: SeerStore) throws -> CampaignRequestRecord {
        var request = request
        try store.database.write { db in try request.insert(db) }
        return request
    }

    /// Requests not answered yet, oldest first.
    public static func pending(in store: SeerStore) throws -> [CampaignRequestRecord] {
        try store.database.read { db in
            try CampaignRequestRecord.filter(Column("state") == CampaignRequestState.requested.rawValue)
                .order(Column("id")).fetchAll(db)
        }
    }

    /// The request with `id`.
    public static func request(_ id: Int64, in store: SeerStore) throws -> CampaignRequestRecord? {
        try store.database.read { db in try CampaignRequestRecord.fetchOne(db, key: id) }
    }

    /// Answers a pending request (a withdrawn one stays withdrawn); returns whether it was still pending.
    @discardableResult
    public static func answer(_ id: Int64, _ state: CampaignRequestState, message: String?, in store: SeerStore) throws -> Bool {
        try store.database.write { db in
            try db.execute(sql: "UPDATE campaign_request SET state = ?, message = ?, answered_at = ? WHERE id = ? AND state = 'requested'",
                           arguments: [state.rawValue, message, Date(), id])
            return db.changesCount == 1
        }
    }

    /// Campaigns the service took on (an accepted run or resume) and that are not finished, stopped or failed: what a
    /// service that starts again carries on, with the results folder of the latest such request.
    public static func unfinishedServiceCampaigns(in store: SeerStore) throws -> [(campaign: CampaignRecord, results: String?)] {
        try store.database.read { db in
            let rows = try CampaignRequestRecord
                .filter(Column("state") == CampaignRequestState.accepted.rawValue)
                .filter([CampaignAction.run.rawValue, CampaignAction.resume.rawValue].contains(Column("action")))
                .order(Column("id")).fetchAll(db)
            var latest: [String: CampaignRequestRecord] = [:]
            for row in rows { latest[row.campaignID] = row }
            return try latest.keys.sorted().compactMap { id in
                guard let campaign = try CampaignRecord.fetchOne(db, key: id), !campaign.phase.isFinal else { return nil }
                return (campaign, latest[id]?.results)
            }
        }
    }
}
