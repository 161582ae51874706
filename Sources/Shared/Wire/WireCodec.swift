import Foundation

/// Frames <-> `Message`, without touching a socket: the DEALER side is [header, type, body(, weights)],
/// the ROUTER side puts the peer's routing id first.
///
/// Both directions validate: `encode` refuses what `decode` would refuse, so a bad value is caught
/// at its source rather than at the peer.
public enum WireCodec {
    // MARK: Encode

    /// The frames an agent (DEALER) sends, or a coordinator after its routing-id frame.
    public static func encode(_ message: Message) throws(WireError) -> [[UInt8]] {
        var frames: [[UInt8]] = [SeerProtocol.headerBytes, Array(message.type.rawValue.utf8)]
        switch message {
        case let .ready(body): frames.append(try json(body))
        case let .heartbeat(body): frames.append(try json(body))
        case let .job(body): frames.append(try json(body))
        case let .result(body): frames.append(try json(body))
        case let .error(body): frames.append(try json(body))
        case let .disconnect(body): frames.append(try json(body))
        case let .profile(body): frames.append(try json(body))
        case let .deploy(body):
            frames.append(try json(body))
            if let blob = body.inlineWeights { frames.append(blob) }
        case let .deployed(body): frames.append(try json(body))
        }
        try checkSizes(frames, type: message.type)
        return frames
    }

    /// The frames a coordinator (ROUTER) sends to the peer with `routingID`.
    public static func encode(_ message: Message, to routingID: [UInt8]) throws(WireError) -> [[UInt8]] {
        try checkRoutingID(routingID)
        return [routingID] + (try encode(message))
    }

