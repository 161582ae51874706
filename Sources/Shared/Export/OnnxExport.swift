import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor

/// Why a model could not be exported.
public enum OnnxExportError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A layer type the exporter has no ONNX translation for.
    case unsupportedLayer(name: String, type: String)
    /// A bit-width QuantizeLinear/DequantizeLinear at opset 13 (int8/uint8) cannot carry.
    case unsupportedBits(layer: String, bits: Int)
    /// Writing the file failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unsupportedLayer(name, type): return "cannot export layer \(name): no ONNX translation for \(type)"
        case let .unsupportedBits(layer, bits):
            return "cannot export \(layer): \(bits)-bit quantization does not fit int8/uint8 (bit-widths 2...8 export)"
        case let .io(path, reason): return "cannot write \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// ONNX export of a (compressed) network, opset 13, as the engine computes it in eval mode.
///
/// The graph, for input `image` (float32 `[batch, C, H, W]`, pixels in [0, 1]) and output `logits`
/// (float32 `[batch, classes]`):
///
/// - **Normalization** inside the graph: `Sub(image, 0.2860)` then `Div(., 0.3530)` (Fashion-MNIST's mean and std,
///   the same float32 operations `FashionMNIST.normalizedPixel` performs).
/// - **Batch norm folded** into the convolution before it (`Graph.foldingBatchNorm()`: W' = W * s, b' = b * s + t);
///   folding scales each output channel's weight clip by |s|, so the folded conv's weight quantizer carries the
///   per-channel scales the ONNX weights need. A batch norm that cannot fold becomes `Mul` + `Add` per channel.
/// - **Pruned channels** are simply absent: the pruned model's tensors already have them removed.
/// - **Quantized weights** (a layer with a `WeightQuantizer` of b bits, clip c_o per output channel):
///   an int8 initializer `<layer>.weight_quantized` holding q = round_half_even(clamp(w, -c_o, c_o) / s_o) in
///   [-(2^(b-1)-1), 2^(b-1)-1], per-channel scale `<layer>.weight_scale` s_o = c_o / (2^(b-1)-1) (axis 0; 1 for a
///   channel whose clip is 0, whose q are all 0), int8 zero points 0, and a `DequantizeLinear(axis=0)` feeding
///   `Conv` / `Gemm`. q * s_o is bit-for-bit the engine's `effectiveWeight`.
/// - **Biases** of those layers are a separate `Add` after the bias-less `Conv` / `Gemm` (shape [C, 1, 1] / [C]), the
///   order in which the engine adds them too. A float bias input next to dequantized input and weights invites
///   onnxruntime's WeightBiasQuantization to round the bias to the grid input scale x weight scale (measured: at 2-4
///   bits that moved mobilenetv2-tiny's logits by 13% of their scale, 63 of 100 predictions agreeing), and an int32
///   bias DequantizeLinear of any other scale is fused into QGemm as if its scale were that product; a separate Add is
///   left as written. `Options.biasAsAdd = false` writes the bias as the layer's third input instead (onnxruntime
///   may then run 8-bit convolutions as int8 QLinearConv: faster on CPU, no longer the engine's function).
/// - **Quantized activations** (PACT `ActivationQuantizer`, b bits, clip a = max(alpha, 1e-6)): QuantizeLinear alone
///   saturates to the full 8-bit range and cannot express a b-bit clip, so each becomes three nodes:
///   `Clip(x, lo, a)` -> `QuantizeLinear(scale s, zero point 0)` -> `DequantizeLinear(s, 0)`, where
///   unsigned (after a ReLU): lo = 0, s = a / (2^b - 1), zero point uint8 0, integers in [0, 2^b - 1];
///   signed (the image, linear bottlenecks): lo = -a, s = a / (2^(b-1) - 1), zero point int8 0, integers in
///   [-(2^(b-1)-1), 2^(b-1)-1]. QuantizeLinear rounds half to even, as the engine does. (At 8 bits unsigned the
///   Clip is redundant with uint8 saturation; it is kept so every bit-width has the same shape.)
/// - ReLU -> `Relu`, ReLU6 -> `Clip(0, 6)`, residual `Add`, `MaxPool`, `AveragePool` (the layer's
///   count_include_pad; pads unequal on an axis as imported), global average pooling -> `GlobalAveragePool` +
///   `Flatten`, the classifier -> `Gemm(transB=1)`, a per-channel affine (an imported graph's constant arithmetic)
///   -> `Mul` + `Add` of [C, 1, 1] constants.
/// - An imported model whose file ended in Softmax (`Model.outputActivation`) ends in `Softmax(axis=1)` again, and
///   its output is `probabilities` instead of `logits`, as the original file returned them.
///
/// The ONNX graph therefore computes the engine's fake-quantized float forward of the folded graph; the only
/// differences are float summation order (and, in rare ties, x / s versus x * (1 / s) before rounding).
public enum OnnxExport {
    /// The opset the graph is written for.
    public static let opset = 13
    /// Name of the graph input.
    public static let inputName = "image"
    /// Name of the graph output.
    public static let outputName = "logits"
    /// Name of the graph output of a model whose file ended in Softmax (`OutputActivation.softmax`).
    public static let probabilitiesName = "probabilities"

