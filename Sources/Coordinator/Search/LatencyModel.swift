import Foundation
import SeerCompression
import SeerMeasurement
import SeerModels

/// predicted = scale x (sum of the layers' table latencies) + offset_ms.
public struct LatencyCalibration: Codable, Sendable, Equatable {
    public var scale: Double
    public var offsetMs: Double
    /// Measurements the fit used (0: the table's own overhead, scale 1).
    public var samples: Int

    /// A calibration with the given fields.
    public init(scale: Double, offsetMs: Double, samples: Int) {
        self.scale = scale
        self.offsetMs = offsetMs
        self.samples = samples
    }

    enum CodingKeys: String, CodingKey {
        case scale, samples
        case offsetMs = "offset_ms"
    }

    /// Least squares on relative residuals, min sum ((scale x s_i + offset - y_i) / y_i)^2: the model is judged by
    /// relative error, and policies' latencies span several times, so absolute residuals would let the slowest
    /// policies decide the fit. One sample, or sums that do not vary, fix scale at 1 and fit the offset alone.
    public static func fit(layerSums s: [Double], measured y: [Double]) throws -> LatencyCalibration {
        guard !s.isEmpty else { throw LatencyModelError.noSamples }
        guard s.count == y.count else {
            throw LatencyModelError.invalidSample(index: min(s.count, y.count),
                                                  reason: "\(s.count) layer sums but \(y.count) measurements")
        }
        var (sw, sx, sy, sxx, sxy) = (0.0, 0.0, 0.0, 0.0, 0.0)
        for i in s.indices {
            guard y[i].isFinite, y[i] > 0 else {
                throw LatencyModelError.invalidSample(index: i, reason: "measured latency \(y[i]) ms is not positive")
            }
            guard s[i].isFinite else { throw LatencyModelError.invalidSample(index: i, reason: "layer sum \(s[i]) is not finite") }
            let w = 1 / (y[i] * y[i])
            sw += w
            sx += w * s[i]
            sy += w * y[i]
            sxx += w * s[i] * s[i]
            sxy += w * s[i] * y[i]
        }
        let det = sw * sxx - sx * sx
        guard s.count > 1, det > 1e-12 * sw * sxx else {
            return LatencyCalibration(scale: 1, offsetMs: (sy - sx) / sw, samples: s.count)
        }
        let scale = (sw * sxy - sx * sy) / det
        // A non-positive scale would make pruning never cheaper: the barrier would push the wrong way.
        guard scale > 0 else { throw LatencyModelError.nonPositiveScale(scale) }
        return LatencyCalibration(scale: scale, offsetMs: (sy - scale * sx) / sw, samples: s.count)
    }
}

/// A measured policy: what calibration and evaluation read.
public struct LatencySample: Sendable, Equatable {
    public var policy: ResolvedPolicy
    /// Measured end-to-end latency, milliseconds.
    public var measuredMs: Double

    /// A sample with the given fields.
    public init(policy: ResolvedPolicy, measuredMs: Double) {
        self.policy = policy
        self.measuredMs = measuredMs
    }
}

/// How close predictions are to measurements, by relative error (prediction - measured) / measured.
public struct LatencyAccuracy: Codable, Sendable, Equatable {
    public var count: Int
    /// The band, e.g. 0.1 for +-10% (nn-Meter's criterion).
    public var tolerance: Double
    /// Fraction of samples with |relative error| <= tolerance.
    public var withinTolerance: Double
    public var medianAbsRelativeError: Double
    public var maxAbsRelativeError: Double
    /// Mean signed relative error: positive when the model over-predicts.
    public var meanRelativeError: Double

    enum CodingKeys: String, CodingKey {
        case count, tolerance
        case withinTolerance = "within_tolerance", medianAbsRelativeError = "median_abs_relative_error"
        case maxAbsRelativeError = "max_abs_relative_error", meanRelativeError = "mean_relative_error"
    }

