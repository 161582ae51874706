import SeerCompression
import SeerModels

/// BitOPs, MACs or size of a model as a closed form over the relaxation, precomputed per layer from
/// `Complexity.compute` on the unpruned model.
///
/// Per compressible layer l with kept fractions `kout` (its output group) and `kin` (the group feeding it), 1 for
/// fixed groups:
/// - MACs(x)   = sum_l MACs_l * kout * kin
/// - BitOPs(x) = sum_l MACs_l * kout * kin * w_l * a_l
/// - bytes(x)  = sum_l weights_l * kout * kin * w_l / 8 + 4 * biases_l * kout + 8 * batch-norm channels * k
///
/// A depthwise layer's input and output are one group (its groups shrink with its channels), so its fraction counts
/// once. A group's kept fraction as a function of its ratio is the piecewise-linear interpolation, between the
/// space's ratios, of `ChannelGroups`' rounded kept channel counts: at every discrete policy MACs and BitOPs equal
/// `Complexity.compute` exactly, and bytes differ only by `Complexity`'s rounding of each layer's weights up to whole
/// bytes (less than one byte per layer). Between levels the form is smooth except at the space's ratios.
public struct LayerwiseComplexity: ComplexityModel {
    /// One summand: coefficient x kept(out) x kept(in) x value(wbits) x value(abits), absent factors being 1.
    struct Term: Sendable {
        var coefficient: Double
        var out: Int?
        var input: Int?
        var wbits: Int?
        var abits: Int?
    }

    /// What this closed form counts.
    public let metricKind: ComplexityMetric
    /// The unit, as messages print it.
    public var metric: String { metricKind.unit }
    let constant: Double
    /// Terms as flat arrays (variable index or -1 per factor): value and gradient run on every search step and
    /// every candidate move, so they avoid optionals and nested arrays.
    let coefficients: [Double]
    let factors: [Int32]  // 4 per term: out, in, wbits, abits
    /// Kept fractions of the prune variables.
    let map: LayerChannelMap

    /// Precomputes the per-layer closed form of `metric` for `model` under `encoding` (built for the same model).
    public init(model: Model, encoding: PolicyEncoding, metric: ComplexityMetric) throws {
        let map = try LayerChannelMap(model: model, encoding: encoding)
        let base = map.base

        var terms: [Term] = []
        var constant = 0.0
        for (l, layer) in base.layers.enumerated() {
            var fixedBits = (w: 1.0, a: 1.0)
            let bits = map.bitVariables[l]
            if bits == nil { fixedBits = (Double(Policy.stemPolicy.wbits), Double(Policy.stemPolicy.abits)) }
            let (wbits, abits) = (bits?.wbits, bits?.abits)
            let (out, input) = (map.outVariable[l], map.inVariable[l])
            switch metric {
            case .macs:
                terms.append(Term(coefficient: Double(layer.macs), out: out, input: input))
            case .bitops:
                terms.append(Term(coefficient: Double(layer.macs) * fixedBits.w * fixedBits.a, out: out, input: input,
                                  wbits: wbits, abits: abits))
            case .sizeBytes:
                terms.append(Term(coefficient: Double(layer.weights) * fixedBits.w / 8, out: out, input: input, wbits: wbits))
                terms.append(Term(coefficient: 4 * Double(layer.biases), out: out))
            }
        }
        if metric == .sizeBytes {
            let prunableBatchNorm = map.batchNormChannels.reduce(0, +)
            constant = 8 * (Double(base.batchNormParams) / 2 - prunableBatchNorm)
            for (v, channels) in map.batchNormChannels.enumerated() where channels > 0 {
                terms.append(Term(coefficient: 8 * channels, out: v))
            }
        }
        // Terms with no variable at all fold into the constant.
        let variable = terms.filter { $0.out != nil || $0.input != nil || $0.wbits != nil || $0.abits != nil }
        self.constant = constant + terms.filter { $0.out == nil && $0.input == nil && $0.wbits == nil && $0.abits == nil }
            .reduce(0) { $0 + $1.coefficient }
        coefficients = variable.map(\.coefficient)
        factors = variable.flatMap { [$0.out, $0.input, $0.wbits, $0.abits].map { Int32($0 ?? -1) } }
        self.map = map
        metricKind = metric
    }

