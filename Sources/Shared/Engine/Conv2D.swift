import SeerTensor

/// 2-D convolution over NCHW with a `Window2D` (kernel height and width, strides, dilations, zero padding per axis)
/// and groups.
///
/// Dense and grouped convolutions run on a `ConvolutionBackend` (the algorithm picked for this CPU, see
/// `ConvolutionAlgorithm`); depthwise convolutions (groups == channels) too where the backend has depthwise kernels
/// (oneDNN), else as direct loops, because a GEMM with one row per group would spend its time in call overhead.
public final class Conv2D: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int, groups: Int
    public let window: Window2D
    public let weight: Parameter          // [out, in / groups, kernel height, kernel width]
    public private(set) var bias: Parameter?  // [out]

    /// Simulated low-bit weights: forward and the input gradient use the quantized weights, the weight
    /// gradient goes to the float weights unchanged (straight-through).
    public var weightQuantizer: WeightQuantizer? {
        didSet {
            quantizedWeight.reset()
            quantizerGeneration += 1
        }
    }
    /// Counts quantizer changes, so that a backend's packed weights follow them.
    private var quantizerGeneration = 0

    /// The algorithm that runs the layer (unless it is depthwise): this process's `ConvolutionAlgorithm.selected`.
    /// Tests and benchmarks switch it per layer; one this CPU cannot run traps.
    public var convolutionAlgorithm: ConvolutionAlgorithm {
        get { backend.algorithm }
        set { if newValue != backend.algorithm { backend = newValue.makeBackend() } }
    }
    private var backend: ConvolutionBackend = ConvolutionAlgorithm.forNewLayers.makeBackend()

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

    /// A square, undilated kernel x kernel window.
    public convenience init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1,
                            padding: Int = 0, groups: Int = 1, bias: Bool = false, rng: inout SeededGenerator) {
        self.init(name: name, inChannels: inChannels, outChannels: outChannels,
                  window: .square(kernel: kernel, stride: stride, padding: padding), groups: groups, bias: bias,
                  rng: &rng)
    }

    public init(name: String, inChannels: Int, outChannels: Int, window: Window2D, groups: Int = 1, bias: Bool = false,
                rng: inout SeededGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "\(name): channels not divisible by groups")
        self.name = name
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.window = window
        self.groups = groups
        // Kaiming normal (fan-out, ReLU gain) as in the CIFAR ResNet references.
        let fanOut = Float(outChannels / groups * window.taps)
        weight = Parameter(name: name + ".weight",
                           value: .randomNormal(shape: [outChannels, inChannels / groups, window.height.kernel,
                                                        window.width.kernel],
                                                std: (2 / fanOut).squareRoot(), using: &rng),
                           decays: true)
        if bias { self.bias = Parameter(name: name + ".bias", value: Tensor(shape: [outChannels]), decays: false) }
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// Adds a bias term (zero-initialized) if the layer has none: batch-norm folding needs one.
    public func ensureBias() -> Parameter {
        if let b = bias { return b }
        let b = Parameter(name: name + ".bias", value: Tensor(shape: [outChannels]), decays: false)
        bias = b
        return b
    }

    var isDepthwise: Bool { groups == inChannels && groups == outChannels && groups > 1 }
    /// Depthwise, on a backend without depthwise kernels of its own.
    private var runsDepthwiseLoops: Bool { isDepthwise && !backend.runsDepthwise }

    func geometry(_ x: Tensor) -> ConvGeometry { geometry(inputShape: x.shape) }

    private func geometry(inputShape: [Int]) -> ConvGeometry {
        ConvGeometry(batch: inputShape[0], channels: inChannels / groups, height: inputShape[2], width: inputShape[3],
                     window: window)
    }

    private func shape(_ x: Tensor) -> ConvShape { shape(inputShape: x.shape) }

    private func shape(inputShape: [Int]) -> ConvShape {
        ConvShape(g: geometry(inputShape: inputShape), outChannels: outChannels, groups: groups, hasBias: bias != nil)
    }

    /// What runs inference on an input of `inputShape` ([batch, channels, height, width]), for benchmarks' reports.
    public func implementation(inputShape: [Int]) -> String {
        runsDepthwiseLoops ? "depthwise loops" : backend.implementation(shape(inputShape: inputShape))
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        forward(inputs[0], training: training, epilogue: nil)
    }

    /// Inference with the elementwise layers that follow applied to each image's output while it is still in cache
    /// (see `ConvEpilogue`); the result is what running those layers one after another would give.
    func inference(_ x: Tensor, epilogue: ConvEpilogue) -> Tensor {
        forward(x, training: false, epilogue: epilogue)
    }

    private func forward(_ x: Tensor, training: Bool, epilogue: ConvEpilogue?) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "\(name): input \(x.shape), expected C=\(inChannels)")
        let g = geometry(x)
        var y = runsDepthwiseLoops ? Tensor(shape: [g.batch, outChannels, g.outHeight, g.outWidth])
            : Tensor(shape: [g.batch, outChannels, g.outHeight, g.outWidth]) { _ in }  // the backend writes every element
        let w = effectiveWeight
        if let residual = epilogue?.residual {
            precondition(residual.shape == y.shape, "\(name): fused residual \(residual.shape) + output \(y.shape)")
        }
        if runsDepthwiseLoops {
            DepthwiseKernels.forward(x, w, g, &y)
            if let b = bias { Im2colConvolution.addBias(&y, b.value) }
            epilogue?.apply(&y, images: 0..<g.batch)
        } else {
            backend.forward(x, w, version: WeightVersion(parameter: weight.version, quantizer: quantizerGeneration),
                            bias: bias?.value, shape(x), training: training, epilogue: epilogue, &y)
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
        let g = geometry(x)
        if let b = bias { accumulateBiasGrad(gradOutput, b) }
        var dx = x.zerosLike()
        if runsDepthwiseLoops {
            DepthwiseKernels.backward(x, w, gradOutput, g, &weight.grad, &dx)
        } else {
            backend.backward(x, gradOutput, w, shape(x), dx: &dx, dw: &weight.grad)
        }
        cachedInput = nil
        cachedWeight = nil
        backend.endStep()
        return [dx]
    }

    private func accumulateBiasGrad(_ dy: Tensor, _ b: Parameter) {
        let batch = dy.shape[0], plane = dy.shape[2] * dy.shape[3]
        dy.data.withUnsafeBufferPointer { dp in
            for n in 0..<batch {
                for c in 0..<outChannels {
                    let base = dp.baseAddress! + (n * outChannels + c) * plane
                    var s: Float = 0
                    for i in 0..<plane { s += base[i] }
                    b.grad.data[c] += s
                }
            }
        }
    }
}

