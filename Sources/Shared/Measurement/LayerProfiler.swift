import Foundation
import SeerCompression
import SeerEngine
import SeerModels
import SeerTensor

/// What a profiling job measures: the grid and how kernels are timed.
public struct LayerProfilerSettings: Sendable, Equatable {
    /// Kept-fraction grid for input and output channels, ascending, ending at 1.
    ///
    /// The default is the default search space's kept fractions (1 - prune: 1/4 to 1 in eighths), so every discrete
    /// policy's layers sit on grid points and interpolation only serves the relaxation between them. Quarters profile
    /// 3x faster (resnet20 on the engine: 12 s against 36 s) and are nearly as good on the engine, but accelerator
    /// tile counts step between them (BitFusion: up to 4% error at eighths, none on the eighths grid); see
    /// docs/LATENCY.md.
    public var keeps: [Double] = SearchSpace.default.prune.map { 1 - $0 }.sorted()
    /// Weight bit-widths profiled on accelerator models (ignored by the engine, whose speed does not depend on them).
    public var wbits: [Int] = SearchSpace.default.wbits.sorted()
    /// Activation bit-widths profiled on accelerator models.
    public var abits: [Int] = SearchSpace.default.abits.sorted()
    /// Images per run.
    public var batch = 1
    /// How one layer's kernel is timed. Shorter repeats than a campaign's: a table times hundreds of kernels (about
    /// 450 for resnet8, 1000 for resnet20), and the median of 5 repeats of at least 5 ms, each hundreds of runs of a
    /// kernel of microseconds, is stable enough.
    public var kernelTiming = LatencySettings(number: 1, repeats: 5, minRepeatMs: 5, batch: 1)
    /// How the whole unpruned model is timed for the table's reference and overhead: as campaigns time policies.
    public var referenceTiming = LatencySettings()

    /// The defaults.
    public init() {}

    /// Checks ranges; the message names the field.
    public func validate() throws {
        func fail(_ m: String) -> MeasurementError { .invalidSettings(m) }
        guard !keeps.isEmpty else { throw fail("keeps must hold at least one fraction") }
        for (i, k) in keeps.enumerated() {
            guard k > 0, k <= 1 else { throw fail("keeps: \(k) is not in (0, 1]") }
            if i > 0, k <= keeps[i - 1] { throw fail("keeps must ascend strictly, got \(keeps)") }
        }
        guard abs(keeps.last! - 1) <= 1e-9 else { throw fail("keeps must end at 1 (unprunable layers), got \(keeps)") }
        for (name, grid) in [("wbits", wbits), ("abits", abits)] {
            guard !grid.isEmpty else { throw fail("\(name) must hold at least one bit-width") }
            guard grid.allSatisfy({ (2...8).contains($0) }) else { throw fail("\(name) must lie in 2...8, got \(grid)") }
            guard zip(grid, grid.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw fail("\(name) must ascend strictly, got \(grid)")
            }
        }
        guard batch >= 1 else { throw fail("batch must be at least 1, got \(batch)") }
        try kernelTiming.validate()
        try referenceTiming.validate()
    }
}

/// Builds `LayerLatencyTable`s: times each compressible layer's kernel in isolation on Seer's engine (nn-Meter
/// style), or evaluates an accelerator cost model per layer.
///
/// **Engine kernels.** A layer's kernel is what inference runs for it in a compressed network: the activation
/// quantizer on its input, the layer with its weight quantizer and its batch norm folded in (a bias), and every
/// following op that is not itself a compressible layer and whose first input comes from this kernel (ReLU, the
/// residual add on the main path with the ReLU after it, pooling). Each of those ops then has exactly one owner, so
/// the kernels tile the network and their sum tracks end-to-end latency; what no kernel owns is the table's overhead.
/// Quantizers are simulated in float, so the engine's latency depends on kept channels only, not on bit-widths.
public enum LayerProfiler {
    /// Progress: grid points done, total, and the layer being profiled.
    public typealias Progress = (_ done: Int, _ total: Int, _ layer: String) -> Void

