import SeerTensor

/// y = x * scale[c] + shift[c] per channel of an [N, C, ...] tensor (feature maps or [N, features] vectors): the
/// constant arithmetic of imported graphs that no convolution absorbs exactly, such as Keras's `Rescaling` and
/// `Normalization` at the input or a per-channel scale after an activation. The factors are the graph's constants, not
/// trained (buffers, like a batch norm's statistics); pruning selects them with their channels.
public final class ChannelAffine: Layer {
    public let name: String
    public let scale: Buffer
    public let shift: Buffer

    public var channels: Int { scale.value.count }
    public var buffers: [Buffer] { [scale, shift] }

    public init(name: String, scale: [Float], shift: [Float]) {
        precondition(!scale.isEmpty && scale.count == shift.count,
                     "\(name): \(scale.count) scales and \(shift.count) shifts")
        self.name = name
        self.scale = Buffer(name: name + ".scale", value: Tensor(shape: [scale.count], data: scale))
        self.shift = Buffer(name: name + ".shift", value: Tensor(shape: [shift.count], data: shift))
    }

    /// The same channels followed by y * `factor` + `offset` (per channel, or one value for all): what a further
    /// constant Mul, Add, Sub or Div of the imported graph makes of this layer.
    public func then(multiply factor: [Float], add offset: [Float]) {
        func at(_ v: [Float], _ c: Int) -> Float { v.count == 1 ? v[0] : v[c] }
        for c in 0..<channels {
            scale.value.data[c] *= at(factor, c)
            shift.value.data[c] = shift.value.data[c] * at(factor, c) + at(offset, c)
        }
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let c = channels, plane = x.count / max(1, x.shape[0] * c)
        precondition(x.shape.count >= 2 && x.shape[1] == c, "\(name): input \(x.shape) has not \(c) channels")
        return Tensor(shape: x.shape) { out in
            x.data.withUnsafeBufferPointer { xp in
                for row in 0..<(x.shape[0] * c) {
                    let s = scale.value.data[row % c], t = shift.value.data[row % c]
                    for i in (row * plane)..<((row + 1) * plane) { out[i] = xp[i] * s + t }
                }
            }
        }
    }

    /// dL/dx = dL/dy * scale[c]; nothing to cache (the constants are not trained).
    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        let c = channels, plane = gradOutput.count / max(1, gradOutput.shape[0] * c)
        return [Tensor(shape: gradOutput.shape) { out in
            gradOutput.data.withUnsafeBufferPointer { g in
                for row in 0..<(gradOutput.shape[0] * c) {
                    let s = scale.value.data[row % c]
                    for i in (row * plane)..<((row + 1) * plane) { out[i] = g[i] * s }
                }
            }
        }]
    }
}
