/// Value checks shared by all bodies; each failure names the message type and the field's JSON path.
struct Check {
    let type: MessageType

    func fail(_ field: String, _ reason: String) -> WireError {
        .invalidField(type: type, field: field, reason: reason)
    }

    /// Ids are also routing ids and log keys: 1...255 bytes, no control characters.
    func id(_ value: String, _ field: String) throws(WireError) {
        let bytes = value.utf8.count
        guard bytes > 0 else { throw fail(field, "must not be empty") }
        guard bytes <= SeerProtocol.maxIDBytes else { throw fail(field, "is \(bytes) bytes, limit \(SeerProtocol.maxIDBytes)") }
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw fail(field, "contains control characters")
        }
    }

    func text(_ value: String, _ field: String, allowEmpty: Bool = false) throws(WireError) {
        if !allowEmpty && value.isEmpty { throw fail(field, "must not be empty") }
        let bytes = value.utf8.count
        guard bytes <= SeerProtocol.maxTextBytes else { throw fail(field, "is \(bytes) bytes, limit \(SeerProtocol.maxTextBytes)") }
    }

    func count(_ value: Int, _ field: String, min: Int) throws(WireError) {
        guard value >= min else { throw fail(field, "must be >= \(min), got \(value)") }
    }

    func number(_ value: Double, _ field: String, in range: ClosedRange<Double>? = nil) throws(WireError) {
        guard value.isFinite else { throw fail(field, "must be a finite number") }
        if let range, !range.contains(value) { throw fail(field, "must be in \(range.lowerBound)...\(range.upperBound), got \(value)") }
    }

    func nonNegative(_ value: Double, _ field: String) throws(WireError) {
        try number(value, field, in: 0...Double.greatestFiniteMagnitude)
    }

    func timings(_ map: [String: Double], _ field: String) throws(WireError) {
        for key in map.keys.sorted() {
            try text(key, "\(field) key")
            try nonNegative(map[key]!, "\(field).\(key)")
        }
    }

    func opaque(_ object: [String: JSONValue], _ field: String) throws(WireError) {
        if let path = JSONValue.object(object).firstNonFinitePath(field) { throw fail(path, "must be a finite number") }
    }
}

/// A body that can check its own values beyond what its Codable schema enforces.
protocol ValidatedBody: Codable, Equatable, Sendable {
    static var messageType: MessageType { get }
    func validate() throws(WireError)
}

extension ReadyBody: ValidatedBody {
    static var messageType: MessageType { .ready }
    func validate() throws(WireError) {
        let check = Check(type: .ready)
        try check.id(agentID, "agent_id")
        try check.id(deviceKey, "device_key")
        try check.count(protocolVersion, "protocol_version", min: 1)
        for capability in capabilities { try check.id(capability, "capabilities[]") }
        try check.count(device.cores, "device.cores", min: 1)
        try check.count(device.memoryBytes, "device.memory_bytes", min: 0)
        try check.text(device.os, "device.os")
        if let arch = device.arch { try check.text(arch, "device.arch") }
        if let hardware = device.hardware { try check.text(hardware, "device.hardware") }
        for name in device.software.keys.sorted() {
            try check.text(name, "device.software key")
            try check.text(device.software[name]!, "device.software.\(name)", allowEmpty: true)
        }
    }
}

extension HeartbeatBody: ValidatedBody {
    static var messageType: MessageType { .heartbeat }
    func validate() throws(WireError) {
        if let jobID { try Check(type: .heartbeat).id(jobID, "job_id") }
    }
}

extension JobBody: ValidatedBody {
    static var messageType: MessageType { .job }
    func validate() throws(WireError) {
        let check = Check(type: .job)
        try check.id(jobID, "job_id")
        try check.id(deviceKey, "device_key")
        try check.text(payload.model, "payload.model")
        try check.opaque(payload.policy, "payload.policy")
        try check.count(payload.finetuneSteps, "payload.finetune_steps", min: 0)
        try check.text(payload.split, "payload.split")
        try check.count(payload.seed, "payload.seed", min: 0)
        if let latency = payload.latency {
            try check.count(latency.number, "payload.latency.number", min: 1)
            try check.count(latency.repeat, "payload.latency.repeat", min: 1)
            if let warmup = latency.warmup { try check.count(warmup, "payload.latency.warmup", min: 0) }
        }
        try check.count(payload.timeouts.totalMs, "payload.timeouts.total_ms", min: 1)
        if let value = payload.timeouts.finetuneMs { try check.count(value, "payload.timeouts.finetune_ms", min: 1) }
        if let value = payload.timeouts.measureMs { try check.count(value, "payload.timeouts.measure_ms", min: 1) }
        if let options = payload.options { try check.opaque(options, "payload.options") }
        if let settings = payload.settings { try check.opaque(settings, "payload.settings") }
        if let artifact = payload.artifact { try check.artifact(artifact, "payload.artifact") }
        if kind == .artifact && payload.artifact == nil { throw WireError.missingField(type: .job, field: "payload.artifact") }
    }
}

