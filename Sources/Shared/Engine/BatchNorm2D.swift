import SeerTensor

/// Batch normalization over the channels of NCHW: batch statistics in training, running statistics in eval.
public final class BatchNorm2D: Layer {
    public let name: String
    public let channels: Int
    public let gamma: Parameter, beta: Parameter
    public let runningMean: Buffer, runningVar: Buffer
    public let momentum: Float = 0.1
    public let epsilon: Float = 1e-5

    private var cachedNormalized: Tensor?
    private var cachedInvStd: [Float] = []

    public init(name: String, channels: Int) {
        self.name = name
        self.channels = channels
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
        var y = x.zerosLike()
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
        var invStd = [Float](repeating: 0, count: channels)
        var means = [Float](repeating: 0, count: channels), variances = means
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                invStd.withUnsafeMutableBufferPointer { ib in
                    means.withUnsafeMutableBufferPointer { mb in
                        variances.withUnsafeMutableBufferPointer { vb in
                            let xp = UnsafeSendablePointer(xb.baseAddress!), yp = UnsafeMutableSendablePointer(yb.baseAddress!)
                            let ip = UnsafeMutableSendablePointer(ib.baseAddress!)
                            let mp = UnsafeMutableSendablePointer(mb.baseAddress!), vp = UnsafeMutableSendablePointer(vb.baseAddress!)
                            Threads.parallelFor(channels, work: x.count) { cs in
                                for c in cs {
                                    // Two passes; float sums within a plane (vectorized), double across planes.
                                    var sum: Double = 0
                                    for n in 0..<batch {
                                        let base = xp.p + (n * channels + c) * plane
                                        var s: Float = 0
                                        for i in 0..<plane { s += base[i] }
                                        sum += Double(s)
                                    }
                                    let mean = Float(sum / Double(count))
                                    var sq: Double = 0
                                    for n in 0..<batch {
                                        let base = xp.p + (n * channels + c) * plane
                                        var s: Float = 0
                                        for i in 0..<plane { let d = base[i] - mean; s += d * d }
                                        sq += Double(s)
                                    }
                                    let variance = Float(sq / Double(count))
                                    let inv = 1 / (variance + epsilon).squareRoot()
                                    ip.p[c] = inv
                                    mp.p[c] = mean
                                    vp.p[c] = variance
                                    for n in 0..<batch {
                                        let o = (n * channels + c) * plane
                                        for i in 0..<plane { yp.p[o + i] = (xp.p[o + i] - mean) * inv }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for c in 0..<channels {
            // Running variance uses the unbiased estimate, as PyTorch does.
            let unbiased = count > 1 ? variances[c] * count / (count - 1) : variances[c]
            runningMean.value.data[c] = (1 - momentum) * runningMean.value.data[c] + momentum * means[c]
            runningVar.value.data[c] = (1 - momentum) * runningVar.value.data[c] + momentum * unbiased
        }
        cachedNormalized = y
        cachedInvStd = invStd
        // y = xhat * gamma + beta
        let gamma = self.gamma.value.data, beta = self.beta.value.data
        y.data.withUnsafeMutableBufferPointer { yp in
            for n in 0..<batch {
                for c in 0..<channels {
                    let o = (n * channels + c) * plane, g = gamma[c], b = beta[c]
                    for i in 0..<plane { yp[o + i] = yp[o + i] * g + b }
                }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let xhat = cachedNormalized else { preconditionFailure("\(name): backward without a training forward") }
        let batch = xhat.shape[0], plane = xhat.count / (batch * channels)
        let count = Float(batch * plane)
        var dx = xhat.zerosLike()
        let gammaV = gamma.value.data
        for c in 0..<channels {
            var sumDy: Float = 0, sumDyX: Float = 0
            gradOutput.data.withUnsafeBufferPointer { dp in
                xhat.data.withUnsafeBufferPointer { xp in
                    for n in 0..<batch {
                        let o = (n * channels + c) * plane
                        for i in 0..<plane { sumDy += dp[o + i]; sumDyX += dp[o + i] * xp[o + i] }
                    }
                }
            }
            gamma.grad.data[c] += sumDyX
            beta.grad.data[c] += sumDy
            let k = gammaV[c] * cachedInvStd[c] / count
            let meanDy = sumDy, meanDyX = sumDyX
            gradOutput.data.withUnsafeBufferPointer { dp in
                xhat.data.withUnsafeBufferPointer { xp in
                    dx.data.withUnsafeMutableBufferPointer { dxp in
                        for n in 0..<batch {
                            let o = (n * channels + c) * plane
                            for i in 0..<plane { dxp[o + i] = k * (count * dp[o + i] - meanDy - xp[o + i] * meanDyX) }
                        }
                    }
                }
            }
        }
        cachedNormalized = nil
        return [dx]
    }
}
