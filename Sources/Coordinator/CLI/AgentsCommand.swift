import ArgumentParser
import Foundation
import SeerCoordinator

/// `seer-coordinator agents`: the agents a coordinator has seen, and which are quarantined.
struct AgentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "List the agents registered with the coordinator of a database: connected or not, and quarantined "
            + "ones (benched after failing jobs in a row) with until when and why.")

    @Option(help: "SQLite database.") var db = "seer.sqlite"

    func run() throws {
        // Only reads: a mistyped --db is an error, not a new empty database.
        let store = try SeerStore(path: db, access: .readOnly)
        let agents = try store.namingErrors { try store.agents() }
        if agents.isEmpty { print("no agents in \(db)") }
        let formatter = ISO8601DateFormatter()
        let now = Date()
        for agent in agents {
            var parts = [agent.id, agent.deviceKey, agent.executor.rawValue, agent.connected ? "connected" : "gone",
                         "last seen \(formatter.string(from: agent.lastSeen))"]
            if agent.isQuarantined(at: now), let until = agent.quarantinedUntil {
                parts.append(String(format: "QUARANTINED for %.0f s more (until %@): %@", until.timeIntervalSince(now),
                                    formatter.string(from: until), agent.quarantineReason ?? ""))
            }
            print(parts.joined(separator: "  "))
        }
    }
}