    public func value(_ x: [Double]) -> Double {
        var total = constant
        for t in coefficients.indices {
            var p = coefficients[t]
            for slot in 0..<4 {
                let v = Int(factors[4 * t + slot])
                if v >= 0 { p *= slot < 2 ? kept(v, x[v]).value : x[v] }
            }
            total += p
        }
        return total
    }

    public func gradient(_ x: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: x.count)
        var values = (0.0, 0.0, 0.0, 0.0), slopes = (0.0, 0.0, 0.0, 0.0)
        for t in coefficients.indices {
            let base = 4 * t
            // Factor values and derivatives; absent factors are 1 with derivative 0.
            func factor(_ slot: Int) -> (value: Double, slope: Double) {
                let v = Int(factors[base + slot])
                guard v >= 0 else { return (1, 0) }
                return slot < 2 ? kept(v, x[v]) : (x[v], 1)
            }
            (values.0, slopes.0) = factor(0)
            (values.1, slopes.1) = factor(1)
            (values.2, slopes.2) = factor(2)
            (values.3, slopes.3) = factor(3)
            let c = coefficients[t]
            if factors[base] >= 0 { g[Int(factors[base])] += c * slopes.0 * values.1 * values.2 * values.3 }
            if factors[base + 1] >= 0 { g[Int(factors[base + 1])] += c * values.0 * slopes.1 * values.2 * values.3 }
            if factors[base + 2] >= 0 { g[Int(factors[base + 2])] += c * values.0 * values.1 * slopes.2 * values.3 }
            if factors[base + 3] >= 0 { g[Int(factors[base + 3])] += c * values.0 * values.1 * values.2 * slopes.3 }
        }
        return g
    }

    @inline(__always)
    private func kept(_ v: Int, _ r: Double) -> (value: Double, slope: Double) { map.kept(v, r) }
}

/// Which search variables set each compressible layer's kept channel fractions and bit-widths, found once per model
/// and encoding; `LayerwiseComplexity` and `LatencyModel` both read layers through it.
struct LayerChannelMap: Sendable {
    /// `Complexity.compute` of the unpruned model at 8/8 bits: every layer's full shape, in compressible-layer order.
    let base: ComplexityReport
    /// Per layer: the prune variable of the group it writes (nil when that group is fixed).
    let outVariable: [Int?]
    /// Per layer: the prune variable of the group it reads (nil when fixed; always nil for depthwise layers, whose
    /// input is their output group).
    let inVariable: [Int?]
    /// Per layer: its wbits and abits variables; nil for the stem, fixed at `Policy.stemPolicy`.
    let bitVariables: [(wbits: Int, abits: Int)?]
    /// Per prune variable: batch-norm channels of its group (0 for bit variables).
    let batchNormChannels: [Double]
    /// Kept-fraction knots of prune variable v: `knotRatios[knotStart[v] ..< knotStart[v + 1]]`, ratios ascending.
    let knotStart: [Int]
    let knotRatios: [Double]
    let knotKept: [Double]

