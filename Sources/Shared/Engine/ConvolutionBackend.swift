import Foundation
import SeerTensor

/// The algorithms that run dense and grouped convolutions (depthwise ones too where `runsDepthwise`, else on
/// `DepthwiseKernels`). One is picked per CPU at run time (`hostDefault`, from `bench/conv` and `bench/engine`
/// measurements); `SEER_CONV_BACKEND` overrides it for a process, e.g. so that one host can run another ISA's path.
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable {
    /// The hand-written AVX-512 kernel (`DirectConvolution`); its weight gradient, and dX of strided layers, run on
    /// the im2col path.
    case direct
    /// im2col + OpenBLAS sgemm (whole-batch GEMMs in training, per-image GEMMs at inference).
    case im2col
    /// oneDNN's JIT primitives (Debian libdnnl): forward with the bias fused, backward-data, backward-weights.
    case onednn

    /// The environment variable that overrides `hostDefault`.
    public static let environmentKey = "SEER_CONV_BACKEND"

    /// Whether this CPU runs the algorithm.
    public var isAvailable: Bool {
        switch self {
        case .direct: return DirectConvolution.isAvailable
        case .im2col, .onednn: return true
        }
    }

    /// The algorithms this CPU runs, in declaration order.
    public static var available: [ConvolutionAlgorithm] { allCases.filter(\.isAvailable) }

    /// The fastest correct algorithm measured for this CPU's widest vector ISA: oneDNN on AVX-512 and on AVX2
    /// (`bench/results/issue-14`: on the AVX-512 Xeon it leads the direct kernel in forward and training; capped at
    /// AVX2 it leads im2col + OpenBLAS's AVX2 kernels); elsewhere too (oneDNN has kernels down to SSE4.1; not measured).
    public static var hostDefault: ConvolutionAlgorithm { .onednn }

    /// `hostDefault`, or what `SEER_CONV_BACKEND` names in `environment`.
    public static func configured(in environment: [String: String]) throws -> ConvolutionAlgorithm {
        guard let name = environment[environmentKey] else { return hostDefault }
        guard let algorithm = ConvolutionAlgorithm(rawValue: name) else {
            throw ConvolutionBackendError.unknown(name: name)
        }
        guard algorithm.isAvailable else { throw ConvolutionBackendError.unavailable(algorithm) }
        return algorithm
    }

    /// This process's choice, read once from its environment; the executables check it at start-up
    /// (`validateEnvironment`), so that a bad value is reported there rather than at the first convolution.
    public static let selected: Result<ConvolutionAlgorithm, ConvolutionBackendError> =
        Result { try configured(in: ProcessInfo.processInfo.environment) }.mapError { $0 as! ConvolutionBackendError }

    /// Throws the error a bad `SEER_CONV_BACKEND`, `SEER_ONEDNN_BRGEMM` (`OneDNNBrgemm`) or `SEER_WINOGRAD`
    /// (`WinogradConvolution`) makes.
    public static func validateEnvironment() throws {
        _ = try selected.get()
        try OneDNNBrgemm.validateEnvironment()
        try WinogradConvolution.validateEnvironment()
    }

    /// What new layers use: `selected`, which executables have validated at start.
    static var forNewLayers: ConvolutionAlgorithm {
        switch selected {
        case .success(let algorithm): return algorithm
        case .failure(let error): preconditionFailure(error.description)
        }
    }

    /// A fresh instance (each layer keeps its own caches).
    func makeBackend() -> ConvolutionBackend {
        precondition(isAvailable, ConvolutionBackendError.unavailable(self).description)
        switch self {
        case .direct: return DirectConvolutionBackend()
        case .im2col: return Im2colConvolution()
        case .onednn: return OneDNNConvolution()
        }
    }
}

public enum ConvolutionBackendError: Error, Equatable, CustomStringConvertible {
    case unknown(name: String)
    case unavailable(ConvolutionAlgorithm)

    public var description: String {
        let names = ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .unknown(let name):
            return "\(ConvolutionAlgorithm.environmentKey)=\(name): no such convolution backend (one of \(names))"
        case .unavailable(let algorithm):
            return "\(ConvolutionAlgorithm.environmentKey)=\(algorithm.rawValue): this CPU cannot run it "
                + "(available here: \(ConvolutionAlgorithm.available.map(\.rawValue).joined(separator: ", ")))"
        }
    }
}

/// One convolution's shape as a backend sees it: the geometry of one group (`g.channels` input channels per
/// group), the output channels of all groups and the group count.
struct ConvShape: Hashable {
    let g: ConvGeometry
    let outChannels: Int
    let groups: Int
    let hasBias: Bool
    var inChannels: Int { g.channels * groups }
    var outGroupChannels: Int { outChannels / groups }
}

/// Which weights a backend's cached derivative (packed or reordered weights) was made from: the parameter's
/// version and the layer's quantizer generation.
struct WeightVersion: Equatable {
    let parameter: UInt64
    let quantizer: Int
}

/// One algorithm for dense and grouped convolutions. A layer holds one instance, which keeps that layer's caches:
/// packed weights, columns kept between forward and backward, oneDNN primitives per shape.
protocol ConvolutionBackend: AnyObject {
    var algorithm: ConvolutionAlgorithm { get }

    /// y = conv(x, w) (+ bias), then the epilogue per image. `y` is the output's shape and may hold anything.
    /// `training`: backward follows, and the backend may keep what it needs.
    func forward(_ x: Tensor, _ w: Tensor, version: WeightVersion, bias: Tensor?, _ s: ConvShape, training: Bool,
                 epilogue: ConvEpilogue?, _ y: inout Tensor)

    /// dx = the input's gradient; `dx` arrives zeroed.
    func backwardData(_ dy: Tensor, _ w: Tensor, _ s: ConvShape, _ dx: inout Tensor)

    /// dw += the weights' gradient; `x` is the input of the training forward.
    func backwardWeights(_ x: Tensor, _ dy: Tensor, _ s: ConvShape, _ dw: inout Tensor)

    /// Both gradients; backends whose two passes share work override it.
    func backward(_ x: Tensor, _ dy: Tensor, _ w: Tensor, _ s: ConvShape, dx: inout Tensor, dw: inout Tensor)

    /// Drops what forward kept for backward.
    func endStep()

    /// What runs the forward pass of shape `s` (for benchmarks' reports), e.g. oneDNN's "jit:avx512_core".
    func implementation(_ s: ConvShape) -> String

    /// Whether depthwise layers (one filter per channel) run here too; otherwise they run on `DepthwiseKernels`.
    var runsDepthwise: Bool { get }
}

extension ConvolutionBackend {
    var runsDepthwise: Bool { false }

    func backward(_ x: Tensor, _ dy: Tensor, _ w: Tensor, _ s: ConvShape, dx: inout Tensor, dw: inout Tensor) {
        backwardWeights(x, dy, s, &dw)
        backwardData(dy, w, s, &dx)
    }
}

/// Which algorithm runs dense convolutions in this process (`ConvolutionAlgorithm.selected`'s name, or the error).
public var inferenceConvolutionKernel: String {
    switch ConvolutionAlgorithm.selected {
    case .success(let algorithm): return algorithm.rawValue
    case .failure(let error): return "invalid: \(error)"
    }
}
