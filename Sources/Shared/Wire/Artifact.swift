import Foundation

/// A compressed network as one file, named by its SHA-256 (revision 2, PROTOCOL.md "Artifacts").
///
/// A `compress` RESULT carries the file inline; an `artifact` JOB carries it inline (`data`), or by `uri`, or by
/// name only (`sha256`) for an agent that cached it from an earlier job. Whoever holds the bytes checks
/// `size_bytes` and `sha256` before using them.
public struct ArtifactReference: Codable, Equatable, Sendable {
    /// What the file is; `onnx-qdq/1`: an ONNX model as Seer exports it (QDQ weights and activations).
    public var format: String
    /// SHA-256 of the file, 64 lowercase hex digits: the artifact's name.
    public var sha256: String
    /// Length of the file in bytes.
    public var sizeBytes: Int
    /// The file, base64 (RFC 4648, with padding), when it travels inline.
    public var data: String?
    /// Where to fetch the file (`file://` on a shared file system), when it does not travel inline.
    public var uri: String?

    /// The one format this version defines.
    public static let onnxQDQ = "onnx-qdq/1"

    enum CodingKeys: String, CodingKey { case format, sha256, sizeBytes = "size_bytes", data, uri }

    /// Memberwise initializer.
    public init(format: String = ArtifactReference.onnxQDQ, sha256: String, sizeBytes: Int, data: String? = nil,
                uri: String? = nil) {
        self.format = format
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.data = data
        self.uri = uri
    }

    /// `bytes` inline, named by their SHA-256 (`sha256` computes it).
    public static func inline(_ bytes: Data, sha256: String, format: String = onnxQDQ) -> ArtifactReference {
        ArtifactReference(format: format, sha256: sha256, sizeBytes: bytes.count, data: bytes.base64EncodedString())
    }

    /// The inline bytes after checking them against `size_bytes` (the caller checks `sha256`, which needs a hash this
    /// module does not have); nil when the artifact does not travel inline.
    public func inlineBytes(in type: MessageType) throws(WireError) -> Data? {
        guard let data else { return nil }
        guard let bytes = Data(base64Encoded: data) else {
            throw .invalidField(type: type, field: "artifact.data", reason: "is not base64")
        }
        guard bytes.count == sizeBytes else {
            throw .invalidField(type: type, field: "artifact.data",
                                reason: "holds \(bytes.count) bytes, size_bytes says \(sizeBytes)")
        }
        return bytes
    }
}

extension Check {
    /// An artifact's fields; `field` is its path ("payload.artifact").
    func artifact(_ a: ArtifactReference, _ field: String) throws(WireError) {
        guard a.format == ArtifactReference.onnxQDQ else {
            throw fail("\(field).format", "must be \(ArtifactReference.onnxQDQ), got '\(a.format)'")
        }
        let hex = Array(a.sha256.utf8)
        guard hex.count == 64, hex.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw fail("\(field).sha256", "must be 64 lowercase hex digits")
        }
        try count(a.sizeBytes, "\(field).size_bytes", min: 1)
        if let uri = a.uri { try text(uri, "\(field).uri") }
        if a.data != nil && a.uri != nil { throw fail("\(field).uri", "must be absent when data is present") }
    }
}
