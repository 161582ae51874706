import Foundation

/// Per-layer latencies of one model on one device, by kept channel fractions (and bit-widths where the device's
/// speed depends on them), in the manner of OFA's and nn-Meter's lookup tables. JSON with snake_case keys.
///
/// Every compressible layer has an entry at every (in keep, out keep) point of the `keeps` grid, or, for a layer
/// whose input and output are one channel set (a depthwise convolution), at every diagonal point; when `wbits` and
/// `abits` are set, every such point exists at every (wbits, abits) pair of their product. `LatencyModel`
/// (SeerSearch) interpolates the table over a search's continuous relaxation.
public struct LayerLatencyTable: Codable, Sendable, Equatable {
    /// One layer at one grid point.
    public struct Entry: Codable, Sendable, Equatable {
        public var layer: String
        /// Nominal kept fraction of the layer's input channels (a value of the table's `keeps`).
        public var inKeep: Double
        /// Nominal kept fraction of the layer's output channels (a value of the table's `keeps`).
        public var outKeep: Double
        /// Input channels actually kept: max(1, round(in_keep x channels)), as `ChannelGroups` rounds.
        public var keptIn: Int
        /// Output channels actually kept.
        public var keptOut: Int
        /// Weight bit-width; nil for devices whose latency does not depend on it.
        public var wbits: Int?
        /// Input-activation bit-width; nil for devices whose latency does not depend on it.
        public var abits: Int?
        /// Latency of the layer's kernel for one run of the table's batch.
        public var ms: Double
        /// Energy of that run in millijoules, where the executor models it (the simulated accelerators).
        public var mj: Double?

        /// An entry with the given fields.
        public init(layer: String, inKeep: Double, outKeep: Double, keptIn: Int, keptOut: Int, wbits: Int? = nil,
                    abits: Int? = nil, ms: Double, mj: Double? = nil) {
            self.mj = mj
            self.layer = layer
            self.inKeep = inKeep
            self.outKeep = outKeep
            self.keptIn = keptIn
            self.keptOut = keptOut
            self.wbits = wbits
            self.abits = abits
            self.ms = ms
        }

        enum CodingKeys: String, CodingKey {
            case layer, wbits, abits, ms, mj
            case inKeep = "in_keep", outKeep = "out_keep", keptIn = "kept_in", keptOut = "kept_out"
        }
    }

    /// Zoo name of the model the layers belong to.
    public var model: String
    /// Executor the latencies are for: `builtin`, `sim-bitfusion`, `sim-bismo`.
    public var executor: String
    /// Free text naming the device (CPU, OS, library), for people.
    public var device: String
    /// Images per run.
    public var batch: Int
    /// Engine threads while profiling (1 for analytical models).
    public var threads: Int
    /// Kept-fraction grid, ascending, in (0, 1]; holds 1 so unprunable channel sets can be looked up.
    public var keeps: [Double]
    /// Weight bit-width grid, ascending; nil when latency does not depend on bit-widths.
    public var wbits: [Int]?
    /// Activation bit-width grid, ascending; nil exactly when `wbits` is.
    public var abits: [Int]?
    /// Measured end-to-end latency of the unpruned model at 8/8 bits, when profiled on a real executor.
    public var referenceMs: Double?
    /// End-to-end latency not inside any layer's kernel (graph bookkeeping, ops no layer owns): `reference_ms` minus
    /// the unpruned 8/8 layers' entries. 0 for cost models that are a sum over layers.
    public var overheadMs: Double
    /// How kernels were timed; nil for analytical models.
    public var timing: LatencySettings?
    /// Wall time of the profiling job.
    public var seconds: Double
    public var entries: [Entry]

    /// A table with the given fields (not validated: call `validate()`).
    public init(model: String, executor: String, device: String, batch: Int, threads: Int, keeps: [Double],
                wbits: [Int]? = nil, abits: [Int]? = nil, referenceMs: Double? = nil, overheadMs: Double,
                timing: LatencySettings? = nil, seconds: Double, entries: [Entry]) {
        self.model = model
        self.executor = executor
        self.device = device
        self.batch = batch
        self.threads = threads
        self.keeps = keeps
        self.wbits = wbits
        self.abits = abits
        self.referenceMs = referenceMs
        self.overheadMs = overheadMs
        self.timing = timing
        self.seconds = seconds
        self.entries = entries
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, executor, device, batch, threads, keeps, wbits, abits, timing, seconds, entries
        case referenceMs = "reference_ms", overheadMs = "overhead_ms"
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        executor = try c.decode(String.self, forKey: .executor)
        device = try c.decode(String.self, forKey: .device)
        batch = try c.decode(Int.self, forKey: .batch)
        threads = try c.decode(Int.self, forKey: .threads)
        keeps = try c.decode([Double].self, forKey: .keeps)
        wbits = try c.decodeIfPresent([Int].self, forKey: .wbits)
        abits = try c.decodeIfPresent([Int].self, forKey: .abits)
        referenceMs = try c.decodeIfPresent(Double.self, forKey: .referenceMs)
        overheadMs = try c.decode(Double.self, forKey: .overheadMs)
        timing = try c.decodeIfPresent(LatencySettings.self, forKey: .timing)
        seconds = try c.decode(Double.self, forKey: .seconds)
        entries = try c.decode([Entry].self, forKey: .entries)
    }

