import ArgumentParser
import Foundation
import SeerTransport
import SeerAgent

/// `seer-agent keygen --out DIR`: this agent's CURVE key pair.
struct AgentKeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair for this agent (DIR/public.key, DIR/secret.key with mode 0600).",
        discussion: "Add public.key to the coordinator's allow-list (seer-coordinator serve --allow); keep secret.key here.")

    @Option(help: "Directory to write the key pair into (created if missing).")
    var out: String

    @Flag(help: "Replace an existing key pair.")
    var force = false

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out must name a directory") }
    }

    func run() throws {
        let pair = try CurveKeyFiles.generate(into: out, force: force)
        print("wrote \(out)/\(CurveKeyFiles.publicName) and \(out)/\(CurveKeyFiles.secretName) (mode 0600)")
        print("public key: \(pair.publicKey)")
    }
}
