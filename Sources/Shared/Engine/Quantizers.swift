import CSeerKernels
import SeerTensor

/// Per-output-channel symmetric weight quantization with a calibrated clip.
///
/// q = round(clamp(w, -clip_c, clip_c) / s_c) * s_c with s_c = clip_c / (2^(bits-1) - 1). The clip of each channel is
/// chosen at calibration to minimize the squared quantization error over a grid of fractions of max |w|
/// (at 2 bits the max is far from optimal). Backward is the straight-through estimator: the gradient w.r.t. the
/// quantized weight is applied to the float weight unchanged.
public struct WeightQuantizer: Sendable, Equatable {
    public let bits: Int
    /// Clip per output channel.
    public private(set) var clips: [Float]

    public init(bits: Int, clips: [Float]) {
        precondition(bits >= 2 && bits <= 16, "weight bits \(bits) outside 2...16")
        self.bits = bits
        self.clips = clips
    }

    /// Largest integer level: 2^(bits-1) - 1.
    public var levels: Float { Float((1 << (bits - 1)) - 1) }

    /// Calibrates one clip per output channel of `weight` ([out, ...]).
    public static func calibrated(bits: Int, weight: Tensor) -> WeightQuantizer {
        let out = weight.shape[0], per = weight.count / out
        var clips = [Float](repeating: 0, count: out)
        let levels = Float((1 << (bits - 1)) - 1)
        weight.data.withUnsafeBufferPointer { w in
            for o in 0..<out {
                let row = UnsafeBufferPointer(rebasing: w[(o * per)..<((o + 1) * per)])
                clips[o] = bestClip(row, levels: levels, signed: true)
            }
        }
        return WeightQuantizer(bits: bits, clips: clips)
    }

    /// The quantized (dequantized back to float) weights.
    public func quantize(_ weight: Tensor) -> Tensor {
        let out = weight.shape[0], per = weight.count / out
        precondition(out == clips.count, "quantizer has \(clips.count) channels, weight has \(out)")
        let levels = self.levels
        return Tensor(shape: weight.shape) { q in
            weight.data.withUnsafeBufferPointer { w in
                for o in 0..<out {
                    let clip = clips[o]
                    guard clip > 0 else {
                        for i in 0..<per { q[o * per + i] = 0 }
                        continue
                    }
                    VectorKernels.fakeQuantize(w.baseAddress! + o * per, q.baseAddress! + o * per, count: per,
                                               lo: -clip, hi: clip, inv: levels / clip, scale: clip / levels)
                }
            }
        }
    }

    /// The quantizer of weights scaled per output channel by `factors`: symmetric quantization commutes with
    /// that scaling when the clips scale by |factor|, which is what lets batch norm fold into a quantized conv.
    public func scaled(by factors: [Float]) -> WeightQuantizer {
        WeightQuantizer(bits: bits, clips: zip(clips, factors).map { $0 * abs($1) })
    }

    /// Keeps only the clips of `channels` (after pruning output channels).
    public func selecting(_ channels: [Int]) -> WeightQuantizer {
        WeightQuantizer(bits: bits, clips: channels.map { clips[$0] })
    }
}

/// The clip in (0, max|x|] that minimizes the squared error of uniform quantization with `levels` steps
/// per sign, searched over 20 fractions of the maximum.
func bestClip(_ x: UnsafeBufferPointer<Float>, levels: Float, signed: Bool) -> Float {
    var maxAbs: Float = 0
    for v in x { maxAbs = max(maxAbs, signed ? abs(v) : v) }
    guard maxAbs > 0 else { return 0 }
    var best = maxAbs, bestError = Float.infinity
    for step in 0..<20 {
        let clip = maxAbs * (1 - Float(step) * 0.04)
        let scale = clip / levels, inv = levels / clip
        var error: Float = 0
        let magic = VectorKernels.roundingMagic
        for v in x {
            let c = signed ? min(max(v, -clip), clip) : min(max(v, 0), clip)
            let d = ((c * inv + magic) - magic) * scale - v
            error += d * d
        }
        if error < bestError { bestError = error; best = clip }
    }
    return best
}

/// PACT activation quantization (Choi et al. 2018) with a learnable clip alpha.
///
/// Unsigned (after a ReLU): y = round(clamp(x, 0, a) / s) * s, s = a / (2^bits - 1).
/// Signed (inputs that can be negative, e.g. the image or a linear bottleneck): clamp to [-a, a],
/// s = a / (2^(bits-1) - 1). Backward: straight-through inside the clip range, zero outside; dL/da is the sum
/// of the incoming gradient where the input was clipped (times its sign when signed), as in PACT.
public final class ActivationQuantizer: Layer {
    public let name: String
    public let bits: Int
    public let signed: Bool
    public let alpha: Parameter
    private var cachedInput: Tensor?
    /// The ISA of the backward kernel; tests set each one the CPU runs.
    var kernelISA = VectorISA.current

    public init(name: String, bits: Int, signed: Bool, alpha: Float) {
        precondition(bits >= 2 && bits <= 16, "activation bits \(bits) outside 2...16")
        self.name = name
        self.bits = bits
        self.signed = signed
        self.alpha = Parameter(name: name + ".alpha", value: Tensor(shape: [1], data: [alpha]), decays: false)
    }

    public var parameters: [Parameter] { [alpha] }

    /// Largest integer level.
    public var levels: Float { Float(signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1) }

    /// Sets alpha from a calibration batch of this quantizer's inputs (squared-error optimal clip), on an evenly
    /// strided sample of at most 2^16 values: the clip search is 20 passes, and more values do not move it.
    public func calibrate(on x: Tensor) {
        let stride = max(1, x.count / (1 << 16))
        let sample = stride == 1 ? x.data : Swift.stride(from: 0, to: x.count, by: stride).map { x.data[$0] }
        let a = sample.withUnsafeBufferPointer { bestClip($0, levels: levels, signed: signed) }
        alpha.value.data[0] = max(a, 1e-3)
    }

    /// The clamp range and step of the current clip: forward, and a convolution's fused epilogue, quantize with it.
    var quantization: FakeQuantization {
        let a = max(alpha.value.data[0], 1e-6)
        return FakeQuantization(lo: signed ? -a : 0, hi: a, inv: levels / a, scale: a / levels)
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let q = quantization
        let y = Tensor(shape: x.shape) { out in
            x.data.withUnsafeBufferPointer { xp in
                q.apply(xp.baseAddress!, out.baseAddress!, count: out.count)
            }
        }
        if training { cachedInput = x }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard let x = cachedInput else { preconditionFailure("\(name): backward without a training forward") }
        let a = max(alpha.value.data[0], 1e-6), lo: Float = signed ? -a : 0
        var dAlpha = 0.0
        let dx = Tensor(shape: x.shape) { d in
            x.data.withUnsafeBufferPointer { xp in
                gradOutput.data.withUnsafeBufferPointer { g in
                    dAlpha = seer_activation_quantizer_backward(kernelISA.c, xp.baseAddress!, g.baseAddress!,
                                                                d.baseAddress!, d.count, lo, a, signed)
                }
            }
        }
        alpha.grad.data[0] += Float(dAlpha)
        cachedInput = nil
        return [dx]
    }
}

/// out = round(clamp(x, lo, hi) * inv) * scale (`VectorKernels.fakeQuantize`).
struct FakeQuantization {
    let lo: Float, hi: Float, inv: Float, scale: Float

    func apply(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
        VectorKernels.fakeQuantize(x, out, count: count, lo: lo, hi: hi, inv: inv, scale: scale)
    }
}
