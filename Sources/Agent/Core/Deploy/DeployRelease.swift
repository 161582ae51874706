import Foundation
import SeerWire

/// `manifest.json` of an installed release: what it is and how to check its model file.
public struct DeployManifest: Codable, Equatable, Sendable {
    /// The DEPLOY's id, also the release's directory name.
    public var deployID: String
    /// The power profile the model is for.
    public var profile: String
    /// Model name.
    public var model: String
    /// SHA-256 of `model.safetensors`, 64 lowercase hex digits.
    public var sha256: String
    /// Size of `model.safetensors`.
    public var sizeBytes: Int
    /// When it was staged, ISO 8601 UTC.
    public var installedAt: String
    /// Whatever else the caller wants to keep with the release (coordinator, timings, policy summary).
    public var metadata: [String: JSONValue]

    enum CodingKeys: String, CodingKey {
        case deployID = "deploy_id", profile, model, sha256, sizeBytes = "size_bytes", installedAt = "installed_at", metadata
    }

    /// Memberwise initializer.
    public init(deployID: String, profile: String, model: String, sha256: String, sizeBytes: Int, installedAt: String,
                metadata: [String: JSONValue] = [:]) {
        self.deployID = deployID
        self.profile = profile
        self.model = model
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.installedAt = installedAt
        self.metadata = metadata
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        deployID = try container.decode(String.self, forKey: .deployID)
        profile = try container.decode(String.self, forKey: .profile)
        model = try container.decode(String.self, forKey: .model)
        sha256 = try container.decode(String.self, forKey: .sha256)
        sizeBytes = try container.decode(Int.self, forKey: .sizeBytes)
        installedAt = try container.decode(String.self, forKey: .installedAt)
        metadata = try container.decodeIfPresent([String: JSONValue].self, forKey: .metadata) ?? [:]
    }
}

/// A complete release in `releases/<deploy_id>`: model, policy and manifest.
public struct DeployedRelease: Equatable, Sendable {
    /// The release's id (its directory name).
    public var deployID: String { manifest.deployID }
    /// `releases/<deploy_id>`.
    public let directory: URL
    /// What `manifest.json` says.
    public let manifest: DeployManifest

    /// `model.safetensors`: the weights.
    public var modelURL: URL { directory.appendingPathComponent(DeployDirectory.modelFileName) }
    /// `policy.json`: the compression policy the weights were built with.
    public var policyURL: URL { directory.appendingPathComponent(DeployDirectory.policyFileName) }
    /// `manifest.json`.
    public var manifestURL: URL { directory.appendingPathComponent(DeployDirectory.manifestFileName) }
}

/// What went wrong with the deploy directory; each case names the path, id or situation.
public enum DeployDirectoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The deploy id cannot be a directory name (or is not a protocol id).
    case invalidDeployID(String, reason: String)
    /// A field for the manifest is not acceptable (empty model, profile not an id, bad checksum text).
    case invalidField(field: String, reason: String)
    /// `releases/<id>` is already there; ids are unique per DEPLOY.
    case releaseExists(deployID: String, path: String)
    /// A system call failed.
    case io(operation: String, path: String, reason: String)
    /// Something on disk is not what this code writes (a link to elsewhere, an unreadable manifest).
    case corrupt(path: String, reason: String)
    /// Rollback is impossible; says why.
    case noRollbackTarget(String)
    /// The weights are not the announced size.
    case sizeMismatch(expected: Int, actual: Int)
    /// The weights do not hash to the announced SHA-256.
    case checksumMismatch(expected: String, actual: String)

    public var description: String {
        switch self {
        case let .invalidDeployID(id, reason):
            return "deploy id \(CommandExecutor.printable(Array(id.utf8), limit: 80)) cannot name a release: \(reason)"
        case let .invalidField(field, reason):
            return "\(field): \(reason)"
        case let .releaseExists(id, path):
            return "release \(id) is already installed at \(path); deploy ids must be unique"
        case let .io(operation, path, reason):
            return "cannot \(operation) \(path): \(reason)"
        case let .corrupt(path, reason):
            return "\(path): \(reason)"
        case let .noRollbackTarget(reason):
            return "cannot roll back: \(reason)"
        case let .sizeMismatch(expected, actual):
            return "weights are \(actual) bytes, but the deploy announced size_bytes \(expected)"
        case let .checksumMismatch(expected, actual):
            return "weights have SHA-256 \(actual), but the deploy announced \(expected)"
        }
    }
}