    init(model: Model, encoding: PolicyEncoding) throws {
        guard model.name == encoding.model else {
            throw SearchError.policyMismatch(expected: encoding.model, reason: "complexity asked for model \(model.name)")
        }
        let names = model.compressibleLayers.map(\.name)
        func uniform(prunedLayers: Set<String>, ratio: Double) throws -> ResolvedPolicy {
            try ResolvedPolicy(model: model.name, entries: names.map { name in
                ResolvedPolicy.Entry(layer: name, policy: LayerPolicy(wbits: 8, abits: 8,
                                                                      prune: prunedLayers.contains(name) ? ratio : 0))
            })
        }
        let base = try Complexity.compute(model: model, policy: try uniform(prunedLayers: [], ratio: 0))
        let groups = ChannelGroups(graph: model.graph)

        // Which group feeds each layer is found by pruning one group at a time: a layer whose kept inputs (outputs)
        // change reads (writes) that group. This asks `Complexity` itself rather than re-deriving its graph walk.
        var outVariable = [Int?](repeating: nil, count: names.count)
        var inVariable = [Int?](repeating: nil, count: names.count)
        var batchNormChannels = [Double](repeating: 0, count: encoding.variables.count)
        var curves = [(ratios: [Double], kept: [Double])?](repeating: nil, count: encoding.variables.count)
        let probeRatio = 0.5
        for (v, variable) in encoding.variables.enumerated() where variable.kind == .prune {
            let members = Set(variable.layers.map { encoding.layers[$0].layer })
            let probe = try Complexity.compute(model: model, policy: try uniform(prunedLayers: members, ratio: probeRatio))
            for (l, (before, after)) in zip(base.layers, probe.layers).enumerated() {
                if after.keptOutChannels != before.keptOutChannels { outVariable[l] = v }
                if after.keptInChannels != before.keptInChannels && before.kind != .depthwise { inVariable[l] = v }
            }
            let channels = groups.group(of: variable.layers.map { encoding.layers[$0].layer }[0])!.channels
            let probeKept = keptChannels(channels, ratio: probeRatio)
            if probeKept < channels {
                // Every batch norm reading the group lost (channels - kept) of its channels, 2 parameters each.
                let lost = Double(base.batchNormParams - probe.batchNormParams) / 2
                batchNormChannels[v] = lost * Double(channels) / Double(channels - probeKept)
            }
            let ratios = variable.levels.sorted()
            curves[v] = (ratios: ratios, kept: ratios.map { Double(keptChannels(channels, ratio: $0)) / Double(channels) })
        }

        var bitVariables: [(wbits: Int, abits: Int)?] = []
        var searchable = 0
        for layer in base.layers {
            if layer.name == base.layers.first?.name {  // the stem
                bitVariables.append(nil)
            } else {
                bitVariables.append(encoding.bitVariables(ofLayer: searchable))
                searchable += 1
            }
        }

        var knotStart = [0], knotRatios: [Double] = [], knotKept: [Double] = []
        for curve in curves {
            if let curve {
                knotRatios += curve.ratios
                knotKept += curve.kept
            }
            knotStart.append(knotRatios.count)
        }
        self.base = base
        self.outVariable = outVariable
        self.inVariable = inVariable
        self.bitVariables = bitVariables
        self.batchNormChannels = batchNormChannels
        self.knotStart = knotStart
        self.knotRatios = knotRatios
        self.knotKept = knotKept
    }

    /// Kept fraction of prune variable v's group at ratio r and its slope: linear between the knots around r (the
    /// first or last segment outside them).
    @inline(__always)
    func kept(_ v: Int, _ r: Double) -> (value: Double, slope: Double) {
        let lo = knotStart[v], hi = knotStart[v + 1]
        guard hi - lo > 1 else { return (knotKept[lo], 0) }
        var s = lo
        while s + 2 < hi && r >= knotRatios[s + 1] { s += 1 }
        let slope = (knotKept[s + 1] - knotKept[s]) / (knotRatios[s + 1] - knotRatios[s])
        return (knotKept[s] + (r - knotRatios[s]) * slope, slope)
    }

    /// The smallest and largest kept fraction prune variable v reaches over its levels.
    func keptRange(_ v: Int) -> ClosedRange<Double> {
        let kept = knotKept[knotStart[v] ..< knotStart[v + 1]]
        return kept.min()! ... kept.max()!
    }
}

/// `ChannelGroups`' rule: max(1, round((1 - r) * C)), halves away from zero.
private func keptChannels(_ channels: Int, ratio: Double) -> Int {
    max(1, Int(((1 - ratio) * Double(channels)).rounded()))
}
