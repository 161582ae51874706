import SeerTensor

/// A trainable tensor and its accumulated gradient.
public final class Parameter {
    /// Stable name used in checkpoints, e.g. `stage1.block1.conv1.weight`.
    public let name: String
    /// Every change to the value, in place or by assignment, goes through this property and bumps `version`.
    public var value: Tensor { didSet { version &+= 1 } }
    public var grad: Tensor
    /// Counts changes to `value` (the observer does not reference the old value, so in-place mutation stays in
    /// place): lets layers cache what they derive from the value, such as quantized weights.
    public private(set) var version: UInt64 = 0
    /// Whether weight decay applies (convolution and linear weights; not biases or batch-norm affine terms).
    public let decays: Bool

    public init(name: String, value: Tensor, decays: Bool) {
        self.name = name
        self.value = value
        self.grad = value.zerosLike()
        self.decays = decays
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() {
        grad.data.withUnsafeMutableBufferPointer { g in g.update(repeating: 0) }
    }
}

/// A value a layer derives from a parameter's value (quantized or packed weights), recomputed only when the value
/// has changed since (its `version`); `reset()` when something else it depends on changes, such as the quantizer.
struct DerivedFromParameter<Value> {
    private var cached: (version: UInt64, value: Value)?

    mutating func value(of parameter: Parameter, _ derive: () -> Value) -> Value {
        if let cached, cached.version == parameter.version { return cached.value }
        let value = derive()
        cached = (parameter.version, value)
        return value
    }

    mutating func reset() { cached = nil }
}

/// A non-trainable tensor that is still part of a checkpoint (batch-norm running statistics).
public final class Buffer {
    public let name: String
    public var value: Tensor
    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }
}

/// One differentiable operation of a layer graph: forward and backward side by side.
///
/// `forward` caches what `backward` needs when `training` is true; `backward` takes the gradient of the
/// loss with respect to the output, accumulates parameter gradients and returns one gradient per input.
public protocol Layer: AnyObject {
    var name: String { get }
    var parameters: [Parameter] { get }
    var buffers: [Buffer] { get }
    func forward(_ inputs: [Tensor], training: Bool) -> Tensor
    func backward(_ gradOutput: Tensor) -> [Tensor]
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var buffers: [Buffer] { [] }
}
