import Foundation
import SeerCompression
import SeerEngine
import SeerModels

/// One compressible layer's kernel described for a runtime agent that has no Seer engine (revision 2, PROTOCOL.md
/// "Latency tables on runtime agents"): the agent builds each grid point's kernel as a single-layer network in its
/// own runtime and times it, so its table tiles the network exactly as `LayerProfiler.profileEngine`'s does.
///
/// The kernel is what `EngineKernel` times: an 8-bit activation quantizer on the input, the layer with 8-bit weights
/// and its bias (a batch norm right after it folded in), then `tail`, the ops it owns (ReLU, the residual add, the
/// pooling before a classifier). `points` lists every grid point with its kept channels, computed here so that no
/// agent has to reproduce `ChannelGroups`' rounding.
public struct RuntimeKernelSpec: Codable, Sendable, Equatable {
    /// A following op; `inputs` index earlier values (0 is the layer's output, k the k-th tail op's) or are -1 for an
    /// operand from outside the kernel: a constant of the shape of the op's first input.
    public struct Op: Codable, Sendable, Equatable {
        /// `relu`, `clip` (`max`: ReLU6), `add`, `max_pool`/`avg_pool` (`kernel`, `stride`, `padding`),
        /// `global_avg_pool` ([N, C, H, W] -> [N, C]), `batch_norm` (per output channel, not folded).
        public var op: String
        public var inputs: [Int]
        public var max: Double?
        public var kernel: Int?
        public var stride: Int?
        public var padding: Int?
    }

    /// A grid point: nominal keeps and the channels they keep.
    public struct Point: Codable, Sendable, Equatable {
        public var inKeep: Double
        public var outKeep: Double
        public var keptIn: Int
        public var keptOut: Int
        enum CodingKeys: String, CodingKey { case inKeep = "in_keep", outKeep = "out_keep", keptIn = "kept_in", keptOut = "kept_out" }
    }

    /// The table's layer name.
    public var layer: String
    /// `conv` or `linear`.
    public var op: String
    /// The unpruned input: [C, H, W] for `conv`, [F] for `linear`.
    public var inputShape: [Int]
    /// Square kernel, stride and padding of a `conv` (absent for `linear`).
    public var kernel: Int?
    public var stride: Int?
    public var padding: Int?
    /// Depthwise: one group per kept channel, and kept_in = kept_out at every point.
    public var depthwise: Bool
    public var tail: [Op]
    public var points: [Point]

    enum CodingKeys: String, CodingKey {
        case layer, op, inputShape = "input_shape", kernel, stride, padding, depthwise, tail, points
    }

    /// The kernels of `model` at the grid `keeps`, in the model's order; throws for an op a runtime kernel cannot name.
    public static func all(model: Model, keeps: [Double]) throws -> [RuntimeKernelSpec] {
        try EngineKernel.all(in: model).map { kernel in
            let conv = kernel.layer as? Conv2D
            // Revision 2 names one kernel size, stride and padding per window: other windows cannot be described.
            func square(_ window: Window2D, of layer: String) throws -> SquareWindow {
                guard let square = window.square else {
                    throw MeasurementError.invalidSettings("layer \(kernel.name): \(layer) has window \(window); runtime "
                                                           + "kernel descriptions name square, undilated windows only")
                }
                return square
            }
            func ceilMode(_ layer: String) -> MeasurementError {
                .invalidSettings("layer \(kernel.name): \(layer) pools in ceil mode; runtime kernel descriptions name "
                                 + "floor-mode windows only")
            }
            func unequalPads(_ layer: String) -> MeasurementError {
                .invalidSettings("layer \(kernel.name): \(layer) pads unequally on an axis; runtime kernel descriptions "
                                 + "name one padding per window only")
            }
            let convWindow = try conv.map { try square($0.window, of: $0.name) }
            let tail = try kernel.ops.map { op -> Op in
                let inputs = op.sources.map { source -> Int in
                    if case .slot(let s) = source { return s } else { return -1 }
                }
                switch op.layer {
                case let relu as ReLU:
                    return relu.cap.map { Op(op: "clip", inputs: inputs, max: Double($0)) } ?? Op(op: "relu", inputs: inputs)
                case is Add: return Op(op: "add", inputs: inputs)
                case let pool as MaxPool2D:
                    guard !pool.ceilMode else { throw ceilMode(pool.name) }
                    guard pool.margins.isNone else { throw unequalPads(pool.name) }
                    let w = try square(pool.window, of: pool.name)
                    return Op(op: "max_pool", inputs: inputs, kernel: w.kernel, stride: w.stride, padding: w.padding)
                case let pool as AvgPool2D:
                    guard !pool.ceilMode else { throw ceilMode(pool.name) }
                    guard pool.margins.isNone else { throw unequalPads(pool.name) }
                    guard pool.countsPadding || !pool.isPadded else {
                        throw MeasurementError.invalidSettings("layer \(kernel.name): \(pool.name) averages without its "
                            + "padding (count_include_pad 0); runtime kernel descriptions name avg_pool with padding counted only")
                    }
                    let w = try square(pool.window, of: pool.name)
                    return Op(op: "avg_pool", inputs: inputs, kernel: w.kernel, stride: w.stride, padding: w.padding)
                case is GlobalAvgPool: return Op(op: "global_avg_pool", inputs: inputs)
                case is BatchNorm2D: return Op(op: "batch_norm", inputs: inputs)
                default:
                    throw MeasurementError.invalidSettings("layer \(kernel.name): op \(op.layer.name) (\(type(of: op.layer))) "
                                                           + "has no runtime kernel description")
                }
            }
            let points = LayerProfiler.gridPoints(keeps, diagonal: kernel.isDepthwise).map { i, o -> Point in
                let (keptIn, keptOut) = kernel.keptChannels(inKeep: keeps[i], outKeep: keeps[o])
                return Point(inKeep: keeps[i], outKeep: keeps[o], keptIn: keptIn, keptOut: keptOut)
            }
            return RuntimeKernelSpec(layer: kernel.name, op: conv == nil ? "linear" : "conv", inputShape: kernel.inputShape,
                                     kernel: convWindow?.kernel, stride: convWindow?.stride, padding: convWindow?.padding,
                                     depthwise: kernel.isDepthwise, tail: tail, points: points)
        }
    }
}
