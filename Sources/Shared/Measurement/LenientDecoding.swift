/// Config sections decode with defaults for missing fields and reject unknown ones, naming them.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Throws when the mapping has keys other than `keys`' cases: the fields a type decodes are the ones it allows.
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        try rejectUnknownKeys(keys.allCases.map(\.stringValue))
    }

    /// Throws when the mapping has keys outside `allowed`.
    public func rejectUnknownKeys(_ allowed: [String]) throws {
        let c = try container(keyedBy: AnyKey.self)
        for key in c.allKeys where !allowed.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription:
                "unknown field '\(key.stringValue)'; expected one of \(allowed.joined(separator: ", "))")
        }
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when absent.
    public func value<T: Decodable>(_ key: Key, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}
