import SeerTensor

/// Stochastic gradient descent with momentum (optionally Nesterov) and decoupled-from-BN weight decay.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    private var velocity: [ObjectIdentifier: [Float]] = [:]

    public init(learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 5e-4, nesterov: Bool = true) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    /// One update of every parameter from its accumulated gradient.
    public func step(_ parameters: [Parameter]) {
        for p in parameters {
            let key = ObjectIdentifier(p)
            var v = velocity[key] ?? [Float](repeating: 0, count: p.value.count)
            let wd = p.decays ? weightDecay : 0
            let lr = learningRate, mu = momentum, nesterov = self.nesterov
            p.value.data.withUnsafeMutableBufferPointer { w in
                p.grad.data.withUnsafeBufferPointer { g in
                    v.withUnsafeMutableBufferPointer { vp in
                        for i in 0..<w.count {
                            let d = g[i] + wd * w[i]
                            vp[i] = mu * vp[i] + d
                            w[i] -= lr * (nesterov ? d + mu * vp[i] : vp[i])
                        }
                    }
                }
            }
            velocity[key] = v
        }
    }
}

/// Cosine learning-rate schedule with an optional linear warm-up.
public struct CosineSchedule: Sendable {
    public let base: Float, totalSteps: Int, warmupSteps: Int, floor: Float

    public init(base: Float, totalSteps: Int, warmupSteps: Int = 0, floor: Float = 0) {
        self.base = base
        self.totalSteps = max(1, totalSteps)
        self.warmupSteps = warmupSteps
        self.floor = floor
    }

    /// Learning rate at `step` (0-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let t = Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps))
        return floor + (base - floor) * 0.5 * (1 + cosf(Float.pi * min(1, t)))
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
