import CSeerDNNL
import SeerTensor

/// Float inference on oneDNN with activations left in the layouts oneDNN's kernels pick (e.g. nChw16c) from one
/// layer to the next (`seer_dnnl_program.h`), where `FloatInference` hands each convolution plain NCHW and pays two
/// layout changes around every one of them. Convolutions (their residual `Add`, ReLU and activation quantizer fused
/// as post-ops, as `Graph.forward` fuses them), additions, ReLUs, quantizers and poolings run as oneDNN primitives;
/// every other layer (the classifier, squeeze-excitation products, ...) runs as in the graph, on plain tensors, as a
/// host step. The values are the graph's but for float summation order.
public final class BlockedFloatInference: InferenceProgram {
    public let graph: Graph
    private let executor: BlockedExecutor

    public init(_ folded: Graph) {
        graph = folded
        executor = BlockedExecutor(folded, integer: [:])
    }

    public func forward(_ x: Tensor) -> Tensor { executor.forward(x) }

    /// oneDNN's implementation of each step for a batch shaped `inputShape` (for benchmarks' reports), in order;
    /// host steps are named by their layer.
    public func implementations(inputShape: [Int]) -> [String] { executor.implementations(inputShape: inputShape) }
}

/// Runs a folded graph as oneDNN programs (`BlockedPlan`), the convolutions in `integer` on int8 kernels.
///
/// Threads: as `OneDNNConvolution`, the batch is split into one chunk per engine thread, each with its own program
/// (and its own copies of the host layers, which keep per-call state).
final class BlockedExecutor {
    let graph: Graph
    let integer: [Graph.NodeID: Int8Convolution]
    private var plans: [PlanKey: BlockedPlan] = [:]

    private struct PlanKey: Hashable {
        let inputShape: [Int]
        let chunk: Int
    }

    init(_ folded: Graph, integer: [Graph.NodeID: Int8Convolution]) {
        graph = folded
        self.integer = integer
    }

    func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4, "a oneDNN inference program takes NCHW batches, got \(x.shape)")
        let batch = x.shape[0], image = x.count / max(batch, 1)
        let count = batch * image < Threads.minimumParallelWork ? 1 : max(1, min(Threads.count, batch))
        let chunks = (0..<count).map { c -> (images: Range<Int>, plan: BlockedPlan) in
            let images = (batch * c / count)..<(batch * (c + 1) / count)
            let key = PlanKey(inputShape: [images.count] + x.shape.dropFirst(), chunk: c)
            if let plan = plans[key] { return (images, plan) }
            let plan = BlockedPlan(graph, inputShape: key.inputShape, integer: integer)
            plans[key] = plan
            return (images, plan)
        }
        let perImage = chunks[0].plan.outputShape.dropFirst().reduce(1, *)
        var y = Tensor.scratch(count: batch * perImage)
        x.data.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                let xp = UnsafeSendablePointer(xb.baseAddress!), yp = UnsafeMutableSendablePointer(yb.baseAddress!)
                Threads.parallelFor(chunks.count) { range in
                    for c in range {
                        let n0 = chunks[c].images.lowerBound
                        chunks[c].plan.run(xp.p + n0 * image, into: yp.p + n0 * perImage)
                    }
                }
            }
        }
        return Tensor(shape: [batch] + chunks[0].plan.outputShape.dropFirst(), data: y)
    }

    func implementations(inputShape: [Int]) -> [String] {
        BlockedPlan(graph, inputShape: inputShape, integer: integer).implementations
    }
}

/// Some nodes of a folded network run as its oneDNN program runs them, in place, for timing a layer where it sits
/// (`LayerProfiler`): the steps those nodes became (a convolution's with its fused residual add, ReLU and quantizer,
/// and the levels its integer kernel reads when it writes them itself), reading what one full run of the program
/// left in the buffers. Only on the oneDNN backend, where inference runs as programs.
public final class ProgramSlice {
    private let plan: BlockedPlan
    private let input: Tensor
    private let steps: [Range<Int32>]

