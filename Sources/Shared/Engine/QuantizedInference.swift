import Foundation
import SeerTensor

/// An inference network ready to run: a folded graph (`Graph.foldingBatchNorm()`), compiled for one arithmetic.
public protocol InferenceProgram: AnyObject {
    /// The logits for a batch of images.
    func forward(_ x: Tensor) -> Tensor
}

/// How compiled inference computes its convolutions. The builtin executor times the program this makes, so that
/// latency responds to bit-widths where the CPU has integer kernels for them.
public enum InferenceArithmetic: String, CaseIterable, Sendable {
    /// Every layer in float, quantization simulated (the graph as it was trained); on the oneDNN backend with
    /// activations kept in oneDNN's layouts between layers (`BlockedFloatInference`).
    case float
    /// Convolutions whose weights and input activations are quantized to at most 8 bits run u8/s8 x s8 -> s32 in
    /// oneDNN where that is exact on this CPU (`QuantizedInference`); the rest in float.
    case int8

    /// The environment variable that overrides `hostDefault`, e.g. to time the float path.
    public static let environmentKey = "SEER_INFERENCE"
    public static var hostDefault: InferenceArithmetic { .int8 }

    /// `hostDefault`, or what `SEER_INFERENCE` names in `environment`.
    public static func configured(in environment: [String: String]) throws -> InferenceArithmetic {
        guard let name = environment[environmentKey] else { return hostDefault }
        guard let arithmetic = InferenceArithmetic(rawValue: name) else {
            throw InferenceArithmeticError.unknown(name: name)
        }
        return arithmetic
    }

    /// This process's choice, read once from its environment.
    public static let selected: Result<InferenceArithmetic, InferenceArithmeticError> =
        Result { try configured(in: ProcessInfo.processInfo.environment) }.mapError { $0 as! InferenceArithmeticError }

    /// `folded` compiled for this arithmetic; `folded` is the program's own from then on (the integer form is a
    /// snapshot of its weights and quantizers).
    public func compile(_ folded: Graph) -> InferenceProgram {
        switch self {
        case .float:
            // Keeping activations in oneDNN's layouts pays only where oneDNN runs the convolutions.
            return ConvolutionAlgorithm.forNewLayers == .onednn ? BlockedFloatInference(folded) : FloatInference(folded)
        case .int8: return QuantizedInference(folded)
        }
    }
}

public enum InferenceArithmeticError: Error, Equatable, CustomStringConvertible {
    case unknown(name: String)

    public var description: String {
        switch self {
        case .unknown(let name):
            return "\(InferenceArithmetic.environmentKey)=\(name): no such inference arithmetic (one of "
                + InferenceArithmetic.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        }
    }
}

/// The folded graph as it is: float convolutions on the process's backend, quantization simulated.
public final class FloatInference: InferenceProgram {
    public let graph: Graph
    public init(_ folded: Graph) { graph = folded }
    public func forward(_ x: Tensor) -> Tensor { graph.forward(x, training: false) }
}

/// A folded, fake-quantized graph compiled to integer convolutions where they compute its function exactly but for
/// float rounding: each convolution fed by an activation quantizer, with a weight quantizer, both at most 8 bits,
/// runs as `Int8Convolution` (oneDNN int8: VNNI where the CPU has it, else AVX2/AVX-512 kernels for the bit-widths
/// those run without saturating, see `Int8Convolution.unsupported`). Every other layer runs as in the float graph.
public final class QuantizedInference: InferenceProgram {
    public let graph: Graph
    private let integer: [Graph.NodeID: Int8Convolution]
    /// On the oneDNN backend the whole network runs as oneDNN programs, activations kept in oneDNN's layouts between
    /// layers and each integer convolution's levels written straight into the layout its kernel reads
    /// (`BlockedExecutor`); elsewhere `Graph.forward` with the integer convolutions.
    private let blocked: BlockedExecutor?
    /// The convolutions that run on integers, in topological order.
    public let integerLayers: [String]
    /// The convolutions that stay float, with why.
    public let floatLayers: [(name: String, reason: String)]

    /// Compiles `folded`; `vnni`: whether the CPU's int8 kernels have VNNI (oneDNN's effective ISA by default).
    public init(_ folded: Graph, vnni: Bool = QuantizedInference.hostHasVNNI) {
        graph = folded
        var integer = [Graph.NodeID: Int8Convolution](), integerLayers = [String]()
        var floatLayers = [(name: String, reason: String)]()
        for id in folded.topologicalOrder {
            let node = folded.nodes[id]
            guard let conv = node.layer as? Conv2D else { continue }
            guard node.inputs.count == 1, node.inputs[0] != Graph.input,
                  let quantizer = folded.nodes[node.inputs[0]].layer as? ActivationQuantizer else {
                floatLayers.append((conv.name, "input not quantized"))
                continue
            }
            if let reason = Int8Convolution.unsupported(input: quantizer, weights: conv.weightQuantizer, vnni: vnni) {
                floatLayers.append((conv.name, reason))
                continue
            }
            integer[id] = Int8Convolution(conv, input: quantizer, weights: conv.weightQuantizer!)
            integerLayers.append(conv.name)
        }
        self.integer = integer
        self.integerLayers = integerLayers
        self.floatLayers = floatLayers
        blocked = ConvolutionAlgorithm.forNewLayers == .onednn ? BlockedExecutor(folded, integer: integer) : nil
    }

    public func forward(_ x: Tensor) -> Tensor {
        blocked?.forward(x) ?? graph.forward(x, training: false, integerConvolutions: integer)
    }

    /// The oneDNN program's steps for a batch shaped `inputShape` (oneDNN's implementation of each, "reorder",
    /// "reorder (levels)" for a quantizer's levels, "host" and a layer name for a layer the engine runs); empty
    /// off the oneDNN backend.
    public func programSteps(inputShape: [Int]) -> [String] { blocked?.implementations(inputShape: inputShape) ?? [] }

    /// The integer convolutions by node.
    var integerConvolutions: [Graph.NodeID: Int8Convolution] { integer }

    /// Whether oneDNN's ISA in this process has VNNI.
    public static var hostHasVNNI: Bool { Int8Convolution.hostHasVNNI }

    /// oneDNN's ISA in this process, e.g. "avx512_core_vnni" (or "avx2" under DNNL_MAX_CPU_ISA=AVX2).
    public static var effectiveISA: String { Int8Convolution.effectiveISA }
}
