import Foundation
import SeerData
import SeerEngine
import SeerTensor

/// Builds an engine `Graph` from a float32 ONNX classifier (as `torch.onnx.export` and tf2onnx write them).
///
/// Nodes are visited in file order (ONNX requires topological order). Every value is either a constant
/// (initializers, `Constant`, and what `Shape`/`Gather`/`Unsqueeze`/`Concat`... compute from them: folded here) or a
/// runtime tensor produced by an engine node. Runtime values carry their ONNX per-image shape; the engine's tensor
/// may differ in form only (the engine's global pool yields [C] where ONNX has [C, 1, 1], and `Flatten`/`Reshape`
/// to 2-D are aliases because `Linear` reads any [N, ...] tensor as [N, features]).
///
/// tf2onnx keeps a Keras model's NHWC input and transposes it to NCHW first: such an input is declared NHWC
/// (`Model.inputLayout`) and the engine starts at the Transpose. A feature map transposed back to NHWC (before a Keras
/// `Flatten`) is the same engine tensor marked `channelsLast`, and the classifier that reads it flattened takes its
/// weight rows in NCHW order instead.
public struct OnnxImporter {
    /// Operators with a translation (constant-only ones fold at import).
    public static let supportedOperators = [
        "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
        "Div", "Dropout", "Flatten", "Gather", "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity",
        "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad", "ReduceMean", "Relu", "Reshape", "Shape", "Sigmoid", "Slice",
        "Softmax", "Squeeze", "Sub", "Transpose", "Unsqueeze",
    ]

    /// Transpose permutations between NCHW and NHWC (tf2onnx's around a Keras model's input and `Flatten`).
    static let toChannelsFirst: [Int64] = [0, 3, 1, 2], toChannelsLast: [Int64] = [0, 2, 3, 1]

    /// The batch dimension inside folded shape constants: known to be the batch, not a number.
    static let batchDimension = Int64.min

    struct Constant {
        var dims: [Int]
        /// Integer constants (shapes, axes, indices); may hold `batchDimension`.
        var ints: [Int64]?
        var floats: [Float]?

        func intValues(_ what: String) throws -> [Int64] {
            if let ints { return ints }
            if let floats, floats.allSatisfy({ $0 == $0.rounded() }) { return floats.map { Int64($0) } }
            throw OnnxImportError.invalidGraph("\(what) is not an integer tensor")
        }

        func floatValues(_ what: String) throws -> [Float] {
            if let floats { return floats }
            if let ints, !ints.contains(OnnxImporter.batchDimension) { return ints.map { Float($0) } }
            throw OnnxImportError.invalidGraph("\(what) is not a numeric tensor")
        }
    }

    struct Runtime {
        let node: Graph.NodeID
        /// ONNX shape of one image's value (the batch dimension dropped).
        let shape: [Int]
        /// The engine tensor's per-image shape (equal to `shape` but after a global pool, a flatten or a Transpose to
        /// NHWC).
        let engineShape: [Int]
        /// The ONNX value is NHWC ([H, W, C] per image, or its flattening) where the engine tensor is NCHW.
        var channelsLast = false

        /// The same value computed by engine node `node` (elementwise layers).
        func at(_ node: Graph.NodeID) -> Runtime {
            Runtime(node: node, shape: shape, engineShape: engineShape, channelsLast: channelsLast)
        }
    }

    enum Value {
        case constant(Constant)
        case runtime(Runtime)
    }

    let file: OnnxFile.Model
    /// Directory that external-data locations are relative to.
    let directory: URL
    let opset: Int64

    private let graph = Graph()
    var values: [String: Value] = [:]
    private var uses: [String: Int] = [:]
    private var layerNames = Set<String>()
    /// Linear layers by the value they output, for folding a following bias `Add` (MatMul + Add).
    private var linearOutputs: [String: Linear] = [:]
    /// Convolutions by the value they output, for folding a following per-channel `Mul` and `Add` (a batch norm that
    /// tf2onnx leaves unfolded).
    private var convOutputs: [String: Conv2D] = [:]
    /// Per-channel affine layers by the value they output, for composing a chain of constant arithmetic (Keras's
    /// Rescaling then Normalization) into one layer.
    private var affineOutputs: [String: ChannelAffine] = [:]
    /// A final Softmax: the graph returns probabilities (the engine computes the logits before it).
    private var outputActivation = OutputActivation.none
    /// NHWC when the graph's input is Keras's, transposed to NCHW by its first node.
    private var inputLayout = ChannelLayout.nchw
    private var rng = SeededGenerator(seed: 0)
    private var externalFiles: [String: Data] = [:]

    /// Imports a serialized ModelProto named `name` (see `ModelReference` for files); external data are read relative
    /// to `directory`.
    public static func load(bytes: [UInt8], directory: URL, name: String, path: String = "<memory>") throws -> Model {
        let file: OnnxFile.Model
        do { file = try OnnxFile.Model(bytes: bytes) } catch {
            throw OnnxImportError.unreadable(path: path, reason: "not an ONNX ModelProto: \(error)")
        }
        var importer = OnnxImporter(file: file, directory: directory)
        return try importer.build(name: name)
    }

    init(file: OnnxFile.Model, directory: URL) {
        self.file = file
        self.directory = directory
        opset = file.opsets[""] ?? 0
    }

    // MARK: the walk