/// [channels, batch * plane] -> NCHW [batch, channels, plane].
func scatterChannelMajor(_ src: [Float], into y: inout Tensor, batch: Int, channels: Int, plane: Int) {
    src.withUnsafeBufferPointer { s in
        y.data.withUnsafeMutableBufferPointer { d in
            for c in 0..<channels {
                for n in 0..<batch {
                    (d.baseAddress! + (n * channels + c) * plane)
                        .update(from: s.baseAddress! + (c * batch + n) * plane, count: plane)
                }
            }
        }
    }
}

/// NCHW [batch, channels, plane] -> [channels, batch * plane].
func gatherChannelMajor(_ x: Tensor, batch: Int, channels: Int, plane: Int) -> [Float] {
    var out = Tensor.scratch(count: x.count)
    x.data.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { d in
            for c in 0..<channels {
                for n in 0..<batch {
                    (d.baseAddress! + (c * batch + n) * plane)
                        .update(from: s.baseAddress! + (n * channels + c) * plane, count: plane)
                }
            }
        }
    }
    return out
}

/// Direct loops for depthwise convolution (one filter per channel), written as shifted row updates:
/// for each filter tap the valid output columns form one range, so the inner loop has no bounds checks
/// and vectorizes at stride 1. Any window: kernel height and width, strides and dilations per axis.
enum DepthwiseKernels {
    static func forward(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: inout Tensor) {
        let channels = x.shape[1], h = g.height, wd = g.width, oh = g.outHeight, ow = g.outWidth
        let wy = g.window.height, wx = g.window.width, kh = wy.kernel, kw = wx.kernel, s = wx.stride, taps = kh * kw
        let columns = (0..<kw).map { wx.validOutputs(tap: $0, size: wd, outputs: ow) }
        x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                y.data.withUnsafeMutableBufferPointer { yb in
                    let xp = UnsafeSendablePointer(xb.baseAddress!), wp = UnsafeSendablePointer(wb.baseAddress!)
                    let yp = UnsafeMutableSendablePointer(yb.baseAddress!)
                    Threads.parallelFor(g.batch * channels, work: g.batch * channels * oh * ow * taps) { planes in
                        for plane in planes {
                            let c = plane % channels
                            let src = xp.p + plane * h * wd, dst = yp.p + plane * oh * ow, f = wp.p + c * taps
                            for oy in 0..<oh {
                                let out = dst + oy * ow
                                for ky in 0..<kh {
                                    let iy = oy * wy.stride + wy.shift(tap: ky)
                                    if iy < 0 || iy >= h { continue }
                                    let row = src + iy * wd
                                    for kx in 0..<kw {
                                        let weight = f[ky * kw + kx], r = columns[kx], shift = wx.shift(tap: kx)
                                        if s == 1 {
                                            let from = row + shift
                                            for ox in r { out[ox] += weight * from[ox] }
                                        } else {
                                            for ox in r { out[ox] += weight * row[ox * s + shift] }
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

    static func backward(_ x: Tensor, _ w: Tensor, _ dy: Tensor, _ g: ConvGeometry,
                         _ dw: inout Tensor, _ dx: inout Tensor) {
        let batch = g.batch, channels = x.shape[1], h = g.height, wd = g.width, oh = g.outHeight, ow = g.outWidth
        let wy = g.window.height, wx = g.window.width, kh = wy.kernel, kw = wx.kernel, s = wx.stride, taps = kh * kw
        let columns = (0..<kw).map { wx.validOutputs(tap: $0, size: wd, outputs: ow) }
        x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                dy.data.withUnsafeBufferPointer { db in
                    dw.data.withUnsafeMutableBufferPointer { dwb in
                        dx.data.withUnsafeMutableBufferPointer { dxb in
                            let xp = UnsafeSendablePointer(xb.baseAddress!), wp = UnsafeSendablePointer(wb.baseAddress!)
                            let dp = UnsafeSendablePointer(db.baseAddress!)
                            let dwp = UnsafeMutableSendablePointer(dwb.baseAddress!)
                            let dxp = UnsafeMutableSendablePointer(dxb.baseAddress!)
                            // Split by channel: each thread owns its filters' gradients and its input planes.
                            Threads.parallelFor(channels, work: batch * channels * oh * ow * taps) { cs in
                                for c in cs {
                                    let f = wp.p + c * taps, df = dwp.p + c * taps
                                    for n in 0..<batch {
                                        let plane = n * channels + c
                                        let src = xp.p + plane * h * wd, dsrc = dxp.p + plane * h * wd
                                        let grad = dp.p + plane * oh * ow
                                        for oy in 0..<oh {
                                            let gRow = grad + oy * ow
                                            for ky in 0..<kh {
                                                let iy = oy * wy.stride + wy.shift(tap: ky)
                                                if iy < 0 || iy >= h { continue }
                                                let row = src + iy * wd, dRow = dsrc + iy * wd
                                                for kx in 0..<kw {
                                                    let weight = f[ky * kw + kx], r = columns[kx]
                                                    let shift = wx.shift(tap: kx)
                                                    var tap: Float = 0
                                                    if s == 1 {
                                                        let from = row + shift, to = dRow + shift
                                                        for ox in r {
                                                            tap += gRow[ox] * from[ox]
                                                            to[ox] += weight * gRow[ox]
                                                        }
                                                    } else {
                                                        for ox in r {
                                                            tap += gRow[ox] * row[ox * s + shift]
                                                            dRow[ox * s + shift] += weight * gRow[ox]
                                                        }
                                                    }
                                                    df[ky * kw + kx] += tap
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
        }
    }
}

/// Elementwise layers fused into a convolution's inference output, in this order: a residual tensor added
/// (`Add`), a ReLU with an optional cap, an activation quantizer. Each step uses the kernel of the layer it replaces,
/// so the values are the same as running the layers one after another.
struct ConvEpilogue {
    var residual: Tensor?
    /// The ReLU's cap (`.infinity` for a plain ReLU); nil: no ReLU.
    var reluCap: Float?
    var quantization: FakeQuantization?

    var isEmpty: Bool { residual == nil && reluCap == nil && quantization == nil }

    /// Applies the epilogue to `images` of the NCHW output `y` (`imageSize` floats each).
    func apply(_ y: UnsafeMutablePointer<Float>, imageSize: Int, images: Range<Int>) {
        let start = images.lowerBound * imageSize, count = images.count * imageSize
        if let residual {
            residual.data.withUnsafeBufferPointer { r in
                Self.run(y + start, r.baseAddress! + start, count: count, self)
            }
        } else {
            Self.run(y + start, nil, count: count, self)
        }
    }

    /// One pass: out[i] (+ residual[i]), clamped by the ReLU, then fake-quantized; each step is the same float
    /// operation as in `Tensor.add`, `VectorKernels.clamp` and `VectorKernels.fakeQuantize`.
    private static func run(_ out: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?, count n: Int,
                            _ e: ConvEpilogue) {
        typealias Vector = VectorKernels.Vector
        let relu = e.reluCap != nil, cap = e.reluCap ?? .infinity
        let quantize = e.quantization != nil, q = e.quantization ?? FakeQuantization(lo: 0, hi: 0, inv: 0, scale: 0)
        let zero = Vector(repeating: 0), top = Vector(repeating: cap)
        let magic = Vector(repeating: VectorKernels.roundingMagic)
        let lo = Vector(repeating: q.lo), hi = Vector(repeating: q.hi), inv = Vector(repeating: q.inv)
        let scale = Vector(repeating: q.scale)
        var i = 0
        while i + Vector.scalarCount <= n {
            var v = UnsafeRawPointer(out + i).loadUnaligned(as: Vector.self)
            if let residual { v += UnsafeRawPointer(residual + i).loadUnaligned(as: Vector.self) }
            if relu {
                v.replace(with: zero, where: v .< zero)
                v.replace(with: top, where: v .> top)
            }
            if quantize {
                v.replace(with: lo, where: v .< lo)
                v.replace(with: hi, where: v .> hi)
                v = ((v * inv + magic) - magic) * scale
            }
            UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: Vector.self)
            i += Vector.scalarCount
        }
        while i < n {
            var v = out[i]
            if let residual { v += residual[i] }
            if relu { v = min(max(v, 0), cap) }
            if quantize {
                v = min(max(v, q.lo), q.hi)
                v = ((v * q.inv + VectorKernels.roundingMagic) - VectorKernels.roundingMagic) * q.scale
            }
            out[i] = v
            i += 1
        }
    }

    func apply(_ y: inout Tensor, images: Range<Int>) {
        if y.count == 0 { return }
        let imageSize = y.count / y.shape[0]
        y.data.withUnsafeMutableBufferPointer { apply($0.baseAddress!, imageSize: imageSize, images: images) }
    }
}
