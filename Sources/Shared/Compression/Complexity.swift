import Foundation
import SeerEngine
import SeerModels

/// Why a model's layer shapes cannot be derived.
public enum ComplexityError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    case invalidShape(layer: String, reason: String)

    public var description: String {
        switch self {
        case .invalidShape(let layer, let reason): return "\(layer): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// Cost of one compressible layer of the pruned, quantized network.
public struct LayerComplexity: Codable, Hashable, Sendable {
    public let name: String
    public let kind: CompressibleLayer.Kind
    public let inChannels: Int, keptInChannels: Int
    public let outChannels: Int, keptOutChannels: Int
    /// The convolution's window per axis (1 for a linear layer), as ONNX's kernel_shape, strides and dilations.
    public let kernelHeight: Int, kernelWidth: Int
    public let strideHeight: Int, strideWidth: Int
    public let dilationHeight: Int, dilationWidth: Int
    /// Convolution groups after pruning (a depthwise layer has one per kept channel).
    public let groups: Int
    public let outHeight: Int, outWidth: Int
    public let wbits: Int, abits: Int
    /// The layer's own ratio from the policy; `keptOutChannels` is what the tied group keeps.
    public let prune: Double
    public let macs: Int
    /// MACs x wbits x abits (SeerNet).
    public let bitops: Int
    public let weights: Int, biases: Int
    public let params: Int
    /// Weights at `wbits`, rounded up to whole bytes, plus 4 bytes per bias.
    public let sizeBytes: Int

    enum CodingKeys: String, CodingKey {
        case name, kind, groups, wbits, abits, prune, macs, bitops, weights, biases, params
        case inChannels = "in_channels", keptInChannels = "kept_in_channels"
        case outChannels = "out_channels", keptOutChannels = "kept_out_channels"
        case outHeight = "out_height", outWidth = "out_width", sizeBytes = "size_bytes"
        case kernelHeight = "kernel_height", kernelWidth = "kernel_width"
        case strideHeight = "stride_height", strideWidth = "stride_width"
        case dilationHeight = "dilation_height", dilationWidth = "dilation_width"
    }

    /// Kernel taps per input channel: kernel height x width.
    public var kernelArea: Int { kernelHeight * kernelWidth }

    /// Input rows and columns the outputs read (padding counted as read): (out - 1) x stride + the dilated kernel.
    public var inputExtent: (height: Int, width: Int) {
        ((outHeight - 1) * strideHeight + (kernelHeight - 1) * dilationHeight + 1,
         (outWidth - 1) * strideWidth + (kernelWidth - 1) * dilationWidth + 1)
    }
}

/// MACs, BitOPs, parameters and size of a model under a policy.
public struct ComplexityReport: Codable, Hashable, Sendable {
    public let model: String
    /// [channels, height, width] of one input image.
    public let inputShape: [Int]
    public let macs: Int
    public let bitops: Int
    /// Conv and linear weights and biases of the pruned network.
    public let params: Int
    /// Batch-norm scale and shift of the kept channels, counted apart from `params`.
    public let batchNormParams: Int
    /// Every layer's `sizeBytes` plus 4 bytes per batch-norm parameter.
    public let sizeBytes: Int
    public let layers: [LayerComplexity]

    enum CodingKeys: String, CodingKey {
        case model, macs, bitops, params, layers
        case inputShape = "input_shape", batchNormParams = "batchnorm_params", sizeBytes = "size_bytes"
    }

    /// The report as pretty-printed JSON with sorted keys (`macs`, `bitops`, `params`, `size_bytes`, `layers`, ...).
    public func jsonString() throws -> String {
        String(decoding: try PolicyCoding.jsonData(self), as: UTF8.self)
    }

    /// A table for people: per layer kept output/input channels, bit-widths, MACs and BitOPs, then the totals.
    public func table() -> String {
        let header = ["layer", "out", "in", "w/a", "prune", "MACs", "BitOPs"]
        let rows = layers.map { l in
            [l.name, "\(l.keptOutChannels)/\(l.outChannels)", "\(l.keptInChannels)/\(l.inChannels)",
             "\(l.wbits)/\(l.abits)", formatRatio(l.prune), humanCount(l.macs), humanCount(l.bitops)]
        }
        let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                // Names left, numbers right: columns of figures read better aligned on their last digit.
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        var out = ["\(model) at \(inputShape.map(String.init).joined(separator: "x"))", line(header)]
        out += rows.map(line)
        out.append("total: \(humanCount(macs)) MACs (\(macs)), \(humanCount(bitops)) BitOPs (\(bitops)), "
                   + "\(params) params + \(batchNormParams) batch-norm, \(sizeBytes) bytes")
        return out.joined(separator: "\n")
    }
}

/// Counts the cost of a pruned, quantized network from layer shapes alone (no forward pass).
///
/// Per layer, from the pruned shapes given by `ChannelGroups`: MACs = outH x outW x keptOut x (keptIn / groups)
/// x k x k for convolutions (a depthwise one has a group per kept channel) and keptIn x out for the classifier;
/// BitOPs = MACs x wbits x abits as SeerNet defines them; parameters are the kept weights and biases. Size in
/// bytes stores weights at the layer's `wbits` and biases and batch-norm scale/shift as 32-bit floats (running
/// statistics fold into those at inference and are not counted).
public enum Complexity {
    /// The report for `model` under `policy`; throws when the policy lists other layers than the model has.
    public static func compute(model: Model, policy: ResolvedPolicy) throws -> ComplexityReport {
        try policy.checkLayers(of: model)
        let shapes = try outputShapes(of: model)
        let groups = ChannelGroups(graph: model.graph)
        let plan = groups.plan(for: policy)
        let kinds = Dictionary(uniqueKeysWithValues: CompressibleLayer.all(in: model, groups: groups).map { ($0.name, $0.kind) })

        let layers = model.compressibleLayers.map { layer -> LayerComplexity in
            let choice = policy[layer.name]!
            let kept = plan[layer.name]!
            let shape = shapes[layer.name]!
            let kind = kinds[layer.name]!
            var window = Window2D.square(kernel: 1), groupCount = 1, inChannels = kept.input, outChannels = kept.output
            var macs: Int, weights: Int, biases: Int
            let (outHeight, outWidth) = shape.count == 3 ? (shape[1], shape[2]) : (1, 1)
            if let conv = layer as? Conv2D {
                (window, inChannels, outChannels) = (conv.window, conv.inChannels, conv.outChannels)
                groupCount = kind == .depthwise ? kept.output : conv.groups
                weights = kept.output * (kept.input / groupCount) * window.taps
                biases = conv.bias == nil ? 0 : kept.output
                macs = outHeight * outWidth * weights
            } else if let linear = layer as? Linear {
                (inChannels, outChannels) = (linear.inFeatures, linear.outFeatures)
                weights = kept.input * kept.output
                biases = kept.output
                macs = weights
            } else {
                (weights, biases, macs) = (0, 0, 0)
            }
            return LayerComplexity(
                name: layer.name, kind: kind, inChannels: inChannels, keptInChannels: kept.input,
                outChannels: outChannels, keptOutChannels: kept.output, kernelHeight: window.height.kernel,
                kernelWidth: window.width.kernel, strideHeight: window.height.stride, strideWidth: window.width.stride,
                dilationHeight: window.height.dilation, dilationWidth: window.width.dilation, groups: groupCount,
                outHeight: outHeight, outWidth: outWidth, wbits: choice.wbits, abits: choice.abits, prune: choice.prune,
                macs: macs, bitops: macs * choice.wbits * choice.abits, weights: weights, biases: biases,
                params: weights + biases, sizeBytes: (weights * choice.wbits + 7) / 8 + 4 * biases)
        }
        let batchNormParams = groups.keptBatchNormChannels(for: policy).values.reduce(0) { $0 + 2 * $1 }
        return ComplexityReport(
            model: model.name, inputShape: model.inputShape, macs: layers.reduce(0) { $0 + $1.macs },
            bitops: layers.reduce(0) { $0 + $1.bitops }, params: layers.reduce(0) { $0 + $1.params },
            batchNormParams: batchNormParams, sizeBytes: layers.reduce(0) { $0 + $1.sizeBytes } + 4 * batchNormParams,
            layers: layers)
    }

    /// Output shape of every layer of the unpruned `model` by name: [C, H, W] for feature maps, [F] for vectors.
    public static func outputShapes(of model: Model) throws -> [String: [Int]] {
        let graph = model.graph
        var byNode: [Graph.NodeID: [Int]] = [:]
        var byName: [String: [Int]] = [:]
        for id in graph.topologicalOrder {
            let node = graph.nodes[id]
            let layer = node.layer
            let ins = node.inputs.map { $0 == Graph.input ? model.inputShape : byNode[$0] ?? [] }
            guard let x = ins.first else { throw ComplexityError.invalidShape(layer: layer.name, reason: "has no input") }
            func fail(_ reason: String) -> ComplexityError { .invalidShape(layer: layer.name, reason: reason) }
            func window(_ window: Window2D, channels: Int) throws -> [Int] {
                guard x.count == 3 else { throw fail("expects a [C, H, W] feature map, got \(x)") }
                guard window.height.fits(x[1]), window.width.fits(x[2]) else {
                    throw fail("window \(window) does not fit input \(x[1])x\(x[2])")
                }
                let (h, w) = window.outputs(height: x[1], width: x[2])
                return [channels, h, w]
            }
            func poolWindow(_ window: Window2D, _ margins: PoolMargins, _ ceilMode: Bool) throws -> [Int] {
                guard x.count == 3 else { throw fail("expects a [C, H, W] feature map, got \(x)") }
                let (h, w) = (x[1] + margins.top + margins.bottom, x[2] + margins.left + margins.right)
                guard window.height.fits(h), window.width.fits(w) else {
                    throw fail("window \(window) (margins \(margins)) does not fit input \(x[1])x\(x[2])")
                }
                return [x[0], window.height.poolOutputs(x[1], ceilMode: ceilMode, lead: margins.top, trail: margins.bottom),
                        window.width.poolOutputs(x[2], ceilMode: ceilMode, lead: margins.left, trail: margins.right)]
            }
            let y: [Int]
            switch layer {
            case let conv as Conv2D:
                guard x.first == conv.inChannels else { throw fail("expects \(conv.inChannels) input channels, got \(x)") }
                y = try window(conv.window, channels: conv.outChannels)
            case let pool as MaxPool2D:
                y = try poolWindow(pool.window, pool.margins, pool.ceilMode)
            case let pool as AvgPool2D:
                y = try poolWindow(pool.window, pool.margins, pool.ceilMode)
            case let pool as GlobalAvgPool:
                guard x.count == 3 else { throw fail("expects a [C, H, W] feature map, got \(x)") }
                y = pool.keepsDimensions ? [x[0], 1, 1] : [x[0]]
            case is Multiply:
                guard ins.count == 2, ins[1].first == x.first, ins[1].reduce(1, *) == x.first ?? 0 || ins[1] == x else {
                    throw fail("multiplies \(x) by \(ins.dropFirst().first ?? []): expected equal shapes or per-channel factors")
                }
                y = x
            case let pad as ZeroPad:
                guard x.count == 3 else { throw fail("expects a [C, H, W] feature map, got \(x)") }
                y = [x[0] + pad.channelsBefore + pad.channelsAfter, x[1] + pad.top + pad.bottom, x[2] + pad.left + pad.right]
            case let slice as SpatialSlice:
                guard x.count == 3 else { throw fail("expects a [C, H, W] feature map, got \(x)") }
                let (h, w) = slice.outputs(height: x[1], width: x[2])
                guard h > 0, w > 0 else { throw fail("slices \(x) to an empty plane") }
                y = [x[0], h, w]
            case is ChannelConcat:
                guard x.count == 3, ins.allSatisfy({ $0.count == 3 && $0[1...] == x[1...] }) else {
                    throw fail("concatenates \(ins) along channels: planes must agree")
                }
                y = [ins.reduce(0) { $0 + $1[0] }, x[1], x[2]]
            case let linear as Linear:
                guard x.reduce(1, *) == linear.inFeatures else {
                    throw fail("expects \(linear.inFeatures) input features, got shape \(x)")
                }
                y = [linear.outFeatures]
            case let bn as BatchNorm2D:
                guard x.first == bn.channels else { throw fail("expects \(bn.channels) channels, got \(x)") }
                y = x
            default:
                // Add and element-wise layers keep their input's shape; all inputs of an add must agree.
                if let other = ins.first(where: { $0 != x }) { throw fail("inputs disagree in shape: \(x) vs \(other)") }
                y = x
            }
            byNode[id] = y
            byName[layer.name] = y
        }
        return byName
    }
}

/// 1234 -> "1.23K", 1_814_000_000 -> "1.81G": three significant figures.
func humanCount(_ n: Int) -> String {
    let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
    let value = Double(n)
    guard let (scale, suffix) = units.first(where: { abs(value) >= $0.0 }) else { return String(n) }
    let scaled = value / scale
    let decimals = abs(scaled) >= 100 ? 0 : abs(scaled) >= 10 ? 1 : 2
    return String(format: "%.\(decimals)f", scaled) + suffix
}