    /// How the graph is written.
    public struct Options: Sendable {
        /// Applied to the [0, 1] input inside the graph as (x - mean) / std; nil: the graph takes normalized input.
        public var normalization: (mean: Float, std: Float)? = (FashionMNIST.mean, FashionMNIST.std)
        /// Add the bias of a layer with quantized weights as a separate `Add` node (see the type's documentation).
        public var biasAsAdd = true

        public init(normalization: (mean: Float, std: Float)? = (FashionMNIST.mean, FashionMNIST.std), biasAsAdd: Bool = true) {
            self.normalization = normalization
            self.biasAsAdd = biasAsAdd
        }
    }

    /// The ONNX model of `model` (eval mode, batch norm folded); `metadata` goes to the model's metadata_props.
    ///
    /// `options` choose the input normalization and how biases are written.
    public static func modelProto(_ model: Model, metadata: [String: String] = [:], options: Options = Options())
        throws -> Onnx.ModelProto {
        // An imported model keeps its own input: its name, and its convention (whatever normalization its graph
        // expects happens outside it or inside it already); zoo networks take [0, 1] pixels normalized here.
        let inputName = model.inputName ?? Self.inputName
        let normalization = model.inputName == nil ? options.normalization : nil
        let folded = model.graph.foldingBatchNorm()
        // A model whose file ends in Softmax returns probabilities again: the logits feed a Softmax over the classes.
        let finalName = model.outputActivation == .softmax ? probabilitiesName : outputName
        var b = Builder(graph: Onnx.GraphProto(name: model.name))
        let batchDim = Onnx.ValueInfoProto.Dimension.param("batch")
        b.graph.inputs = [Onnx.ValueInfoProto(name: inputName, elementType: .float,
                                              shape: [batchDim] + model.userInputShape.map { .value($0) })]
        var input = inputName
        if model.inputLayout == .nhwc {
            // The user's NHWC input (a Keras model's, through tf2onnx), transposed as their own graph did.
            b.node("input.nchw", "Transpose", [inputName], ["input.nchw"], [.init("perm", .ints([0, 3, 1, 2]))])
            input = "input.nchw"
        }
        if let norm = normalization {
            b.scalar("input.mean", norm.mean)
            b.scalar("input.std", norm.std)
            b.node("input.sub", "Sub", [inputName, "input.mean"], ["input.centered"])
            b.node("input.div", "Div", ["input.centered", "input.std"], ["input.normalized"])
            input = "input.normalized"
        }

        var values = [Graph.NodeID: String](), ranks = [Graph.NodeID: Int]()
        func value(_ id: Graph.NodeID) -> String { id == Graph.input ? input : values[id]! }
        func rank(_ id: Graph.NodeID) -> Int { id == Graph.input ? 1 + model.inputShape.count : ranks[id]! }

        for id in folded.topologicalOrder {
            let node = folded.nodes[id]
            let layer = node.layer
            let name = layer.name
            let out = id == folded.output ? outputName : name
            let x = node.inputs.first.map(value) ?? input
            var outRank = node.inputs.first.map(rank) ?? 4
            switch layer {
            case let c as Conv2D:
                let w = try b.weight(name, c.weight.value, quantizer: c.weightQuantizer)
                let separate = c.bias != nil && c.weightQuantizer != nil && options.biasAsAdd
                var ins = [x, w]
                if let bias = c.bias, !separate {
                    b.tensor(.float(name + ".bias", dims: [c.outChannels], bias.value.data))
                    ins.append(name + ".bias")
                }
                if let bias = c.bias, separate {
                    b.tensor(.float(name + ".bias", dims: [c.outChannels, 1, 1], bias.value.data))
                }
                b.node(name, "Conv", ins, [separate ? name + ".unbiased" : out], [
                    .init("group", .int(c.groups)),
                ] + Self.windowAttributes(c.window))
                if separate { b.node(name + ".add_bias", "Add", [name + ".unbiased", name + ".bias"], [out]) }
            case let l as Linear:
                var flat = x
                if outRank != 2 {
                    flat = name + ".flattened"
                    b.node(name + ".flatten", "Flatten", [x], [flat], [.init("axis", .int(1))])
                }
                let w = try b.weight(name, l.weight.value, quantizer: l.weightQuantizer)
                b.tensor(.float(name + ".bias", dims: [l.outFeatures], l.bias.value.data))
                if l.weightQuantizer != nil && options.biasAsAdd {
                    b.node(name, "Gemm", [flat, w], [name + ".unbiased"], [.init("transB", .int(1))])
                    b.node(name + ".add_bias", "Add", [name + ".unbiased", name + ".bias"], [out])
                } else {
                    b.node(name, "Gemm", [flat, w, name + ".bias"], [out], [.init("transB", .int(1))])
                }
                outRank = 2
            case let q as ActivationQuantizer:
                guard q.bits <= 8 else { throw OnnxExportError.unsupportedBits(layer: name, bits: q.bits) }
                let a = max(q.alpha.value.data[0], 1e-6)
                let scale = a / q.levels
                b.scalar(name + ".clip_min", q.signed ? -a : 0)
                b.scalar(name + ".clip_max", a)
                b.scalar(name + ".scale", scale)
                if q.signed {
                    b.tensor(.int8(name + ".zero_point", dims: [], [0]))
                } else {
                    b.tensor(.uint8(name + ".zero_point", dims: [], [0]))
                }
                b.node(name + ".clip", "Clip", [x, name + ".clip_min", name + ".clip_max"], [name + ".clipped"])
                b.node(name + ".quantize", "QuantizeLinear", [name + ".clipped", name + ".scale", name + ".zero_point"],
                       [name + ".quantized"])
                b.node(name + ".dequantize", "DequantizeLinear", [name + ".quantized", name + ".scale", name + ".zero_point"],
                       [out])
            case let r as ReLU:
                if let cap = r.cap {
                    b.scalar(name + ".min", 0)
                    b.scalar(name + ".max", cap)
                    b.node(name, "Clip", [x, name + ".min", name + ".max"], [out])
                } else {
                    b.node(name, "Relu", [x], [out])
                }
            case let bn as BatchNorm2D:
                // Only a batch norm that does not follow a conv (or shares its conv's output) is left unfolded.
                let (scale, shift) = bn.inferenceAffine()
                let dims = [bn.channels] + Array(repeating: 1, count: max(0, outRank - 2))
                b.tensor(.float(name + ".scale", dims: dims, scale))
                b.tensor(.float(name + ".shift", dims: dims, shift))
                b.node(name + ".mul", "Mul", [x, name + ".scale"], [name + ".scaled"])
                b.node(name, "Add", [name + ".scaled", name + ".shift"], [out])
            case let affine as ChannelAffine:
                let dims = [affine.channels] + Array(repeating: 1, count: max(0, outRank - 2))
                b.tensor(.float(name + ".scale", dims: dims, affine.scale.value.data))
                b.tensor(.float(name + ".shift", dims: dims, affine.shift.value.data))
                b.node(name + ".mul", "Mul", [x, name + ".scale"], [name + ".scaled"])
                b.node(name, "Add", [name + ".scaled", name + ".shift"], [out])
            case is Add:
                b.node(name, "Add", node.inputs.map(value), [out])
            case is Multiply:
                guard node.inputs.map(rank).allSatisfy({ $0 == outRank }) else {
                    throw OnnxExportError.unsupportedLayer(name: name, type: "Multiply of tensors of different ranks")
                }
                b.node(name, "Mul", node.inputs.map(value), [out])
            case let pad as ZeroPad:
                b.tensor(.int64(name + ".pads", dims: [8], [0, pad.channelsBefore, pad.top, pad.left,
                                                            0, pad.channelsAfter, pad.bottom, pad.right].map(Int64.init)))
                b.node(name, "Pad", [x, name + ".pads"], [out])
            case let slice as SpatialSlice:
                let (r, c) = (slice.rows, slice.columns)
                b.tensor(.int64(name + ".starts", dims: [2], [Int64(r.start), Int64(c.start)]))
                b.tensor(.int64(name + ".ends", dims: [2], [Int64(r.end), Int64(c.end)]))
                b.tensor(.int64(name + ".axes", dims: [2], [2, 3]))
                b.tensor(.int64(name + ".steps", dims: [2], [Int64(r.step), Int64(c.step)]))
                b.node(name, "Slice", [x, name + ".starts", name + ".ends", name + ".axes", name + ".steps"], [out])
            case is ChannelConcat:
                b.node(name, "Concat", node.inputs.map(value), [out], [.init("axis", .int(1))])
            case let p as Pointwise:
                switch p.function {
                case .sigmoid: b.node(name, "Sigmoid", [x], [out])
                case let .hardSigmoid(alpha, beta):
                    b.node(name, "HardSigmoid", [x], [out], [.init("alpha", .float(alpha)), .init("beta", .float(beta))])
                case .hardSwish:
                    // HardSwish is opset 14; at opset 13 it is x * HardSigmoid(x) with PyTorch's alpha and beta.
                    b.node(name + ".gate", "HardSigmoid", [x], [name + ".gated"],
                           [.init("alpha", .float(1 / 6)), .init("beta", .float(0.5))])
                    b.node(name, "Mul", [x, name + ".gated"], [out])
                case let .leakyRelu(alpha): b.node(name, "LeakyRelu", [x], [out], [.init("alpha", .float(alpha))])
                case let .clip(low, high):
                    b.scalar(name + ".min", low)
                    b.scalar(name + ".max", high)
                    b.node(name, "Clip", [x, name + ".min", name + ".max"], [out])
                }
            case let p as MaxPool2D:
                b.node(name, "MaxPool", [x], [out], Self.windowAttributes(p.window, margins: p.margins)
                           + [.init("ceil_mode", .int(p.ceilMode ? 1 : 0))])
            case let p as AvgPool2D:
                // AveragePool has dilations from opset 19 on.
                guard p.window.height.dilation == 1 && p.window.width.dilation == 1 else {
                    throw OnnxExportError.unsupportedLayer(name: name, type: "AvgPool2D with dilations at opset \(Self.opset)")
                }
                b.node(name, "AveragePool", [x], [out],
                       Self.windowAttributes(p.window, margins: p.margins).filter { $0.name != "dilations" }
                           + [.init("count_include_pad", .int(p.countsPadding ? 1 : 0)),
                              .init("ceil_mode", .int(p.ceilMode ? 1 : 0))])
            case let pool as GlobalAvgPool where pool.keepsDimensions:
                b.node(name, "GlobalAveragePool", [x], [out])
            case is GlobalAvgPool:
                b.node(name, "GlobalAveragePool", [x], [name + ".pooled"])
                b.node(name + ".flatten", "Flatten", [name + ".pooled"], [out], [.init("axis", .int(1))])
                outRank = 2
            default:
                throw OnnxExportError.unsupportedLayer(name: name, type: String(describing: type(of: layer)))
            }
            values[id] = out
            ranks[id] = outRank
        }
        guard folded.output != Graph.input else {
            throw OnnxExportError.unsupportedLayer(name: model.name, type: "a graph without layers")
        }
        switch model.outputActivation {
        case .none: break
        case .softmax:
            guard rank(folded.output) == 2 else {
                throw OnnxExportError.unsupportedLayer(name: model.name, type: "a softmax over an output of rank \(rank(folded.output))")
            }
            b.node("output.softmax", "Softmax", [outputName], [finalName], [.init("axis", .int(1))])
        }
        b.graph.outputs = [Onnx.ValueInfoProto(name: finalName, elementType: .float,
                                               shape: rank(folded.output) == 2 ? [batchDim, .value(model.classes)]
                                                   : [batchDim] + Array(repeating: .param("d"), count: rank(folded.output) - 1))]
        b.graph.docString = "Seer export of \(model.name): batch norm folded, quantization as QuantizeLinear/DequantizeLinear"
        var proto = Onnx.ModelProto(graph: b.graph)
        proto.opsetImports = [("", opset)]
        var meta = metadata
        meta["seer.model"] = model.name
        meta["seer.input"] = "\(inputName): float32 [batch, \(model.userInputShape.map(String.init).joined(separator: ", "))] "
            + "(\(model.inputLayout == .nhwc ? "NHWC" : "NCHW")), "
            + (normalization.map { "pixels in [0, 1], normalized in the graph as (x - \($0.mean)) / \($0.std)" }
               ?? "already normalized")
        // For runtimes feeding the graph images: NCHW, or NHWC for a Keras model imported from tf2onnx.
        meta["seer.input_layout"] = model.inputLayout.rawValue
        meta["seer.output"] = "\(finalName): float32 [batch, \(model.classes)]"
            + (model.outputActivation == .softmax ? " (the softmax of the logits)" : "")
        proto.metadata = meta
        return proto
    }