    private mutating func build(name: String) throws -> Model {
        let g = file.graph
        guard opset >= 7 else { throw OnnxImportError.invalidGraph("default-domain opset \(opset) is older than 7") }
        for t in g.initializers { values[t.name] = .constant(try constant(t)) }
        let dataInputs = g.inputs.filter { values[$0.name] == nil }
        guard dataInputs.count == 1, let input = dataInputs.first else {
            throw OnnxImportError.invalidGraph("expected one image input besides the initializers, found \(dataInputs.count)"
                + (dataInputs.isEmpty ? "" : ": " + dataInputs.map(\.name).joined(separator: ", ")))
        }
        guard input.elementType == OnnxFile.TensorData.DataType.float.rawValue else {
            throw OnnxImportError.invalidGraph("input '\(input.name)' has element type \(input.elementType), not float32")
        }
        inputLayout = Self.declaredLayout(of: input.name, in: g.nodes,
                                          constants: Set(g.initializers.map(\.name)).union(
                                              g.nodes.filter { $0.opType == "Constant" }.flatMap(\.outputs)))
        let order = inputLayout == .nhwc ? "[batch, H, W, C]" : "[batch, C, H, W]"
        guard let dims = input.shape, dims.count == 4, let d1 = dims[1], let d2 = dims[2], let d3 = dims[3],
              d1 > 0, d2 > 0, d3 > 0 else {
            throw OnnxImportError.invalidGraph("input '\(input.name)' must be \(order) with fixed C, H and W; it is "
                + (input.shape.map { "[" + $0.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]" } ?? "without a shape"))
        }
        let (c, h, w) = inputLayout == .nhwc ? (d3, d1, d2) : (d1, d2, d3)
        values[input.name] = .runtime(Runtime(node: Graph.input, shape: inputLayout == .nhwc ? [h, w, c] : [c, h, w],
                                              engineShape: [c, h, w], channelsLast: inputLayout == .nhwc))

        for node in g.nodes { for i in node.inputs where !i.isEmpty { uses[i, default: 0] += 1 } }
        for o in g.outputs { uses[o.name, default: 0] += 1 }
        for (index, node) in g.nodes.enumerated() { try translate(node, index: index) }

        guard g.outputs.count == 1, let output = g.outputs.first else {
            throw OnnxImportError.invalidGraph("expected one output (the logits), found \(g.outputs.count)")
        }
        guard case .runtime(let logits)? = values[output.name] else {
            throw OnnxImportError.invalidGraph("output '\(output.name)' is not computed from the input")
        }
        guard logits.node != Graph.input, logits.shape.count == 1 else {
            throw OnnxImportError.invalidGraph("output '\(output.name)' must be [batch, classes] logits; its shape is "
                + "[batch, \(logits.shape.map(String.init).joined(separator: ", "))]")
        }
        graph.output = logits.node
        return Model(name: name, graph: graph, inputShape: [c, h, w], classes: logits.shape[0], inputName: input.name,
                     inputLayout: inputLayout, outputActivation: outputActivation)
    }

    /// NHWC when every node reading the input transposes it to NCHW (or only takes its shape), as tf2onnx writes a
    /// Keras model, also after constant arithmetic on the input (Keras's Rescaling and Normalization layers come
    /// before tf2onnx's Transpose); NCHW otherwise.
    static func declaredLayout(of input: String, in nodes: [OnnxFile.Node], constants: Set<String>) -> ChannelLayout {
        var value = input
        while true {
            let readers = nodes.filter { $0.inputs.contains(value) && $0.opType != "Shape" }
            guard readers.count == 1, let arithmetic = readers.first, arithmetic.domain.isEmpty,
                  affineOperators.contains(arithmetic.opType), arithmetic.inputs.count == 2,
                  arithmetic.inputs.contains(where: constants.contains), let out = arithmetic.outputs.first else { break }
            value = out
        }
        let readers = nodes.filter { $0.inputs.contains(value) }
        let transposes = readers.filter { node in
            guard node.opType == "Transpose", node.domain.isEmpty, case .ints(let perm)? = node.attributes["perm"] else { return false }
            return perm == toChannelsFirst
        }
        let others = readers.filter { $0.opType != "Shape" }
        return !transposes.isEmpty && transposes.count == others.count ? .nhwc : .nchw
    }

    private mutating func translate(_ node: OnnxFile.Node, index: Int) throws {
        let label = node.name.isEmpty ? "\(node.opType)_\(index)" : node.name
        guard node.domain.isEmpty else {
            throw OnnxImportError.unsupportedOperator(op: node.opType, domain: node.domain, node: label,
                                                      opset: file.opsets[node.domain] ?? 0)
        }
        let op = NodeContext(node: node, label: label, opset: opset)
        // Constant folding: shape arithmetic and anything else whose inputs are all constants.
        if let folded = try fold(op) {
            values[node.outputs[0]] = .constant(folded)
            return
        }
        switch node.opType {
        case "Conv": try conv(op)
        case "BatchNormalization": try batchNorm(op)
        case "Relu": try setOutput(op, try add(ReLU(name: layerName(op)), op, from: try runtime(op, 0)))
        case "Transpose": try transpose(op)
        case "Squeeze": try squeeze(op)
        case "Clip": try clip(op)
        case "Sigmoid": try pointwise(op, .sigmoid)
        case "HardSigmoid":
            try pointwise(op, .hardSigmoid(alpha: try op.float("alpha", default: 0.2), beta: try op.float("beta", default: 0.5)))
        case "HardSwish": try pointwise(op, .hardSwish)
        case "LeakyRelu": try pointwise(op, .leakyRelu(alpha: try op.float("alpha", default: 0.01)))
        case "Mul": try multiply(op)
        case "Concat": try concat(op)
        case "Add": try add(op)
        case "Sub", "Div":
            guard let (x, c, input) = try runtimeAndConstant(op) else {
                throw op.unsupported("supported only with one constant operand (an affine map of the image's tensor)")
            }
            try constantArithmetic(op, x, c, reading: input)
        case "Softmax": try softmax(op)
        case "MaxPool", "AveragePool": try pool(op)
        case "Slice": try spatialSlice(op)
        case "Pad": try pad(op)
        case "GlobalAveragePool": try globalAveragePool(op, try featureMap(op, 0), keepsDimensions: true)
        case "ReduceMean": try reduceMean(op)
        case "Flatten":
            let x = try runtime(op, 0)
            let axis = try op.int("axis", default: 1)
            guard axis == 1 || (axis == -x.shape.count) else {
                throw op.unsupported("axis \(axis): only flattening every dimension after the batch (axis 1) is supported")
            }
            try setOutput(op, Runtime(node: x.node, shape: [x.shape.reduce(1, *)], engineShape: x.engineShape,
                                      channelsLast: x.channelsLast))
        case "Reshape": try reshape(op)
        case "Gemm": try gemm(op)
        case "MatMul": try matMul(op)
        case "Identity": try setOutput(op, try runtime(op, 0))
        case "Dropout":
            if node.outputs.count > 1, let mask = node.outputs.last, !mask.isEmpty, uses[mask, default: 0] > 0 {
                throw op.unsupported("its mask output is used; only inference dropout (an identity) is supported")
            }
            try setOutput(op, try runtime(op, 0))
        default:
            if Self.supportedOperators.contains(node.opType) {
                throw op.unsupported("supported only on constant inputs (folded at import), not on the image's tensors")
            }
            throw OnnxImportError.unsupportedOperator(op: node.opType, domain: node.domain, node: label, opset: opset)
        }
    }

    // MARK: operators with engine layers

    private mutating func conv(_ op: NodeContext) throws {
        let x = try featureMap(op, 0)
        let w = try constantInput(op, 1, "weight")
        guard w.dims.count == 4 else { throw op.unsupported("weight has shape \(w.dims); only 2-D convolutions are supported") }
        let (cout, cinPerGroup, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3])
        let groups = Int(try op.int("group", default: 1))
        guard groups >= 1, cinPerGroup * groups == x.shape[0], cout % groups == 0 else {
            throw op.unsupported("weight \(w.dims) with \(groups) groups does not fit \(x.shape[0]) input channels")
        }
        if let shape = try op.ints("kernel_shape"), shape.map(Int.init) != [kh, kw] {
            throw op.unsupported("kernel_shape \(shape) disagrees with the weight's \(kh)x\(kw)")
        }
        let window = try windowAttributes(op, kernel: (kh, kw), input: x.shape, dilations: true)
        let name = try layerName(op)
        let input = padded(x, window, for: name)
        let conv = Conv2D(name: name, inChannels: x.shape[0], outChannels: cout, window: window.layer, groups: groups,
                          bias: op.has(2), rng: &rng)
        conv.weight.value = Tensor(shape: w.dims, data: try w.floatValues("\(op.label) weight"))
        if op.has(2) {
            let b = try constantInput(op, 2, "bias")
            guard b.dims.reduce(1, *) == cout else { throw op.unsupported("bias has shape \(b.dims), expected [\(cout)]") }
            conv.bias!.value = Tensor(shape: [cout], data: try b.floatValues("\(op.label) bias"))
        }
        let id = graph.add(conv, input.node)
        convOutputs[op.node.outputs[0]] = conv
        try setOutput(op, Runtime(node: id, shape: [cout, window.outHeight, window.outWidth],
                                  engineShape: [cout, window.outHeight, window.outWidth]))
    }

    /// The mean of each channel's plane; [C, 1, 1] as in ONNX when the dimensions are kept, so that a 1x1
    /// convolution may read it (squeeze-excitation), else [C].
    /// Over an NHWC value (tf2onnx's ReduceMean after a Transpose) the kept dimensions are [1, 1, C].
    private mutating func globalAveragePool(_ op: NodeContext, _ x: Runtime, keepsDimensions: Bool) throws {
        let c = x.engineShape[0]
        let id = graph.add(GlobalAvgPool(name: try layerName(op), keepsDimensions: keepsDimensions), x.node)
        guard keepsDimensions else { return try setOutput(op, Runtime(node: id, shape: [c], engineShape: [c])) }
        try setOutput(op, Runtime(node: id, shape: x.channelsLast ? [1, 1, c] : [c, 1, 1], engineShape: [c, 1, 1],
                                  channelsLast: x.channelsLast))
    }

    /// `x.mean((2, 3))` and `adaptive_avg_pool2d(x, 1)` as the dynamo exporter writes them, and Keras's
    /// GlobalAveragePooling2D as tf2onnx writes it from opset 18 on (the mean over axes 1 and 2 of the NHWC map): a
    /// global average pool.
    private mutating func reduceMean(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        guard x.shape.count == 3, x.channelsLast || x.engineShape == x.shape else {
            throw op.unsupported("input of shape [batch, \(x.shape.map(String.init).joined(separator: ", "))] is not a feature map")
        }
        let axes = try axesOperand(op, inputFrom: 18)
        let planes = Set((axes ?? []).map { $0 < 0 ? $0 + Int64(x.shape.count + 1) : $0 })
        guard planes == (x.channelsLast ? [1, 2] : [2, 3]) else {
            let described = axes.map { "\($0)" } ?? "none"
            throw op.unsupported("axes \(described) of a [batch, \(x.shape.map(String.init).joined(separator: ", "))] "
                + (x.channelsLast ? "NHWC input: only the mean over height and width (axes 1 and 2) is supported"
                                  : "input: only the mean over height and width (axes 2 and 3) is supported"))
        }
        try globalAveragePool(op, x, keepsDimensions: try op.int("keepdims", default: 1) != 0)
    }

    private mutating func batchNorm(_ op: NodeContext) throws {
        let x = try featureMap(op, 0)
        if try op.int("training_mode", default: 0) != 0 { throw op.unsupported("training_mode 1 is not an inference graph") }
        if op.node.outputs.dropFirst().contains(where: { !$0.isEmpty && uses[$0, default: 0] > 0 }) {
            throw op.unsupported("its running-statistics outputs are used; only inference batch norm is supported")
        }
        let c = x.shape[0]
        var tensors: [Tensor] = []
        for (i, role) in ["scale", "bias", "mean", "var"].enumerated() {
            let t = try constantInput(op, i + 1, role)
            guard t.dims.reduce(1, *) == c else { throw op.unsupported("\(role) has shape \(t.dims), expected [\(c)]") }
            tensors.append(Tensor(shape: [c], data: try t.floatValues("\(op.label) \(role)")))
        }
        let bn = BatchNorm2D(name: try layerName(op), channels: c, epsilon: try op.float("epsilon", default: 1e-5))
        bn.gamma.value = tensors[0]
        bn.beta.value = tensors[1]
        bn.runningMean.value = tensors[2]
        bn.runningVar.value = tensors[3]
        try setOutput(op, try add(bn, op, from: x))
    }

    private mutating func clip(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        var low: Float?, high: Float?
        if op.opset >= 11 {
            if op.has(1) { low = try scalar(op, 1, "min") }
            if op.has(2) { high = try scalar(op, 2, "max") }
        } else {
            low = try op.float("min", default: -.greatestFiniteMagnitude)
            high = try op.float("max", default: .greatestFiniteMagnitude)
            if high == .greatestFiniteMagnitude { high = nil }
        }
        guard low == 0, high.map({ $0 > 0 }) ?? true else {
            // Any other range: a general clip (ReLU and ReLU6 stay ReLU, which convolutions fuse).
            let (lo, hi) = (low ?? -.greatestFiniteMagnitude, high ?? .greatestFiniteMagnitude)
            guard lo <= hi else { throw op.unsupported("min \(lo) is above max \(hi)") }
            return try pointwise(op, .clip(low: lo, high: hi))
        }
        try setOutput(op, try add(ReLU(name: layerName(op), cap: high), op, from: x))
    }

    private mutating func pointwise(_ op: NodeContext, _ function: Pointwise.Function) throws {
        try setOutput(op, try add(Pointwise(name: layerName(op), function: function), op, from: try runtime(op, 0)))
    }

    /// x * y of equal shapes (SiLU; HardSwish as x * HardSigmoid(x) before opset 14, also on the classifier's
    /// [batch, features]) or a feature map times per-channel factors [C, 1, 1] (squeeze-excitation).
    private mutating func multiply(_ op: NodeContext) throws {
        if let (x, c, input) = try runtimeAndConstant(op) { return try constantArithmetic(op, x, c, reading: input) }
        var x = try runtime(op, 0), factors = try runtime(op, 1)
        if x.shape.reduce(1, *) < factors.shape.reduce(1, *) { swap(&x, &factors) }
        let equal = factors.shape == x.shape && factors.engineShape == x.engineShape && factors.channelsLast == x.channelsLast
        let perChannel = x.shape.count == 3 && x.engineShape == x.shape && factors.engineShape == factors.shape
            && factors.shape == [x.shape[0], 1, 1]
        guard equal || perChannel else {
            throw op.unsupported("operands of shapes \(x.shape) and \(factors.shape): only equal shapes or a feature "
                                 + "map times [C, 1, 1] factors are supported")
        }
        let id = graph.add(Multiply(name: try layerName(op)), x.node, factors.node)
        try setOutput(op, x.at(id))
    }

    /// The runtime operand, the constant one and the runtime operand's value name of a binary node; nil unless
    /// exactly one operand is constant.
    private func runtimeAndConstant(_ op: NodeContext) throws -> (Runtime, Constant, String)? {
        switch (try value(op, 0), try value(op, 1)) {
        case let (.runtime(x), .constant(c)): return (x, c, op.node.inputs[0])
        case let (.constant(c), .runtime(x)): return (x, c, op.node.inputs[1])
        default: return nil
        }
    }

    /// Elementwise operators with one constant operand that the importer turns into a per-channel affine map.
    static let affineOperators: Set<String> = ["Mul", "Add", "Sub", "Div"]

    /// x * factor + offset, from a Mul, Add, Sub or Div of runtime value `x` (the value named `input`) and constant `c`:
    /// folded into the convolution or classifier whose output only this node reads (exact, as the map follows the
    /// layer: tf2onnx's unfolded batch norms, MatMul + Add), composed into the per-channel affine layer before it, or
    /// a new `ChannelAffine` (Keras's Rescaling and Normalization, a scale after an activation). Nothing folds into a
    /// following convolution: its zero padding would not see the shift.
    private mutating func constantArithmetic(_ op: NodeContext, _ x: Runtime, _ c: Constant, reading input: String) throws {
        let v = try perChannel(op, x, c)
        let constantFirst = op.node.inputs[0] != input
        let factor: [Float], offset: [Float]
        switch op.node.opType {
        case "Mul": (factor, offset) = (v, [0])
        case "Add": (factor, offset) = ([1], v)
        case "Sub": (factor, offset) = constantFirst ? ([-1], v) : ([1], v.map { -$0 })
        default:
            guard !constantFirst else {
                throw op.unsupported("dividing a constant by the image's tensor is not an affine map of it")
            }
            guard !v.contains(0) else { throw op.unsupported("divides by a constant holding zeros") }
            (factor, offset) = (v.map { 1 / $0 }, [0])
        }
        func at(_ values: [Float], _ i: Int) -> Float { values.count == 1 ? values[0] : values[i] }
        let soleReader = uses[input] == 1
        if soleReader, let conv = convOutputs[input] {
            let per = conv.weight.value.count / conv.outChannels
            let bias = offset.contains { $0 != 0 } ? conv.ensureBias() : conv.bias
            for o in 0..<conv.outChannels {
                for i in (o * per)..<((o + 1) * per) { conv.weight.value.data[i] *= at(factor, o) }
                bias.map { $0.value.data[o] = $0.value.data[o] * at(factor, o) + at(offset, o) }
            }
            convOutputs[op.node.outputs[0]] = conv
            return try setOutput(op, x)
        }
        if soleReader, let linear = linearOutputs[input] {
            let per = linear.inFeatures
            for o in 0..<linear.outFeatures {
                for i in (o * per)..<((o + 1) * per) { linear.weight.value.data[i] *= at(factor, o) }
                linear.bias.value.data[o] = linear.bias.value.data[o] * at(factor, o) + at(offset, o)
            }
            linearOutputs[op.node.outputs[0]] = linear
            return try setOutput(op, x)
        }
        if soleReader, let affine = affineOutputs[input] {
            affine.then(multiply: factor, add: offset)
            affineOutputs[op.node.outputs[0]] = affine
            return try setOutput(op, x)
        }
        let channels = x.engineShape[0]
        let affine = ChannelAffine(name: try layerName(op), scale: (0..<channels).map { at(factor, $0) },
                                   shift: (0..<channels).map { at(offset, $0) })
        affineOutputs[op.node.outputs[0]] = affine
        try setOutput(op, x.at(graph.add(affine, x.node)))
    }

    /// Constant `c` as one value or one per channel of `x`: [C, 1, 1] after any leading ones on an NCHW feature map,
    /// [C] after any leading ones on an NHWC one (Keras's constants before tf2onnx's input Transpose), [F] on a
    /// [batch, F] vector; a scalar on anything. Constants that vary along height or width, or would broaden the
    /// tensor, are refused by name.
    private func perChannel(_ op: NodeContext, _ x: Runtime, _ c: Constant) throws -> [Float] {
        let v = try c.floatValues("\(op.label) constant")
        let dims = Array(c.dims.drop { $0 == 1 })
        let shape = "[batch, \(x.shape.map(String.init).joined(separator: ", "))]"
        guard c.dims.count <= x.shape.count + 1 else {
            throw op.unsupported("constant of shape \(c.dims) broadens the \(shape) input")
        }
        if v.count == 1 { return v }
        let channels = x.engineShape[0]
        let expected: [Int]?
        switch (x.shape.count, x.channelsLast) {
        case (3, false) where x.engineShape == x.shape: expected = [channels, 1, 1]
        case (3, true): expected = [channels]
        // [batch, F] features, also a global pool's [C, 1, 1] squeezed or flattened to [C] (one order either way).
        case (1, _) where x.engineShape.reduce(1, *) == channels: expected = [channels]
        default: expected = nil  // a flattened feature map: only scalars map onto its engine tensor
        }
        guard let expected, dims == expected else {
            throw op.unsupported("constant of shape \(c.dims) on a \(shape)\(x.channelsLast ? " NHWC" : "") input: only "
                + "scalars and per-channel constants (\(expected.map { "\($0)" } ?? "none here")) are supported")
        }
        return v
    }

    /// A Softmax over the classes as the graph's last node: recorded as the model's output activation; the engine's
    /// graph ends at the logits (training and accuracy use them; `Model.outputs` and the export apply the softmax).
    private mutating func softmax(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        guard let out = op.node.outputs.first, file.graph.outputs.map(\.name) == [out], uses[out] == 1 else {
            throw op.unsupported("only a final Softmax, whose output is the graph's and read by no node, is supported "
                                 + "(training needs the logits before it)")
        }
        // Before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 on `axis` (default -1) is the
        // one normalized. On [batch, classes] both mean the classes when the axis is 1 or -1.
        let axis = try op.int("axis", default: op.opset >= 13 ? -1 : 1)
        guard x.shape.count == 1 else {
            throw op.unsupported("input of shape [batch, \(x.shape.map(String.init).joined(separator: ", "))]: only a "
                                 + "softmax of [batch, classes] logits is supported")
        }
        guard axis == 1 || axis == -1 else {
            throw op.unsupported("axis \(axis) of a [batch, classes] input: only the class axis (1 or -1) is supported")
        }
        outputActivation = .softmax
        try setOutput(op, x)
    }

    /// Feature maps side by side along the channels.
    private mutating func concat(_ op: NodeContext) throws {
        let axis = try op.int("axis", default: Int64.max)
        guard axis == 1 || axis == -3 else { throw op.unsupported("axis \(axis): only concatenation along channels (axis 1)") }
        var parts: [Runtime] = []
        for i in op.node.inputs.indices where op.has(i) { parts.append(try featureMap(op, i)) }
        guard let first = parts.first, parts.allSatisfy({ $0.shape[1...] == first.shape[1...] }) else {
            throw op.unsupported("inputs of shapes \(parts.map(\.shape)) do not share a plane")
        }
        let id = graph.add(ChannelConcat(name: try layerName(op)), inputs: parts.map(\.node))
        let shape = [parts.reduce(0) { $0 + $1.shape[0] }, first.shape[1], first.shape[2]]
        try setOutput(op, Runtime(node: id, shape: shape, engineShape: shape))
    }

    private mutating func add(_ op: NodeContext) throws {
        let a = try value(op, 0), b = try value(op, 1)
        switch (a, b) {
        case let (.runtime(x), .runtime(y)):
            guard x.shape == y.shape, x.engineShape == y.engineShape, x.channelsLast == y.channelsLast else {
                throw op.unsupported("operands of shapes \(x.shape) and \(y.shape): only equal shapes are supported")
            }
            let id = graph.add(Add(name: try layerName(op)), x.node, y.node)
            try setOutput(op, x.at(id))
        case let (.runtime(x), .constant(c)), let (.constant(c), .runtime(x)):
            try constantArithmetic(op, x, c, reading: op.node.inputs[a.isRuntime ? 0 : 1])
        default:
            throw op.unsupported("both operands are constants yet not folded")
        }
    }

    private mutating func pool(_ op: NodeContext) throws {
        let x = try featureMap(op, 0)
        guard let kernel = try op.ints("kernel_shape"), kernel.count == 2 else {
            throw op.unsupported("kernel_shape must name a 2-D window")
        }
        let ceilMode = try op.int("ceil_mode", default: 0) != 0
        if op.node.outputs.count > 1, uses[op.node.outputs[1], default: 0] > 0 {
            throw op.unsupported("its indices output is used")
        }
        let isMax = op.node.opType == "MaxPool"
        // AveragePool has dilations from opset 19 on; the export writes opset 13, which could not carry them back.
        let window = try windowAttributes(op, kernel: (Int(kernel[0]), Int(kernel[1])), input: x.shape, dilations: isMax)
        // Pads unequal on an axis stay the pool's own (padding, not zeros: a max never takes them, an average without
        // count_include_pad does not count them), as Keras's 'same' pools need.
        let e = window.extra, name = try layerName(op)
        let margins = PoolMargins(top: e[0], left: e[1], bottom: e[2], right: e[3])
        let layer: Layer
        if isMax {
            layer = MaxPool2D(name: name, window: window.layer, ceilMode: ceilMode, margins: margins)
        } else {
            layer = AvgPool2D(name: name, window: window.layer, ceilMode: ceilMode, margins: margins,
                              countsPadding: try op.int("count_include_pad", default: 0) != 0)
        }
        let id = graph.add(layer, x.node)
        let (h, w) = (window.layer.height, window.layer.width)
        let shape = [x.shape[0], h.poolOutputs(x.shape[1], ceilMode: ceilMode, lead: e[0], trail: e[2]),
                     w.poolOutputs(x.shape[2], ceilMode: ceilMode, lead: e[1], trail: e[3])]
        try setOutput(op, Runtime(node: id, shape: shape, engineShape: shape))
    }

    /// `x[:, :, a::s, b::t]` on a feature map (a CIFAR ResNet's option-A shortcut): a `SpatialSlice`. The batch and
    /// the channels stay whole; height and width take positive steps.
    private mutating func spatialSlice(_ op: NodeContext) throws {
        let x = try featureMap(op, 0)
        var inputs: [Constant?] = [nil]
        for i in 1..<max(1, op.node.inputs.count) {
            inputs.append(op.has(i) ? try constantInput(op, i, "slice parameter") : nil)
        }
        var ranges = [SliceRange(start: 0), SliceRange(start: 0)]
        for a in try SliceSpec(op, inputs, rank: 4).axes {
            switch a.axis {
            case 0:
                guard a.step == 1, a.start == 0, a.end >= Int64(Int32.max) else {
                    throw op.unsupported("slices the batch axis: only height and width may be sliced")
                }
            case 1:
                guard a.indices(size: x.shape[0]) == Array(0..<x.shape[0]) else {
                    throw op.unsupported("slices the channels: only height and width may be sliced")
                }
            default:
                guard a.step > 0 else { throw op.unsupported("step \(a.step) on axis \(a.axis): only positive steps on the image") }
                ranges[a.axis - 2] = SliceRange(start: Int(a.start), end: Int(a.end), step: Int(a.step))
            }
        }
        if ranges.allSatisfy(\.isIdentity) { return try setOutput(op, x) }
        let layer = SpatialSlice(name: try layerName(op), rows: ranges[0], columns: ranges[1])
        let (h, w) = layer.outputs(height: x.shape[1], width: x.shape[2])
        guard h > 0, w > 0 else { throw op.unsupported("slices the \(x.shape[1])x\(x.shape[2]) image to an empty one") }
        let shape = [x.shape[0], h, w]
        try setOutput(op, Runtime(node: graph.add(layer, x.node), shape: shape, engineShape: shape))
    }

    /// Zero padding of a feature map's height, width and channels (`F.pad(x, (0, 0, 0, 0, p, p))` in an option-A
    /// shortcut pads the channels): a `ZeroPad`.
    private mutating func pad(_ op: NodeContext) throws {
        let x = try featureMap(op, 0)
        let mode = try op.string("mode", default: "constant")
        guard mode == "constant" else { throw op.unsupported("mode '\(mode)': only constant (zero) padding is supported") }
        let pads: [Int64], value: Float
        if op.opset >= 11 {
            pads = try constantInput(op, 1, "pads").intValues("\(op.label) pads")
            value = op.has(2) ? try constantInput(op, 2, "constant_value").floatValues("\(op.label) constant_value").first ?? 0 : 0
            if op.has(3) { throw op.unsupported("an axes input: only pads of all four axes are supported") }
        } else {
            guard let attribute = try op.ints("pads") else { throw op.unsupported("has no pads") }
            (pads, value) = (attribute, try op.float("value", default: 0))
        }
        guard value == 0 else { throw op.unsupported("pads with \(value): only zero padding is supported") }
        guard pads.count == 8, pads[0] == 0, pads[4] == 0, pads.allSatisfy({ $0 >= 0 }) else {
            throw op.unsupported("pads \(pads): expected eight non-negative values, none on the batch axis")
        }
        let p = pads.map { Int($0) }
        let layer = ZeroPad(name: try layerName(op), top: p[2], left: p[3], bottom: p[6], right: p[7],
                            channelsBefore: p[1], channelsAfter: p[5])
        let shape = [x.shape[0] + p[1] + p[5], x.shape[1] + p[2] + p[6], x.shape[2] + p[3] + p[7]]
        try setOutput(op, Runtime(node: graph.add(layer, x.node), shape: shape, engineShape: shape))
    }

    private mutating func reshape(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        let target = try constantInput(op, 1, "shape").intValues("\(op.label) shape")
        let features = x.shape.reduce(1, *)
        // [batch, features] in any of its spellings: [N, -1], [-1, F], [0, -1], [batch-from-Shape, -1], [N, F].
        guard target.count == 2 else {
            throw op.unsupported("target shape \(target.map(describe)): only reshapes to [batch, features] are supported")
        }
        // With allowzero 1 (opset 14 on) a 0 is an empty dimension, not "copy the input's".
        let zeroCopies = try op.int("allowzero", default: 0) == 0
        let batchOK = target[0] == Self.batchDimension || target[0] == 0 && zeroCopies
            || target[0] == -1 && target[1] == Int64(features)
        let featuresOK = target[1] == -1 || target[1] == Int64(features)
        guard batchOK, featuresOK, !(target[0] == -1 && target[1] == -1) else {
            throw op.unsupported("target shape \(target.map(describe)) is not [batch, \(features)]")
        }
        try setOutput(op, Runtime(node: x.node, shape: [features], engineShape: x.engineShape, channelsLast: x.channelsLast))
    }

    private mutating func gemm(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        guard x.shape.count == 1 else { throw op.unsupported("input A of shape [batch, \(x.shape)] is not 2-D") }
        if try op.int("transA", default: 0) != 0 { throw op.unsupported("transA 1: the image's tensor must be A as is") }
        let b = try constantInput(op, 1, "B")
        guard b.dims.count == 2 else { throw op.unsupported("B has shape \(b.dims), not 2-D") }
        let transB = try op.int("transB", default: 0) != 0
        let alpha = try op.float("alpha", default: 1), beta = try op.float("beta", default: 1)
        var weight = try matrix(b, transposed: !transB, op: op)  // [out, in]
        guard weight.shape[1] == x.shape[0] else {
            throw op.unsupported("B (\(b.dims), transB \(transB ? 1 : 0)) does not take \(x.shape[0]) features")
        }
        if alpha != 1 { for i in weight.data.indices { weight.data[i] *= alpha } }
        var bias = [Float](repeating: 0, count: weight.shape[0])
        if op.has(2) {
            let c = try constantInput(op, 2, "C").floatValues("\(op.label) C")
            guard c.count == bias.count || c.count == 1 else {
                throw op.unsupported("C of \(c.count) values for \(bias.count) outputs (per-row C is not supported)")
            }
            for o in bias.indices { bias[o] = beta * (c.count == 1 ? c[0] : c[o]) }
        }
        try linear(op, x, weight: weight, bias: bias)
    }

    private mutating func matMul(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        guard x.shape.count == 1 else {
            throw op.unsupported("input of shape [batch, \(x.shape)]: only [batch, features] x constant matrices")
        }
        let b = try constantInput(op, 1, "B")
        guard b.dims.count == 2, b.dims[0] == x.shape[0] else {
            throw op.unsupported("B has shape \(b.dims); expected [\(x.shape[0]), outputs]")
        }
        try linear(op, x, weight: try matrix(b, transposed: true, op: op), bias: [Float](repeating: 0, count: b.dims[1]))
    }

    /// A classifier reading an NHWC map flattened (Keras's `Flatten`) reads the engine's NCHW tensor: its weight
    /// columns are reordered from (h, w, c) to (c, h, w).
    private mutating func linear(_ op: NodeContext, _ x: Runtime, weight: Tensor, bias: [Float]) throws {
        let layer = Linear(name: try layerName(op), inFeatures: weight.shape[1], outFeatures: weight.shape[0], rng: &rng)
        layer.weight.value = x.channelsLast && x.engineShape.count == 3
            ? Self.channelsFirstColumns(weight, of: x.engineShape) : weight
        layer.bias.value = Tensor(shape: [bias.count], data: bias)
        let id = graph.add(layer, x.node)
        linearOutputs[op.node.outputs[0]] = layer
        try setOutput(op, Runtime(node: id, shape: [weight.shape[0]], engineShape: [weight.shape[0]]))
    }

    // MARK: layouts

    /// NCHW <-> NHWC between the input, the feature maps and a Keras `Flatten`: the engine tensor stays NCHW and the
    /// value is marked `channelsLast`; any other permutation is refused.
    private mutating func transpose(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        let perm = try op.ints("perm") ?? Array((0..<Int64(x.shape.count + 1)).reversed())
        let layout = x.channelsLast ? "NHWC" : "NCHW"
        guard x.shape.count == 3, x.channelsLast || x.engineShape == x.shape else {
            throw op.unsupported("perm \(perm) of a [batch, \(x.shape.map(String.init).joined(separator: ", "))] tensor: only "
                                 + "feature maps transpose (between NCHW and NHWC)")
        }
        switch perm {
        case [0, 1, 2, 3]: try setOutput(op, x)
        case Self.toChannelsFirst where x.channelsLast:
            try setOutput(op, Runtime(node: x.node, shape: x.engineShape, engineShape: x.engineShape))
        case Self.toChannelsLast where !x.channelsLast:
            try setOutput(op, Runtime(node: x.node, shape: [x.shape[1], x.shape[2], x.shape[0]], engineShape: x.engineShape,
                                      channelsLast: true))
        default:
            throw op.unsupported("perm \(perm) of an \(layout) feature map: only transposes between NCHW and NHWC are supported")
        }
    }

    /// [C, 1, 1] or [1, 1, C] after a global pool squeezed to [C] (tf2onnx's Keras GlobalAveragePooling2D before
    /// opset 18): the same engine tensor, as a flatten is.
    private mutating func squeeze(_ op: NodeContext) throws {
        let x = try runtime(op, 0)
        let axes = try axesOperand(op, inputFrom: 13)
        let rank = Int64(x.shape.count + 1)
        let removed = Set((axes ?? []).map { Int($0 < 0 ? $0 + rank : $0) })
        let kept = x.shape.enumerated().filter { axes == nil ? $0.element != 1 : !removed.contains($0.offset + 1) }
        let squeezed = x.shape.enumerated().filter { !kept.map(\.offset).contains($0.offset) }
        guard !removed.contains(0), squeezed.allSatisfy({ $0.element == 1 }), kept.count == 1 else {
            throw op.unsupported("axes \(axes.map { "\($0)" } ?? "none") of a [batch, "
                + "\(x.shape.map(String.init).joined(separator: ", "))] input: only squeezing to [batch, features] is supported")
        }
        try setOutput(op, Runtime(node: x.node, shape: [kept[0].element], engineShape: x.engineShape,
                                  channelsLast: x.channelsLast))
    }

    /// `weight` [outputs, H * W * C] with columns in NHWC order, reordered to NCHW for an engine map of `shape` [C, H, W].
    static func channelsFirstColumns(_ weight: Tensor, of shape: [Int]) -> Tensor {
        Tensor(shape: weight.shape, data: channelsFirst(weight.data, blocks: weight.shape[0],
                                                        positions: shape[1] * shape[2], channels: shape[0]))
    }

    // MARK: helpers

    /// A constant 2-D matrix as an engine weight [rows, columns], transposed when asked.
    private func matrix(_ c: Constant, transposed: Bool, op: NodeContext) throws -> Tensor {
        let v = try c.floatValues("\(op.label) matrix")
        let (r, k) = (c.dims[0], c.dims[1])
        guard transposed else { return Tensor(shape: [r, k], data: v) }
        return Tensor(shape: [k, r]) { out in
            for i in 0..<r { for j in 0..<k { out[j * r + i] = v[i * k + j] } }
        }
    }

    private struct Window {
        /// The layer's window: each axis padded on both sides by the smaller of its two pads.
        let layer: Window2D
        /// Padding beyond the layer's on top, left, bottom and right (all zero for pads equal on each axis).
        let extra: [Int]
        let outHeight: Int, outWidth: Int
        var isSymmetric: Bool { extra.allSatisfy { $0 == 0 } }
    }

    /// `x` zero-padded by the window's extra amounts (`x` itself when the pads are symmetric), for layer `name`.
    private mutating func padded(_ x: Runtime, _ window: Window, for name: String) -> Runtime {
        guard !window.isSymmetric else { return x }
        let e = window.extra
        var padName = name + ".pad"
        while layerNames.contains(padName) { padName += "_" }
        layerNames.insert(padName)
        let pad = ZeroPad(name: padName, top: e[0], left: e[1], bottom: e[2], right: e[3])
        let shape = [x.shape[0], x.shape[1] + e[0] + e[2], x.shape[2] + e[1] + e[3]]
        return Runtime(node: graph.add(pad, x.node), shape: shape, engineShape: shape)
    }

    /// Strides, pads, dilations and auto_pad of a convolution or pooling window of `kernel` (height, width): the
    /// layer's window, padded equally on both sides of each axis, and what a `ZeroPad` in front adds. `dilations`:
    /// whether the op may dilate its window (anything else is refused by name).
    private func windowAttributes(_ op: NodeContext, kernel: (height: Int, width: Int), input: [Int],
                                  dilations allowsDilation: Bool) throws -> Window {
        let strides = try op.ints("strides")?.map(Int.init) ?? [1, 1]
        guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }) else {
            throw op.unsupported("strides \(strides): expected two positive values (height, width)")
        }
        let dilations = try op.ints("dilations")?.map(Int.init) ?? [1, 1]
        guard dilations.count == 2, dilations.allSatisfy({ $0 >= 1 }) else {
            throw op.unsupported("dilations \(dilations): expected two positive values (height, width)")
        }
        if !allowsDilation && dilations != [1, 1] {
            throw op.unsupported("dilations \(dilations): only MaxPool and Conv windows may be dilated")
        }
        guard kernel.height >= 1, kernel.width >= 1 else {
            throw op.unsupported("kernel \(kernel.height)x\(kernel.width) must be at least 1x1")
        }
        let kernels = [kernel.height, kernel.width]
        let spans = (0..<2).map { (kernels[$0] - 1) * dilations[$0] + 1 }
        var pads = try op.ints("pads")?.map(Int.init) ?? [0, 0, 0, 0]
        let autoPad = try op.string("auto_pad", default: "NOTSET")
        switch autoPad {
        case "NOTSET": break
        case "VALID": pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            // As the ONNX specification (and onnx.reference) has it: out = ceil(size / stride), the total pad from the
            // dilated span. (onnxruntime refuses dilated SAME convolutions, and its dilated SAME max pools pad for
            // the undilated kernel.)
            pads = (0..<2).flatMap { axis -> [Int] in
                let size = input[axis + 1], stride = strides[axis], out = (size + stride - 1) / stride
                let total = max(0, (out - 1) * stride + spans[axis] - size)
                let small = total / 2, large = total - small
                return autoPad == "SAME_UPPER" ? [small, large] : [large, small]
            }
            pads = [pads[0], pads[2], pads[1], pads[3]]
        default: throw op.unsupported("auto_pad '\(autoPad)' is not an ONNX value")
        }
        guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else {
            throw op.unsupported("pads \(pads): expected four non-negative values (top, left, bottom, right)")
        }
        // Each axis pads both sides by its smaller pad; a ZeroPad in front adds the rest.
        let axisPads = [min(pads[0], pads[2]), min(pads[1], pads[3])]
        let extra = [pads[0] - axisPads[0], pads[1] - axisPads[1], pads[2] - axisPads[0], pads[3] - axisPads[1]]
        let axes = (0..<2).map {
            WindowAxis(kernel: kernels[$0], stride: strides[$0], dilation: dilations[$0], padding: axisPads[$0])
        }
        let layer = Window2D(height: axes[0], width: axes[1])
        let (height, width) = (input[1] + extra[0] + extra[2], input[2] + extra[1] + extra[3])
        guard layer.height.fits(height), layer.width.fits(width) else {
            throw op.unsupported("window \(layer) does not fit input \(input[1])x\(input[2]) with pads \(pads)")
        }
        let out = layer.outputs(height: height, width: width)
        return Window(layer: layer, extra: extra, outHeight: out.height, outWidth: out.width)
    }

    private mutating func add(_ layer: Layer, _ op: NodeContext, from x: Runtime) throws -> Runtime {
        return x.at(graph.add(layer, x.node))
    }

    private mutating func setOutput(_ op: NodeContext, _ value: Runtime) throws {
        guard let out = op.node.outputs.first, !out.isEmpty else { throw op.unsupported("has no output") }
        values[out] = .runtime(value)
    }

    /// A unique layer name from the node's name (`op_index` when the node has none).
    private mutating func layerName(_ op: NodeContext) throws -> String {
        var name = op.label, suffix = 2
        while layerNames.contains(name) {
            name = "\(op.label)_\(suffix)"
            suffix += 1
        }
        layerNames.insert(name)
        return name
    }

    func value(_ op: NodeContext, _ i: Int) throws -> Value {
        guard op.has(i) else { throw op.unsupported("input \(i) is missing") }
        let name = op.node.inputs[i]
        guard let v = values[name] else {
            throw OnnxImportError.invalidGraph("node '\(op.label)' reads '\(name)', which no earlier node or initializer defines")
        }
        return v
    }

    private func runtime(_ op: NodeContext, _ i: Int) throws -> Runtime {
        guard case .runtime(let r) = try value(op, i) else {
            throw op.unsupported("input \(i) ('\(op.node.inputs[i])') is a constant; expected the image's tensor")
        }
        return r
    }

    /// A runtime input that is an [N, C, H, W] feature map in the engine as in ONNX.
    private func featureMap(_ op: NodeContext, _ i: Int) throws -> Runtime {
        let x = try runtime(op, i)
        guard x.shape.count == 3 else {
            throw op.unsupported("input of shape [batch, \(x.shape.map(String.init).joined(separator: ", "))] is not a feature map")
        }
        guard !x.channelsLast else {
            throw op.unsupported("input is NHWC ([batch, \(x.shape.map(String.init).joined(separator: ", "))]): only a "
                                 + "Transpose to NCHW, a flatten or a mean over height and width may read it")
        }
        guard x.engineShape == x.shape else {
            throw op.unsupported("input of shape \(x.shape) is a flattened tensor in the engine")
        }
        return x
    }

    /// A node's `axes`: its attribute before `opset`, its second input (a constant) from `opset` on; nil when absent.
    private func axesOperand(_ op: NodeContext, inputFrom opset: Int) throws -> [Int64]? {
        if op.opset < opset { return try op.ints("axes") }
        return op.has(1) ? try constantInput(op, 1, "axes").intValues("\(op.label) axes") : nil
    }

    func constantInput(_ op: NodeContext, _ i: Int, _ role: String) throws -> Constant {
        guard case .constant(let c) = try value(op, i) else {
            throw op.unsupported("\(role) ('\(op.node.inputs[i])') must be an initializer or constant")
        }
        return c
    }

    private func scalar(_ op: NodeContext, _ i: Int, _ role: String) throws -> Float {
        let v = try constantInput(op, i, role).floatValues("\(op.label) \(role)")
        guard v.count == 1 else { throw op.unsupported("\(role) has \(v.count) values, expected a scalar") }
        return v[0]
    }

    private func describe(_ v: Int64) -> String { v == Self.batchDimension ? "batch" : String(v) }

    // MARK: initializers

    mutating func constant(_ t: OnnxFile.TensorData) throws -> Constant {
        let dims = t.dims.map(Int.init)
        guard dims.allSatisfy({ $0 >= 0 }) else { throw OnnxImportError.invalidTensor(name: t.name, reason: "negative dims \(t.dims)") }
        let count = dims.reduce(1, *)
        let raw: ArraySlice<UInt8>? = t.isExternal ? try externalBytes(t) : t.rawData
        func checked<T>(_ values: [T]) throws -> [T] {
            guard values.count == count else {
                throw OnnxImportError.invalidTensor(name: t.name, reason: "\(values.count) values for shape \(dims)")
            }
            return values
        }
        typealias DT = OnnxFile.TensorData.DataType
        switch DT(rawValue: t.dataType) {
        case .float:
            return Constant(dims: dims, ints: nil, floats: try checked(raw.map(littleEndianFloats) ?? t.floatData))
        case .double:
            let doubles = try raw.map { r -> [Double] in
                guard r.count % 8 == 0 else { throw OnnxImportError.invalidTensor(name: t.name, reason: "raw data not whole doubles") }
                return stride(from: r.startIndex, to: r.endIndex, by: 8).map { Double(bitPattern: UInt64(littleEndianBytes: r[$0..<$0 + 8])) }
            } ?? t.doubleData
            return Constant(dims: dims, ints: nil, floats: try checked(doubles.map(Float.init)))
        case .int64:
            let ints = raw.map { r in stride(from: r.startIndex, to: r.endIndex - 7, by: 8).map {
                Int64(bitPattern: UInt64(littleEndianBytes: r[$0..<$0 + 8])) } } ?? t.int64Data
            return Constant(dims: dims, ints: try checked(ints), floats: nil)
        case .int32:
            let ints = raw.map { r in stride(from: r.startIndex, to: r.endIndex - 3, by: 4).map {
                Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: UInt64(littleEndianBytes: r[$0..<$0 + 4])))) } } ?? t.int32Data
            return Constant(dims: dims, ints: try checked(ints), floats: nil)
        default:
            // Kept lazily: only a node that reads it fails, naming the type.
            return Constant(dims: dims, ints: nil, floats: nil)
        }
    }

    private mutating func externalBytes(_ t: OnnxFile.TensorData) throws -> ArraySlice<UInt8> {
        guard let location = t.externalData["location"], !location.isEmpty else {
            throw OnnxImportError.invalidTensor(name: t.name, reason: "external data without a location")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw OnnxImportError.invalidTensor(name: t.name, reason: "external location '\(location)' leaves the model's directory")
        }
        let url = directory.appendingPathComponent(location)
        if externalFiles[location] == nil {
            do { externalFiles[location] = try Data(contentsOf: url) } catch {
                throw OnnxImportError.invalidTensor(name: t.name, reason: "cannot read external data \(url.path): \(error.localizedDescription)")
            }
        }
        let data = externalFiles[location]!
        let offset = Int(t.externalData["offset"] ?? "0") ?? -1
        let length = t.externalData["length"].map { Int($0) ?? -1 } ?? (data.count - max(offset, 0))
        guard offset >= 0, length >= 0, offset + length <= data.count else {
            throw OnnxImportError.invalidTensor(name: t.name, reason: "external range offset \(t.externalData["offset"] ?? "0"), "
                + "length \(t.externalData["length"] ?? "-") is outside \(url.path) (\(data.count) bytes)")
        }
        return [UInt8](data[data.startIndex + offset..<data.startIndex + offset + length])[...]
    }
}

