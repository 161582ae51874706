import SeerEngine

/// Conv2D layers whose outputs must keep one and the same channel set when channels are pruned.
///
/// Residual adds (and squeeze-excitation's products) tie the producers of their inputs together; a depthwise convolution (groups == in == out
/// channels) has no channel choice of its own and joins the group of its input.
public struct ChannelGroup: Hashable, Sendable {
    /// Every Conv2D whose output carries this channel set, in topological order (depthwise ones included).
    public let layers: [String]
    /// The depthwise convolutions among `layers`: they follow the group and have no ratio of their own.
    public let depthwise: [String]
    /// Output channels of the unpruned network.
    public let channels: Int
    /// Why the group must keep every channel; nil when it may be pruned.
    public let fixedReason: String?

    public var isPrunable: Bool { fixedReason == nil }
    /// The layers whose prune ratios decide the group's kept channels.
    public var ratioLayers: [String] { layers.filter { !depthwise.contains($0) } }
}

/// Kept channels on both sides of one compressible layer.
public struct KeptChannels: Hashable, Sendable, Codable {
    public let input: Int
    public let output: Int
}

/// The tied channel groups of a graph and the rule mapping a policy's ratios onto them.
///
/// Rule: a prunable group keeps `max(1, round((1 - r) * C))` of its `C` channels (halves round away from zero),
/// where `r` is the smallest prune ratio among its `ratioLayers`: the most conservative member wins, because
/// every member must keep the channels any one of them keeps. A group holding the stem (the first layer), tied to the network
/// input, or touching a grouped (non-depthwise) convolution keeps every channel. The classifier's outputs are the
/// classes and are never pruned; its kept inputs are the kept channels of the group feeding the global pool.
public struct ChannelGroups: Sendable {
    public let groups: [ChannelGroup]

    /// Where a layer's input channels come from.
    enum Source: Hashable, Sendable {
        case group(Int)
        /// The network input, a classifier output, or anything else no policy prunes.
        case whole
    }

    private let groupOfLayer: [String: Int]
    /// For every Conv2D, Linear, BatchNorm2D and ChannelAffine: the channels it consumes, and how many it declares.
    private let inputSource: [String: Source]
    private let declaredInput: [String: Int]
    private let declaredOutput: [String: Int]
    private let compressible: [String]
    private let batchNorms: [String]