    /// kernel_shape, pads (top, left, bottom, right; a pool's margins added), strides and dilations of a convolution
    /// or pooling window.
    static func windowAttributes(_ window: Window2D, margins m: PoolMargins = .none) -> [Onnx.AttributeProto] {
        let h = window.height, w = window.width
        return [
            .init("kernel_shape", .ints([h.kernel, w.kernel])),
            .init("pads", .ints([h.padding + m.top, w.padding + m.left, h.padding + m.bottom, w.padding + m.right])),
            .init("strides", .ints([h.stride, w.stride])),
            .init("dilations", .ints([h.dilation, w.dilation])),
        ]
    }

    /// The serialized ONNX model of `model` (what `export` writes).
    public static func serialize(_ model: Model, metadata: [String: String] = [:], options: Options = Options()) throws -> Data {
        try modelProto(model, metadata: metadata, options: options).serialized()
    }

    /// Writes `model` as ONNX to `url`, replacing it atomically.
    public static func export(model: Model, to url: URL) throws {
        try export(model: model, to: url, metadata: [:])
    }

    /// Writes `model` as ONNX to `url` with extra metadata_props, replacing it atomically.
    public static func export(model: Model, to url: URL, metadata: [String: String]) throws {
        try writeAtomically(try serialize(model, metadata: metadata), to: url)
    }