    /// `nodes` of `folded` (as `arithmetic` compiles it) on the NCHW batch `input`; nil off the oneDNN backend or
    /// for another input.
    public init?(_ folded: Graph, arithmetic: InferenceArithmetic, input: Tensor, nodes: Set<Graph.NodeID>) {
        guard ConvolutionAlgorithm.forNewLayers == .onednn, input.shape.count == 4 else { return nil }
        let integer = arithmetic == .int8 ? QuantizedInference(folded).integerConvolutions : [:]
        let plan = BlockedPlan(folded, inputShape: input.shape, integer: integer)
        self.plan = plan
        self.input = input
        steps = nodes.compactMap { plan.stepsOf[$0] }.sorted { $0.lowerBound < $1.lowerBound }
        var output = [Float](repeating: 0, count: plan.outputShape.reduce(1, *))
        input.data.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { plan.run(x.baseAddress!, into: $0.baseAddress!) }
        }
    }

    /// How many program steps the nodes became.
    var stepCount: Int { steps.reduce(0) { $0 + $1.count } }

    /// Runs the nodes' steps once.
    public func run() {
        input.data.withUnsafeBufferPointer { x in
            for range in steps { plan.run(x.baseAddress!, steps: range) }
        }
    }
}

/// One chunk's program: the oneDNN steps, and the host layers that run between them.
final class BlockedPlan {
    private let program: OpaquePointer
    private let stepCount: Int32
    private var hostSteps: [Int32: HostStep] = [:]
    private var outputTensor: Int32 = -1
    private(set) var outputShape: [Int] = []
    /// The steps each node became (the nodes fused into another have none), in the order they run.
    private(set) var stepsOf: [Graph.NodeID: Range<Int32>] = [:]
    private(set) var implementations: [String] = []

    /// A layer the program does not run: it reads plain tensors and writes one.
    private struct HostStep {
        let layer: Layer
        let inputs: [(tensor: Int32, shape: [Int])]
        let output: Int32
    }