    /// Accuracy of `predicted` against `measured` (same order, positive measurements).
    public init(predicted: [Double], measured: [Double], tolerance: Double = 0.1) throws {
        guard !measured.isEmpty else { throw LatencyModelError.noSamples }
        guard predicted.count == measured.count else {
            throw LatencyModelError.invalidSample(index: min(predicted.count, measured.count),
                                                  reason: "\(predicted.count) predictions but \(measured.count) measurements")
        }
        guard tolerance >= 0, tolerance.isFinite else {
            throw LatencyModelError.invalidSample(index: 0, reason: "tolerance \(tolerance) must be finite and >= 0")
        }
        var errors: [Double] = []
        for (i, (p, y)) in zip(predicted, measured).enumerated() {
            guard y.isFinite, y > 0 else {
                throw LatencyModelError.invalidSample(index: i, reason: "measured latency \(y) ms is not positive")
            }
            errors.append((p - y) / y)
        }
        let absolute = errors.map(abs).sorted()
        let n = absolute.count
        count = n
        self.tolerance = tolerance
        // The band's edge counts as inside, up to rounding of the division.
        withinTolerance = Double(absolute.filter { $0 <= tolerance + 1e-12 }.count) / Double(n)
        medianAbsRelativeError = n % 2 == 1 ? absolute[n / 2] : (absolute[n / 2 - 1] + absolute[n / 2]) / 2
        maxAbsRelativeError = absolute.last!
        meanRelativeError = errors.reduce(0, +) / Double(n)
    }
}

/// Why a latency model could not be built, calibrated or evaluated; names the layer, field or sample.
public enum LatencyModelError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The table is for another model.
    case modelMismatch(expected: String, table: String)
    /// A compressible layer of the model has no entries, or the table has a layer the model does not.
    case layerMismatch(layer: String, reason: String)
    /// A grid point the interpolation needs is absent.
    case missingEntry(layer: String, point: String)
    /// An entry's kept channel count disagrees with the model's channels at its keep fraction.
    case channelMismatch(layer: String, field: String, expected: Int, got: Int)
    /// The model's reachable fractions or bit-widths reach outside the table's grid.
    case gridTooNarrow(layer: String, axis: String, needed: ClosedRange<Double>, grid: [Double])
    case noSamples
    case invalidSample(index: Int, reason: String)
    case nonPositiveScale(Double)

    public var description: String {
        switch self {
        case let .modelMismatch(expected, table):
            return "latency table is for model \(table), not \(expected)"
        case let .layerMismatch(layer, reason):
            return "latency table layer \(layer): \(reason)"
        case let .missingEntry(layer, point):
            return "latency table has no entry for \(layer) at \(point)"
        case let .channelMismatch(layer, field, expected, got):
            return "latency table layer \(layer): \(field) is \(got), but the model keeps \(expected) channels there "
                + "(a table of another model?)"
        case let .gridTooNarrow(layer, axis, needed, grid):
            return "latency table grid for \(layer) \(axis) covers \(grid.map { String(format: "%g", $0) }), "
                + "but the search reaches \(String(format: "%g", needed.lowerBound))...\(String(format: "%g", needed.upperBound))"
        case .noSamples:
            return "no measured latencies given"
        case let .invalidSample(index, reason):
            return "latency sample \(index): \(reason)"
        case let .nonPositiveScale(scale):
            return "calibration fitted scale \(scale) <= 0: the measurements fall as the table's latency rises; "
                + "check that they are of this model on this device"
        }
    }

    public var errorDescription: String? { description }
}

