/// One pass over a JSON body's bytes before JSONDecoder parses it, for what docs/PROTOCOL.md section 3 forbids and
/// JSONDecoder lets through.
///
/// JSONDecoder only looks closely at the fields it decodes: in a field it does not know it skips invalid UTF-8
/// (overlong forms, encoded surrogates, a bare 0xFF), unpaired `\u` surrogate escapes, raw control characters and
/// malformed numbers, and it reads `4.0` or `1e2` into an `Int` field. So this scan checks every string and number in
/// the body, known field or not, and names the field (as a JSON path, `device.cores`, `capabilities[1]`). It is lenient
/// about structure: a body it does not understand is left to JSONDecoder, which refuses it.
struct BodyScan {
    /// A number not written as a 64-bit integer (`3.0`, `1e2`, `99999999999999999999`), where it is in the body.
    struct Number {
        /// Its bytes in the body.
        var range: Range<Int>
        /// The field it is the value of.
        var path: String
    }

    /// Every number in the body that an integer field would refuse, in body order; `WireCodec` finds out which of
    /// them sit in integer fields.
    private(set) var numbers: [Number] = []

    private let bytes: [UInt8]
    private let type: MessageType

    /// Where the scan is: each open object with the key whose value comes next (nil while a key is expected), or
    /// each open array with the index of its current element.
    private enum Frame {
        case object(key: String?)
        case array(index: Int)
    }
    private var frames: [Frame] = []

    /// Scans `bytes`, the body of a `type` message.
    init(_ bytes: [UInt8], type: MessageType) throws(WireError) {
        self.bytes = bytes
        self.type = type
        try scan()
    }