    /// Finds the groups with one walk over the graph in topological order.
    public init(graph: Graph) {
        var sets = DisjointSets()
        let networkInput = sets.make()
        var fixed: [Int: String] = [:]  // element -> reason, merged onto roots below
        fixed[networkInput] = "tied to the network input by a residual add"
        var element: [Graph.NodeID: Int] = [:]
        var members: [(name: String, element: Int, depthwise: Bool, channels: Int)] = []
        var inputElement: [String: Int] = [:]
        var declaredInput: [String: Int] = [:], declaredOutput: [String: Int] = [:]
        var compressible: [String] = [], batchNorms: [String] = [], linears: [String] = []

        for id in graph.topologicalOrder {
            let node = graph.nodes[id]
            let ins = node.inputs.map { $0 == Graph.input ? networkInput : element[$0] ?? networkInput }
            let first = ins.first ?? networkInput
            switch node.layer {
            case let conv as Conv2D:
                compressible.append(conv.name)
                inputElement[conv.name] = first
                declaredInput[conv.name] = conv.inChannels
                declaredOutput[conv.name] = conv.outChannels
                if conv.isDepthwiseConvolution {
                    element[id] = first
                    members.append((conv.name, first, true, conv.outChannels))
                } else {
                    let e = sets.make()
                    element[id] = e
                    members.append((conv.name, e, false, conv.outChannels))
                    if conv.groups > 1 {
                        // Grouped channels must stay divisible by the groups on both sides; keep them whole.
                        let reason = "touches grouped convolution \(conv.name)"
                        fixed[e] = reason
                        fixed[first] = reason
                    }
                }
            case let linear as Linear:
                compressible.append(linear.name)
                linears.append(linear.name)
                inputElement[linear.name] = first
                declaredInput[linear.name] = linear.inFeatures
                declaredOutput[linear.name] = linear.outFeatures
                let e = sets.make()
                fixed[e] = "tied to the classifier's outputs"
                element[id] = e
            case let bn as BatchNorm2D:
                batchNorms.append(bn.name)
                inputElement[bn.name] = first
                declaredInput[bn.name] = bn.channels
                element[id] = first
            case let affine as ChannelAffine:
                // Per-channel constants: they follow their input's channels (and are pruned with them).
                inputElement[affine.name] = first
                declaredInput[affine.name] = affine.channels
                element[id] = first
            case let pad as ZeroPad where pad.padsChannels:
                // Input channel c lands at c + channelsBefore between zero channels: kept channels are not mapped
                // across the padding, so both sides stay whole (a CIFAR ResNet's option-A shortcut).
                let e = sets.make()
                element[id] = e
                for i in [first, e] where fixed[i] == nil { fixed[i] = "zero-padded along the channels by \(pad.name)" }
            case is ChannelConcat:
                // The output's channels are the inputs' side by side: keep them all (no mapping of kept channels
                // across a concatenation yet).
                let e = sets.make()
                element[id] = e
                for i in ins + [e] where fixed[i] == nil { fixed[i] = "feeds channel concatenation \(node.layer.name)" }
            default:
                // Add and Multiply tie all their inputs; channel-preserving layers (ReLU, pooling) pass their input's set through.
                for other in ins.dropFirst() { sets.union(first, other) }
                element[id] = first
            }
        }

        var fixedAtRoot: [Int: String] = [:]
        for (e, reason) in fixed.sorted(by: { $0.key < $1.key }) where fixedAtRoot[sets.find(e)] == nil {
            fixedAtRoot[sets.find(e)] = reason
        }
        var groupIndex: [Int: Int] = [:]  // root -> index into groups
        var layers: [[String]] = [], depthwise: [[String]] = [], channels: [Int] = []
        for m in members {
            let root = sets.find(m.element)
            if m.name == compressible.first, fixedAtRoot[root] == nil {
                fixedAtRoot[root] = "tied to the stem \(m.name), which stays unpruned"
            }
            let g: Int
            if let known = groupIndex[root] {
                g = known
            } else {
                g = layers.count
                groupIndex[root] = g
                layers.append([]); depthwise.append([]); channels.append(m.channels)
            }
            layers[g].append(m.name)
            if m.depthwise { depthwise[g].append(m.name) }
        }
        for linear in linears {
            // A classifier reading a feature map flattened (Flatten of H x W > 1) takes each channel's positions as
            // features: kept channels are not mapped onto them, so the channels stay whole.
            let root = sets.find(inputElement[linear]!)
            if let g = groupIndex[root], channels[g] != declaredInput[linear], fixedAtRoot[root] == nil {
                fixedAtRoot[root] = "flattened with their positions into classifier \(linear)"
            }
        }
        let roots = groupIndex.sorted { $0.value < $1.value }.map(\.key)
        groups = roots.enumerated().map { g, root in
            ChannelGroup(layers: layers[g], depthwise: depthwise[g], channels: channels[g], fixedReason: fixedAtRoot[root])
        }
        groupOfLayer = Dictionary(uniqueKeysWithValues: members.map { ($0.name, groupIndex[sets.find($0.element)]!) })
        inputSource = inputElement.mapValues { e in groupIndex[sets.find(e)].map(Source.group) ?? .whole }
        self.declaredInput = declaredInput
        self.declaredOutput = declaredOutput
        self.compressible = compressible
        self.batchNorms = batchNorms
    }

    /// The tied channel groups of `graph`, ordered by their first layer.
    public static func analyze(_ graph: Graph) -> [ChannelGroup] { ChannelGroups(graph: graph).groups }