    /// Compresses `base` under `policy` as `seer-agent evaluate` does (`PolicyEvaluation.compress`: prune, quantize,
    /// calibrate, fine-tune `settings.finetuneSteps` steps with `settings.seed`), writes the result as ONNX to `url`
    /// with the policy and settings in its metadata, and returns the compressed network (BN unfolded).
    @discardableResult
    public static func exportPolicy(base: Model, policy: ResolvedPolicy, settings: EvaluationSettings, data: Dataset,
                                    to url: URL, progress: ((Int, Int) -> Void)? = nil) throws -> Model {
        let (model, _) = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings,
                                                       progress: progress)
        try export(model: model, to: url, metadata: try provenance(policy: policy, settings: settings))
        return model
    }

    /// metadata_props describing how a compressed model was made: `seer.policy` (resolved policy JSON),
    /// `seer.finetune_steps`, `seer.seed`, the quantizers' `seer.calibration_images`, and fine-tuning's
    /// `seer.learning_rate`, `seer.batch_size`, `seer.weight_decay`.
    public static func provenance(policy: ResolvedPolicy, settings: EvaluationSettings) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ["seer.policy": String(decoding: try encoder.encode(policy), as: UTF8.self),
                "seer.finetune_steps": String(settings.finetuneSteps), "seer.seed": String(settings.seed),
                "seer.learning_rate": "\(settings.learningRate)", "seer.batch_size": String(settings.batchSize),
                "seer.weight_decay": "\(settings.weightDecay)", "seer.calibration_images": String(settings.calibrationImages)]
    }

    static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary, options: .withoutOverwriting)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw OnnxExportError.io(path: url.path, reason: error.localizedDescription)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw OnnxExportError.io(path: url.path, reason: "cannot rename \(temporary.path) into place: \(reason)")
        }
    }

    /// Quantized weights as the exporter stores them: int8 levels and per-output-channel scales whose product is
    /// bit-for-bit `WeightQuantizer.quantize(weight)`.
    public static func quantizedWeights(_ weight: Tensor, _ quantizer: WeightQuantizer) -> (levels: [Int8], scales: [Float]) {
        let out = weight.shape[0], per = weight.count / out
        precondition(quantizer.clips.count == out, "quantizer has \(quantizer.clips.count) channels, weight has \(out)")
        let top = quantizer.levels
        var levels = [Int8](repeating: 0, count: weight.count)
        var scales = [Float](repeating: 1, count: out)
        for o in 0..<out {
            let clip = quantizer.clips[o]
            guard clip > 0 else { continue }  // the engine zeroes the channel; q = 0 with any scale does too
            let scale = clip / top, inv = top / clip  // the engine's two factors, computed the same way
            scales[o] = scale
            for i in 0..<per {
                let v = min(max(weight.data[o * per + i], -clip), clip)
                levels[o * per + i] = Int8((v * inv).rounded(.toNearestOrEven))
            }
        }
        return (levels, scales)
    }
}

