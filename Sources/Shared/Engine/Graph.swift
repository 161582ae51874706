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
    public var output: NodeID = Graph.input
    private var cachedOrder: [NodeID]?

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
        cachedOrder = nil
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
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var values = [NodeID: Tensor]()
        var remainingUses = useCounts()
        for id in topologicalOrder {
            let node = nodes[id]
            let ins = node.inputs.map { $0 == Graph.input ? x : values[$0]! }
            values[id] = node.layer.forward(ins, training: training)
            // Free intermediate activations as soon as their last consumer has run.
            for i in node.inputs where i != Graph.input {
                remainingUses[i, default: 0] -= 1
                if remainingUses[i] == 0 { values[i] = nil }
            }
        }
        return values[output]!
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
