import SeerTensor

/// A network as a directed acyclic graph of layers, each node with a stable name.
///
/// Forward evaluates nodes in topological order; backward is the reverse sweep over the same order,
/// summing gradients where a node feeds several consumers (residual connections).
public final class Graph {
    /// A node's position in the graph; `Graph.input` is the network input.
    public typealias NodeID = Int
    public static let input: NodeID = -1

    public struct Node {
        public let layer: Layer
        public let inputs: [NodeID]
    }

    public private(set) var nodes: [Node] = []
    public var output: NodeID = Graph.input {
        didSet { cachedOrder = nil; cachedFusions = nil }
    }
    private var cachedOrder: [NodeID]?
    private var cachedFusions: [NodeID: Fusion]?

    public init() {}

    /// Appends `layer` fed by `inputs` and returns its node id.
    @discardableResult
    public func add(_ layer: Layer, _ inputs: NodeID...) -> NodeID { add(layer, inputs: inputs) }

    /// Appends `layer` fed by `inputs` and returns its node id.
    @discardableResult
    public func add(_ layer: Layer, inputs: [NodeID]) -> NodeID {
        precondition(inputs.allSatisfy { $0 == Graph.input || ($0 >= 0 && $0 < nodes.count) }, "unknown input node")
        precondition(!nodes.contains { $0.layer.name == layer.name }, "duplicate layer name \(layer.name)")
        nodes.append(Node(layer: layer, inputs: inputs))
        output = nodes.count - 1
        return nodes.count - 1
    }

    /// The nodes the output depends on, each after all of its inputs (depth-first topological sort).
    public var topologicalOrder: [NodeID] {
        if let o = cachedOrder { return o }
        var visited = Set<NodeID>(), order: [NodeID] = []
        func visit(_ id: NodeID) {
            guard id != Graph.input, !visited.contains(id) else { return }
            visited.insert(id)
            for i in nodes[id].inputs { visit(i) }
            order.append(id)
        }
        visit(output)
        cachedOrder = order
        return order
    }

    /// All layers in topological order.
    public var layers: [Layer] { topologicalOrder.map { nodes[$0].layer } }

    /// The layer named `name`, if any.
    public func layer(named name: String) -> Layer? { nodes.first { $0.layer.name == name }?.layer }

    /// All trainable parameters, in topological order of their layers.
    public var parameters: [Parameter] { layers.flatMap { $0.parameters } }