/// Accumulates nodes and initializers with unique names.
private struct Builder {
    var graph: Onnx.GraphProto

    mutating func tensor(_ t: Onnx.TensorProto) { graph.initializers.append(t) }

    mutating func scalar(_ name: String, _ value: Float) { tensor(.float(name, dims: [], [value])) }

    mutating func node(_ name: String, _ op: String, _ inputs: [String], _ outputs: [String],
                       _ attributes: [Onnx.AttributeProto] = []) {
        graph.nodes.append(Onnx.NodeProto(name: name, opType: op, inputs: inputs, outputs: outputs, attributes: attributes))
    }

    /// The name of the weight value a Conv/Gemm consumes: the float initializer, or the output of a per-channel
    /// DequantizeLinear of int8 levels.
    mutating func weight(_ layer: String, _ w: Tensor, quantizer: WeightQuantizer?) throws -> String {
        guard let q = quantizer else {
            tensor(.float(layer + ".weight", dims: w.shape, w.data))
            return layer + ".weight"
        }
        guard q.bits <= 8 else { throw OnnxExportError.unsupportedBits(layer: layer, bits: q.bits) }
        let (levels, scales) = OnnxExport.quantizedWeights(w, q)
        tensor(.int8(layer + ".weight_quantized", dims: w.shape, levels))
        tensor(.float(layer + ".weight_scale", dims: [scales.count], scales))
        tensor(.int8(layer + ".weight_zero_point", dims: [scales.count], Array(repeating: 0, count: scales.count)))
        node(layer + ".weight_dequantize", "DequantizeLinear",
             [layer + ".weight_quantized", layer + ".weight_scale", layer + ".weight_zero_point"],
             [layer + ".weight_dequantized"], [.init("axis", .int(0))])
        return layer + ".weight_dequantized"
    }
}
