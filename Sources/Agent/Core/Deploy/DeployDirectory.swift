import Foundation
import SeerData
import SeerWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The agent's installed models: releases side by side, `current` and `previous` symlinks switched by rename(2).
///
/// ```
/// deploy/
///   releases/<deploy_id>/model.safetensors, policy.json, manifest.json
///   current  -> releases/<id>
///   previous -> releases/<id>
/// ```
/// A release is written into `releases/.staging-*`, fsynced, then renamed to `releases/<id>` in one step, so a
/// release directory without its dot is always complete. The links are replaced by creating a temporary
/// symlink and renaming it over the old one, so `current` always names a complete release, before and after
/// a crash at any point. Leftover staging directories and temporary links are removed when the directory is
/// opened. Every change holds an exclusive flock(2) on `.lock`, so the agent and `seer-agent deploy-dir`
/// never interleave.
public final class DeployDirectory {
    /// The weights file in a release.
    public static let modelFileName = "model.safetensors"
    /// The compression policy in a release.
    public static let policyFileName = "policy.json"
    /// The manifest in a release.
    public static let manifestFileName = "manifest.json"
    /// The link to the release in use.
    public static let currentLinkName = "current"
    /// The link to the release before it, for rollback.
    public static let previousLinkName = "previous"
    /// The directory holding the releases.
    public static let releasesDirectoryName = "releases"

    static let stagingPrefix = ".staging-"
    static let lockFileName = ".lock"
    static func tempLinkPrefix(_ link: String) -> String { ".\(link).tmp-" }

    /// The deploy directory.
    public let url: URL
    /// `releases/` inside it.
    public var releasesURL: URL { url.appendingPathComponent(Self.releasesDirectoryName) }
    /// Names of interrupted-install leftovers removed when this was opened (for the log).
    public private(set) var removedLeftovers: [String] = []

    /// Called with each file name after that file of a staged release is written; tests throw here to fail midway.
    var stageFaultHook: ((String) throws(DeployDirectoryError) -> Void)?

