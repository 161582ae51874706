import ArgumentParser
import Foundation
import SeerTransport
import SeerCoordinator

/// `seer-coordinator keygen --out DIR`: the coordinator's CURVE key pair.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair for the coordinator (DIR/public.key, DIR/secret.key with mode 0600).",
        discussion: "Give public.key to every agent (seer-agent run --server-key); keep secret.key on the coordinator.")

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
