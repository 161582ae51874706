import Foundation
import SeerData

/// How commands, configs and jobs name a network: a zoo name (`resnet20`), or an ONNX file (`net.onnx`).
///
/// An imported model's name is its canonical reference `ABSOLUTE_PATH@sha256:HEX`: jobs carry it to agents, which
/// import the file at that path (or a file of that name in their model directories, see `ModelStore`) and refuse it
/// when its SHA-256 differs, so an agent never measures another network than the coordinator's under the same name.
public enum ModelReference {
    public static let digestMarker = "@sha256:"

    /// Whether `reference` names an ONNX file rather than a zoo model.
    public static func isOnnx(_ reference: String) -> Bool {
        parse(reference).path.lowercased().hasSuffix(".onnx")
    }

    /// The path and the pinned SHA-256 (lowercase hex), if any, of an ONNX reference.
    public static func parse(_ reference: String) -> (path: String, digest: String?) {
        guard let marker = reference.range(of: digestMarker, options: .backwards) else { return (reference, nil) }
        return (String(reference[..<marker.lowerBound]), reference[marker.upperBound...].lowercased())
    }

    /// Imports the ONNX file `reference` names; the model's name is the canonical reference.
    public static func importOnnx(_ reference: String) throws -> Model {
        let (path, pinned) = parse(reference)
        let url = try locate(path)
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch {
            throw OnnxImportError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let digest = SHA256.hex(SHA256.hash(bytes))
        if let pinned, pinned != digest { throw OnnxImportError.digestMismatch(path: url.path, expected: pinned, actual: digest) }
        return try OnnxImporter.load(bytes: bytes, directory: url.deletingLastPathComponent(),
                                     name: url.path + digestMarker + digest, path: url.path)
    }

    /// `reference` in canonical form (an ONNX path made absolute and pinned by SHA-256); zoo names unchanged.
    public static func canonical(_ reference: String) throws -> String {
        guard isOnnx(reference) else { return reference }
        let (path, pinned) = parse(reference)
        let url = try locate(path)
        let digest: String
        do { digest = SHA256.hex(SHA256.hash([UInt8](try Data(contentsOf: url)))) } catch {
            throw OnnxImportError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        if let pinned, pinned != digest { throw OnnxImportError.digestMismatch(path: url.path, expected: pinned, actual: digest) }
        return url.path + digestMarker + digest
    }

    /// Whether two references name the same network: the same zoo name, or ONNX files with the same SHA-256
    /// (wherever they lie); an unpinned ONNX path matches only itself.
    public static func sameModel(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        let (pa, da) = parse(a), (pb, db) = parse(b)
        guard isOnnx(pa), isOnnx(pb), let da, let db else { return false }
        return da == db
    }

    /// The file at `path`, else a file of that name in the model directories.
    static func locate(_ path: String) throws -> URL {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        if FileManager.default.fileExists(atPath: url.path) { return url }
        let name = url.lastPathComponent
        if let found = ModelStore.directories().map({ $0.appendingPathComponent(name) })
            .first(where: { FileManager.default.fileExists(atPath: $0.path) }) {
            return found.standardizedFileURL
        }
        throw OnnxImportError.unreadable(path: path, reason: "no such file (nor \(name) in "
            + ModelStore.directories().map(\.path).joined(separator: ", ") + ")")
    }
}