    /// Opens (and with `create`, makes) a deploy directory and removes leftovers of an interrupted install.
    public init(url: URL, create: Bool = true) throws(DeployDirectoryError) {
        self.url = url.standardizedFileURL
        if create {
            do {
                try FileManager.default.createDirectory(at: releasesURL, withIntermediateDirectories: true)
            } catch {
                throw .io(operation: "create", path: releasesURL.path, reason: BatteryTextFormat.describe(error))
            }
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: self.url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .io(operation: "open the deploy directory", path: self.url.path, reason: "no such directory")
            }
            guard FileManager.default.fileExists(atPath: releasesURL.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .corrupt(path: self.url.path, reason: "has no releases/ directory; not a deploy directory")
            }
        }
        try locked { () throws(DeployDirectoryError) in try removeLeftovers() }
    }

    // MARK: Reading

    /// The release in use; nil before the first activation.
    public func current() throws(DeployDirectoryError) -> DeployedRelease? {
        guard let id = try linkTarget(Self.currentLinkName) else { return nil }
        return try release(id)
    }

    /// The release before the current one; nil when there is none.
    public func previous() throws(DeployDirectoryError) -> DeployedRelease? {
        guard let id = try linkTarget(Self.previousLinkName) else { return nil }
        return try release(id)
    }

    /// Ids of the releases on disk, sorted.
    public func releaseIDs() throws(DeployDirectoryError) -> [String] {
        try Self.list(releasesURL).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The complete release `releases/<id>`; an error naming the file when it is missing or broken.
    public func release(_ id: String) throws(DeployDirectoryError) -> DeployedRelease {
        try Self.validateDeployID(id)
        let directory = releasesURL.appendingPathComponent(id)
        let manifestPath = directory.appendingPathComponent(Self.manifestFileName).path
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw .corrupt(path: manifestPath, reason: "missing or unreadable; releases/\(id) is not a complete release")
        }
        let manifest: DeployManifest
        do {
            manifest = try JSONDecoder().decode(DeployManifest.self, from: data)
        } catch {
            throw .corrupt(path: manifestPath, reason: "not a release manifest (\(error))")
        }
        guard manifest.deployID == id else {
            throw .corrupt(path: manifestPath, reason: "names deploy id \(manifest.deployID) but lies in releases/\(id)")
        }
        return DeployedRelease(directory: directory, manifest: manifest)
    }

    /// Re-reads a release's model file and checks it against its manifest (size and SHA-256).
    public func verifyFiles(of release: DeployedRelease) throws(DeployDirectoryError) {
        guard let data = FileManager.default.contents(atPath: release.modelURL.path) else {
            throw .corrupt(path: release.modelURL.path, reason: "missing or unreadable")
        }
        do {
            try Self.verify([UInt8](data), sha256: release.manifest.sha256, sizeBytes: release.manifest.sizeBytes)
        } catch {
            throw .corrupt(path: release.modelURL.path, reason: error.description)
        }
        guard FileManager.default.fileExists(atPath: release.policyURL.path) else {
            throw .corrupt(path: release.policyURL.path, reason: "missing")
        }
    }

    // MARK: Changing

    /// Writes a complete release to `releases/<deployID>` without touching `current`; activate it afterwards.
    ///
    /// The manifest records the SHA-256 and size of `modelBytes` (check them against the DEPLOY with `verify`
    /// first). On any failure the staging directory is removed and nothing else has changed.
    public func stage(deployID: String, modelBytes: [UInt8], policy: [String: JSONValue], profile: String, model: String,
                      metadata: [String: JSONValue] = [:], installedAt: Date = Date()) throws(DeployDirectoryError) -> DeployedRelease {
        try Self.validateDeployID(deployID)
        try Self.validateProfile(profile)
        guard !model.isEmpty, model.utf8.count <= SeerProtocol.maxTextBytes else {
            throw .invalidField(field: "model", reason: "must be 1 to \(SeerProtocol.maxTextBytes) bytes, got \(model.utf8.count)")
        }
        let formatter = ISO8601DateFormatter()
        let manifest = DeployManifest(deployID: deployID, profile: profile, model: model,
                                      sha256: Self.sha256Hex(modelBytes), sizeBytes: modelBytes.count,
                                      installedAt: formatter.string(from: installedAt), metadata: metadata)
        let policyBytes = try Self.encode(policy, field: "policy")
        let manifestBytes = try Self.encode(manifest, field: "manifest")

        return try locked { () throws(DeployDirectoryError) -> DeployedRelease in
            let final = releasesURL.appendingPathComponent(deployID)
            var info = stat()
            if lstat(final.path, &info) == 0 { throw .releaseExists(deployID: deployID, path: final.path) }
            let staging = releasesURL.appendingPathComponent("\(Self.stagingPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            guard mkdir(staging.path, 0o755) == 0 else { throw Self.posixError("create", staging.path) }
            do throws(DeployDirectoryError) {
                // The manifest last: even inside the staging directory its presence means the rest is there.
                for (name, bytes) in [(Self.modelFileName, modelBytes), (Self.policyFileName, policyBytes),
                                      (Self.manifestFileName, manifestBytes)] {
                    try Self.writeFile(staging.appendingPathComponent(name).path, bytes)
                    try stageFaultHook?(name)
                }
                try Self.fsyncDirectory(staging.path)
                guard rename(staging.path, final.path) == 0 else { throw Self.posixError("rename \(staging.path) to", final.path) }
            } catch {
                try? FileManager.default.removeItem(at: staging)
                throw error
            }
            try Self.fsyncDirectory(releasesURL.path)
            return DeployedRelease(directory: final, manifest: manifest)
        }
    }

    /// Makes `release` current and the old current previous, each link replaced by one rename; a no-op if already current.
    public func activate(_ release: DeployedRelease) throws(DeployDirectoryError) {
        try locked { () throws(DeployDirectoryError) in
            let fresh = try self.release(release.deployID)  // still there and complete
            let old = try? linkTarget(Self.currentLinkName)  // a broken link is replaced, not kept for rollback
            guard old != fresh.deployID else { return }
            // previous first: a crash between the renames leaves previous == current, never current unset.
            if let old { try pointLink(Self.previousLinkName, at: old) }
            try pointLink(Self.currentLinkName, at: fresh.deployID)
            try Self.fsyncDirectory(url.path)
        }
    }

    /// Swaps current and previous; returns the release now current.
    @discardableResult
    public func rollback() throws(DeployDirectoryError) -> DeployedRelease {
        try locked { () throws(DeployDirectoryError) -> DeployedRelease in
            guard let previousID = try linkTarget(Self.previousLinkName) else {
                throw .noRollbackTarget("there is no previous release (\(url.appendingPathComponent(Self.previousLinkName).path) does not exist)")
            }
            let currentID = try? linkTarget(Self.currentLinkName)
            guard previousID != currentID else {
                throw .noRollbackTarget("previous and current are the same release, \(previousID)")
            }
            let target: DeployedRelease
            do {
                target = try release(previousID)
            } catch {
                throw .noRollbackTarget("previous points at releases/\(previousID), which is not a complete release: \(error)")
            }
            // current first: the rollback is what was asked for; a crash before the second rename only
            // leaves previous == current.
            try pointLink(Self.currentLinkName, at: previousID)
            if let currentID { try pointLink(Self.previousLinkName, at: currentID) }
            try Self.fsyncDirectory(url.path)
            return target
        }
    }

    /// Deletes every release but current and previous; returns the ids removed. Refuses while a link is unreadable.
    @discardableResult
    public func prune() throws(DeployDirectoryError) -> [String] {
        try locked { () throws(DeployDirectoryError) -> [String] in
            let keep = Set(try [linkTarget(Self.currentLinkName), linkTarget(Self.previousLinkName)].compactMap { $0 })
            var removed: [String] = []
            for id in try releaseIDs() where !keep.contains(id) {
                let path = releasesURL.appendingPathComponent(id)
                do {
                    try FileManager.default.removeItem(at: path)
                } catch {
                    throw .io(operation: "remove", path: path.path, reason: BatteryTextFormat.describe(error))
                }
                removed.append(id)
            }
            if !removed.isEmpty { try Self.fsyncDirectory(releasesURL.path) }
            return removed
        }
    }

    // MARK: Verification

    /// SHA-256 of `bytes` as 64 lowercase hex digits, as DEPLOY's `weights.sha256` spells it.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hex(SHA256.hash(bytes))
    }

    /// Checks weights against the DEPLOY's `size_bytes` and `sha256`; the size first, as it is cheap.
    public static func verify(_ bytes: [UInt8], sha256: String, sizeBytes: Int) throws(DeployDirectoryError) {
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw .invalidField(field: "weights.sha256", reason: "must be 64 lowercase hex digits, got "
                                + CommandExecutor.printable(Array(sha256.utf8), limit: 80))
        }
        guard bytes.count == sizeBytes else { throw .sizeMismatch(expected: sizeBytes, actual: bytes.count) }
        let actual = sha256Hex(bytes)
        guard actual == sha256 else { throw .checksumMismatch(expected: sha256, actual: actual) }
    }

    /// A deploy id that is safe as one directory name: a protocol id, no "/", not starting with "." (which also
    /// excludes "." and "..", and keeps the names this class uses for its own temporary files apart).
    public static func validateDeployID(_ id: String) throws(DeployDirectoryError) {
        let bytes = id.utf8.count
        guard bytes > 0 else { throw .invalidDeployID(id, reason: "it is empty") }
        guard bytes <= SeerProtocol.maxIDBytes else {
            throw .invalidDeployID(id, reason: "it is \(bytes) bytes, limit \(SeerProtocol.maxIDBytes)")
        }
        guard !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidDeployID(id, reason: "it contains control characters")
        }
        guard !id.contains("/") else { throw .invalidDeployID(id, reason: "it contains '/'") }
        guard !id.hasPrefix(".") else { throw .invalidDeployID(id, reason: "it starts with '.'") }
    }

    // MARK: Internals

    private static func validateProfile(_ profile: String) throws(DeployDirectoryError) {
        let bytes = profile.utf8.count
        guard (1...SeerProtocol.maxIDBytes).contains(bytes),
              !profile.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidField(field: "profile", reason: "must be 1 to \(SeerProtocol.maxIDBytes) bytes without control characters")
        }
    }

    /// Runs `body` holding the directory's exclusive lock; released when the descriptor closes.
    private func locked<T>(_ body: () throws(DeployDirectoryError) -> T) throws(DeployDirectoryError) -> T {
        let path = url.appendingPathComponent(Self.lockFileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.posixError("open the lock file", path) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw Self.posixError("lock", path) }
        }
        return try body()
    }

    /// Staging directories and temporary links exist only while a change holds the lock; any seen under the
    /// lock belong to a process that died mid-change.
    private func removeLeftovers() throws(DeployDirectoryError) {
        var removed: [String] = []
        for name in try Self.list(releasesURL) where name.hasPrefix(Self.stagingPrefix) {
            let path = releasesURL.appendingPathComponent(name)
            do {
                try FileManager.default.removeItem(at: path)
            } catch {
                throw .io(operation: "remove the interrupted install", path: path.path, reason: BatteryTextFormat.describe(error))
            }
            removed.append("\(Self.releasesDirectoryName)/\(name)")
        }
        let tempPrefixes = [Self.currentLinkName, Self.previousLinkName].map(Self.tempLinkPrefix)
        for name in try Self.list(url) where tempPrefixes.contains(where: { name.hasPrefix($0) }) {
            let path = url.appendingPathComponent(name).path
            guard unlink(path) == 0 else { throw Self.posixError("remove the stray link", path) }
            removed.append(name)
        }
        if !removed.isEmpty {
            try Self.fsyncDirectory(releasesURL.path)
            try Self.fsyncDirectory(url.path)
        }
        removedLeftovers = removed
    }

    /// The deploy id a link names; nil when the link does not exist.
    private func linkTarget(_ name: String) throws(DeployDirectoryError) -> String? {
        let path = url.appendingPathComponent(name).path
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        if count < 0 {
            if errno == ENOENT { return nil }
            if errno == EINVAL { throw .corrupt(path: path, reason: "is not a symbolic link") }
            throw Self.posixError("read the link", path)
        }
        let target = String(decoding: buffer[0..<count], as: UTF8.self)
        let prefix = "\(Self.releasesDirectoryName)/"
        guard target.hasPrefix(prefix), (try? Self.validateDeployID(String(target.dropFirst(prefix.count)))) != nil else {
            throw .corrupt(path: path, reason: "points at \(target), not \(prefix)<deploy_id>")
        }
        return String(target.dropFirst(prefix.count))
    }

    /// Points link `name` at `releases/<id>`: a new symlink under a temporary name renamed over the old one,
    /// so the link is never missing (rename(2) replaces atomically).
    private func pointLink(_ name: String, at id: String) throws(DeployDirectoryError) {
        let temp = url.appendingPathComponent("\(Self.tempLinkPrefix(name))\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let final = url.appendingPathComponent(name).path
        guard symlink("\(Self.releasesDirectoryName)/\(id)", temp) == 0 else { throw Self.posixError("create the link", temp) }
        guard rename(temp, final) == 0 else {
            let error = Self.posixError("replace the link", final)
            unlink(temp)
            throw error
        }
    }

    private static func list(_ directory: URL) throws(DeployDirectoryError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .io(operation: "list", path: directory.path, reason: BatteryTextFormat.describe(error))
        }
    }

    private static func encode<Value: Encodable>(_ value: Value, field: String) throws(DeployDirectoryError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value)) + [0x0A]
        } catch {
            throw .invalidField(field: field, reason: "cannot be written as JSON (\(error))")
        }
    }

    /// Creates `path` (which must not exist), writes all of `bytes` and fsyncs it before returning.
    private static func writeFile(_ path: String, _ bytes: [UInt8]) throws(DeployDirectoryError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw posixError("create", path) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw posixError("write", path)
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw posixError("fsync", path) }
    }

    /// Makes a directory's entries (a rename, a new file) durable.
    private static func fsyncDirectory(_ path: String) throws(DeployDirectoryError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw posixError("open the directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw posixError("fsync the directory", path) }
    }

    private static func posixError(_ operation: String, _ path: String) -> DeployDirectoryError {
        .io(operation: operation, path: path, reason: String(cString: strerror(errno)))
    }
}
