import ArgumentParser
import Foundation
import SeerCoordinator

/// `seer-coordinator redeploy`: asks the running coordinator (`serve` on the same database) to deploy a profile's model.
struct RedeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redeploy",
        abstract: "Deploy a profile's model to an agent by hand, as a battery change would, and wait for the outcome.",
        discussion: """
            Writes a deployment request into --db; the `seer-coordinator serve` using that database picks it up \
            within 50 ms, sends the campaign's prepared model for the profile (or re-optimizes for the profile's \
            budget against the stored predictor when none was prepared) and records the agent's answer. Exits 0 \
            when the agent installed the model, 1 when the deployment failed, 2 when no answer came within --wait-s \
            (a request no coordinator picked up by then is withdrawn, so a later `serve` does not act on it).
            """)

    @Option(help: "Agent id (as it registered).") var device: String
    @Option(help: "Profile name, as the campaign config's profiles section names it.") var profile: String
    @Option(help: "Campaign to deploy from (default: the one `serve` uses).") var campaign: String?
    @Option(help: "SQLite database of the running coordinator.") var db = "seer.sqlite"
    @Option(help: "Seconds to wait for the outcome (0: do not wait).") var waitS = 60.0
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !device.isEmpty, device.utf8.count <= 255 else { throw ValidationError("--device must be 1 to 255 bytes") }
        guard !profile.isEmpty, profile.utf8.count <= 255 else { throw ValidationError("--profile must be 1 to 255 bytes") }
        guard waitS >= 0 else { throw ValidationError("--wait-s must be at least 0 (got \(waitS))") }
        guard FileManager.default.fileExists(atPath: db) else {
            throw ValidationError("no database \(db): run `seer-coordinator serve --db \(db)` (and a campaign) first")
        }
    }

    func run() throws {
        let store = try SeerStore(path: db)
        let request = try DeploymentStore.insert(DeploymentRecord(
            id: "", agentID: device, profile: profile, trigger: "manual", state: "requested", campaignID: campaign,
            requestedAt: Date()), in: store)
        if !json { print("requested \(request.id): profile \(profile) on \(device)") }
        guard waitS > 0 else { return }
        let deadline = Date(timeIntervalSinceNow: waitS)
        var record = request
        while !record.isFinished && Date() < deadline {
            usleep(20_000)
            record = try DeploymentStore.deployment(request.id, in: store) ?? record
        }
        if record.state == "requested" {
            try DeploymentStore.withdraw(request.id, reason: "no coordinator picked the request up within \(waitS) s", in: store)
            record = try DeploymentStore.deployment(request.id, in: store) ?? record
        }
        if json {
            print(String(decoding: try JSONEncoder.deployment.encode(record), as: UTF8.self))
        } else {
            print(DeploymentsCommand.line(record))
        }
        switch record.state {
        case "ok", "skipped": return
        case "failed" where record.code == "timeout" && record.sentAt == nil:
            if !json { print("is `seer-coordinator serve --db \(db)` running?") }
            throw ExitCode(2)
        case "failed": throw ExitCode(1)
        default:
            if !json { print("no outcome within \(waitS) s: is `seer-coordinator serve --db \(db)` running?") }
            throw ExitCode(2)
        }
    }
}

/// `seer-coordinator deployments`: the recorded deployments, newest first.
struct DeploymentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deployments", abstract: "List recorded deployments (battery-triggered and manual), newest first.")

    @Option(help: "Only this agent's.") var device: String?
    @Option(help: "At most this many.") var limit = 20
    @Option(help: "SQLite database.") var db = "seer.sqlite"
    @Flag(help: "Print a JSON array.") var json = false

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1 (got \(limit))") }
    }

    func run() throws {
        // Only reads: a mistyped --db is an error, not a new empty database, and a read-only file will do.
        let store = try SeerStore(path: db, access: .readOnly)
        let rows = try store.namingErrors { try DeploymentStore.deployments(agentID: device, limit: limit, in: store) }
        if json {
            print(String(decoding: try JSONEncoder.deployment.encode(rows), as: UTF8.self))
            return
        }
        if rows.isEmpty { print("no deployments in \(db)") }
        for row in rows { print(Self.line(row)) }
    }

    static func line(_ r: DeploymentRecord) -> String {
        var parts = ["\(r.id)", r.agentID, r.profile, r.trigger, r.state]
        if let source = r.source { parts.append(source) }
        if let capacity = r.capacityPercent { parts.append(String(format: "battery %.0f%% %@", capacity, r.batteryStatus ?? "")) }
        if let total = r.totalMs { parts.append(String(format: "%.0f ms", total)) }
        if let code = r.code { parts.append(code) }
        if let message = r.message { parts.append(message) }
        return parts.joined(separator: "  ")
    }
}

extension JSONEncoder {
    static var deployment: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }
}
