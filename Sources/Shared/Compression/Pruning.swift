import SeerEngine
import SeerModels
import SeerTensor

/// Channel pruning that physically removes channels: smaller weight tensors, smaller GEMMs.
///
/// Each tied channel group (see `ChannelGroups`) keeps its `k` channels with the largest filter L2 norm,
/// summed over the group's non-depthwise convolutions (a residual stream is one set of channels, so its
/// members vote together); kept channels stay in their original order.
public enum ChannelPruning {
    /// Kept channel indices of every group that loses channels under `policy`, by group index.
    public static func keptIndices(_ model: Model, groups: ChannelGroups, policy: ResolvedPolicy) -> [Int: [Int]] {
        let keptCounts = groups.keptGroupChannels(for: policy)
        var result = [Int: [Int]]()
        for (index, group) in groups.groups.enumerated() where keptCounts[index] < group.channels {
            var norms = [Double](repeating: 0, count: group.channels)
            for name in group.ratioLayers {
                guard let conv = model.graph.layer(named: name) as? Conv2D else { continue }
                let per = conv.weight.value.count / conv.outChannels
                for o in 0..<conv.outChannels {
                    var s: Double = 0
                    for i in 0..<per { let v = Double(conv.weight.value.data[o * per + i]); s += v * v }
                    norms[o] += s
                }
            }
            // Ties broken by index so that the choice is deterministic.
            let ranked = (0..<group.channels).sorted { norms[$0] != norms[$1] ? norms[$0] > norms[$1] : $0 < $1 }
            result[index] = ranked.prefix(keptCounts[index]).sorted()
        }
        return result
    }

    /// A copy of `model` with the channels `policy` prunes removed; weights (and weight quantizers) carried over.
    public static func prune(_ model: Model, policy: ResolvedPolicy) -> Model {
        let groups = ChannelGroups(graph: model.graph)
        let kept = keptIndices(model, groups: groups, policy: policy)
        let groupIndex = Dictionary(uniqueKeysWithValues: groups.groups.enumerated().flatMap { i, g in g.layers.map { ($0, i) } })
        let source = model.graph, pruned = Graph()
        var remap = [Graph.NodeID: Graph.NodeID]()
        var selection = [Graph.NodeID: [Int]]()  // kept channels of a node's output; absent = all
        var rng = SeededGenerator(seed: 0)
        for id in source.topologicalOrder {
            let node = source.nodes[id]
            let inputs = node.inputs.map { $0 == Graph.input ? Graph.input : remap[$0]! }
            let inSel = node.inputs.first.flatMap { $0 == Graph.input ? nil : selection[$0] }
            var outSel = inSel
            let layer: Layer
            switch node.layer {
            case let c as Conv2D where c.isDepthwiseConvolution:
                let channels = inSel ?? Array(0..<c.inChannels)
                let copy = Conv2D(name: c.name, inChannels: channels.count, outChannels: channels.count, window: c.window,
                                  groups: channels.count, bias: c.bias != nil, rng: &rng)
                copy.weight.value = selectRows(c.weight.value, channels)
                if let b = c.bias { copy.bias!.value = selectRows(b.value, channels) }
                copy.weightQuantizer = c.weightQuantizer?.selecting(channels)
                layer = copy
            case let c as Conv2D:
                let outs = groupIndex[c.name].flatMap { kept[$0] }
                precondition(c.groups == 1 || (inSel == nil && outs == nil), "\(c.name): grouped convolutions are never pruned")
                let ins = inSel ?? Array(0..<c.inChannels), outsOrAll = outs ?? Array(0..<c.outChannels)
                let copy = Conv2D(name: c.name, inChannels: ins.count, outChannels: outsOrAll.count, window: c.window,
                                  groups: c.groups, bias: c.bias != nil, rng: &rng)
                copy.weight.value = c.groups == 1 ? selectConvWeights(c.weight.value, outputs: outsOrAll, inputs: ins)
                    : c.weight.value
                if let b = c.bias { copy.bias!.value = selectRows(b.value, outsOrAll) }
                copy.weightQuantizer = c.weightQuantizer?.selecting(outsOrAll)
                outSel = outs
                layer = copy
            case let bn as BatchNorm2D:
                let channels = inSel ?? Array(0..<bn.channels)
                let copy = BatchNorm2D(name: bn.name, channels: channels.count, epsilon: bn.epsilon)
                copy.gamma.value = selectRows(bn.gamma.value, channels)
                copy.beta.value = selectRows(bn.beta.value, channels)
                copy.runningMean.value = selectRows(bn.runningMean.value, channels)
                copy.runningVar.value = selectRows(bn.runningVar.value, channels)
                layer = copy
            case let a as ChannelAffine:
                let channels = inSel ?? Array(0..<a.channels)
                layer = ChannelAffine(name: a.name, scale: channels.map { a.scale.value.data[$0] },
                                      shift: channels.map { a.shift.value.data[$0] })
            case let l as Linear:
                let ins = inSel ?? Array(0..<l.inFeatures)
                let copy = Linear(name: l.name, inFeatures: ins.count, outFeatures: l.outFeatures, rng: &rng)
                copy.weight.value = selectConvWeights(l.weight.value.reshaped([l.outFeatures, l.inFeatures, 1, 1]),
                                                      outputs: Array(0..<l.outFeatures), inputs: ins)
                    .reshaped([l.outFeatures, ins.count])
                copy.bias.value = l.bias.value
                copy.weightQuantizer = l.weightQuantizer
                outSel = nil
                layer = copy
            default:
                if node.layer is Add, node.inputs.count == 2 {
                    let other = node.inputs[1] == Graph.input ? nil : selection[node.inputs[1]]
                    precondition(other == inSel, "\(node.layer.name): a residual add joins different channel sets")
                }
                layer = node.layer.inferenceCopy()
            }
            remap[id] = pruned.add(layer, inputs: inputs)
            if let s = outSel { selection[id] = s }
        }
        pruned.output = remap[source.output]!
        return Model(name: model.name, graph: pruned, inputShape: model.inputShape, classes: model.classes,
                     inputName: model.inputName, inputLayout: model.inputLayout,
                     outputActivation: model.outputActivation)
    }

