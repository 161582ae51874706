import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key file that cannot be written or read, with the path and what is wrong.
public struct KeyFileError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, naming the file.
    public var message: String
    /// An error saying `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// CURVE key pairs on disk: `DIR/public.key` and `DIR/secret.key` (mode 0600), Z85 text, `#` comments.
public enum CurveKeyFiles {
    /// File name of the public key in a key directory.
    public static let publicName = "public.key"
    /// File name of the secret key in a key directory.
    public static let secretName = "secret.key"

    /// Generates a key pair into `directory` (created if missing); refuses to replace existing keys unless `force`.
    @discardableResult
    public static func generate(into directory: String, force: Bool) throws -> CurveKeyPair {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw KeyFileError("\(directory) exists and is not a directory") }
        } else {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let publicPath = (directory as NSString).appendingPathComponent(publicName)
        let secretPath = (directory as NSString).appendingPathComponent(secretName)
        if !force {
            for path in [publicPath, secretPath] where manager.fileExists(atPath: path) {
                throw KeyFileError("\(path) already exists; use --force to replace the key pair")
            }
        }
        let pair = try CurveKeyPair.generate()
        // Secret first: a crash in between must not leave a public key without its secret.
        try writeFile("# Seer CURVE secret key (Z85). Keep it private.\n\(pair.secretKey)\n", to: secretPath, mode: 0o600)
        try writeFile("# Seer CURVE public key (Z85). Give it to the other side.\n\(pair.publicKey)\n", to: publicPath, mode: 0o644)
        return pair
    }

    private static func writeFile(_ text: String, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw KeyFileError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // O_CREAT's mode does not apply to an existing file (--force), and umask could only narrow it.
        guard fchmod(fd, mode) == 0 else { throw KeyFileError("cannot set mode of \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw KeyFileError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// The key pair in `directory` (public.key + secret.key), checked to belong together.
    public static func loadPair(from directory: String) throws -> CurveKeyPair {
        let publicKey = try loadKey(file: (directory as NSString).appendingPathComponent(publicName), role: "public key")
        let secretKey = try loadKey(file: (directory as NSString).appendingPathComponent(secretName), role: "secret key")
        do {
            return try CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
        } catch {
            throw KeyFileError("the keys in \(directory) are not a pair: \(error)")
        }
    }

    /// The one key in `file` (first line that is neither empty nor a `#` comment).
    public static func loadKey(file: String, role: String = "public key") throws -> String {
        let keys = try keys(in: file, role: role)
        guard let key = keys.first else { throw KeyFileError("\(file) contains no \(role)") }
        return key
    }

    /// Agent public keys allowed in: from a file (one Z85 key per line), or a directory (every `*.key`
    /// file in it and its immediate subdirectories, except `secret.key` files).
    public static func loadAllowList(_ path: String) throws -> Set<String> {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw KeyFileError("allow-list \(path) does not exist")
        }
        var files: [String] = []
        if isDirectory.boolValue {
            for entry in try manager.contentsOfDirectory(atPath: path).sorted() {
                let full = (path as NSString).appendingPathComponent(entry)
                var entryIsDirectory: ObjCBool = false
                _ = manager.fileExists(atPath: full, isDirectory: &entryIsDirectory)
                if entryIsDirectory.boolValue {
                    for inner in (try? manager.contentsOfDirectory(atPath: full).sorted()) ?? []
                    where inner.hasSuffix(".key") && inner != secretName {
                        files.append((full as NSString).appendingPathComponent(inner))
                    }
                } else if entry.hasSuffix(".key") && entry != secretName {
                    files.append(full)
                }
            }
        } else {
            files = [path]
        }
        var allowed = Set<String>()
        for file in files { allowed.formUnion(try keys(in: file, role: "agent public key")) }
        guard !allowed.isEmpty else { throw KeyFileError("no agent public keys found in \(path)") }
        return allowed
    }

    private static func keys(in file: String, role: String) throws -> [String] {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw KeyFileError("cannot read \(role) file \(file): \(error.localizedDescription)")
        }
        var keys: [String] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard Z85.isValidKey(line) else {
                throw KeyFileError("\(file):\(index + 1) is not a 40-character Z85 \(role)")
            }
            keys.append(line)
        }
        return keys
    }
}