    /// Parameters and buffers by checkpoint name.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        layers.flatMap { l in l.parameters.map { ($0.name, $0.value) } + l.buffers.map { ($0.name, $0.value) } }
    }

    /// Runs the network; `training` selects batch statistics and caches what backward needs.
    ///
    /// At inference, a convolution whose output only feeds a residual `Add` (whose other operand is already computed),
    /// a `ReLU` and/or an `ActivationQuantizer` (each the only consumer of the one before) runs them as its epilogue,
    /// on each image's output while it is in cache (`Fusion`); the values are the same as layer by layer. Measured on
    /// resnet20 (one thread, alternating in one process against the same walk layer by layer that frees activations
    /// like this one): about 1% faster at batch 64 and batch 1 for 8/8; the separate passes mostly hit cache already.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        forward(x, training: training, integerConvolutions: [:])
    }

    /// `forward`, with the convolution nodes in `integerConvolutions` (inference only) run by their integer form,
    /// epilogues included (`QuantizedInference`).
    func forward(_ x: Tensor, training: Bool, integerConvolutions: [NodeID: Int8Convolution]) -> Tensor {
        precondition(!training || integerConvolutions.isEmpty, "integer convolutions run inference only")
        var values = [NodeID: Tensor]()
        var remainingUses = useCounts()
        let fusions = training ? [:] : inferenceFusions
        var fused = Set<NodeID>()
        func release(_ inputs: [NodeID]) {
            // Free intermediate activations as soon as their last consumer has run.
            for i in inputs where i != Graph.input {
                remainingUses[i, default: 0] -= 1
                if remainingUses[i] == 0 { values[i] = nil }
            }
        }
        for id in topologicalOrder {
            if fused.contains(id) { continue }
            let node = nodes[id]
            let ins = node.inputs.map { $0 == Graph.input ? x : values[$0]! }
            if let f = fusions[id], let conv = node.layer as? Conv2D {
                var epilogue = f.epilogue
                if let r = f.residual { epilogue.residual = r == Graph.input ? x : values[r]! }
                epilogue.quantization = f.quantizer?.quantization
                values[f.last] = integerConvolutions[id]?.inference(ins[0], epilogue: epilogue)
                    ?? conv.inference(ins[0], epilogue: epilogue)
                fused.formUnion(f.nodes)
                release(node.inputs + (f.residual.map { [$0] } ?? []))
                continue
            }
            values[id] = integerConvolutions[id]?.inference(ins[0], epilogue: ConvEpilogue())
                ?? node.layer.forward(ins, training: training)
            release(node.inputs)
        }
        return values[output]!
    }

    /// A convolution node and the elementwise nodes that run as its epilogue at inference.
    struct Fusion {
        /// The fused nodes after the convolution; the last one's value is the result.
        let nodes: [NodeID]
        var last: NodeID { nodes.last! }
        /// The other operand of a fused residual `Add`, computed before the convolution.
        let residual: NodeID?
        /// The fused activation quantizer: its clip is read in every forward pass.
        let quantizer: ActivationQuantizer?
        /// The ReLU step (the residual tensor and the quantization are filled in per forward pass).
        let epilogue: ConvEpilogue
    }

    /// The inference fusions by convolution node, for the current nodes and output.
    var inferenceFusions: [NodeID: Fusion] {
        if let f = cachedFusions { return f }
        let order = topologicalOrder
        var position = [NodeID: Int](), consumers = [NodeID: [NodeID]]()
        for (p, id) in order.enumerated() {
            position[id] = p
            for i in nodes[id].inputs where i != Graph.input { consumers[i, default: []].append(id) }
        }
        // The node that alone consumes `id` (once), if `id` is not the output.
        func soleConsumer(_ id: NodeID) -> NodeID? {
            guard id != output, let c = consumers[id], c.count == 1 else { return nil }
            return c[0]
        }
        var fusions = [NodeID: Fusion]()
        for id in order where nodes[id].layer is Conv2D && nodes[id].inputs.count == 1 {
            var chain = [NodeID](), residual: NodeID?, quantizer: ActivationQuantizer?, epilogue = ConvEpilogue()
            var current = id
            if let next = soleConsumer(current), nodes[next].layer is Add, nodes[next].inputs.count == 2 {
                let other = nodes[next].inputs[0] == current ? nodes[next].inputs[1] : nodes[next].inputs[0]
                if other != current, other == Graph.input || position[other]! < position[id]! {
                    residual = other
                    chain.append(next)
                    current = next
                }
            }
            if let next = soleConsumer(current), let relu = nodes[next].layer as? ReLU {
                epilogue.reluCap = relu.cap ?? .infinity
                chain.append(next)
                current = next
            }
            if let next = soleConsumer(current), let q = nodes[next].layer as? ActivationQuantizer {
                quantizer = q
                chain.append(next)
                current = next
            }
            if !chain.isEmpty {
                fusions[id] = Fusion(nodes: chain, residual: residual, quantizer: quantizer, epilogue: epilogue)
            }
        }
        cachedFusions = fusions
        return fusions
    }

    /// Reverse sweep from the gradient of the loss w.r.t. the output; accumulates parameter gradients.
    @discardableResult
    public func backward(_ gradOutput: Tensor) -> Tensor? {
        var grads = [NodeID: Tensor]()
        grads[output] = gradOutput
        var inputGrad: Tensor?
        for id in topologicalOrder.reversed() {
            guard let g = grads.removeValue(forKey: id) else { continue }
            let node = nodes[id]
            let inGrads = node.layer.backward(g)
            for (input, dg) in zip(node.inputs, inGrads) {
                if input == Graph.input {
                    if inputGrad == nil { inputGrad = dg } else { inputGrad!.add(dg) }
                } else if grads[input] == nil {
                    grads[input] = dg
                } else {
                    grads[input]!.add(dg)
                }
            }
        }
        return inputGrad
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    private func useCounts() -> [NodeID: Int] {
        var uses = [NodeID: Int]()
        for id in topologicalOrder { for i in nodes[id].inputs where i != Graph.input { uses[i, default: 0] += 1 } }
        uses[output, default: 0] += 1  // the output itself is never freed
        return uses
    }
}
