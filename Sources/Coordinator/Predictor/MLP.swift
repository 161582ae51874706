// A small one-hidden-layer tanh MLP, trained with AdamW and early stopping; differentiable in its inputs.
import Foundation

/// Training settings of the ensemble's MLPs.
public struct MLPTraining: Codable, Hashable, Sendable {
    public var hiddenUnits: Int
    public var learningRate: Double
    /// Decoupled (AdamW) weight decay on the weight matrices, per step, scaled by the learning rate.
    public var weightDecay: Double
    public var batchSize: Int
    public var maxEpochs: Int
    /// Stop after this many epochs without a better validation loss; the best epoch's weights are kept.
    public var patience: Int

    public init(hiddenUnits: Int = 16, learningRate: Double = 3e-3, weightDecay: Double = 1e-2, batchSize: Int = 32,
                maxEpochs: Int = 300, patience: Int = 25) {
        self.hiddenUnits = hiddenUnits
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.batchSize = batchSize
        self.maxEpochs = maxEpochs
        self.patience = patience
    }
}

/// y = w2 . tanh(W1 x + b1) + b2.
struct MLP: Codable, Hashable, Sendable {
    var inputs: Int
    var hidden: Int
    var w1: [Double]   // hidden x inputs, row-major
    var b1: [Double]
    var w2: [Double]
    var b2: Double
    /// Epochs trained before the best validation loss (0: the network adds nothing).
    var bestEpoch: Int

    /// Random first layer (scaled 1/sqrt(inputs)), zero output layer: the untrained network outputs 0.
    init(inputs: Int, hidden: Int, rng: inout SplitMix64) {
        self.inputs = inputs
        self.hidden = hidden
        let scale = 1 / Double(max(inputs, 1)).squareRoot()
        w1 = (0..<(inputs * hidden)).map { _ in rng.nextGaussian() * scale }
        b1 = [Double](repeating: 0, count: hidden)
        w2 = [Double](repeating: 0, count: hidden)
        b2 = 0
        bestEpoch = 0
    }

    func predict(buffer x: UnsafeBufferPointer<Double>) -> Double {
        var out = b2
        w1.withUnsafeBufferPointer { w1 in
            for h in 0..<hidden {
                var a = b1[h]
                let base = h * inputs
                for i in 0..<inputs { a += w1[base + i] * x[i] }
                out += w2[h] * tanh(a)
            }
        }
        return out
    }

    func predict(_ x: [Double]) -> Double {
        x.withUnsafeBufferPointer { predict(buffer: $0) }
    }

    /// d output / d x.
    func inputGradient(_ x: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: inputs)
        for h in 0..<hidden {
            var a = b1[h]
            let base = h * inputs
            for i in 0..<inputs { a += w1[base + i] * x[i] }
            let t = tanh(a)
            let d = w2[h] * (1 - t * t)
            if d == 0 { continue }
            for i in 0..<inputs { g[i] += d * w1[base + i] }
        }
        return g
    }

    /// Trains on rows `train` of `x` (row-major, `inputs` columns) towards `y`, early-stopping on rows `validation`.
    mutating func train(x: [Double], y: [Double], train: [Int], validation: [Int], settings: MLPTraining,
                        rng: inout SplitMix64) {
        let d = inputs, hdim = hidden
        let nParams = hdim * d + hdim + hdim + 1
        // Flat parameter vector: w1, b1, w2, b2.
        var theta = w1 + b1 + w2 + [b2]
        var best = theta
        var m = [Double](repeating: 0, count: nParams)
        var v = [Double](repeating: 0, count: nParams)
        var grad = [Double](repeating: 0, count: nParams)
        var act = [Double](repeating: 0, count: hdim)
        let ob1 = hdim * d, ow2 = ob1 + hdim, ob2 = ow2 + hdim
        let beta1 = 0.9, beta2 = 0.999, eps = 1e-8
        var beta1t = 1.0, beta2t = 1.0
        var order = train

        func validationLoss(_ theta: UnsafeBufferPointer<Double>, _ xd: UnsafeBufferPointer<Double>) -> Double {
            guard !validation.isEmpty else { return 0 }
            var total = 0.0
            for r in validation {
                var out = theta[ob2]
                for h in 0..<hdim {
                    var a = theta[ob1 + h]
                    let wb = h * d, xb = r * d
                    for i in 0..<d { a += theta[wb + i] * xd[xb + i] }
                    out += theta[ow2 + h] * tanh(a)
                }
                total += (out - y[r]) * (out - y[r])
            }
            return total / Double(validation.count)
        }

        x.withUnsafeBufferPointer { xd in
            var bestLoss = theta.withUnsafeBufferPointer { validationLoss($0, xd) }
            var bestEpoch = 0
            var sinceBest = 0
            let batch = max(1, settings.batchSize)
            for epoch in 1...max(1, settings.maxEpochs) {
                rng.shuffle(&order)
                var start = 0
                while start < order.count {
                    let end = min(start + batch, order.count)
                    let scale = 1 / Double(end - start)
                    theta.withUnsafeBufferPointer { th in
                        grad.withUnsafeMutableBufferPointer { g in
                            act.withUnsafeMutableBufferPointer { act in
                                for k in 0..<nParams { g[k] = 0 }
                                for r in order[start..<end] {
                                    let xb = r * d
                                    var out = th[ob2]
                                    for h in 0..<hdim {
                                        var a = th[ob1 + h]
                                        let wb = h * d
                                        for i in 0..<d { a += th[wb + i] * xd[xb + i] }
                                        let t = tanh(a)
                                        act[h] = t
                                        out += th[ow2 + h] * t
                                    }
                                    let e = (out - y[r]) * scale
                                    g[ob2] += e
                                    for h in 0..<hdim {
                                        let t = act[h]
                                        g[ow2 + h] += e * t
                                        let dh = e * th[ow2 + h] * (1 - t * t)
                                        if dh == 0 { continue }
                                        g[ob1 + h] += dh
                                        let wb = h * d
                                        for i in 0..<d { g[wb + i] += dh * xd[xb + i] }
                                    }
                                }
                            }
                        }
                    }
                    beta1t *= beta1
                    beta2t *= beta2
                    let lr = settings.learningRate
                    let c1 = 1 / (1 - beta1t), c2 = 1 / (1 - beta2t)
                    let decay = lr * settings.weightDecay
                    theta.withUnsafeMutableBufferPointer { th in
                        for k in 0..<nParams {
                            let gk = grad[k]
                            m[k] = beta1 * m[k] + (1 - beta1) * gk
                            v[k] = beta2 * v[k] + (1 - beta2) * gk * gk
                            var step = lr * (m[k] * c1) / ((v[k] * c2).squareRoot() + eps)
                            if k < ob1 || (k >= ow2 && k < ob2) { step += decay * th[k] }
                            th[k] -= step
                        }
                    }
                    start = end
                }
                let loss = theta.withUnsafeBufferPointer { validationLoss($0, xd) }
                if loss < bestLoss - 1e-9 {
                    bestLoss = loss
                    best = theta
                    bestEpoch = epoch
                    sinceBest = 0
                } else {
                    sinceBest += 1
                    if sinceBest >= settings.patience { break }
                }
            }
            self.bestEpoch = bestEpoch
        }
        w1 = Array(best[0..<ob1])
        b1 = Array(best[ob1..<ow2])
        w2 = Array(best[ow2..<ob2])
        b2 = best[ob2]
    }
}