    init(_ graph: Graph, inputShape: [Int], integer: [Graph.NodeID: Int8Convolution]) {
        guard let program = seer_dnnl_program_create() else { fatalError("oneDNN program: out of memory") }
        self.program = program
        let builder = Builder(program: program)
        var tensorOf = [Graph.NodeID: Int32](), shapeOf = [Graph.NodeID: [Int]]()
        tensorOf[Graph.input] = builder.check { error in
            seer_dnnl_program_input(program, inputShape.map(Int64.init), error, 256)
        }
        shapeOf[Graph.input] = inputShape
        let order = graph.topologicalOrder, fusions = graph.inferenceFusions
        var consumers = [Graph.NodeID: [Graph.NodeID]]()
        for id in order { for i in graph.nodes[id].inputs where i != Graph.input { consumers[i, default: []].append(id) } }
        /// The node that alone consumes `id`, if `id` is not the output.
        func soleConsumer(_ id: Graph.NodeID) -> Graph.NodeID? {
            guard id != graph.output, let c = consumers[id], c.count == 1 else { return nil }
            return c[0]
        }
        /// The ReLU and then the activation quantizer that follow `id`, each the only consumer of the one before
        /// (they run as `id`'s post-ops): the nodes and the epilogue.
        func trailingElementwise(_ id: Graph.NodeID, reluAllowed: Bool = true) -> ([Graph.NodeID], seer_dnnl_epilogue) {
            var chain = [Graph.NodeID](), epilogue = seer_dnnl_epilogue.none, current = id
            if reluAllowed, let next = soleConsumer(current), let relu = graph.nodes[next].layer as? ReLU {
                epilogue.relu = relu.cap ?? .infinity
                chain.append(next)
                current = next
            }
            if let next = soleConsumer(current), let q = graph.nodes[next].layer as? ActivationQuantizer {
                epilogue.set(q.quantization)
                chain.append(next)
            }
            return (chain, epilogue)
        }
        /// Whether only integer convolutions read quantizer node `id`: then its producer may write the levels
        /// themselves (u8/s8) instead of their float values.
        func onlyIntegerConsumers(_ id: Graph.NodeID) -> Bool {
            id != graph.output && (consumers[id] ?? []).allSatisfy { integer[$0] != nil }
        }
        var fused = Set<Graph.NodeID>(), steps = [Graph.NodeID: Range<Int32>]()
        /// Records `result` as the value of `id` and of the nodes fused into it.
        func define(_ id: Graph.NodeID, _ covered: [Graph.NodeID], _ result: Int32) {
            for n in [id] + covered {
                fused.insert(n)
                tensorOf[n] = result
                shapeOf[n] = builder.dims(result)
            }
        }
        for id in order where !fused.contains(id) {
            let first = seer_dnnl_program_steps(program)
            defer { steps[id] = first..<seer_dnnl_program_steps(program) }
            let node = graph.nodes[id], ins = node.inputs.map { tensorOf[$0]! }
            switch node.layer {
            case let conv as Conv2D where node.inputs.count == 1:
                var residual: Int32 = -1, epilogue = seer_dnnl_epilogue.none, covered = [Graph.NodeID]()
                if let f = fusions[id] {
                    covered = f.nodes
                    if let r = f.residual { residual = tensorOf[r]! }
                    if let cap = f.epilogue.reluCap { epilogue.relu = cap }
                    if let q = f.quantizer {
                        epilogue.set(q.quantization)
                        epilogue.levels = f.residual == nil && onlyIntegerConsumers(f.last)
                    }
                }
                let x = shapeOf[node.inputs[0]]!
                var shape = ConvShape(g: ConvGeometry(batch: x[0], channels: conv.inChannels / conv.groups, height: x[2],
                                                      width: x[3], window: conv.window),
                                      outChannels: conv.outChannels, groups: conv.groups, hasBias: conv.bias != nil)
                    .dnnlShape
                let result: Int32
                if let int8 = integer[id] {
                    result = builder.check { error in
                        int8.weights.withUnsafeBufferPointer { w in
                            int8.scales.withUnsafeBufferPointer { sc in
                                Builder.withOptional(int8.bias) { b in
                                    seer_dnnl_program_int8_conv(program, ins[0], int8.signedInput, int8.input.inv,
                                                                &shape, w.baseAddress, sc.baseAddress, b, residual,
                                                                &epilogue, error, 256)
                                }
                            }
                        }
                    }
                } else {
                    let weights = conv.effectiveWeight.data
                    result = builder.check { error in
                        weights.withUnsafeBufferPointer { w in
                            Builder.withOptional(conv.bias?.value.data) { b in
                                seer_dnnl_program_conv(program, ins[0], &shape, w.baseAddress, b, residual, &epilogue,
                                                       error, 256)
                            }
                        }
                    }
                }
                define(id, covered, result)
            case is Add where ins.count == 2:
                var (covered, epilogue) = trailingElementwise(id)
                if epilogue.quantize, let last = covered.last { epilogue.levels = onlyIntegerConsumers(last) }
                define(id, covered, builder.check { seer_dnnl_program_add(program, ins[0], ins[1], &epilogue, $0, 256) })
            case let relu as ReLU:
                var (covered, epilogue) = trailingElementwise(id, reluAllowed: false)
                epilogue.relu = relu.cap ?? .infinity
                define(id, covered, builder.check { seer_dnnl_program_eltwise(program, ins[0], &epilogue, $0, 256) })
            case let quantizer as ActivationQuantizer where !quantizer.signed && onlyIntegerConsumers(id):
                // Its int8 convolutions write the levels round(x * inv) of the clamped values themselves: an 8-bit
                // quantizer's clamp is the u8 conversion's saturation at 0 and 255; below 8 bits it is a ReLU capped
                // at the clip.
                if quantizer.levels == 255 {
                    define(id, [], ins[0])
                } else {
                    var epilogue = seer_dnnl_epilogue.none
                    epilogue.relu = quantizer.quantization.hi
                    define(id, [], builder.check { seer_dnnl_program_eltwise(program, ins[0], &epilogue, $0, 256) })
                }
            case let quantizer as ActivationQuantizer:
                var epilogue = seer_dnnl_epilogue.none
                epilogue.set(quantizer.quantization)
                define(id, [], builder.check { seer_dnnl_program_eltwise(program, ins[0], &epilogue, $0, 256) })
            case let pool as MaxPool2D where pool.window.square != nil && !pool.ceilMode && pool.margins.isNone:
                let w = pool.window.square!
                define(id, [], builder.check { error in
                    seer_dnnl_program_pool(program, ins[0], true, Int32(w.kernel), Int32(w.stride), Int32(w.padding),
                                           error, 256)
                })
            // oneDNN's avg_pool divides by the whole window: pools that exclude padding run the engine's layer.
            case let pool as AvgPool2D where pool.window.square != nil && !pool.ceilMode && pool.margins.isNone
                && (pool.countsPadding || !pool.isPadded):
                let w = pool.window.square!
                define(id, [], builder.check { error in
                    seer_dnnl_program_pool(program, ins[0], false, Int32(w.kernel), Int32(w.stride), Int32(w.padding),
                                           error, 256)
                })
            case let pool as GlobalAvgPool:
                define(id, [], builder.check { seer_dnnl_program_pool(program, ins[0], false, 0, 1, 0, $0, 256) })
                // Without kept dimensions the graph's value is [batch, channels]: the same floats as oneDNN's
                // [batch, channels, 1, 1].
                if !pool.keepsDimensions { shapeOf[id] = Array(shapeOf[id]!.prefix(2)) }
            default:
                let layer = node.layer.inferenceCopy()
                let inputs = node.inputs.map { i in
                    (tensor: builder.check { seer_dnnl_program_plain(program, tensorOf[i]!, $0, 256) },
                     shape: shapeOf[i]!)
                }
                // The output's shape, from the layer itself on zeros (once per plan).
                let shape = layer.forward(inputs.map { Tensor(shape: $0.shape) }, training: false).shape
                let ids = inputs.map(\.tensor), dims = shape.map(Int64.init)
                let step = seer_dnnl_program_steps(program)
                let result = builder.check { error in
                    seer_dnnl_program_host(program, ids, Int32(ids.count), dims, Int32(dims.count), error, 256)
                }
                hostSteps[step] = HostStep(layer: layer, inputs: inputs, output: result)
                fused.insert(id)
                tensorOf[id] = result
                shapeOf[id] = shape
            }
        }
        stepsOf = steps
        outputTensor = builder.check { seer_dnnl_program_plain(program, tensorOf[graph.output]!, $0, 256) }
        outputShape = shapeOf[graph.output]!
        let output = outputTensor
        builder.check { seer_dnnl_program_output(program, output, $0, 256) }
        builder.check { seer_dnnl_program_finalize(program, $0, 256) }
        stepCount = seer_dnnl_program_steps(program)
        implementations = (0..<stepCount).map { s in
            hostSteps[s].map { "host \($0.layer.name)" } ?? String(cString: seer_dnnl_program_implementation(program, s))
        }
    }

