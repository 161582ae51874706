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

    private var cachedNormalized: Tensor?
    private var cachedInvStd: [Float] = []

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
        var invStd = [Float](repeating: 0, count: channels)
        var means = [Float](repeating: 0, count: channels), variances = means
        var normalized = Tensor(shape: x.shape) { _ in }  // every element is written below
        let gammaV = gamma.value.data, betaV = beta.value.data
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                normalized.data.withUnsafeMutableBufferPointer { nb in
                    invStd.withUnsafeMutableBufferPointer { ib in
                        means.withUnsafeMutableBufferPointer { mb in
                            variances.withUnsafeMutableBufferPointer { vb in
                                let xp = UnsafeSendablePointer(xb.baseAddress!), yp = UnsafeMutableSendablePointer(yb.baseAddress!)
                                let np = UnsafeMutableSendablePointer(nb.baseAddress!)
                                let ip = UnsafeMutableSendablePointer(ib.baseAddress!)
                                let mp = UnsafeMutableSendablePointer(mb.baseAddress!)
                                let vp = UnsafeMutableSendablePointer(vb.baseAddress!)
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
                                        let g = gammaV[c], b = betaV[c]
                                        for n in 0..<batch {
                                            let o = (n * channels + c) * plane
                                            for i in 0..<plane {
                                                let h = (xp.p[o + i] - mean) * inv
                                                np.p[o + i] = h
                                                yp.p[o + i] = h * g + b
                                            }
                                        }
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
        cachedNormalized = normalized
        cachedInvStd = invStd
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let xhat = cachedNormalized else { preconditionFailure("\(name): backward without a training forward") }
        let batch = xhat.shape[0], plane = xhat.count / (batch * channels)
        let count = Float(batch * plane)
        var dx = Tensor(shape: xhat.shape) { _ in }  // every element is written below
        let gammaV = gamma.value.data, invStd = cachedInvStd
        var dGamma = [Float](repeating: 0, count: channels), dBeta = dGamma
        gradOutput.data.withUnsafeBufferPointer { db in
            xhat.data.withUnsafeBufferPointer { xb in
                dx.data.withUnsafeMutableBufferPointer { dxb in
                    dGamma.withUnsafeMutableBufferPointer { dgb in
                        dBeta.withUnsafeMutableBufferPointer { dbb in
                            let dp = UnsafeSendablePointer(db.baseAddress!), xp = UnsafeSendablePointer(xb.baseAddress!)
                            let dxp = UnsafeMutableSendablePointer(dxb.baseAddress!)
                            let dgp = UnsafeMutableSendablePointer(dgb.baseAddress!)
                            let dbp = UnsafeMutableSendablePointer(dbb.baseAddress!)
                            Threads.parallelFor(channels, work: xhat.count) { cs in
                                for c in cs {
                                    var sumDy: Float = 0, sumDyX: Float = 0
                                    for n in 0..<batch {
                                        let o = (n * channels + c) * plane
                                        for i in 0..<plane { sumDy += dp.p[o + i]; sumDyX += dp.p[o + i] * xp.p[o + i] }
                                    }
                                    dgp.p[c] = sumDyX
                                    dbp.p[c] = sumDy
                                    let k = gammaV[c] * invStd[c] / count
                                    for n in 0..<batch {
                                        let o = (n * channels + c) * plane
                                        for i in 0..<plane { dxp.p[o + i] = k * (count * dp.p[o + i] - sumDy - xp.p[o + i] * sumDyX) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        gamma.grad.add(Tensor(shape: [channels], data: dGamma))
        beta.grad.add(Tensor(shape: [channels], data: dBeta))
        cachedNormalized = nil
        return [dx]
    }
}
