import SeerTensor

/// Fully connected layer: y = x W^T + b, x [N, in], W [out, in].
public final class Linear: Layer {
    public let name: String
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter, bias: Parameter
    /// Simulated low-bit weights (straight-through to the float weights), as in `Conv2D`.
    public var weightQuantizer: WeightQuantizer? { didSet { quantizedWeight.reset() } }

    private var cachedInput: Tensor?
    private var cachedWeight: Tensor?

    /// The weights forward uses: quantized when a quantizer is set.
    /// The quantized weights are computed once per weight version and quantizer: inference re-uses them, training
    /// recomputes them after every update.
    public var effectiveWeight: Tensor {
        guard let q = weightQuantizer else { return weight.value }
        return quantizedWeight.value(of: weight) { q.quantize(weight.value) }
    }
    private var quantizedWeight = DerivedFromParameter<Tensor>()

    public init(name: String, inFeatures: Int, outFeatures: Int, rng: inout SeededGenerator) {
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Parameter(name: name + ".weight",
                           value: .randomUniform(shape: [outFeatures, inFeatures], bound: bound, using: &rng), decays: true)
        bias = Parameter(name: name + ".bias", value: .randomUniform(shape: [outFeatures], bound: bound, using: &rng),
                         decays: false)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let n = x.shape[0]
        precondition(x.count == n * inFeatures, "\(name): input \(x.shape), expected [N, \(inFeatures)]")
        var y = Tensor(shape: [n, outFeatures])
        for i in 0..<n { for o in 0..<outFeatures { y.data[i * outFeatures + o] = bias.value.data[o] } }
        let w = effectiveWeight
        x.data.withUnsafeBufferPointer { xp in
            w.data.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    sgemm(transB: true, m: n, n: outFeatures, k: inFeatures, a: xp.baseAddress!, b: wp.baseAddress!,
                          beta: 1, c: yp.baseAddress!)
                }
            }
        }
        if training {
            cachedInput = x
            cachedWeight = w
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let x = cachedInput, let w = cachedWeight else {
            preconditionFailure("\(name): backward without a training forward")
        }
        let n = x.shape[0]
        var dx = x.zerosLike()
        gradOutput.data.withUnsafeBufferPointer { dp in
            x.data.withUnsafeBufferPointer { xp in
                weight.grad.data.withUnsafeMutableBufferPointer { gw in
                    sgemm(transA: true, m: outFeatures, n: inFeatures, k: n, a: dp.baseAddress!, b: xp.baseAddress!,
                          beta: 1, c: gw.baseAddress!)
                }
                w.data.withUnsafeBufferPointer { wp in
                    dx.data.withUnsafeMutableBufferPointer { dxp in
                        sgemm(m: n, n: inFeatures, k: outFeatures, a: dp.baseAddress!, b: wp.baseAddress!, c: dxp.baseAddress!)
                    }
                }
            }
        }
        for i in 0..<n { for o in 0..<outFeatures { bias.grad.data[o] += gradOutput.data[i * outFeatures + o] } }
        cachedInput = nil
        cachedWeight = nil
        return [dx]
    }
}
