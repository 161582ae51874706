import SeerTensor

extension Graph {
    /// An inference graph with every batch norm that directly follows a convolution folded into it
    /// (W' = W * s, b' = b * s + t per output channel), sharing nothing with `self`.
    public func foldingBatchNorm() -> Graph {
        var consumers = [NodeID: Int]()
        for n in nodes { for i in n.inputs where i != Graph.input { consumers[i, default: 0] += 1 } }
        let folded = Graph()
        var remap = [NodeID: NodeID]()
        for id in topologicalOrder {
            let node = nodes[id]
            let ins = node.inputs.map { $0 == Graph.input ? Graph.input : remap[$0]! }
            if let bn = node.layer as? BatchNorm2D, let src = node.inputs.first, src != Graph.input,
               let conv = nodes[src].layer as? Conv2D, consumers[src] == 1 {
                // The conv was copied already; fold this batch norm into the copy and alias the node.
                let copy = folded.nodes[remap[src]!].layer as! Conv2D
                let (scale, shift) = bn.inferenceAffine()
                let per = copy.weight.value.count / conv.outChannels
                for o in 0..<conv.outChannels {
                    for j in 0..<per { copy.weight.value.data[o * per + j] *= scale[o] }
                }
                copy.weightQuantizer = copy.weightQuantizer?.scaled(by: scale)
                let b = copy.ensureBias()
                for o in 0..<conv.outChannels { b.value.data[o] = b.value.data[o] * scale[o] + shift[o] }
                remap[id] = remap[src]!
                continue
            }
            remap[id] = folded.add(node.layer.inferenceCopy(), inputs: ins)
        }
        folded.output = remap[output]!
        return folded
    }
}

extension Layer {
    /// A deep copy for inference: same weights, no caches, no shared storage.
    public func inferenceCopy() -> Layer {
        var rng = SeededGenerator(seed: 0)
        switch self {
        case let c as Conv2D:
            let copy = Conv2D(name: c.name, inChannels: c.inChannels, outChannels: c.outChannels, window: c.window,
                              groups: c.groups, bias: c.bias != nil, rng: &rng)
            copy.weight.value = c.weight.value
            copy.weightQuantizer = c.weightQuantizer
            if let b = c.bias { copy.bias!.value = b.value }
            return copy
        case let bn as BatchNorm2D:
            let copy = BatchNorm2D(name: bn.name, channels: bn.channels, epsilon: bn.epsilon)
            copy.gamma.value = bn.gamma.value
            copy.beta.value = bn.beta.value
            copy.runningMean.value = bn.runningMean.value
            copy.runningVar.value = bn.runningVar.value
            return copy
        case let l as Linear:
            let copy = Linear(name: l.name, inFeatures: l.inFeatures, outFeatures: l.outFeatures, rng: &rng)
            copy.weight.value = l.weight.value
            copy.weightQuantizer = l.weightQuantizer
            copy.bias.value = l.bias.value
            return copy
        case let r as ReLU: return ReLU(name: r.name, cap: r.cap)
        case let q as ActivationQuantizer:
            return ActivationQuantizer(name: q.name, bits: q.bits, signed: q.signed, alpha: q.alpha.value.data[0])
        case let a as Add: return Add(name: a.name)
        case let p as MaxPool2D: return MaxPool2D(name: p.name, window: p.window, ceilMode: p.ceilMode, margins: p.margins)
        case let p as AvgPool2D:
            return AvgPool2D(name: p.name, window: p.window, ceilMode: p.ceilMode, margins: p.margins,
                             countsPadding: p.countsPadding)
        case let a as ChannelAffine: return ChannelAffine(name: a.name, scale: a.scale.value.data, shift: a.shift.value.data)
        case let g as GlobalAvgPool: return GlobalAvgPool(name: g.name, keepsDimensions: g.keepsDimensions)
        case let p as Pointwise: return Pointwise(name: p.name, function: p.function)
        case let m as Multiply: return Multiply(name: m.name)
        case let c as ChannelConcat: return ChannelConcat(name: c.name)
        case let z as ZeroPad:
            return ZeroPad(name: z.name, top: z.top, left: z.left, bottom: z.bottom, right: z.right,
                           channelsBefore: z.channelsBefore, channelsAfter: z.channelsAfter)
        case let s as SpatialSlice: return SpatialSlice(name: s.name, rows: s.rows, columns: s.columns)
        default: preconditionFailure("no inference copy for layer \(name) of type \(type(of: self))")
        }
    }
}

extension Graph {
    /// A deep copy: same layers, names and weights, no shared storage.
    public func copy() -> Graph {
        let g = Graph()
        var remap = [NodeID: NodeID]()
        for id in topologicalOrder {
            let node = nodes[id]
            remap[id] = g.add(node.layer.inferenceCopy(), inputs: node.inputs.map { $0 == Graph.input ? Graph.input : remap[$0]! })
        }
        g.output = remap[output]!
        return g
    }
}
