import Foundation

/// A coding key for any string, so decoders can list and reject keys the format does not define.
struct AnyCodingKey: CodingKey, Hashable {
    let stringValue: String
    let intValue: Int?
    init(_ string: String) { stringValue = string; intValue = nil }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}

/// The dotted path of `codingPath` plus `key`, as error messages name fields (`layers.fc.wbits`).
func fieldPath(_ codingPath: [CodingKey], _ key: String? = nil) -> String {
    (codingPath.map(\.stringValue) + (key.map { [$0] } ?? [])).joined(separator: ".")
}

extension Decoder {
    /// A keyed container that throws `PolicyError.unknownKey` for any key outside `allowed`.
    func strictContainer(allowed: [String], expected: String) throws -> KeyedDecodingContainer<AnyCodingKey> {
        let container: KeyedDecodingContainer<AnyCodingKey>
        do {
            container = try self.container(keyedBy: AnyCodingKey.self)
        } catch {
            throw PolicyError.wrongType(field: fieldPath(codingPath).ifEmpty("document"), expected: expected,
                                        got: describeValue(self))
        }
        // Sorted so the first unknown key reported does not depend on dictionary order.
        for key in container.allKeys.map(\.stringValue).sorted() where !allowed.contains(key) {
            throw PolicyError.unknownKey(field: fieldPath(codingPath), key: key, allowed: allowed)
        }
        return container
    }
}

extension KeyedDecodingContainer where Key == AnyCodingKey {
    /// The value at `key`, nil when absent; a value of another type is a `PolicyError.wrongType` naming the field.
    func field<T: Decodable>(_ type: T.Type, _ key: String, expected: String) throws -> T? {
        let k = AnyCodingKey(key)
        guard contains(k) else { return nil }
        do {
            return try decode(T.self, forKey: k)
        } catch let error as PolicyError {
            throw error
        } catch {
            let got = (try? superDecoder(forKey: k)).map(describeValue) ?? "an unreadable value"
            throw PolicyError.wrongType(field: fieldPath(codingPath, key), expected: expected, got: got)
        }
    }
}

/// What a decoder holds, for "expected X, got Y" messages.
func describeValue(_ decoder: Decoder) -> String {
    guard let single = try? decoder.singleValueContainer() else {
        return (try? decoder.unkeyedContainer()) != nil ? "a list" : "a mapping"
    }
    if single.decodeNil() { return "null" }
    if let b = try? single.decode(Bool.self) { return String(b) }
    if let i = try? single.decode(Int.self) { return String(i) }
    if let d = try? single.decode(Double.self) { return String(d) }
    if let s = try? single.decode(String.self) { return "the string \"\(s)\"" }
    if (try? decoder.container(keyedBy: AnyCodingKey.self)) != nil { return "a mapping" }
    return "a list"
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