extension ResultBody: ValidatedBody {
    static var messageType: MessageType { .result }
    func validate() throws(WireError) {
        let check = Check(type: .result)
        try check.id(jobID, "job_id")
        try check.id(agentID, "agent_id")
        if let accuracy = payload.accuracy { try check.number(accuracy, "payload.accuracy", in: 0...1) }
        if let latency = payload.latency {
            try check.nonNegative(latency.minMs, "payload.latency.min_ms")
            try check.nonNegative(latency.medianMs, "payload.latency.median_ms")
            try check.nonNegative(latency.maxMs, "payload.latency.max_ms")
            if let mean = latency.meanMs { try check.nonNegative(mean, "payload.latency.mean_ms") }
            if let std = latency.stdMs { try check.nonNegative(std, "payload.latency.std_ms") }
            guard latency.minMs <= latency.medianMs, latency.medianMs <= latency.maxMs else {
                throw check.fail("payload.latency", "must satisfy min_ms <= median_ms <= max_ms")
            }
            try check.count(latency.number, "payload.latency.number", min: 1)
            try check.count(latency.repeat, "payload.latency.repeat", min: 1)
        }
        if let complexity = payload.complexity {
            try check.count(complexity.macs, "payload.complexity.macs", min: 0)
            try check.count(complexity.bitops, "payload.complexity.bitops", min: 0)
            try check.count(complexity.params, "payload.complexity.params", min: 0)
            try check.count(complexity.sizeBytes, "payload.complexity.size_bytes", min: 0)
        }
        try check.timings(payload.timingsMs, "payload.timings_ms")
        if let table = payload.layerTable { try check.opaque(table, "payload.layer_table") }
        if let artifact = payload.artifact {
            try check.artifact(artifact, "payload.artifact")
            guard artifact.data != nil else { throw check.fail("payload.artifact.data", "is required in a RESULT") }
        }
        if let energy = payload.energy {
            try check.nonNegative(energy.joules, "payload.energy.joules")
            if let watts = energy.averageWatts { try check.nonNegative(watts, "payload.energy.average_watts") }
        }
    }
}

extension ErrorBody: ValidatedBody {
    static var messageType: MessageType { .error }
    func validate() throws(WireError) {
        let check = Check(type: .error)
        if let jobID { try check.id(jobID, "job_id") }
        try check.text(message, "message", allowEmpty: true)
    }
}

extension DisconnectBody: ValidatedBody {
    static var messageType: MessageType { .disconnect }
    func validate() throws(WireError) {
        try Check(type: .disconnect).text(reason, "reason")
    }
}

extension ProfileBody: ValidatedBody {
    static var messageType: MessageType { .profile }
    func validate() throws(WireError) {
        let check = Check(type: .profile)
        try check.id(agentID, "agent_id")
        try check.id(deviceKey, "device_key")
        try check.id(profile, "profile")
        try check.number(capacityPercent, "capacity_percent", in: 0...100)
    }
}

extension DeployBody: ValidatedBody {
    static var messageType: MessageType { .deploy }
    func validate() throws(WireError) {
        let check = Check(type: .deploy)
        try check.id(deployID, "deploy_id")
        try check.id(deviceKey, "device_key")
        try check.id(profile, "profile")
        try check.text(model, "model")
        try check.opaque(policy, "policy")
        if let uri = weights.uri { try check.text(uri, "weights.uri") }
        if let format = weights.format { try check.text(format, "weights.format") }
        let hex = Array(weights.sha256.utf8)
        guard hex.count == 64, hex.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw check.fail("weights.sha256", "must be 64 lowercase hex digits")
        }
        try check.count(weights.sizeBytes, "weights.size_bytes", min: 0)
        switch (weights.uri, inlineWeights) {
        case (nil, nil): throw check.fail("weights.uri", "is absent, so the weights frame is required")
        case (.some, .some): throw check.fail("weights.uri", "is present, so no weights frame is allowed")
        case let (nil, .some(blob)) where blob.count != weights.sizeBytes:
            throw check.fail("weights.size_bytes", "says \(weights.sizeBytes) but the weights frame has \(blob.count) bytes")
        default: break
        }
        if let validation {
            try check.count(validation.images, "validation.images", min: 1)
            if let floor = validation.minAccuracy { try check.number(floor, "validation.min_accuracy", in: 0...1) }
            if let sha = validation.datasetSHA256 {
                let hex = Array(sha.utf8)
                guard hex.count == 64, hex.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                    throw check.fail("validation.dataset_sha256", "must be 64 lowercase hex digits")
                }
            }
            if let normalization = validation.normalization {
                for (name, values) in [("mean", normalization.mean), ("std", normalization.std)] where values.isEmpty {
                    throw check.fail("validation.normalization.\(name)", "must hold at least one value")
                }
                for value in normalization.std where !(value > 0 && value.isFinite) {
                    throw check.fail("validation.normalization.std", "must be positive, got \(value)")
                }
            }
            if let count = validation.validationCount { try check.count(count, "validation.validation_count", min: 0) }
        }
        if let finetune {
            try check.count(finetune.steps, "finetune.steps", min: 0)
            try check.count(finetune.seed, "finetune.seed", min: 0)
            if let options = finetune.options { try check.opaque(options, "finetune.options") }
        }
    }
}

extension DeployedBody: ValidatedBody {
    static var messageType: MessageType { .deployed }
    func validate() throws(WireError) {
        let check = Check(type: .deployed)
        try check.id(deployID, "deploy_id")
        try check.id(agentID, "agent_id")
        try check.timings(timingsMs, "timings_ms")
        if let message { try check.text(message, "message", allowEmpty: true) }
        if status == .failed && code == nil { throw WireError.missingField(type: .deployed, field: "code") }
    }
}