    /// A copy of `model` of unchanged shape in which the pruned channels are zeroed after their batch norm
    /// (conv filters, BN scale and shift): the function `prune` must reproduce.
    public static func mask(_ model: Model, policy: ResolvedPolicy) -> Model {
        let groups = ChannelGroups(graph: model.graph)
        let kept = keptIndices(model, groups: groups, policy: policy)
        let masked = model.graph.copy()
        for (index, keep) in kept {
            let drop = Set(0..<groups.groups[index].channels).subtracting(keep)
            for name in groups.groups[index].layers {
                guard let conv = masked.layer(named: name) as? Conv2D else { continue }
                let per = conv.weight.value.count / conv.outChannels
                for o in drop {
                    for i in 0..<per { conv.weight.value.data[o * per + i] = 0 }
                    conv.bias?.value.data[o] = 0
                }
                // The batch norm right after the conv: zero its affine terms so the channel is exactly 0.
                for node in masked.nodes where node.inputs.count == 1 && node.inputs[0] >= 0
                    && masked.nodes[node.inputs[0]].layer === conv {
                    guard let bn = node.layer as? BatchNorm2D else { continue }
                    for o in drop { bn.gamma.value.data[o] = 0; bn.beta.value.data[o] = 0 }
                }
            }
        }
        // A per-channel affine on a group's channels: its dropped channels give 0 too (no shift where prune has none).
        for case let affine as ChannelAffine in masked.layers {
            guard let g = groups.inputGroup(of: affine.name), let keep = kept[g] else { continue }
            for o in Set(0..<affine.channels).subtracting(keep) {
                affine.scale.value.data[o] = 0
                affine.shift.value.data[o] = 0
            }
        }
        return Model(name: model.name, graph: masked, inputShape: model.inputShape, classes: model.classes,
                     inputName: model.inputName, inputLayout: model.inputLayout,
                     outputActivation: model.outputActivation)
    }

    static func selectRows(_ t: Tensor, _ rows: [Int]) -> Tensor {
        let per = t.count / t.shape[0]
        var shape = t.shape
        shape[0] = rows.count
        return Tensor(shape: shape) { out in
            for (r, row) in rows.enumerated() {
                for i in 0..<per { out[r * per + i] = t.data[row * per + i] }
            }
        }
    }

    /// weight[out, in, kh, kw] restricted to the given output and input channels.
    static func selectConvWeights(_ w: Tensor, outputs: [Int], inputs: [Int]) -> Tensor {
        let inChannels = w.shape[1], window = w.shape[2] * w.shape[3]
        return Tensor(shape: [outputs.count, inputs.count, w.shape[2], w.shape[3]]) { out in
            for (oi, o) in outputs.enumerated() {
                for (ii, i) in inputs.enumerated() {
                    for k in 0..<window {
                        out[(oi * inputs.count + ii) * window + k] = w.data[(o * inChannels + i) * window + k]
                    }
                }
            }
        }
    }
}
