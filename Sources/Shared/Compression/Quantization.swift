import SeerEngine
import SeerModels
import SeerTensor

/// Applies a policy's bit-widths to a model: weight quantizers on every compressible layer and a PACT
/// activation quantizer on each compressible layer's input edge, calibrated on a batch.
public enum PolicyQuantization {
    /// Name of the activation quantizer in front of `layer`.
    public static func activationQuantizerName(for layer: String) -> String { layer + ".aq" }

    /// A copy of `model` quantized as `policy` says (layers the policy does not list, i.e. the stem, at 8/8),
    /// calibrated on `calibration` images: weight clips from the weights, activation clips in topological order
    /// on the inputs they actually see, upstream quantization included.
    public static func quantize(_ model: Model, policy: ResolvedPolicy, calibration: Tensor) -> Model {
        let source = model.graph, graph = Graph()
        var remap = [Graph.NodeID: Graph.NodeID]()
        for id in source.topologicalOrder {
            let node = source.nodes[id]
            var inputs = node.inputs.map { $0 == Graph.input ? Graph.input : remap[$0]! }
            let layer = node.layer.inferenceCopy()
            if layer is Conv2D || layer is Linear {
                let bits = policy[layer.name] ?? Policy.stemPolicy
                let signed = !isNonNegative(node.inputs[0], in: source)
                let aq = ActivationQuantizer(name: activationQuantizerName(for: layer.name), bits: bits.abits, signed: signed,
                                             alpha: 1)
                inputs = [graph.add(aq, inputs: inputs)]
                if let c = layer as? Conv2D { c.weightQuantizer = .calibrated(bits: bits.wbits, weight: c.weight.value) }
                if let l = layer as? Linear { l.weightQuantizer = .calibrated(bits: bits.wbits, weight: l.weight.value) }
            }
            remap[id] = graph.add(layer, inputs: inputs)
        }
        graph.output = remap[source.output]!
        calibrate(graph, on: calibration)
        return Model(name: model.name, graph: graph, inputShape: model.inputShape, classes: model.classes,
                     inputName: model.inputName, inputLayout: model.inputLayout,
                     outputActivation: model.outputActivation)
    }

    /// Evaluates `graph` node by node in eval mode, setting each activation quantizer's clip from its input first.
    static func calibrate(_ graph: Graph, on x: Tensor) {
        var values = [Graph.NodeID: Tensor]()
        for id in graph.topologicalOrder {
            let node = graph.nodes[id]
            let ins = node.inputs.map { $0 == Graph.input ? x : values[$0]! }
            if let aq = node.layer as? ActivationQuantizer { aq.calibrate(on: ins[0]) }
            values[id] = node.layer.forward(ins, training: false)
        }
    }

    /// Whether the output of `id` is never negative: a ReLU, or a pooling of something never negative.
    public static func isNonNegative(_ id: Graph.NodeID, in graph: Graph) -> Bool {
        guard id != Graph.input else { return false }
        let node = graph.nodes[id]
        switch node.layer {
        case is ReLU: return true
        case is GlobalAvgPool, is MaxPool2D, is AvgPool2D: return isNonNegative(node.inputs[0], in: graph)
        default: return false
        }
    }
}
