import CSeerKernels
import SeerTensor

/// Batch normalization over the channels of NCHW: batch statistics in training, running statistics in eval.
public final class BatchNorm2D: Layer {
    public let name: String
    public let channels: Int
    public let gamma: Parameter, beta: Parameter
    public let runningMean: Buffer, runningVar: Buffer
    public let momentum: Float = 0.1
    /// 1e-5 as PyTorch; imported models bring their own (Keras uses 1e-3).
    public let epsilon: Float

    /// The training forward's input and batch statistics, for backward.
    private var cached: (input: Tensor, mean: [Float], invStd: [Float])?
    /// The ISA of the training kernels; tests set each one the CPU runs.
    var kernelISA = VectorISA.current

    public init(name: String, channels: Int, epsilon: Float = 1e-5) {
        self.name = name
        self.channels = channels
        self.epsilon = epsilon
        gamma = Parameter(name: name + ".weight", value: Tensor(shape: [channels], repeating: 1), decays: false)
        beta = Parameter(name: name + ".bias", value: Tensor(shape: [channels]), decays: false)
        runningMean = Buffer(name: name + ".running_mean", value: Tensor(shape: [channels]))
        runningVar = Buffer(name: name + ".running_var", value: Tensor(shape: [channels], repeating: 1))
    }

    public var parameters: [Parameter] { [gamma, beta] }
    public var buffers: [Buffer] { [runningMean, runningVar] }

    /// Per-channel (scale, shift) that eval mode applies: y = x * scale + shift. Used for folding into a conv.
    public func inferenceAffine() -> (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            scale[c] = gamma.value.data[c] / (runningVar.value.data[c] + epsilon).squareRoot()
            shift[c] = beta.value.data[c] - runningMean.value.data[c] * scale[c]
        }
        return (scale, shift)
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        precondition(x.shape.count >= 2 && x.shape[1] == channels, "\(name): input \(x.shape), expected C=\(channels)")
        let batch = x.shape[0], plane = x.count / (batch * channels)
        var y = Tensor(shape: x.shape) { _ in }  // both branches write every element
        if !training {
            let (scale, shift) = inferenceAffine()
            x.data.withUnsafeBufferPointer { xp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    for n in 0..<batch {
                        for c in 0..<channels {
                            let o = (n * channels + c) * plane
                            let s = scale[c], t = shift[c]
                            for i in 0..<plane { yp[o + i] = xp[o + i] * s + t }
                        }
                    }
                }
            }
            return y
        }
        let count = Float(batch * plane)
        // Per channel, written by the kernel: the batch mean, the biased variance and 1 / sqrt(variance + epsilon).
        var statistics = [Float](repeating: 0, count: 3 * channels)
        let xs = x.data, gammas = gamma.value.data, betas = beta.value.data
        y.data.withUnsafeMutableBufferPointer { yb in
            statistics.withUnsafeMutableBufferPointer { sb in
                let yp = UnsafeMutableSendablePointer(yb.baseAddress!), sp = UnsafeMutableSendablePointer(sb.baseAddress!)
                Threads.parallelFor(channels, work: x.count) { cs in
                    seer_batch_norm_forward_training(kernelISA.c, xs, yp.p, batch, channels, plane, cs.lowerBound,
                                                     cs.upperBound, gammas, betas, epsilon, sp.p, sp.p + channels,
                                                     sp.p + 2 * channels)
                }
            }
        }
        let means = Array(statistics[0..<channels]), invStd = Array(statistics[(2 * channels)...])
        for c in 0..<channels {
            // Running variance uses the unbiased estimate, as PyTorch does.
            let variance = statistics[channels + c]
            let unbiased = count > 1 ? variance * count / (count - 1) : variance
            runningMean.value.data[c] = (1 - momentum) * runningMean.value.data[c] + momentum * means[c]
            runningVar.value.data[c] = (1 - momentum) * runningVar.value.data[c] + momentum * unbiased
        }
        // Backward recomputes the normalized input from these: caching it would cost a write of the whole tensor.
        cached = (x, means, invStd)
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let (x, mean, invStd) = cached else { preconditionFailure("\(name): backward without a training forward") }
        precondition(gradOutput.shape == x.shape, "\(name): gradient \(gradOutput.shape), output \(x.shape)")
        let batch = x.shape[0], plane = x.count / (batch * channels)
        var dx = Tensor(shape: x.shape) { _ in }  // every element is written below
        // Written by the kernel: dgamma, then dbeta.
        var gradients = [Float](repeating: 0, count: 2 * channels)
        let xs = x.data, dys = gradOutput.data, gammas = gamma.value.data
        dx.data.withUnsafeMutableBufferPointer { dxb in
            gradients.withUnsafeMutableBufferPointer { gb in
                let dxp = UnsafeMutableSendablePointer(dxb.baseAddress!), gp = UnsafeMutableSendablePointer(gb.baseAddress!)
                Threads.parallelFor(channels, work: x.count) { cs in
                    seer_batch_norm_backward(kernelISA.c, xs, dys, dxp.p, batch, channels, plane, cs.lowerBound,
                                             cs.upperBound, gammas, mean, invStd, gp.p, gp.p + channels)
                }
            }
        }
        gamma.grad.add(Tensor(shape: [channels], data: Array(gradients[..<channels])))
        beta.grad.add(Tensor(shape: [channels], data: Array(gradients[channels...])))
        cached = nil
        return [dx]
    }
}
