import ArgumentParser
import Foundation
import SeerCoordinator

/// Why a request to the coordinator service did not go through.
enum CampaignRequestError: Error, CustomStringConvertible {
    /// The service answered no, for `reason`.
    case refused(action: CampaignAction, campaign: String, reason: String)
    /// Nobody answered within `seconds`; the request was withdrawn.
    case unanswered(holder: CoordinatorLockHolder, seconds: Int)

    var description: String {
        switch self {
        case let .refused(action, campaign, reason):
            return "the coordinator refused to \(action.rawValue) campaign \(campaign): \(reason)"
        case let .unanswered(holder, seconds):
            return "\(holder) did not answer within \(seconds) s; the request was withdrawn"
        }
    }
}

/// The CLI's side of the control channel: writes a request into the database of the running `serve`, waits for its
/// answer, and follows the campaign's progress from the same database.
struct CampaignServiceClient {
    let db: String
    let holder: CoordinatorLockHolder
    /// How long the service has to answer before the request is withdrawn.
    var answerTimeout: TimeInterval = 15

    /// The running service owning `db`, if any.
    static func service(owning db: String) -> CampaignServiceClient? {
        guard FileManager.default.fileExists(atPath: db), let holder = CoordinatorLock.currentHolder(of: db),
              holder.isService else { return nil }
        return CampaignServiceClient(db: db, holder: holder)
    }

    /// Sends `request` and returns it answered; throws when it is refused or nobody answers in time.
    func send(_ request: CampaignRequestRecord) throws -> CampaignRequestRecord {
        let store = try SeerStore(path: db)
        let sent = try CampaignRequests.submit(request, in: store)
        let deadline = Date(timeIntervalSinceNow: answerTimeout)
        while Date() < deadline {
            if let answered = try CampaignRequests.request(sent.id!, in: store), answered.state != .requested {
                guard answered.state == .accepted else {
                    throw CampaignRequestError.refused(action: request.action, campaign: request.campaignID,
                                                       reason: answered.message ?? "no reason given")
                }
                return answered
            }
            usleep(50_000)
        }
        if try CampaignRequests.answer(sent.id!, .withdrawn, message: "no answer within \(answerTimeout) s", in: store) {
            throw CampaignRequestError.unanswered(holder: holder, seconds: Int(answerTimeout))
        }
        return try CampaignRequests.request(sent.id!, in: store) ?? sent
    }

    /// How following a campaign ended, when it did not throw.
    enum FollowOutcome: Equatable {
        case done
        /// `detach` was set (SIGINT/SIGTERM): the campaign goes on in the service.
        case detached
    }

    /// Prints the campaign's progress as it changes until it is done, failed or stopped (throws), or until `detach` is
    /// set (by default by SIGINT/SIGTERM): the campaign goes on in the service.
    @discardableResult
    func follow(_ name: String, since request: CampaignRequestRecord, resultsHint: String?,
                detach: ServeCommand.StopFlag = ServeCommand.terminationFlag()) throws -> FollowOutcome {
        let store = try SeerStore(path: db, access: .readOnly)
        print("following campaign \(name) in \(holder); Ctrl-C detaches (the campaign goes on), "
              + "`seer-coordinator campaign stop --campaign \(name) --db \(db)` stops it")
        let accepted = request.answeredAt ?? request.requestedAt
        var lastStage = ""
        var lastFinished = -1
        var lastPrinted = Date.distantPast
        var sawItMove = false
        while true {
            if detach.isSet {
                print("detached; campaign \(name) goes on: `seer-coordinator campaign status --campaign \(name) --db \(db)`")
                return .detached
            }
            if let record = try CampaignStore.campaign(name, in: store) {
                let rows = try CampaignStore.measurements(name, in: store)
                let finished = rows.filter(\.isFinished).count
                let failed = rows.filter { $0.error != nil }.count
                let stage = "[\(name)] \(record.phase.rawValue): \(record.detail)"
                // A line per stage, then one per tenth of its measurements or every 10 s of progress, not one per job.
                let step = max(1, rows.count / 10)
                if stage != lastStage || (finished != lastFinished
                    && (finished - lastFinished >= step || finished == rows.count || Date().timeIntervalSince(lastPrinted) >= 10)) {
                    print(stage + " (\(finished)/\(rows.count) measurements" + (failed > 0 ? ", \(failed) failed)" : ")"))
                    (lastStage, lastFinished, lastPrinted) = (stage, finished, Date())
                }
                sawItMove = sawItMove || !record.phase.isFinal || record.updatedAt > accepted
                if sawItMove && record.phase.isFinal {
                    switch record.phase {
                    case .done:
                        if let resultsHint { print("report: \(resultsHint)") }
                        return .done
                    case .stopped:
                        print("campaign \(name) was stopped; `campaign resume --campaign \(name)` carries on")
                        throw ExitCode(1)
                    default:
                        throw CampaignError.failed("\(record.detail) (`campaign resume --campaign \(name)` retries its failed rows)")
                    }
                }
            }
            usleep(250_000)
        }
    }
}