    /// The table of `executor` (`builtin` or an `AcceleratorModels` name) for `model`; throws for other names.
    public static func profile(model: Model, executor: String, settings: LayerProfilerSettings = LayerProfilerSettings(),
                               progress: Progress? = nil) throws -> LayerLatencyTable {
        if executor == "builtin" { return try profileEngine(model: model, settings: settings, progress: progress) }
        guard let accelerator = AcceleratorModels.named(executor) else {
            throw MeasurementError.invalidSettings("executor '\(executor)' has no latency profile; expected builtin, "
                                                   + AcceleratorModels.names.joined(separator: ", "))
        }
        return try profileAccelerator(accelerator, model: model, settings: settings)
    }

    // MARK: Engine

    /// Times every compressible layer's kernel at every grid point on this host with the current `Threads.count`.
    public static func profileEngine(model: Model, settings: LayerProfilerSettings = LayerProfilerSettings(),
                                     device: String = hostDescription(),
                                     progress: Progress? = nil) throws -> LayerLatencyTable {
        try settings.validate()
        let start = Date()
        let kernels = try EngineKernel.all(in: model)
        let points = kernels.map { gridPoints(settings.keeps, diagonal: $0.isDepthwise) }
        let total = points.reduce(0) { $0 + $1.count }
        var timing = settings.kernelTiming
        timing.batch = settings.batch
        var entries: [LayerLatencyTable.Entry] = []
        var done = 0
        for (kernel, grid) in zip(kernels, points) {
            // Keeps that round to the same channel counts (e.g. the stem's one input channel) are one kernel.
            var measured: [[Int]: Double] = [:]
            for (i, o) in grid {
                let (keptIn, keptOut) = kernel.keptChannels(inKeep: settings.keeps[i], outKeep: settings.keeps[o])
                let ms: Double
                if let known = measured[[keptIn, keptOut]] {
                    ms = known
                } else {
                    let run = kernel.instantiate(keptIn: keptIn, keptOut: keptOut, batch: settings.batch)
                    ms = LatencyTimer.measure(timing, run).medianMs
                    measured[[keptIn, keptOut]] = ms
                }
                entries.append(LayerLatencyTable.Entry(layer: kernel.name, inKeep: settings.keeps[i],
                                                       outKeep: settings.keeps[o], keptIn: keptIn, keptOut: keptOut, ms: ms))
                done += 1
                progress?(done, total, kernel.name)
            }
        }
        var referenceTiming = settings.referenceTiming
        referenceTiming.batch = settings.batch
        let full = try Policy(bits: "8/8").resolve(for: model)
        let reference = try endToEndLatency(model: model, policy: full, timing: referenceTiming).medianMs
        let layersAtFull = entries.filter { abs($0.inKeep - 1) <= 1e-9 && abs($0.outKeep - 1) <= 1e-9 }
            .reduce(0) { $0 + $1.ms }
        var overhead = reference - layersAtFull
        if overhead < 0 {
            // The kernels, each timed alone, add up to more than the network (on oneDNN it runs as one program, and
            // what a kernel pays to be timed alone, calls and the buffers' first touch, it shares there), and a
            // negative overhead would grow wrong as layers shrink: scale every kernel by the network's share so
            // that the table adds up to the measured network at the reference policy, with no overhead.
            let share = reference / layersAtFull
            for i in entries.indices { entries[i].ms *= share }
            overhead = 0
        }
        let table = LayerLatencyTable(
            model: model.name, executor: "builtin", device: device, batch: settings.batch, threads: Threads.count,
            keeps: settings.keeps, referenceMs: reference, overheadMs: overhead, timing: timing,
            seconds: Date().timeIntervalSince(start), entries: entries)
        try table.validate()
        return table
    }

    /// End-to-end latency of `policy` on the engine as the builtin executor times it (pruned, quantized, batch norm
    /// folded), without fine-tuning: weights do not change the time. Inputs and calibration images are seeded noise,
    /// so no dataset is needed.
    public static func endToEndLatency(model: Model, policy: ResolvedPolicy, timing: LatencySettings = LatencySettings(),
                                       seed: UInt64 = 1) throws -> LatencyStatistics {
        try timing.validate()
        _ = try Complexity.compute(model: model, policy: policy)  // throws when the policy is not for this model
        var rng = SeededGenerator(seed: seed)
        let pruned = ChannelPruning.prune(model, policy: policy)
        let calibration = Tensor.randomNormal(shape: [16] + model.inputShape, std: 1, using: &rng)
        let folded = PolicyQuantization.quantize(pruned, policy: policy, calibration: calibration).graph.foldingBatchNorm()
        let inference = try InferenceArithmetic.selected.get().compile(folded)
        let x = Tensor.randomNormal(shape: [timing.batch] + model.inputShape, std: 1, using: &rng)
        return LatencyTimer.measure(timing) { _ = inference.forward(x) }
    }

