import SeerTensor

/// ReLU, or ReLU6 when `cap` is 6: y = min(max(x, 0), cap).
public final class ReLU: Layer {
    public let name: String
    public let cap: Float?
    private var cachedOutput: Tensor?

    public init(name: String, cap: Float? = nil) {
        self.name = name
        self.cap = cap
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        var y = inputs[0]
        let hi = cap ?? .infinity
        y.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = min(max(p[i], 0), hi) }
        }
        if training { cachedOutput = y }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let y = cachedOutput else { preconditionFailure("\(name): backward without a training forward") }
        var dx = gradOutput
        let hi = cap ?? .infinity
        y.data.withUnsafeBufferPointer { yp in
            dx.data.withUnsafeMutableBufferPointer { d in
                for i in 0..<d.count where !(yp[i] > 0 && yp[i] < hi) { d[i] = 0 }
            }
        }
        cachedOutput = nil
        return [dx]
    }
}

/// Elementwise sum of two tensors of one shape (the residual connection).
public final class Add: Layer {
    public let name: String
    public init(name: String) { self.name = name }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        precondition(inputs[0].shape == inputs[1].shape, "\(name): \(inputs[0].shape) + \(inputs[1].shape)")
        var y = inputs[0]
        y.add(inputs[1])
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] { [gradOutput, gradOutput] }
}