    /// The group whose channels `layer` (a Conv2D, Linear, BatchNorm2D or ChannelAffine) reads, when it reads all of
    /// a group's channels (not a flattening of them); nil for the network input and other whole sources.
    public func inputGroup(of layer: String) -> Int? {
        guard case .group(let g)? = inputSource[layer], declaredInput[layer] == groups[g].channels else { return nil }
        return g
    }

    /// The group whose channel set `layer` (a Conv2D) outputs.
    public func group(of layer: String) -> ChannelGroup? { groupOfLayer[layer].map { groups[$0] } }

    /// Why `layer`'s own prune ratio cannot change its output channels; nil when it can.
    public func pruneFixedReason(of layer: String) -> String? {
        guard let g = groupOfLayer[layer] else { return "it is the classifier, whose outputs are the classes" }
        if groups[g].depthwise.contains(layer) { return "it is depthwise and follows its input's channels" }
        return groups[g].fixedReason.map { "its output channels are \($0)" }
    }

    /// Kept channels of each group under `policy`, by the rule in the type's documentation.
    public func keptGroupChannels(for policy: ResolvedPolicy) -> [Int] {
        groups.map { group in
            guard group.isPrunable else { return group.channels }
            let ratio = group.ratioLayers.map { policy[$0]?.prune ?? 0 }.min() ?? 0
            return max(1, Int(((1 - ratio) * Double(group.channels)).rounded()))
        }
    }

    /// Kept output channels of every Conv2D and Linear layer under `policy`.
    public func keptChannels(for policy: ResolvedPolicy) -> [String: Int] { plan(for: policy).mapValues(\.output) }

    /// Kept input channels of every Conv2D and Linear layer under `policy`.
    public func keptInputChannels(for policy: ResolvedPolicy) -> [String: Int] { plan(for: policy).mapValues(\.input) }

    /// Kept input and output channels of every Conv2D and Linear layer under `policy`.
    public func plan(for policy: ResolvedPolicy) -> [String: KeptChannels] {
        let kept = keptGroupChannels(for: policy)
        var plan: [String: KeptChannels] = [:]
        for name in compressible {
            let output = groupOfLayer[name].map { kept[$0] } ?? declaredOutput[name] ?? 0
            plan[name] = KeptChannels(input: keptInput(of: name, kept), output: output)
        }
        return plan
    }

    /// Kept channels a BatchNorm2D normalizes under `policy`, by layer name.
    func keptBatchNormChannels(for policy: ResolvedPolicy) -> [String: Int] {
        let kept = keptGroupChannels(for: policy)
        return Dictionary(uniqueKeysWithValues: batchNorms.map { ($0, keptInput(of: $0, kept)) })
    }

    private func keptInput(of name: String, _ kept: [Int]) -> Int {
        let declared = declaredInput[name] ?? 0
        guard case .group(let g)? = inputSource[name] else { return declared }
        let channels = groups[g].channels
        if declared == channels { return kept[g] }
        // A classifier over flattened feature maps sees every kept channel once per spatial position.
        if channels > 0 && declared % channels == 0 { return kept[g] * (declared / channels) }
        return declared
    }
}

extension Conv2D {
    /// One filter per channel (groups == in == out channels): it follows its input's channels.
    var isDepthwiseConvolution: Bool { groups > 1 && groups == inChannels && groups == outChannels }
}

/// Union-find over channel-set elements.
struct DisjointSets {
    private var parent: [Int] = []

    mutating func make() -> Int {
        parent.append(parent.count)
        return parent.count - 1
    }

    mutating func find(_ x: Int) -> Int {
        var root = x
        while parent[root] != root { root = parent[root] }
        var y = x
        while parent[y] != root { (parent[y], y) = (root, parent[y]) }
        return root
    }

    mutating func union(_ a: Int, _ b: Int) {
        let (ra, rb) = (find(a), find(b))
        // The older element stays the root so roots are deterministic.
        if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
    }
}