/// A device's latency over the relaxation of a `PolicyEncoding`, from a per-layer lookup table: cheap and
/// piecewise-linear, so it serves as the optimizer's barrier.
///
///     latency(x) = scale x sum_l LUT_l(kin_l(x), kout_l(x), w_l(x), a_l(x)) + offset
///
/// `kin_l` and `kout_l` are the kept fractions of the channel sets layer l reads and writes, exactly as
/// `LayerwiseComplexity` maps prune ratios to them (`LayerChannelMap`): piecewise-linear between the space's ratios,
/// equal to the rounded kept channel counts at every discrete policy; 1 for fixed sets. `w_l`, `a_l` are the layer's
/// bit variables (8/8 for the stem). `LUT_l` is the multilinear interpolation of the table over kept fraction
/// (kept channels / channels, so rounding is honoured) and, when the table has bit grids, over bit-widths; a depthwise
/// layer reads its diagonal. At a discrete policy whose fractions and bits lie on the grid, `LUT_l` is the table
/// entry. With no measurements scale is 1 and offset is the table's overhead (end-to-end minus the layers, measured
/// once on the unpruned model); `fitCalibration` learns both from measured policies.
public struct LatencyModel: ComplexityModel {
    /// One layer's table, laid out for interpolation: values[((i x nOut + o) x nW + w) x nA + a].
    struct LayerTable: Sendable {
        let name: String
        /// Variable indices, -1 when fixed (then the kept fraction is 1, the bit-widths `fixedW` and `fixedA`).
        let inVariable: Int, outVariable: Int, wVariable: Int, aVariable: Int
        let fixedW: Double, fixedA: Double
        /// Ascending coordinates; one element when the axis does not vary.
        let inAxis: [Double], outAxis: [Double], wAxis: [Double], aAxis: [Double]
        let values: [Double]
    }

    /// "ms"; "mJ" when the table holds a simulated accelerator's energy per layer (the same interpolation).
    public var metric: String { unit }
    let unit: String
    /// The encoding the relaxation belongs to.
    public let encoding: PolicyEncoding
    /// How layer sums map to end-to-end latency.
    public let calibration: LatencyCalibration
    let map: LayerChannelMap
    let layers: [LayerTable]

    /// Builds the interpolation of `lookup` for `model` under `encoding`; `calibration` nil means scale 1 and the
    /// table's overhead. Throws when the table is for another model, lacks a layer or grid point the search can
    /// reach, or its grid does not span the space's fractions and bit-widths.
    public init(model: Model, encoding: PolicyEncoding, lookup: LayerLatencyTable,
                calibration: LatencyCalibration? = nil, unit: String = "ms") throws {
        self.unit = unit
        guard lookup.model == model.name else { throw LatencyModelError.modelMismatch(expected: model.name, table: lookup.model) }
        let map = try LayerChannelMap(model: model, encoding: encoding)
        let names = Set(map.base.layers.map(\.name))
        if let extra = lookup.entries.first(where: { !names.contains($0.layer) }) {
            throw LatencyModelError.layerMismatch(layer: extra.layer, reason: "\(model.name) has no such compressible layer")
        }
        var byLayer: [String: [LayerLatencyTable.Entry]] = [:]
        for entry in lookup.entries { byLayer[entry.layer, default: []].append(entry) }
        let space = encoding.space
        layers = try map.base.layers.enumerated().map { l, layer in
            guard let entries = byLayer[layer.name] else {
                throw LatencyModelError.layerMismatch(layer: layer.name, reason: "has no entries")
            }
            let depthwise = layer.kind == .depthwise
            let bits = map.bitVariables[l]
            let stem = (w: Double(Policy.stemPolicy.wbits), a: Double(Policy.stemPolicy.abits))
            return try Self.layerTable(
                layer, depthwise: depthwise, entries: entries, lookup: lookup,
                inVariable: map.inVariable[l], outVariable: map.outVariable[l], bits: bits, map: map,
                neededBits: (w: bits == nil ? stem.w...stem.w : Double(space.wbits.min()!)...Double(space.wbits.max()!),
                             a: bits == nil ? stem.a...stem.a : Double(space.abits.min()!)...Double(space.abits.max()!)),
                fixedBits: stem)
        }
        self.encoding = encoding
        self.map = map
        self.calibration = calibration ?? LatencyCalibration(scale: 1, offsetMs: lookup.overheadMs, samples: 0)
    }

    private init(_ other: LatencyModel, calibration: LatencyCalibration) {
        unit = other.unit
        encoding = other.encoding
        map = other.map
        layers = other.layers
        self.calibration = calibration
    }