    /// "x86_64, <CPU model>, N cores": enough to tell tables of different machines apart.
    public static func hostDescription() -> String {
        var system = utsname()
        uname(&system)
        let machine = withUnsafeBytes(of: system.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
        return [machine, cpu, "\(ProcessInfo.processInfo.activeProcessorCount) cores"].compactMap { $0 }
            .joined(separator: ", ")
    }

    // MARK: Accelerators

    /// Every compressible layer's latency from `accelerator`'s cost model at every grid point and bit pair.
    public static func profileAccelerator(_ accelerator: any AcceleratorModel, model: Model,
                                          settings: LayerProfilerSettings = LayerProfilerSettings()) throws -> LayerLatencyTable {
        try settings.validate()
        let start = Date()
        let base = try Complexity.compute(model: model, policy: try Policy(bits: "8/8").resolve(for: model))
        var entries: [LayerLatencyTable.Entry] = []
        // Layers run one after another and each layer's estimate depends on its own shape and position only, so one
        // report with every layer at the same grid point gives every layer's latency there.
        for (i, o) in gridPoints(settings.keeps, diagonal: false) {
            let shapes = base.layers.map { resizedFields($0, inKeep: settings.keeps[i], outKeep: settings.keeps[o]) }
            for w in settings.wbits {
                for a in settings.abits {
                    let report = try resizedReport(base, layers: shapes, wbits: w, abits: a)
                    let estimate = accelerator.estimate(report, batch: settings.batch)
                    for (layer, cost) in zip(report.layers, estimate.perLayer) where layer.kind != .depthwise || i == o {
                        entries.append(LayerLatencyTable.Entry(
                            layer: layer.name, inKeep: settings.keeps[i], outKeep: settings.keeps[o],
                            keptIn: layer.keptInChannels, keptOut: layer.keptOutChannels, wbits: w, abits: a,
                            ms: cost.latencyMs, mj: cost.energyMJ))
                    }
                }
            }
        }
        // Order by layer, as engine tables are: readers scan a layer's grid together.
        let order = Dictionary(uniqueKeysWithValues: base.layers.enumerated().map { ($1.name, $0) })
        entries = entries.enumerated().sorted {
            let (a, b) = (order[$0.element.layer]!, order[$1.element.layer]!)
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
        let table = LayerLatencyTable(
            model: model.name, executor: accelerator.name, device: "\(accelerator.name) cost model (docs/ACCELERATORS.md)",
            batch: settings.batch, threads: 1, keeps: settings.keeps, wbits: settings.wbits, abits: settings.abits,
            overheadMs: 0, seconds: Date().timeIntervalSince(start), entries: entries)
        try table.validate()
        return table
    }

    /// The JSON fields of `layer` (from an unpruned report) at the given kept fractions, its counts recomputed as
    /// `Complexity.compute` counts them, bit-width fields left for `resizedReport`. A depthwise layer's input is its
    /// output channel set, so `inKeep` is ignored.
    static func resizedFields(_ layer: LayerComplexity, inKeep: Double, outKeep: Double) -> ResizedLayer {
        let keptOut = keptChannelCount(layer.outChannels, keep: outKeep)
        let keptIn = layer.kind == .depthwise ? keptOut : keptChannelCount(layer.inChannels, keep: inKeep)
        // Grouped (non-depthwise) convolutions are never pruned (ChannelGroups); off the full-keep points their
        // counts only need to be well defined.
        let groups = layer.kind == .depthwise ? keptOut : max(1, layer.groups)
        let weights = layer.kind == .linear ? keptIn * keptOut
            : keptOut * max(1, keptIn / groups) * layer.kernelArea
        let biases = layer.biases > 0 ? keptOut : 0
        let macs = layer.outHeight * layer.outWidth * weights
        return ResizedLayer(macs: macs, weights: weights, biases: biases, fields: [
            "name": layer.name, "kind": layer.kind.rawValue, "in_channels": layer.inChannels, "kept_in_channels": keptIn,
            "out_channels": layer.outChannels, "kept_out_channels": keptOut, "kernel_height": layer.kernelHeight,
            "kernel_width": layer.kernelWidth, "stride_height": layer.strideHeight, "stride_width": layer.strideWidth,
            "dilation_height": layer.dilationHeight, "dilation_width": layer.dilationWidth, "groups": groups, "out_height": layer.outHeight, "out_width": layer.outWidth,
            "prune": 1 - outKeep, "macs": macs, "weights": weights, "biases": biases, "params": weights + biases,
        ])
    }

    /// A layer's counts at some kept fractions and its JSON fields but the bit-width ones.
    struct ResizedLayer {
        let macs: Int, weights: Int, biases: Int
        let fields: [String: Any]
    }

    /// A report of `base`'s model whose layers are `layers` (from `resizedFields`) at `wbits`/`abits`. Totals are not
    /// read by the cost models but kept consistent. `ComplexityReport`'s only public constructor is its Codable form.
    static func resizedReport(_ base: ComplexityReport, layers: [ResizedLayer], wbits: Int, abits: Int) throws
        -> ComplexityReport {
        var (macs, bitops, params, size) = (0, 0, 0, 0)
        let objects = layers.map { layer -> [String: Any] in
            var fields = layer.fields
            let layerSize = (layer.weights * wbits + 7) / 8 + 4 * layer.biases
            fields["wbits"] = wbits
            fields["abits"] = abits
            fields["bitops"] = layer.macs * wbits * abits
            fields["size_bytes"] = layerSize
            macs += layer.macs
            bitops += layer.macs * wbits * abits
            params += layer.weights + layer.biases
            size += layerSize
            return fields
        }
        let fields: [String: Any] = [
            "model": base.model, "input_shape": base.inputShape, "macs": macs, "bitops": bitops, "params": params,
            "batchnorm_params": base.batchNormParams, "size_bytes": size, "layers": objects,
        ]
        return try JSONDecoder().decode(ComplexityReport.self, from: JSONSerialization.data(withJSONObject: fields))
    }

    /// (in, out) keep indices of the grid, in-major; only the diagonal for layers whose input is their output set.
    static func gridPoints(_ keeps: [Double], diagonal: Bool) -> [(Int, Int)] {
        keeps.indices.flatMap { i in keeps.indices.compactMap { o in !diagonal || i == o ? (i, o) : nil } }
    }
}

/// `ChannelGroups`' rounding: max(1, round(keep x channels)), halves away from zero.
func keptChannelCount(_ channels: Int, keep: Double) -> Int {
    max(1, Int((keep * Double(channels)).rounded()))
}

/// One compressible layer's kernel on the engine, instantiated at any kept channel counts.
struct EngineKernel {
    /// Where an op of the kernel reads an input: an earlier op's output (slot 0 is the layer) or, for an input from
    /// outside the kernel (the shortcut operand of an add), a constant of the shape of its first input.
    enum Source { case slot(Int), outside }

    let name: String
    let isDepthwise: Bool
    /// The layer: a Conv2D or a Linear.
    let layer: Layer
    /// [C, H, W] of the layer's input (or [F] for a classifier).
    let inputShape: [Int]
    /// Whether the layer's input can be negative (its activation quantizer is signed).
    let signedInput: Bool
    let hasBias: Bool
    /// Ops after the layer, in topological order, with where each reads its inputs.
    let ops: [(layer: Layer, sources: [Source])]

    /// Kept input and output channels at nominal keep fractions.
    func keptChannels(inKeep: Double, outKeep: Double) -> (Int, Int) {
        let outChannels = (layer as? Conv2D)?.outChannels ?? (layer as! Linear).outFeatures
        let keptOut = keptChannelCount(outChannels, keep: outKeep)
        return (isDepthwise ? keptOut : keptChannelCount(inputShape[0], keep: inKeep), keptOut)
    }

    /// The kernel at `keptIn` x `keptOut` channels as a closure running it once on a fixed input.
    func instantiate(keptIn: Int, keptOut: Int, batch: Int) -> () -> Void {
        var rng = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal(shape: [batch, keptIn] + inputShape.dropFirst(), std: 1, using: &rng)
        // At 8/8: a float layer's cost does not depend on the bit-widths (simulated quantization), an integer
        // layer's does not either (the same u8/s8 kernels from 2 to 8 bits).
        let quantizer = ActivationQuantizer(name: name + ".aq", bits: 8, signed: signedInput, alpha: 3)
        let main: Layer
        if let conv = layer as? Conv2D {
            let groups = isDepthwise ? keptOut : conv.groups
            let c = Conv2D(name: conv.name, inChannels: keptIn, outChannels: keptOut, window: conv.window,
                           groups: groups, bias: hasBias, rng: &rng)
            c.weightQuantizer = .calibrated(bits: 8, weight: c.weight.value)
            main = c
        } else {
            let l = Linear(name: layer.name, inFeatures: keptIn, outFeatures: keptOut, rng: &rng)
            l.weightQuantizer = .calibrated(bits: 8, weight: l.weight.value)
            main = l
        }
        // Ops are channel-agnostic (element-wise, pooling) except an unfolded batch norm and a per-channel affine,
        // rebuilt at keptOut.
        let tail: [(Layer, [Source])] = ops.map { op in
            if let bn = op.layer as? BatchNorm2D { return (BatchNorm2D(name: bn.name, channels: keptOut), op.sources) }
            if let a = op.layer as? ChannelAffine {
                return (ChannelAffine(name: a.name, scale: Array(repeating: 1, count: keptOut),
                                      shift: Array(repeating: 0, count: keptOut)), op.sources)
            }
            return (op.layer.inferenceCopy(), op.sources)
        }
        // Operands from outside the kernel: made once, at the shape a dry run gives.
        var constants: [Int: Tensor] = [:]
        // The layer as `QuantizedInference` runs it when the process's arithmetic is int8 and the CPU runs 8/8 exactly.
        var integer: Int8Convolution?
        if case .success(.int8) = InferenceArithmetic.selected, let c = main as? Conv2D,
           Int8Convolution.unsupported(input: quantizer, weights: c.weightQuantizer, vnni: Int8Convolution.hostHasVNNI) == nil {
            integer = Int8Convolution(c, input: quantizer, weights: c.weightQuantizer!)
        }
        let layer = { (x: Tensor) -> Tensor in
            let q = quantizer.forward([x], training: false)
            return integer?.inference(q) ?? main.forward([q], training: false)
        }
        var values = [layer(x)]
        for (index, (op, sources)) in tail.enumerated() {
            let first = sources.first.flatMap { if case .slot(let s) = $0 { return values[s] } else { return nil } }
            let shape = first?.shape ?? values[0].shape
            if sources.contains(where: { if case .outside = $0 { return true } else { return false } }) {
                constants[index] = Tensor.randomNormal(shape: shape, std: 1, using: &rng)
            }
            values.append(op.forward(inputs(sources, values, constants[index]), training: false))
        }
        if let slice = programSlice(main: main, quantizer: quantizer, tail: tail, values: values, x: x, rng: &rng) {
            return slice.run
        }
        return {
            var values = [layer(x)]
            values.reserveCapacity(tail.count + 1)
            for (index, (op, sources)) in tail.enumerated() {
                values.append(op.forward(inputs(sources, values, constants[index]), training: false))
            }
        }
    }

    /// The kernel as the oneDNN inference program runs it (nil off the oneDNN backend, for the classifier, or where
    /// an operand from outside the kernel is not of the layer's output shape): the kernel's ops as a folded network whose steps for
    /// the layer and its ops alone are timed, in place, so that layout changes the program does not make around a
    /// layer in a network are not counted. The input's quantizer and an outside operand (computed first by a 1x1
    /// convolution of the input at the layer's stride, as a residual shortcut precedes the layer that adds it) run
    /// only to fill the buffers.
    private func programSlice(main: Layer, quantizer: ActivationQuantizer, tail: [(Layer, [Source])],
                              values: [Tensor], x: Tensor, rng: inout SeededGenerator) -> ProgramSlice? {
        guard case .success(let arithmetic) = InferenceArithmetic.selected, x.shape.count == 4 else { return nil }
        let graph = Graph()
        let input = graph.add(quantizer.inferenceCopy(), Graph.input)
        var outside: Graph.NodeID?
        let readsOutside = tail.contains { $0.1.contains { if case .outside = $0 { return true } else { return false } } }
        if readsOutside {
            guard let conv = main as? Conv2D else { return nil }
            let window = Window2D(height: WindowAxis(kernel: 1, stride: conv.window.height.stride),
                                  width: WindowAxis(kernel: 1, stride: conv.window.width.stride))
            let shortcut = Conv2D(name: name + ".outside", inChannels: conv.inChannels, outChannels: conv.outChannels,
                                  window: window, bias: true, rng: &rng)
            shortcut.weightQuantizer = .calibrated(bits: 8, weight: shortcut.weight.value)
            let shape = shortcut.forward([x], training: false).shape
            guard shape == values[0].shape else { return nil }
            outside = graph.add(shortcut, input)
        }
        let layer = graph.add(main.inferenceCopy(), input)
        var nodes = [layer]
        for (op, sources) in tail {
            let ins = sources.map { source -> Graph.NodeID in
                switch source {
                case .slot(let s): return nodes[s]
                case .outside: return outside!
                }
            }
            // The outside operand first, so that it is computed before the layer (and fuses as its residual).
            nodes.append(graph.add(op.inferenceCopy(), inputs: ins.sorted { $0 == outside ? $1 != outside : false }))
        }
        let names = Set(nodes.map { graph.nodes[$0].layer.name })
        let folded = graph.foldingBatchNorm()
        let timed = Set(folded.nodes.indices.filter { names.contains(folded.nodes[$0].layer.name) })
        return ProgramSlice(folded, arithmetic: arithmetic, input: x, nodes: timed)
    }

    private func inputs(_ sources: [Source], _ values: [Tensor], _ constant: Tensor?) -> [Tensor] {
        sources.map { source in
            switch source {
            case .slot(let s): return values[s]
            case .outside: return constant!
            }
        }
    }

    /// The kernels of every compressible layer of `model`, in its order; see `LayerProfiler` for what they hold.
    static func all(in model: Model) throws -> [EngineKernel] {
        let graph = model.graph
        let shapes = try Complexity.outputShapes(of: model)
        let kinds = Dictionary(uniqueKeysWithValues: CompressibleLayer.all(in: model).map { ($0.name, $0.kind) })
        var consumers: [Graph.NodeID: Int] = [:]
        for node in graph.nodes { for i in node.inputs where i != Graph.input { consumers[i, default: 0] += 1 } }

        // Each non-compressible op belongs to the kernel its first input belongs to.
        var owner: [Graph.NodeID: Graph.NodeID] = [:]
        var owned: [Graph.NodeID: [Graph.NodeID]] = [:]
        for id in graph.topologicalOrder {
            let node = graph.nodes[id]
            if node.layer is Conv2D || node.layer is Linear {
                owner[id] = id
            } else if let first = node.inputs.first, first != Graph.input, let o = owner[first] {
                owner[id] = o
                owned[o, default: []].append(id)
            }
        }
        return graph.topologicalOrder.compactMap { id -> EngineKernel? in
            let node = graph.nodes[id]
            guard node.layer is Conv2D || node.layer is Linear else { return nil }
            let source = node.inputs[0]
            let inputShape = source == Graph.input ? model.inputShape : shapes[graph.nodes[source].layer.name]!
            var slot: [Graph.NodeID: Int] = [id: 0]
            var ops: [(layer: Layer, sources: [Source])] = []
            var hasBias = (node.layer as? Conv2D).map { $0.bias != nil } ?? true
            for member in owned[id] ?? [] {
                let op = graph.nodes[member]
                // A batch norm right after the layer folds into it as a bias, as `foldingBatchNorm` does.
                if op.layer is BatchNorm2D, op.inputs == [id], node.layer is Conv2D, consumers[id] == 1 {
                    slot[member] = 0
                    hasBias = true
                    continue
                }
                slot[member] = ops.count + 1
                ops.append((op.layer, op.inputs.map { slot[$0].map(Source.slot) ?? .outside }))
            }
            return EngineKernel(name: node.layer.name, isDepthwise: kinds[node.layer.name] == .depthwise, layer: node.layer,
                                inputShape: inputShape, signedInput: !PolicyQuantization.isNonNegative(source, in: graph),
                                hasBias: hasBias, ops: ops)
        }
    }
}
