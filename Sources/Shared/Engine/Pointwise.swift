import Foundation
import SeerTensor

/// An elementwise activation other than ReLU (which the convolution epilogue fuses): y = f(x), backward from the
/// cached input. The functions imported ONNX networks use (MobileNet V3, EfficientNet, Keras models).
public final class Pointwise: Layer {
    public enum Function: Equatable, Sendable {
        case sigmoid
        /// max(0, min(1, alpha * x + beta)) (ONNX HardSigmoid; PyTorch's hardsigmoid is alpha 1/6, beta 0.5).
        case hardSigmoid(alpha: Float, beta: Float)
        /// x * hardSigmoid(x) with alpha 1/6, beta 0.5.
        case hardSwish
        case leakyRelu(alpha: Float)
        /// min(max(x, low), high), for clips other than ReLU / ReLU6.
        case clip(low: Float, high: Float)
    }

    public let name: String
    public let function: Function
    private var cachedInput: Tensor?

    public init(name: String, function: Function) {
        self.name = name
        self.function = function
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        if training { cachedInput = x }
        let f = function
        return Tensor(shape: x.shape) { out in
            x.data.withUnsafeBufferPointer { xp in
                for i in 0..<xp.count { out[i] = Self.value(f, xp[i]) }
            }
        }
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let x = cachedInput else { preconditionFailure("\(name): backward without a training forward") }
        cachedInput = nil
        let f = function
        return [Tensor(shape: x.shape) { out in
            x.data.withUnsafeBufferPointer { xp in
                gradOutput.data.withUnsafeBufferPointer { g in
                    for i in 0..<xp.count { out[i] = g[i] * Self.derivative(f, xp[i]) }
                }
            }
        }]
    }

    @inline(__always) static func value(_ f: Function, _ x: Float) -> Float {
        switch f {
        case .sigmoid: return 1 / (1 + exp(-x))
        case let .hardSigmoid(alpha, beta): return max(0, min(1, alpha * x + beta))
        case .hardSwish: return x * max(0, min(1, x / 6 + 0.5))
        case let .leakyRelu(alpha): return x >= 0 ? x : alpha * x
        case let .clip(low, high): return min(max(x, low), high)
        }
    }

    /// The derivative; at the kinks, the one-sided value PyTorch uses (inside the linear piece for ties at the edge).
    @inline(__always) static func derivative(_ f: Function, _ x: Float) -> Float {
        switch f {
        case .sigmoid:
            let s = 1 / (1 + exp(-x))
            return s * (1 - s)
        case let .hardSigmoid(alpha, beta):
            let t = alpha * x + beta
            return t > 0 && t < 1 ? alpha : 0
        case .hardSwish:
            if x < -3 { return 0 }
            if x > 3 { return 1 }
            return x / 3 + 0.5
        case let .leakyRelu(alpha): return x >= 0 ? 1 : alpha
        case let .clip(low, high): return x >= low && x <= high ? 1 : 0
        }
    }
}

/// Elementwise product of a feature map and either a tensor of its shape (SiLU: x * sigmoid(x)) or per-channel
/// factors [N, C, 1, 1] / [N, C] (squeeze-excitation), broadcast over the plane.
public final class Multiply: Layer {
    public let name: String
    private var cached: (a: Tensor, b: Tensor)?

    public init(name: String) { self.name = name }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let a = inputs[0], b = inputs[1]
        let plane = a.count / b.count
        precondition(a.shape[0] == b.shape[0] && plane * b.count == a.count && (plane == 1 || a.shape[1] * a.shape[0] == b.count),
                     "\(name): \(a.shape) x \(b.shape)")
        if training { cached = (a, b) }
        return Tensor(shape: a.shape) { out in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    for j in 0..<bp.count {
                        let f = bp[j]
                        for i in (j * plane)..<((j + 1) * plane) { out[i] = ap[i] * f }
                    }
                }
            }
        }
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let (a, b) = cached else { preconditionFailure("\(name): backward without a training forward") }
        cached = nil
        let plane = a.count / b.count
        var da = a.zerosLike(), db = b.zerosLike()
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                gradOutput.data.withUnsafeBufferPointer { g in
                    da.data.withUnsafeMutableBufferPointer { dap in
                        db.data.withUnsafeMutableBufferPointer { dbp in
                            for j in 0..<bp.count {
                                var s: Float = 0
                                for i in (j * plane)..<((j + 1) * plane) {
                                    dap[i] = g[i] * bp[j]
                                    s += g[i] * ap[i]
                                }
                                dbp[j] = s
                            }
                        }
                    }
                }
            }
        }
        return [da, db]
    }
}

/// Concatenation of NCHW feature maps along the channels.
public final class ChannelConcat: Layer {
    public let name: String
    private var cachedChannels: [Int] = []

    public init(name: String) { self.name = name }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let n = inputs[0].shape[0], plane = inputs[0].count / (n * inputs[0].shape[1])
        precondition(inputs.allSatisfy { $0.shape.count == inputs[0].shape.count && $0.shape[0] == n
            && Array($0.shape.dropFirst(2)) == Array(inputs[0].shape.dropFirst(2)) }, "\(name): \(inputs.map(\.shape))")
        let channels = inputs.map { $0.shape[1] }, total = channels.reduce(0, +)
        if training { cachedChannels = channels }
        var shape = inputs[0].shape
        shape[1] = total
        return Tensor(shape: shape) { out in
            for image in 0..<n {
                var offset = image * total * plane
                for (x, c) in zip(inputs, channels) {
                    let count = c * plane
                    x.data.withUnsafeBufferPointer { xp in
                        for i in 0..<count { out[offset + i] = xp[image * count + i] }
                    }
                    offset += count
                }
            }
        }
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        let n = gradOutput.shape[0], total = cachedChannels.reduce(0, +), plane = gradOutput.count / (n * total)
        var start = 0
        return cachedChannels.map { c in
            var shape = gradOutput.shape
            shape[1] = c
            defer { start += c }
            let first = start
            return Tensor(shape: shape) { out in
                gradOutput.data.withUnsafeBufferPointer { g in
                    for image in 0..<n {
                        for i in 0..<(c * plane) { out[image * c * plane + i] = g[(image * total + first) * plane + i] }
                    }
                }
            }
        }
    }
}