    /// The same table under another calibration.
    public func calibrated(_ calibration: LatencyCalibration) -> LatencyModel { LatencyModel(self, calibration: calibration) }

    /// The same table calibrated on `samples` (see `LatencyCalibration.fit`).
    public func calibrated(on samples: [LatencySample]) throws -> LatencyModel {
        calibrated(try fitCalibration(samples))
    }

    /// Scale and offset fitted to measured policies.
    public func fitCalibration(_ samples: [LatencySample]) throws -> LatencyCalibration {
        let sums = try samples.enumerated().map { i, sample in try layerSum(relaxation(of: sample.policy, index: i)) }
        return try LatencyCalibration.fit(layerSums: sums, measured: samples.map(\.measuredMs))
    }

    /// How close this model's predictions are to measured policies.
    public func accuracy(on samples: [LatencySample], tolerance: Double = 0.1) throws -> LatencyAccuracy {
        let predicted = try samples.enumerated().map { i, sample in value(try relaxation(of: sample.policy, index: i)) }
        return try LatencyAccuracy(predicted: predicted, measured: samples.map(\.measuredMs), tolerance: tolerance)
    }

    /// Predicted latency of a policy of the encoding's space.
    public func predict(_ policy: ResolvedPolicy) throws -> Double { value(try relaxation(of: policy, index: 0)) }

    // MARK: Value and gradient

    /// Uncalibrated: the sum of the layers' interpolated table latencies.
    public func layerSum(_ x: [Double]) -> Double {
        var total = 0.0
        for t in layers.indices { total += interpolate(layers[t], x).value }
        return total
    }

    /// Each layer's interpolated table latency (uncalibrated), in the model's layer order.
    public func layerLatencies(_ x: [Double]) -> [(layer: String, ms: Double)] {
        layers.map { ($0.name, interpolate($0, x).value) }
    }

    public func value(_ x: [Double]) -> Double { calibration.scale * layerSum(x) + calibration.offsetMs }

