import CSeerDNNL
import SeerTensor

/// One fake-quantized convolution compiled to integer arithmetic: its input levels as u8 (s8 for a signed
/// quantizer), its weight levels as s8, s32 accumulation in oneDNN's int8 kernel (VNNI where the CPU has it), and
/// the accumulators requantized to float, y = (s_a * s_w[o]) * acc + bias[o], before the layer's epilogue.
///
/// This is the fake-quantized layer's function: its float path computes sum((L_x * s_a) * (L_w * s_w[o])) + bias[o]
/// over the same integer levels, so the two differ only by float rounding (bound in docs/LATENCY.md, "int8
/// inference", and `Int8InferenceTests`).
public final class Int8Convolution {
    public let name: String
    let shape: ConvShape
    let signedInput: Bool
    /// The input quantizer's clamp and step (`ActivationQuantizer.quantization` when compiled).
    let input: FakeQuantization
    /// Weight levels, [out][in / groups][kh][kw].
    let weights: [Int8]
    /// s_a * s_w[o] per output channel.
    let scales: [Float]
    let bias: [Float]?
    private var primitives: [Key: OneDNNConvolution.Primitive] = [:]

    private struct Key: Hashable {
        let shape: ConvShape
        let chunk: Int
    }

    /// The integer form of `conv` fed by `quantizer` (`unsupported` must have returned nil for them).
    public init(_ conv: Conv2D, input quantizer: ActivationQuantizer, weights weightQuantizer: WeightQuantizer) {
        name = conv.name
        signedInput = quantizer.signed
        input = quantizer.quantization
        let out = conv.outChannels, w = conv.weight.value, per = w.count / out
        let levels = weightQuantizer.levels, magic = VectorKernels.roundingMagic
        var q = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 0, count: out)
        for o in 0..<out {
            let clip = weightQuantizer.clips[o]
            guard clip > 0 else { continue }  // the fake-quantized channel is zero too
            // The same float operations as `VectorKernels.fakeQuantize`, stopping at the level.
            let inv = levels / clip
            for i in (o * per)..<((o + 1) * per) {
                let v = min(max(w.data[i], -clip), clip)
                q[i] = Int8((v * inv + magic) - magic)
            }
            scales[o] = input.scale * (clip / levels)
        }
        weights = q
        self.scales = scales
        bias = conv.bias?.value.data
        shape = ConvShape(g: ConvGeometry(batch: 0, channels: conv.inChannels / conv.groups, height: 0, width: 0,
                                          window: conv.window),
                          outChannels: out, groups: conv.groups, hasBias: conv.bias != nil)
    }

    /// Why a convolution fed by `quantizer` with `weightQuantizer` cannot run on integers here; nil when it can.
    ///
    /// Without VNNI, oneDNN's int8 kernels add pairs of u8 x s8 products in saturating 16 bits (`vpmaddubsw`), and
    /// scale the weights of an s8 source by 1/2 (rounding them): exact only for unsigned inputs whose pair sums
    /// stay within 2^15 - 1, e.g. 7-bit activations or 7-bit weights, not 8/8 (measured: 8/8 saturates).
    public static func unsupported(input quantizer: ActivationQuantizer, weights weightQuantizer: WeightQuantizer?,
                            vnni: Bool) -> String? {
        guard let weightQuantizer else { return "float weights" }
        guard quantizer.bits <= 8, weightQuantizer.bits <= 8 else {
            return "\(weightQuantizer.bits)-bit weights, \(quantizer.bits)-bit activations: more than 8 bits"
        }
        if vnni { return nil }
        if quantizer.signed { return "signed input without VNNI (oneDNN halves the weights)" }
        let pair = 2 * Int(quantizer.levels) * Int(weightQuantizer.levels)
        if pair > Int(Int16.max) {
            return "\(weightQuantizer.bits)/\(quantizer.bits) bits without VNNI: 16-bit pair sums saturate"
        }
        return nil
    }

    /// The handle for chunk `c` of a batch-`images` input of `height` x `width`.
    private func primitive(images: Int, height: Int, width: Int, chunk: Int) -> OneDNNConvolution.Primitive {
        let part = ConvShape(
            g: shape.g.with(batch: images, height: height, width: width),
            outChannels: shape.outChannels, groups: shape.groups, hasBias: shape.hasBias)
        let key = Key(shape: part, chunk: chunk)
        if let p = primitives[key] { return p }
        let p = OneDNNConvolution.Primitive(int8: part, signedInput: signedInput, scales: scales, bias: bias)
        primitives[key] = p
        return p
    }

    /// The layer's output for the (fake-quantized) input `x`.
    public func inference(_ x: Tensor) -> Tensor { inference(x, epilogue: ConvEpilogue()) }

    /// The layer's output for the (fake-quantized) input `x`, then `epilogue`.
    func inference(_ x: Tensor, epilogue: ConvEpilogue) -> Tensor {
        let inChannels = shape.inChannels
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "\(name): input \(x.shape), expected C=\(inChannels)")
        let batch = x.shape[0], height = x.shape[2], width = x.shape[3]
        let g = shape.g.with(batch: batch, height: height, width: width)
        let imageIn = inChannels * height * width, imageOut = shape.outChannels * g.outHeight * g.outWidth
        var y = Tensor(shape: [batch, shape.outChannels, g.outHeight, g.outWidth]) { _ in }
        if let residual = epilogue.residual {
            precondition(residual.shape == y.shape, "\(name): fused residual \(residual.shape) + output \(y.shape)")
        }
        if y.count == 0 { return y }
        let work = batch * shape.outChannels * g.outHeight * g.outWidth * g.rows
        let count = work < Threads.minimumParallelWork ? 1 : max(1, min(Threads.count, batch))
        let chunks = (0..<count).map { c in (batch * c / count)..<(batch * (c + 1) / count) }
        let handles = chunks.enumerated().map { c, images in
            primitive(images: images.count, height: height, width: width, chunk: c)
        }
        var levels = [UInt8](repeating: 0, count: x.count)
        var errors = [CChar](repeating: 0, count: 256 * count)
        var statuses = [Int32](repeating: 0, count: count)
        let input = self.input
        x.data.withUnsafeBufferPointer { xb in
            levels.withUnsafeMutableBufferPointer { lb in
                weights.withUnsafeBufferPointer { wb in
                    y.data.withUnsafeMutableBufferPointer { yb in
                        errors.withUnsafeMutableBufferPointer { eb in
                            statuses.withUnsafeMutableBufferPointer { sb in
                                let xp = UnsafeSendablePointer(xb.baseAddress!), yp = UnsafeMutableSendablePointer(yb.baseAddress!)
                                let lp = UnsafeSendable(lb.baseAddress!), wp = UnsafeSendable(UnsafeMutablePointer(mutating: wb.baseAddress!))
                                let ep = UnsafeSendable(eb.baseAddress!), sp = UnsafeSendable(sb.baseAddress!)
                                Threads.parallelFor(count) { range in
                                    for c in range {
                                        let images = chunks[c], start = images.lowerBound
                                        Self.levels(xp.p + start * imageIn, lp.p + start * imageIn,
                                                    count: images.count * imageIn, input)
                                        sp.p[c] = seer_dnnl_int8_conv_forward(
                                            handles[c].handle, lp.p + start * imageIn, wp.p,
                                            yp.p + start * imageOut, ep.p + 256 * c, 256)
                                        if sp.p[c] == 0 { epilogue.apply(yp.p, imageSize: imageOut, images: images) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for c in 0..<count where statuses[c] != 0 {
            let message = errors[(256 * c)..<(256 * c + 256)].prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            fatalError("oneDNN int8 forward \(name): \(String(decoding: message, as: UTF8.self))")
        }
        return y
    }

    /// The quantizer's integer levels of `x`: round(clamp(x, lo, hi) * inv), the level whose multiple of the step
    /// `x` is when `x` is already fake-quantized (then x * inv is within a few ulps of an integer <= 255), as u8
    /// bytes, or s8 bytes for a signed quantizer. In C: Swift's generic SIMD float-to-integer conversion ran at about
    /// 130 ns per element (measured: the int8 path 6x slower than float on resnet20).
    static func levels(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<UInt8>, count n: Int,
                       _ q: FakeQuantization) {
        seer_quantize_levels(x, out, n, q.lo, q.hi, q.inv)
    }

    /// Whether the ISA oneDNN uses in this process has VNNI.
    public static var hostHasVNNI: Bool { seer_dnnl_has_vnni() }

    /// oneDNN's ISA in this process, e.g. "avx512_core_vnni", or "avx2" under DNNL_MAX_CPU_ISA=AVX2.
    public static var effectiveISA: String { String(cString: seer_dnnl_effective_isa()) }
}

extension OneDNNConvolution.Primitive {
    convenience init(int8 s: ConvShape, signedInput: Bool, scales: [Float], bias: [Float]?) {
        var shape = s.dnnlShape
        var error = [CChar](repeating: 0, count: 256)
        let handle = scales.withUnsafeBufferPointer { sp in
            (bias ?? []).withUnsafeBufferPointer { bp in
                seer_dnnl_int8_conv_create(&shape, signedInput, sp.baseAddress!, bias == nil ? nil : bp.baseAddress!,
                                           &error, error.count)
            }
        }
        guard let handle else { fatalError("oneDNN int8 convolution \(s): \(String(cString: error))") }
        self.init(handle: handle)
    }
}

/// A pointer the chunks' closures may share; each chunk touches only its own elements.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