    // MARK: JSON

    /// Decodes and validates a table; every error names the offending field (`entries[3].ms`, `keeps`, ...).
    public static func decode(from data: Data) throws -> LayerLatencyTable {
        let table: LayerLatencyTable
        do {
            table = try JSONDecoder().decode(LayerLatencyTable.self, from: data)
        } catch let error as DecodingError {
            throw LayerLatencyTableError(decoding: error)
        }
        try table.validate()
        return table
    }

    /// Reads and validates the table at `url`.
    public static func load(contentsOf url: URL) throws -> LayerLatencyTable {
        try decode(from: try Data(contentsOf: url))
    }

    /// Pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    // MARK: Checks

    /// Throws `LayerLatencyTableError.invalid` naming the first field that is out of range or inconsistent.
    public func validate() throws {
        func fail(_ field: String, _ reason: String) -> LayerLatencyTableError { .invalid(field: field, reason: reason) }
        guard !model.isEmpty else { throw fail("model", "must not be empty") }
        guard batch >= 1 else { throw fail("batch", "must be at least 1, got \(batch)") }
        guard threads >= 1 else { throw fail("threads", "must be at least 1, got \(threads)") }
        guard !keeps.isEmpty else { throw fail("keeps", "must hold at least one fraction") }
        for (i, k) in keeps.enumerated() {
            guard k > 0, k <= 1 else { throw fail("keeps[\(i)]", "\(k) is not in (0, 1]") }
            if i > 0, k <= keeps[i - 1] { throw fail("keeps", "must ascend strictly, got \(keeps)") }
        }
        guard abs(keeps.last! - 1) <= 1e-9 else {
            throw fail("keeps", "must end at 1 (unprunable channel sets keep everything), got \(keeps)")
        }
        guard (wbits == nil) == (abits == nil) else {
            throw fail(wbits == nil ? "wbits" : "abits", "wbits and abits are given together or not at all")
        }
        for (name, grid) in [("wbits", wbits), ("abits", abits)] {
            guard let grid else { continue }
            guard !grid.isEmpty else { throw fail(name, "must hold at least one bit-width") }
            for (i, b) in grid.enumerated() {
                guard (1...32).contains(b) else { throw fail("\(name)[\(i)]", "\(b) is not in 1...32") }
                if i > 0, b <= grid[i - 1] { throw fail(name, "must ascend strictly, got \(grid)") }
            }
        }
        if let referenceMs, !(referenceMs.isFinite && referenceMs > 0) {
            throw fail("reference_ms", "must be a positive number, got \(referenceMs)")
        }
        guard overheadMs.isFinite else { throw fail("overhead_ms", "must be finite, got \(overheadMs)") }
        try timing?.validate()
        guard !entries.isEmpty else { throw fail("entries", "must not be empty") }

        var seen = Set<Key>()
        var pointsOfLayer: [String: Set<Key>] = [:]
        var layerOrder: [String] = []
        for (i, e) in entries.enumerated() {
            let field = "entries[\(i)]"
            guard !e.layer.isEmpty else { throw fail("\(field).layer", "must not be empty") }
            guard let inIndex = keepIndex(e.inKeep) else {
                throw fail("\(field).in_keep", "\(e.inKeep) is not in keeps \(keeps)")
            }
            guard let outIndex = keepIndex(e.outKeep) else {
                throw fail("\(field).out_keep", "\(e.outKeep) is not in keeps \(keeps)")
            }
            guard e.keptIn >= 1 else { throw fail("\(field).kept_in", "must be at least 1, got \(e.keptIn)") }
            guard e.keptOut >= 1 else { throw fail("\(field).kept_out", "must be at least 1, got \(e.keptOut)") }
            guard e.ms.isFinite, e.ms >= 0 else { throw fail("\(field).ms", "must be a finite number >= 0, got \(e.ms)") }
            if let mj = e.mj, !(mj.isFinite && mj >= 0) { throw fail("\(field).mj", "must be a finite number >= 0, got \(mj)") }
            var w = -1, a = -1
            if let wbits, let abits {
                guard let ew = e.wbits, let wi = wbits.firstIndex(of: ew) else {
                    throw fail("\(field).wbits", "\(e.wbits.map(String.init) ?? "missing") is not in wbits \(wbits)")
                }
                guard let ea = e.abits, let ai = abits.firstIndex(of: ea) else {
                    throw fail("\(field).abits", "\(e.abits.map(String.init) ?? "missing") is not in abits \(abits)")
                }
                (w, a) = (wi, ai)
            } else if e.wbits != nil || e.abits != nil {
                throw fail("\(field).\(e.wbits != nil ? "wbits" : "abits")", "the table has no bit-width grid")
            }
            let key = Key(layer: e.layer, input: inIndex, output: outIndex, wbits: w, abits: a)
            guard seen.insert(key).inserted else { throw fail(field, "repeats \(e.layer) at this grid point") }
            if pointsOfLayer[e.layer] == nil { layerOrder.append(e.layer) }
            pointsOfLayer[e.layer, default: []].insert(key)
        }

        // Each layer covers the whole grid or its diagonal, at every bit pair: interpolation needs every corner.
        let bitPairs = (wbits.map { Array($0.indices) } ?? [-1]).flatMap { w in
            (abits.map { Array($0.indices) } ?? [-1]).map { (w, $0) }
        }
        for layer in layerOrder {
            let points = pointsOfLayer[layer]!
            func grid(diagonal: Bool) -> Set<Key> {
                var keys = Set<Key>()
                for i in keeps.indices {
                    for o in keeps.indices where !diagonal || i == o {
                        for (w, a) in bitPairs { keys.insert(Key(layer: layer, input: i, output: o, wbits: w, abits: a)) }
                    }
                }
                return keys
            }
            let full = grid(diagonal: false), diagonal = grid(diagonal: true)
            guard points == full || points == diagonal else {
                let missing = (points.isSubset(of: full) && points.count > diagonal.count ? full : diagonal).subtracting(points)
                let example = missing.first.map(describe) ?? "points off the diagonal"
                throw fail("entries", "layer \(layer) covers neither the whole keeps grid nor its diagonal; "
                           + "missing e.g. \(example)")
            }
        }
    }