extension OnnxImporter.Value {
    var isRuntime: Bool { if case .runtime = self { return true } else { return false } }
}

/// One node under translation: its attributes typed, errors naming it.
struct NodeContext {
    let node: OnnxFile.Node
    let label: String
    let opset: Int64

    func has(_ i: Int) -> Bool { i < node.inputs.count && !node.inputs[i].isEmpty }

    func unsupported(_ reason: String) -> OnnxImportError {
        .unsupportedUse(op: node.opType, node: label, opset: opset, reason: reason)
    }

    func int(_ name: String, default value: Int64) throws -> Int64 {
        switch node.attributes[name] {
        case nil: return value
        case .int(let v)?: return v
        default: throw unsupported("attribute \(name) is not an integer")
        }
    }

    func float(_ name: String, default value: Float) throws -> Float {
        switch node.attributes[name] {
        case nil: return value
        case .float(let v)?: return v
        default: throw unsupported("attribute \(name) is not a float")
        }
    }

    func ints(_ name: String) throws -> [Int64]? {
        switch node.attributes[name] {
        case nil: return nil
        case .ints(let v)?: return v
        default: throw unsupported("attribute \(name) is not a list of integers")
        }
    }

    func string(_ name: String, default value: String) throws -> String {
        switch node.attributes[name] {
        case nil: return value
        case .string(let v)?: return v
        default: throw unsupported("attribute \(name) is not a string")
        }
    }
}
