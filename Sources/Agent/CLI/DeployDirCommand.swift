import ArgumentParser
import Foundation
import SeerAgent
import SeerWire

/// `seer-agent deploy-dir`: look at and repair the agent's deploy directory by hand.
struct DeployDirCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy-dir",
        abstract: "Show, roll back or prune the installed models in a deploy directory.",
        discussion: """
            A deploy directory holds releases/<deploy_id>/ (model.safetensors, policy.json, manifest.json) and the \
            symlinks current and previous; see docs/DEPLOYMENT.md. Opening it removes leftovers of an interrupted \
            install. Changes take the directory's lock, so they wait for an install the agent has in progress.
            """,
        subcommands: [Show.self, Rollback.self, Prune.self],
        defaultSubcommand: Show.self)

    struct Location: ParsableArguments {
        @Option(help: "The deploy directory.")
        var deployDir: String

        func open() throws -> DeployDirectory {
            try DeployDirectory(url: URL(fileURLWithPath: deployDir), create: false)
        }
    }

    /// `deploy-dir show`: current and previous manifests, and what else is on disk.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the current and previous releases' manifests.")

        @OptionGroup var location: Location

        @Flag(help: "Re-hash each shown release's model file against its manifest.")
        var verify = false

        @Flag(help: "Print one JSON object (directory, current, previous, releases) instead of text.")
        var json = false

        func run() throws {
            let directory = try location.open()
            let current = try directory.current()
            let previous = try directory.previous()
            if verify {
                for release in [current, previous].compactMap({ $0 }) { try directory.verifyFiles(of: release) }
            }
            let releases = try directory.releaseIDs()
            let others = releases.filter { $0 != current?.deployID && $0 != previous?.deployID }
            if json {
                struct Listing: Encodable {
                    var directory: String
                    var current: DeployManifest?
                    var previous: DeployManifest?
                    var releases: [String]
                    var removedLeftovers: [String]
                    enum CodingKeys: String, CodingKey {
                        case directory, current, previous, releases, removedLeftovers = "removed_leftovers"
                    }
                    func encode(to encoder: Encoder) throws {
                        // nil as JSON null, so "no previous release" is explicit.
                        var container = encoder.container(keyedBy: CodingKeys.self)
                        try container.encode(directory, forKey: .directory)
                        try container.encode(current, forKey: .current)
                        try container.encode(previous, forKey: .previous)
                        try container.encode(releases, forKey: .releases)
                        try container.encode(removedLeftovers, forKey: .removedLeftovers)
                    }
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let listing = Listing(directory: directory.url.path, current: current?.manifest, previous: previous?.manifest,
                                      releases: releases, removedLeftovers: directory.removedLeftovers)
                print(String(decoding: try encoder.encode(listing), as: UTF8.self))
                return
            }
            print("deploy directory: \(directory.url.path)")
            if !directory.removedLeftovers.isEmpty {
                print("removed leftovers of an interrupted install: \(directory.removedLeftovers.joined(separator: ", "))")
            }
            print("current:  \(current.map(Self.describe) ?? "none")")
            print("previous: \(previous.map(Self.describe) ?? "none")")
            if !others.isEmpty { print("other releases (removed by prune): \(others.joined(separator: ", "))") }
            if verify { print("model files match their manifests") }
        }

        static func describe(_ release: DeployedRelease) -> String {
            let manifest = release.manifest
            var text = "\(manifest.deployID)  profile \(manifest.profile)  model \(manifest.model)  "
                + "\(manifest.sizeBytes) bytes  sha256 \(manifest.sha256.prefix(16))...  installed \(manifest.installedAt)"
            if !manifest.metadata.isEmpty {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                if let data = try? encoder.encode(manifest.metadata) { text += "  metadata \(String(decoding: data, as: UTF8.self))" }
            }
            return text
        }
    }

    /// `deploy-dir rollback`: swap current and previous.
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the previous release current again (and the current one previous).",
            discussion: "A running agent keeps the model it has loaded until it reloads; this only switches the links.")

        @OptionGroup var location: Location

        func run() throws {
            let directory = try location.open()
            let was = try directory.current()
            let now = try directory.rollback()
            print("current: \(now.deployID) (profile \(now.manifest.profile), model \(now.manifest.model))"
                  + (was.map { "; previous: \($0.deployID)" } ?? ""))
        }
    }

    /// `deploy-dir prune`: delete releases other than current and previous.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every release but current and previous.")

        @OptionGroup var location: Location

        func run() throws {
            let removed = try location.open().prune()
            print(removed.isEmpty ? "nothing to remove" : "removed \(removed.joined(separator: ", "))")
        }
    }
}
