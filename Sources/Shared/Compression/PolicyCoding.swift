import Foundation
import Yams

/// JSON and YAML reading and writing shared by policies and search spaces.
enum PolicyCoding {
    static func decode<T: Decodable>(_ type: T.Type, json data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as PolicyError {
            throw error
        } catch {
            throw PolicyError.malformed("not valid JSON: \(summary(of: error))")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, yaml: String) throws -> T {
        do {
            return try YAMLDecoder().decode(T.self, from: yaml)
        } catch let error as PolicyError {
            throw error
        } catch let error as DecodingError {
            // Yams wraps errors thrown by `init(from:)` as the underlying error of a `dataCorrupted`.
            if case .dataCorrupted(let context) = error, let inner = context.underlyingError as? PolicyError { throw inner }
            throw PolicyError.malformed("not valid YAML: \(summary(of: error))")
        } catch {
            throw PolicyError.malformed("not valid YAML: \(summary(of: error))")
        }
    }

    /// `.json` files as JSON, anything else as YAML (a superset of JSON).
    static func decode<T: Decodable>(_ type: T.Type, contentsOf url: URL) throws -> T {
        let data: Data
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw PolicyError.unreadable(path: url.path, reason: "no such file")
        }
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PolicyError.unreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        if url.pathExtension.lowercased() == "json" { return try decode(T.self, json: data) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyError.unreadable(path: url.path, reason: "not UTF-8 text")
        }
        return try decode(T.self, yaml: text)
    }

    static func jsonData<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func yamlString<T: Encodable>(_ value: T) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        return try encoder.encode(value)
    }

    /// The part of a decoding error a person can act on, without Swift type names.
    private static func summary(of error: Error) -> String {
        guard let decoding = error as? DecodingError else { return String(describing: error) }
        switch decoding {
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { " (\(($0 as NSError).localizedDescription))" } ?? ""
            return context.debugDescription + underlying
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context):
            return "\(fieldPath(context.codingPath).ifEmpty("document")): \(context.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    }
}