    deinit { seer_dnnl_program_destroy(program) }

    /// Runs the network on `input` (this plan's input shape) and writes its plain output to `output`.
    func run(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        run(input, steps: 0..<stepCount)
        output.update(from: seer_dnnl_program_data(program, outputTensor)!, count: outputShape.reduce(1, *))
    }

    /// Runs `steps` only (host steps among them included), reading what earlier steps left in the buffers.
    func run(_ input: UnsafePointer<Float>, steps: Range<Int32>) {
        var error = [CChar](repeating: 0, count: 256)
        var step = steps.lowerBound
        while step < steps.upperBound {
            var next = step
            while next < steps.upperBound && hostSteps[next] == nil { next += 1 }
            guard seer_dnnl_program_run(program, input, step, next, &error, error.count) == 0 else {
                fatalError(String(cString: error))
            }
            if next < steps.upperBound, let host = hostSteps[next] {
                let ins = host.inputs.map { i in
                    Tensor(shape: i.shape, data: Array(UnsafeBufferPointer(
                        start: seer_dnnl_program_data(program, i.tensor), count: i.shape.reduce(1, *))))
                }
                let y = host.layer.forward(ins, training: false)
                y.data.withUnsafeBufferPointer { yb in
                    seer_dnnl_program_data(program, host.output)!.update(from: yb.baseAddress!, count: y.count)
                }
            }
            step = next + 1
        }
    }

    /// Calls into the program's builder, stopping with oneDNN's message on failure (oneDNN refusing a layer the
    /// engine's own convolution handles run is a bug, as in `OneDNNConvolution`; `fatalError`, unlike a
    /// precondition, keeps the message in release builds).
    private struct Builder {
        let program: OpaquePointer

        @discardableResult
        func check(_ call: (UnsafeMutablePointer<CChar>) -> Int32) -> Int32 {
            var error = [CChar](repeating: 0, count: 256)
            let result = error.withUnsafeMutableBufferPointer { call($0.baseAddress!) }
            guard result >= 0 else { fatalError(String(cString: error)) }
            return result
        }

        /// `body` with `values`' base address, or nil.
        static func withOptional<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
            guard let values else { return body(nil) }
            return values.withUnsafeBufferPointer { body($0.baseAddress) }
        }

        func dims(_ tensor: Int32) -> [Int] {
            var dims = [Int64](repeating: 0, count: 12)
            let n = seer_dnnl_program_dims(program, tensor, &dims)
            return dims.prefix(Int(n)).map(Int.init)
        }
    }
}

extension seer_dnnl_epilogue {
    /// Nothing after the operation.
    static var none: seer_dnnl_epilogue {
        seer_dnnl_epilogue(relu: -1, quantize: false, levels: false, lo: 0, hi: 0, inv: 0, step: 0)
    }

    /// Ends with the fake quantization `q`.
    mutating func set(_ q: FakeQuantization) {
        quantize = true
        lo = q.lo
        hi = q.hi
        inv = q.inv
        step = q.scale
    }
}