    private static func json<Body: ValidatedBody>(_ body: Body) throws(WireError) -> [UInt8] {
        try body.validate()
        let encoder = JSONEncoder()
        // Sorted keys make encodings reproducible (tests, logs, signatures).
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(body))
        } catch {
            // validate() has ruled out everything JSONEncoder rejects (non-finite numbers); kept for safety.
            throw .invalidField(type: Body.messageType, field: "", reason: "cannot be encoded: \(error)")
        }
    }

    // MARK: Decode

    /// Decodes the frames an agent (DEALER) receives, or a coordinator's after the routing id.
    public static func decode(_ frames: [[UInt8]]) throws(WireError) -> Message {
        guard (SeerProtocol.minFrames...SeerProtocol.maxFrames).contains(frames.count) else {
            throw .frameCount(expected: "3 (4 for DEPLOY with inline weights)", got: frames.count)
        }
        let total = frames.reduce(0) { $0 + $1.count }
        guard total <= SeerProtocol.maxDeployMessageBytes else {
            throw .tooLarge(bytes: total, limit: SeerProtocol.maxDeployMessageBytes)
        }
        try checkHeader(frames[0])
        let type = try messageType(frames[1])
        guard type == .deploy || frames.count == 3 else {
            throw .frameCount(expected: "3 for \(type.rawValue)", got: frames.count)
        }
        try checkSizes(frames, type: type)
        let body = frames[2]
        switch type {
        case .ready: return .ready(try decodeBody(ReadyBody.self, body))
        case .heartbeat: return .heartbeat(try decodeBody(HeartbeatBody.self, body))
        case .job: return .job(try decodeBody(JobBody.self, body))
        case .result: return .result(try decodeBody(ResultBody.self, body))
        case .error: return .error(try decodeBody(ErrorBody.self, body))
        case .disconnect: return .disconnect(try decodeBody(DisconnectBody.self, body))
        case .profile: return .profile(try decodeBody(ProfileBody.self, body))
        case .deploy:
            let blob = frames.count == 4 ? frames[3] : nil
            return .deploy(try decodeBody(DeployBody.self, body) { $0.inlineWeights = blob })
        case .deployed: return .deployed(try decodeBody(DeployedBody.self, body))
        }
    }

    /// Decodes what a coordinator (ROUTER) receives: the sender's routing id, then its message.
    public static func decodeRouted(_ frames: [[UInt8]]) throws(WireError) -> (routingID: [UInt8], message: Message) {
        guard let routingID = frames.first else {
            throw .frameCount(expected: "a routing id and 3", got: 0)
        }
        try checkRoutingID(routingID)
        return (routingID, try decode(Array(frames.dropFirst())))
    }

    /// `decode` for frames held as `Data`.
    public static func decode(_ frames: [Data]) throws(WireError) -> Message {
        try decode(frames.map { [UInt8]($0) })
    }

    /// The ERROR reply for DEALER-side `frames` (no routing id) that failed to decode, with their job id if one is readable.
    public static func errorReply(for error: WireError, frames: [[UInt8]]) -> Message {
        error.errorMessage(jobID: salvageJobID(frames))
    }

    // MARK: Checks

    private static func checkRoutingID(_ id: [UInt8]) throws(WireError) {
        guard (1...SeerProtocol.maxIDBytes).contains(id.count) else { throw .invalidRoutingID(length: id.count) }
    }

    private static func checkHeader(_ frame: [UInt8]) throws(WireError) {
        let signature = Array(SeerProtocol.signature.utf8)
        guard frame.count <= SeerProtocol.maxHeaderBytes, frame.starts(with: signature) else {
            throw .badSignature(found: WireError.printable(frame[...]))
        }
        let digits = frame.dropFirst(signature.count)
        // Exactly one spelling per version: no sign, no leading zero, no empty version.
        guard let first = digits.first, first != UInt8(ascii: "0"),
              digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let version = Int(String(decoding: digits, as: UTF8.self)) else {
            throw .badSignature(found: WireError.printable(frame[...]))
        }
        guard version == SeerProtocol.version else { throw .unsupportedVersion(version) }
    }

    private static func messageType(_ frame: [UInt8]) throws(WireError) -> MessageType {
        guard frame.count <= 32, let type = MessageType(rawValue: String(decoding: frame, as: UTF8.self)) else {
            throw .unknownType(WireError.printable(frame[...]))
        }
        return type
    }

    private static func checkSizes(_ frames: [[UInt8]], type: MessageType) throws(WireError) {
        let total = frames.reduce(0) { $0 + $1.count }
        let limit = type == .deploy ? SeerProtocol.maxDeployMessageBytes : SeerProtocol.maxMessageBytes
        guard total <= limit else { throw .tooLarge(bytes: total, limit: limit) }
        if frames.count > 2, frames[2].count > SeerProtocol.maxBodyBytes {
            throw .tooLarge(bytes: frames[2].count, limit: SeerProtocol.maxBodyBytes)
        }
    }

    private static func decodeBody<Body: ValidatedBody>(_: Body.Type, _ bytes: [UInt8],
                                                        amend: (inout Body) -> Void = { _ in }) throws(WireError) -> Body {
        let type = Body.messageType
        let scan = try BodyScan(bytes, type: type)
        func refuse(_ number: BodyScan.Number) -> WireError {
            .invalidField(type: type, field: number.path, reason: "must be an integer (3, not 3.0) within 64-bit signed range, got "
                          + WireError.printable(bytes[number.range]))
        }
        var body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: Data(bytes))
        } catch let error as DecodingError {
            // A number that does not fit an integer field fails the decode without naming the field.
            if let number = firstNumberInIntegerField(Body.self, bytes, scan.numbers) { throw refuse(number) }
            throw wireError(error, type: type, body: bytes)
        } catch {
            throw .malformedJSON(type: type, reason: "\(error)")
        }
        // JSONDecoder took the whole numbers among them (`4.0`, `1e2`) into integer fields; only those can be in one.
        let whole = scan.numbers.filter { number in
            guard let value = Double(String(decoding: bytes[number.range], as: UTF8.self)) else { return false }
            return value == value.rounded() && abs(value) < 0x1p63
        }
        if let number = firstNumberInIntegerField(Body.self, bytes, whole) { throw refuse(number) }
        amend(&body)
        try body.validate()
        return body
    }

    /// The first of `numbers` (some of those not written as 64-bit integers) that sits in an integer field of `Body`.
    ///
    /// JSONDecoder reads `4.0` or `1e2` into an `Int` as 4 or 100, and when a number does not fit it names no field;
    /// the protocol wants `3`, not `3.0`, and the field named. The schema knows which fields are integers, so ask it:
    /// written as `0.5`, a number still decodes in a `Double` field or an opaque value and fails in an `Int` field.
    /// The other suspects are written `0` meanwhile, which every number field takes. One extra decode (all of them
    /// `0.5`), and only a body with such a number pays for halving to find the first one, in a few more.
    private static func firstNumberInIntegerField<Body: Decodable>(_: Body.Type, _ bytes: [UInt8],
                                                                   _ numbers: [BodyScan.Number]) -> BodyScan.Number? {
        guard !numbers.isEmpty else { return nil }
        func fails(_ poisoned: Range<Int>) -> Bool {
            var rewritten: [UInt8] = []
            rewritten.reserveCapacity(bytes.count + 3 * numbers.count)
            var copied = 0
            for (index, number) in numbers.enumerated() {
                rewritten += bytes[copied..<number.range.lowerBound]
                rewritten += poisoned.contains(index) ? Array("0.5".utf8) : Array("0".utf8)
                copied = number.range.upperBound
            }
            rewritten += bytes[copied...]
            do {
                _ = try JSONDecoder().decode(Body.self, from: Data(rewritten))
                return false
            } catch let DecodingError.dataCorrupted(context) {
                // A number that does not fit comes back like this, with no coding path.
                return context.codingPath.isEmpty
            } catch {
                return false
            }
        }
        // Other faults of the body (a missing field, malformed JSON) can make a decode fail before or instead of the
        // number, so every step of the search is checked and none is trusted that the body without suspects shares.
        guard fails(0..<numbers.count), !fails(0..<0) else { return nil }
        var suspects = 0..<numbers.count
        while suspects.count > 1 {
            let half = suspects.lowerBound..<(suspects.lowerBound + suspects.count / 2)
            if fails(half) {
                suspects = half
            } else {
                suspects = half.upperBound..<suspects.upperBound
                guard fails(suspects) else { return nil }
            }
        }
        return numbers[suspects.lowerBound]
    }

    private static func wireError(_ error: DecodingError, type: MessageType, body: [UInt8]) -> WireError {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case let .keyNotFound(key, context):
            return .missingField(type: type, field: path(context.codingPath + [key]))
        case let .typeMismatch(expected, context):
            return .invalidField(type: type, field: path(context.codingPath), reason: "has the wrong JSON type, expected \(jsonName(expected))")
        case let .valueNotFound(_, context):
            return .invalidField(type: type, field: path(context.codingPath), reason: "is null but a value is required")
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty {
                // JSONDecoder says only "not valid JSON", also for a number that does not fit its field;
                // a second, schema-free parse tells the two apart and gives the parser's reason.
                do {
                    _ = try JSONSerialization.jsonObject(with: Data(body))
                } catch {
                    let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "not well-formed"
                    return .malformedJSON(type: type, reason: "not well-formed UTF-8 JSON: "
                                          + WireError.printable(Array(detail.utf8)[...], limit: 120))
                }
                return .malformedJSON(type: type, reason: "a number does not fit its field (integer fields take whole numbers within 64 bits)")
            }
            return .invalidField(type: type, field: path(context.codingPath), reason: "has an invalid value")
        @unknown default:
            return .malformedJSON(type: type, reason: "\(error)")
        }
    }

    private static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "string"
        case is Bool.Type: return "boolean"
        case is Int.Type, is Double.Type: return "number"
        case is [Any].Type: return "array"
        default: return "object"
        }
    }

    private static func salvageJobID(_ frames: [[UInt8]]) -> String? {
        // Best effort for the ERROR reply; a body that failed validation may still carry a usable job id, or the
        // deploy id of a DEPLOY or DEPLOYED (ERROR's `job_id` names "the job or deploy concerned").
        guard frames.count >= 3, frames[2].count <= SeerProtocol.maxBodyBytes,
              (try? BodyScan(frames[2], type: .error)) != nil,
              let object = try? JSONSerialization.jsonObject(with: Data(frames[2])) as? [String: Any],
              let jobID = (object["job_id"] as? String) ?? (object["deploy_id"] as? String),
              (try? Check(type: .error).id(jobID, "job_id")) != nil else { return nil }
        return jobID
    }
}