    /// The names of the layers with entries, in order of first appearance.
    public var layers: [String] {
        var seen = Set<String>()
        return entries.map(\.layer).filter { seen.insert($0).inserted }
    }

    /// The entry of `layer` at a grid point, nil when absent (keeps match within 1e-9).
    public func entry(layer: String, inKeep: Double, outKeep: Double, wbits: Int? = nil, abits: Int? = nil) -> Entry? {
        entries.first {
            $0.layer == layer && abs($0.inKeep - inKeep) <= 1e-9 && abs($0.outKeep - outKeep) <= 1e-9
                && $0.wbits == wbits && $0.abits == abits
        }
    }

    private struct Key: Hashable {
        var layer: String
        var input: Int, output: Int, wbits: Int, abits: Int
    }

    private func keepIndex(_ k: Double) -> Int? { keeps.firstIndex { abs($0 - k) <= 1e-9 } }

    private func describe(_ key: Key) -> String {
        var text = "in_keep \(keeps[key.input]), out_keep \(keeps[key.output])"
        if let wbits, let abits { text += ", \(wbits[key.wbits])/\(abits[key.abits]) bits" }
        return text
    }
}

/// Why a latency table was rejected; names the field.
public enum LayerLatencyTableError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// A field is missing, of the wrong type, out of range or inconsistent with the rest of the table.
    case invalid(field: String, reason: String)

    /// The JSON decoder's error, with its coding path as the field name.
    init(decoding error: DecodingError) {
        func path(_ keys: [CodingKey], _ last: CodingKey? = nil) -> String {
            let all = keys + (last.map { [$0] } ?? [])
            let text = all.reduce("") { text, key in
                if let i = key.intValue { return text + "[\(i)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
            return text.isEmpty ? "(top level)" : text
        }
        switch error {
        case let .keyNotFound(key, context):
            self = .invalid(field: path(context.codingPath, key), reason: "is missing")
        case let .typeMismatch(type, context):
            self = .invalid(field: path(context.codingPath), reason: "is not a \(type)")
        case let .valueNotFound(type, context):
            self = .invalid(field: path(context.codingPath), reason: "is null, expected a \(type)")
        case let .dataCorrupted(context):
            self = .invalid(field: path(context.codingPath), reason: context.debugDescription)
        @unknown default:
            self = .invalid(field: "(unknown)", reason: String(describing: error))
        }
    }

    public var description: String {
        switch self {
        case let .invalid(field, reason): return "latency table: \(field): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