    private static let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]

    private mutating func scan() throws(WireError) {
        guard let first = bytes.first(where: { !Self.whitespace.contains($0) }), first == UInt8(ascii: "{") else {
            throw .malformedJSON(type: type, reason: "body must be a JSON object")
        }
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""):
                if case .object(nil)? = frames.last {
                    let (end, key) = try string(from: i, path: nil)
                    frames[frames.count - 1] = .object(key: key)
                    i = end
                } else {
                    i = try string(from: i, path: path).end
                }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                frames.append(byte == UInt8(ascii: "{") ? .object(key: nil) : .array(index: 0))
                // Checked before JSONDecoder parses, so a hostile body cannot recurse it deep.
                guard frames.count <= SeerProtocol.maxJSONDepth else {
                    throw .malformedJSON(type: type, reason: "nested deeper than \(SeerProtocol.maxJSONDepth) levels")
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = frames.popLast()
            case UInt8(ascii: ","):
                switch frames.last {
                case .object?: frames[frames.count - 1] = .object(key: nil)
                case let .array(index)?: frames[frames.count - 1] = .array(index: index + 1)
                case nil: break
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "."):
                // "+" and "." start no JSON number, so `number` refuses them; JSONDecoder would skip them in an unknown field.
                i = try number(from: i)
                continue
            case 0x80...:
                // Never valid JSON outside a string; named as UTF-8 when it is not even that.
                if let fault = Self.utf8Fault(bytes, at: i) {
                    throw .malformedJSON(type: type, reason: "not UTF-8: \(describe(fault, at: i))")
                }
            default:
                break  // structure, whitespace, true/false/null: JSONDecoder checks these
            }
            i += 1
        }
    }

    /// The JSON path of the value being scanned, as `WireCodec` names fields.
    private var path: String {
        var path = ""
        for frame in frames {
            switch frame {
            case let .object(key?): path += path.isEmpty ? key : ".\(key)"
            case .object(nil): break
            case let .array(index): path += "[\(index)]"
            }
        }
        return path
    }

    // MARK: Strings

    /// Checks the string whose opening quote is at `start`; returns the index after its closing quote and, for a key
    /// (`path` nil), its text. Errors name `path`, or for a key the key's enclosing path and its printable bytes.
    private func string(from start: Int, path: String?) throws(WireError) -> (end: Int, text: String) {
        func fail(_ reason: String) -> WireError {
            guard let path else {
                let close = closingQuote(after: start)
                let key = WireError.printable(bytes[(start + 1)..<close])
                return .invalidField(type: type, field: self.path.isEmpty ? key : "\(self.path).\(key)",
                                     reason: "is a key that \(reason)")
            }
            return .invalidField(type: type, field: path, reason: reason)
        }
        var scalars = String.UnicodeScalarView()
        var i = start + 1
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""):
                return (i + 1, String(scalars))
            case UInt8(ascii: "\\"):
                guard i + 1 < bytes.count else { return (bytes.count, String(scalars)) }
                let escape = bytes[i + 1]
                switch escape {
                case UInt8(ascii: "u"):
                    let (scalar, length) = try unicodeEscape(at: i, fail: fail)
                    if path == nil { scalars.append(scalar) }
                    i += length
                    continue
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    if path == nil { scalars.append(Unicode.Scalar(escape)) }
                case UInt8(ascii: "b"): if path == nil { scalars.append("\u{8}") }
                case UInt8(ascii: "f"): if path == nil { scalars.append("\u{C}") }
                case UInt8(ascii: "n"): if path == nil { scalars.append("\n") }
                case UInt8(ascii: "r"): if path == nil { scalars.append("\r") }
                case UInt8(ascii: "t"): if path == nil { scalars.append("\t") }
                default:
                    throw fail("has an invalid escape \\\(WireError.printable([escape][...]))")
                }
                i += 2
                continue
            case 0x00..<0x20:
                throw fail("contains a raw control character 0x\(Self.hex(byte)) at body offset \(i) (JSON requires an escape)")
            case 0x80...:
                if let fault = Self.utf8Fault(bytes, at: i) { throw fail("is not valid UTF-8: \(describe(fault, at: i))") }
                let length = Self.utf8Length(lead: byte)
                if path == nil {
                    scalars.append(contentsOf: String(decoding: bytes[i..<(i + length)], as: UTF8.self).unicodeScalars)
                }
                i += length
                continue
            default:
                if path == nil { scalars.append(Unicode.Scalar(byte)) }
            }
            i += 1
        }
        return (bytes.count, String(scalars))  // unterminated: JSONDecoder refuses it
    }

    /// The `\uXXXX` escape at `start` (a surrogate pair takes two): its scalar and length in bytes. A surrogate
    /// without its partner is no Unicode text, so it cannot be UTF-8 either.
    private func unicodeEscape(at start: Int, fail: (String) -> WireError) throws(WireError) -> (Unicode.Scalar, Int) {
        guard let unit = hex4(at: start + 2) else {
            throw fail("has an invalid escape \\u\(WireError.printable(bytes[(start + 2)..<min(start + 6, bytes.count)]))")
        }
        switch unit {
        case 0xD800...0xDBFF:
            guard start + 7 < bytes.count, bytes[start + 6] == UInt8(ascii: "\\"), bytes[start + 7] == UInt8(ascii: "u"),
                  let low = hex4(at: start + 8), (0xDC00...0xDFFF).contains(low) else {
                throw fail("has an unpaired surrogate escape \\u\(Self.hex(unit, digits: 4)) at body offset \(start), which is not Unicode text")
            }
            return (Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!, 12)
        case 0xDC00...0xDFFF:
            throw fail("has an unpaired surrogate escape \\u\(Self.hex(unit, digits: 4)) at body offset \(start), which is not Unicode text")
        default:
            return (Unicode.Scalar(unit)!, 6)
        }
    }

    private func hex4(at start: Int) -> UInt32? {
        guard start + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[start..<(start + 4)] {
            guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { return nil }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private func closingQuote(after start: Int) -> Int {
        var i = start + 1
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
        return min(i, bytes.count)
    }

    // MARK: Numbers

    /// Checks the number starting at `start` against JSON's grammar, notes it if it is not a 64-bit integer, and
    /// returns the index after it.
    private mutating func number(from start: Int) throws(WireError) -> Int {
        var end = start
        while end < bytes.count, Self.numberBytes.contains(bytes[end]) { end += 1 }
        let literal = bytes[start..<end]
        guard let isInteger = Self.jsonNumber(literal) else {
            throw WireError.invalidField(type: type, field: path,
                                         reason: "is not a JSON number: \(WireError.printable(literal))")
        }
        if !isInteger || Int64(String(decoding: literal, as: UTF8.self)) == nil {
            numbers.append(Number(range: start..<end, path: path))
        }
        return end
    }

    private static let numberBytes = Set("0123456789+-.eE".utf8)

    /// Whether `literal` is an integer by JSON's grammar (`-? (0 | [1-9][0-9]*) frac? exp?`, no frac nor exp); nil if it
    /// is no JSON number at all (`01`, `1.`, `.5`, `1e`, `+1`).
    static func jsonNumber(_ literal: ArraySlice<UInt8>) -> Bool? {
        var i = literal.startIndex
        func digits() -> Int {
            let from = i
            while i < literal.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(literal[i]) { i += 1 }
            return i - from
        }
        if i < literal.endIndex, literal[i] == UInt8(ascii: "-") { i += 1 }
        let leadingZero = i < literal.endIndex && literal[i] == UInt8(ascii: "0")
        let whole = digits()
        guard whole > 0, !(leadingZero && whole > 1) else { return nil }
        var isInteger = true
        if i < literal.endIndex, literal[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return nil }
            isInteger = false
        }
        if i < literal.endIndex, literal[i] == UInt8(ascii: "e") || literal[i] == UInt8(ascii: "E") {
            i += 1
            if i < literal.endIndex, literal[i] == UInt8(ascii: "+") || literal[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return nil }
            isInteger = false
        }
        return i == literal.endIndex ? isInteger : nil
    }

    // MARK: UTF-8

    /// Why the bytes at `i` are no well-formed UTF-8 sequence (Unicode 15, table 3-7), with how many bytes show it.
    enum UTF8Fault: Equatable {
        case strayContinuation, overlong(Int), surrogate, beyondUnicode(Int), neverUTF8, truncated(Int)

        var length: Int {
            switch self {
            case .strayContinuation, .neverUTF8: return 1
            case .surrogate: return 3
            case let .overlong(n), let .beyondUnicode(n), let .truncated(n): return n
            }
        }

        var reason: String {
            switch self {
            case .strayContinuation: return "a continuation byte with no lead byte"
            case .overlong: return "an overlong encoding"
            case .surrogate: return "an encoded UTF-16 surrogate"
            case .beyondUnicode: return "a code point beyond U+10FFFF"
            case .neverUTF8: return "a byte that never occurs in UTF-8"
            case .truncated: return "an incomplete sequence"
            }
        }
    }

    private func describe(_ fault: UTF8Fault, at i: Int) -> String {
        let shown = bytes[i..<min(i + fault.length, bytes.count)].map { Self.hex($0) }.joined(separator: " ")
        return "\(fault.reason) (bytes \(shown)) at body offset \(i)"
    }

    /// nil when a well-formed sequence starts at `i`.
    static func utf8Fault(_ bytes: [UInt8], at i: Int) -> UTF8Fault? {
        let lead = bytes[i]
        // The range the second byte must fall in; a narrower one than 80...BF rules out overlong forms, surrogates and
        // code points beyond U+10FFFF.
        let second: ClosedRange<UInt8>
        switch lead {
        case 0x00...0x7F: return nil
        case 0x80...0xBF: return .strayContinuation
        case 0xC0, 0xC1: return .overlong(2)
        case 0xC2...0xDF: second = 0x80...0xBF
        case 0xE0: second = 0xA0...0xBF
        case 0xED: second = 0x80...0x9F
        case 0xE1...0xEF: second = 0x80...0xBF
        case 0xF0: second = 0x90...0xBF
        case 0xF1...0xF3: second = 0x80...0xBF
        case 0xF4: second = 0x80...0x8F
        default: return .neverUTF8
        }
        let length = utf8Length(lead: lead)
        for k in 1..<length {
            guard i + k < bytes.count, (0x80...0xBF).contains(bytes[i + k]) else { return .truncated(k + 1) }
        }
        guard second.contains(bytes[i + 1]) else {
            switch lead {
            case 0xED: return .surrogate
            case 0xF4: return .beyondUnicode(length)
            default: return .overlong(length)
            }
        }
        return nil
    }

    /// The length of the sequence a valid lead byte starts.
    static func utf8Length(lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: return 4
        case 0xE0...: return 3
        case 0xC0...: return 2
        default: return 1
        }
    }

    private static func hex<T: BinaryInteger>(_ value: T, digits: Int = 2) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