    public func gradient(_ x: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: x.count)
        let scale = calibration.scale
        for t in layers.indices {
            let layer = layers[t]
            let r = interpolate(layer, x)
            if layer.inVariable >= 0 { g[layer.inVariable] += scale * r.dIn * map.kept(layer.inVariable, x[layer.inVariable]).slope }
            if layer.outVariable >= 0 {
                g[layer.outVariable] += scale * r.dOut * map.kept(layer.outVariable, x[layer.outVariable]).slope
            }
            if layer.wVariable >= 0 { g[layer.wVariable] += scale * r.dW }
            if layer.aVariable >= 0 { g[layer.aVariable] += scale * r.dA }
        }
        return g
    }

    /// Multilinear interpolation of one layer at x and its derivatives along the four coordinates.
    @inline(__always)
    private func interpolate(_ t: LayerTable, _ x: [Double])
        -> (value: Double, dIn: Double, dOut: Double, dW: Double, dA: Double) {
        let fin = t.inVariable >= 0 ? map.kept(t.inVariable, x[t.inVariable]).value : 1
        let fout = t.outVariable >= 0 ? map.kept(t.outVariable, x[t.outVariable]).value : 1
        let w = t.wVariable >= 0 ? x[t.wVariable] : t.fixedW
        let a = t.aVariable >= 0 ? x[t.aVariable] : t.fixedA
        let si = segment(t.inAxis, fin), so = segment(t.outAxis, fout)
        let sw = segment(t.wAxis, w), sa = segment(t.aAxis, a)
        let (nOut, nW, nA) = (t.outAxis.count, t.wAxis.count, t.aAxis.count)
        var value = 0.0, dIn = 0.0, dOut = 0.0, dW = 0.0, dA = 0.0
        for ci in 0..<2 {
            let (i, wi, di) = ci == 0 ? (si.lo, 1 - si.u, -1.0) : (si.hi, si.u, 1.0)
            for co in 0..<2 {
                let (o, wo, dout) = co == 0 ? (so.lo, 1 - so.u, -1.0) : (so.hi, so.u, 1.0)
                for cw in 0..<2 {
                    let (b, ww, dw) = cw == 0 ? (sw.lo, 1 - sw.u, -1.0) : (sw.hi, sw.u, 1.0)
                    for ca in 0..<2 {
                        let (c, wa, da) = ca == 0 ? (sa.lo, 1 - sa.u, -1.0) : (sa.hi, sa.u, 1.0)
                        let v = t.values[((i * nOut + o) * nW + b) * nA + c]
                        value += wi * wo * ww * wa * v
                        dIn += di * wo * ww * wa * v
                        dOut += wi * dout * ww * wa * v
                        dW += wi * wo * dw * wa * v
                        dA += wi * wo * ww * da * v
                    }
                }
            }
        }
        return (value, dIn * si.du, dOut * so.du, dW * sw.du, dA * sa.du)
    }

    /// The grid cell holding t along an ascending axis: linear between the coordinates around t (the first or last
    /// cell outside them); a one-point axis is constant.
    @inline(__always)
    private func segment(_ axis: [Double], _ t: Double) -> (lo: Int, hi: Int, u: Double, du: Double) {
        guard axis.count > 1 else { return (0, 0, 0, 0) }
        var s = 0
        while s + 2 < axis.count && t >= axis[s + 1] { s += 1 }
        let width = axis[s + 1] - axis[s]
        return (s, s + 1, (t - axis[s]) / width, 1 / width)
    }

    /// The relaxation of a measured policy; the error names the sample.
    private func relaxation(of policy: ResolvedPolicy, index: Int) throws -> [Double] {
        do {
            return encoding.relaxation(levels: try encoding.levels(of: policy))
        } catch {
            throw LatencyModelError.invalidSample(index: index, reason: "\(error)")
        }
    }

    // MARK: Building a layer's table

    /// One layer's interpolation grid from its entries, after checking channel counts and coverage.
    private static func layerTable(
        _ layer: LayerComplexity, depthwise: Bool, entries: [LayerLatencyTable.Entry], lookup: LayerLatencyTable,
        inVariable: Int?, outVariable: Int?, bits: (wbits: Int, abits: Int)?, map: LayerChannelMap,
        neededBits: (w: ClosedRange<Double>, a: ClosedRange<Double>), fixedBits: (w: Double, a: Double)
    ) throws -> LayerTable {
        let name = layer.name
        func expectedKept(_ channels: Int, _ keep: Double) -> Int { max(1, Int((keep * Double(channels)).rounded())) }
        // Keep index -> coordinate (kept / channels), checking every entry's counts against the model's channels.
        var inKept = [Int?](repeating: nil, count: lookup.keeps.count)
        var outKept = [Int?](repeating: nil, count: lookup.keeps.count)
        func keepIndex(_ k: Double, _ field: String) throws -> Int {
            guard let i = lookup.keeps.firstIndex(where: { abs($0 - k) <= 1e-9 }) else {
                throw LatencyModelError.missingEntry(layer: name, point: "\(field) \(k), which is not in keeps \(lookup.keeps)")
            }
            return i
        }
        for e in entries {
            let o = try keepIndex(e.outKeep, "out_keep")
            let expectedOut = expectedKept(layer.outChannels, e.outKeep)
            guard e.keptOut == expectedOut else {
                throw LatencyModelError.channelMismatch(layer: name, field: "kept_out at out_keep \(e.outKeep)",
                                                        expected: expectedOut, got: e.keptOut)
            }
            outKept[o] = e.keptOut
            let i = try keepIndex(e.inKeep, "in_keep")
            let expectedIn = depthwise ? expectedOut : expectedKept(layer.inChannels, e.inKeep)
            if !depthwise || i == o {
                guard e.keptIn == expectedIn else {
                    throw LatencyModelError.channelMismatch(layer: name, field: "kept_in at in_keep \(e.inKeep)",
                                                            expected: expectedIn, got: e.keptIn)
                }
                inKept[i] = e.keptIn
            }
        }
        let inChannels = depthwise ? layer.outChannels : layer.inChannels
        // Unique coordinates; nominal keeps that keep the same channels are the same kernel and are averaged.
        func axis(_ kept: [Int?], channels: Int) -> (coords: [Double], members: [[Int]]) {
            let distinct = Array(Set(kept.compactMap { $0 })).sorted()
            return (distinct.map { Double($0) / Double(channels) },
                    distinct.map { k in kept.indices.filter { kept[$0] == k } })
        }
        let outAxis = axis(outKept, channels: layer.outChannels)
        // A depthwise layer reads its diagonal: the in axis collapses onto the out axis.
        let inAxis = depthwise ? (coords: [1.0], members: [[-1]]) : axis(inKept, channels: inChannels)
        let wGrid = lookup.wbits ?? [], aGrid = lookup.abits ?? []
        let wAxis = wGrid.isEmpty ? [0.0] : wGrid.map(Double.init)
        let aAxis = aGrid.isEmpty ? [0.0] : aGrid.map(Double.init)

        // Coverage: every fraction and bit-width the search reaches lies inside the grid.
        func cover(_ needed: ClosedRange<Double>, _ grid: [Double], _ axisName: String) throws {
            guard let lo = grid.first, let hi = grid.last,
                  needed.lowerBound >= lo - 1e-9, needed.upperBound <= hi + 1e-9 else {
                throw LatencyModelError.gridTooNarrow(layer: name, axis: axisName, needed: needed, grid: grid)
            }
        }
        try cover(outVariable.map(map.keptRange) ?? 1...1, outAxis.coords, "out keep")
        if !depthwise { try cover(inVariable.map(map.keptRange) ?? 1...1, inAxis.coords, "in keep") }
        if !wGrid.isEmpty {
            try cover(neededBits.w, wAxis, "wbits")
            try cover(neededBits.a, aAxis, "abits")
        }

        var index: [String: Double] = [:]
        func key(_ i: Int, _ o: Int, _ w: Int?, _ a: Int?) -> String { "\(i) \(o) \(w ?? -1) \(a ?? -1)" }
        for e in entries {
            index[key(try keepIndex(e.inKeep, "in_keep"), try keepIndex(e.outKeep, "out_keep"), e.wbits, e.abits)] = e.ms
        }
        var values: [Double] = []
        values.reserveCapacity(inAxis.coords.count * outAxis.coords.count * wAxis.count * aAxis.count)
        for inMembers in inAxis.members {
            for outMembers in outAxis.members {
                for w in (wGrid.isEmpty ? [nil] : wGrid.map(Optional.some)) {
                    for a in (aGrid.isEmpty ? [nil] : aGrid.map(Optional.some)) {
                        var sum = 0.0, count = 0
                        for o in outMembers {
                            for i in (depthwise ? [o] : inMembers) {
                                guard let ms = index[key(i, o, w, a)] else {
                                    let bitsText = w.map { "\($0)/\(a!) bits, " } ?? ""
                                    throw LatencyModelError.missingEntry(
                                        layer: name, point: "\(bitsText)in_keep \(lookup.keeps[i]), out_keep \(lookup.keeps[o])")
                                }
                                sum += ms
                                count += 1
                            }
                        }
                        values.append(sum / Double(count))
                    }
                }
            }
        }
        let usesBits = !wGrid.isEmpty
        return LayerTable(
            name: name, inVariable: depthwise ? -1 : (inVariable ?? -1), outVariable: outVariable ?? -1,
            wVariable: usesBits ? (bits?.wbits ?? -1) : -1, aVariable: usesBits ? (bits?.abits ?? -1) : -1,
            fixedW: fixedBits.w, fixedA: fixedBits.a,
            inAxis: inAxis.coords, outAxis: outAxis.coords, wAxis: wAxis, aAxis: aAxis, values: values)
    }
}
