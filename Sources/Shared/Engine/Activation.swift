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
        let x = inputs[0]
        let hi = cap ?? .infinity
        let y = Tensor(shape: x.shape) { out in
            x.data.withUnsafeBufferPointer { xp in
                VectorKernels.clamp(xp.baseAddress!, out.baseAddress!, count: out.count, hi: hi)
            }
        }
        if training { cachedOutput = y }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let y = cachedOutput else { preconditionFailure("\(name): backward without a training forward") }
        let hi = cap ?? .infinity
        let dx = Tensor(shape: y.shape) { d in
            y.data.withUnsafeBufferPointer { yp in
                gradOutput.data.withUnsafeBufferPointer { g in
                    VectorKernels.clampGradient(yp.baseAddress!, g.baseAddress!, d.baseAddress!, count: d.count, hi: hi)
                }
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
