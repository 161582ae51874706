import SeerTensor

/// 2-D convolution over NCHW with stride, zero padding and groups.
///
/// Training runs dense and grouped convolutions as im2col + one `cblas_sgemm` per group over the whole batch;
/// inference runs them on the direct AVX-512 kernel (`DirectConvolution`) where the CPU has one, else per image on
/// OpenBLAS (`TapConvolution`, im2col). Depthwise convolutions (groups == channels) run as direct loops, because a
/// GEMM with one row per group would spend its time in call overhead.
public final class Conv2D: Layer {
    public let name: String
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    public let weight: Parameter          // [out, in / groups, k, k]
    public private(set) var bias: Parameter?  // [out]

    /// Simulated low-bit weights: forward and the input gradient use the quantized weights, the weight
    /// gradient goes to the float weights unchanged (straight-through).
    public var weightQuantizer: WeightQuantizer? { didSet { quantizedWeight.reset(); directWeights.reset() } }

    /// Whether the layer runs on the hand-written kernel (`DirectConvolution`); true where the CPU has it, unless
    /// `SEER_CONV_KERNEL=openblas` asks for the OpenBLAS paths (what CPUs without AVX-512 run, so one host can
    /// reproduce their summation order end to end). Tests and benchmarks also turn it off per layer; turning it on
    /// elsewhere traps.
    public var usesDirectKernel = DirectConvolution.isSelected

    private var cachedInput: Tensor?
    private var cachedCols: [Float] = []
    private var cachedWeight: Tensor?

    /// The weights forward uses: quantized when a quantizer is set.
    /// The quantized weights are computed once per weight version and quantizer: inference re-uses them, training
    /// recomputes them after every update.
    public var effectiveWeight: Tensor {
        guard let q = weightQuantizer else { return weight.value }
        return quantizedWeight.value(of: weight) { q.quantize(weight.value) }
    }
    private var quantizedWeight = DerivedFromParameter<Tensor>()

    /// The effective weights packed for `DirectConvolution`.
    private var directWeights = DerivedFromParameter<[Float]>()

    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, bias: Bool = false, rng: inout SeededGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "\(name): channels not divisible by groups")
        self.name = name
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        // Kaiming normal (fan-out, ReLU gain) as in the CIFAR ResNet references.
        let fanOut = Float(outChannels / groups * kernel * kernel)
        weight = Parameter(name: name + ".weight",
                           value: .randomNormal(shape: [outChannels, inChannels / groups, kernel, kernel],
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

    func geometry(_ x: Tensor) -> ConvGeometry {
        ConvGeometry(batch: x.shape[0], channels: inChannels / groups, height: x.shape[2], width: x.shape[3],
                     kernel: kernel, stride: stride, padding: padding)
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
        var y = isDepthwise ? Tensor(shape: [g.batch, outChannels, g.outHeight, g.outWidth])
            : Tensor(shape: [g.batch, outChannels, g.outHeight, g.outWidth]) { _ in }  // every element is scattered into
        let w = effectiveWeight
        if let residual = epilogue?.residual {
            precondition(residual.shape == y.shape, "\(name): fused residual \(residual.shape) + output \(y.shape)")
        }
        if isDepthwise {
            DepthwiseKernels.forward(x, w, g, &y)
            if let b = bias { addBias(&y, b.value) }
            epilogue?.apply(&y, images: 0..<g.batch)
        } else if training && usesDirectKernel {
            // The direct kernel is faster than the GEMM; backward builds the columns it needs (im2col moves there,
            // and no batch of columns is held between the passes).
            directForward(x, w, g, &y, nil)
            cachedCols = []
        } else if training {
            denseForward(x, w, g, &y)
            if let b = bias { addBias(&y, b.value) }
        } else {
            denseInference(x, w, g, &y, epilogue)
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
        if isDepthwise {
            DepthwiseKernels.backward(x, w, gradOutput, g, &weight.grad, &dx)
        } else {
            denseBackward(gradOutput, w, g, &dx)
        }
        cachedInput = nil
        cachedWeight = nil
        cachedCols = []
        return [dx]
    }

    // MARK: dense and grouped: im2col + sgemm

    /// The whole batch's im2col columns, group after group (g.rows x g.columns each).
    private func columns(_ x: Tensor, _ g: ConvGeometry) -> [Float] {
        var cols = Tensor.scratch(count: g.rows * g.columns * groups)
        x.data.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { cp in
                for grp in 0..<groups {
                    Im2col.im2col(xp.baseAddress! + grp * g.channels * g.height * g.width,
                                  imageStride: inChannels * g.height * g.width, g, cp.baseAddress! + grp * g.rows * g.columns)
                }
            }
        }
        return cols
    }

    /// Training forward without the direct kernel: one GEMM per group over the whole batch; keeps the columns for
    /// backward.
    private func denseForward(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: inout Tensor) {
        let ohw = g.outHeight * g.outWidth, og = outChannels / groups
        let cols = columns(x, g)
        var product = Tensor.scratch(count: outChannels * g.columns)
        cols.withUnsafeBufferPointer { cp in
            product.withUnsafeMutableBufferPointer { pp in
                w.data.withUnsafeBufferPointer { wp in
                    for grp in 0..<groups {
                        sgemm(m: og, n: g.columns, k: g.rows, a: wp.baseAddress! + grp * og * g.rows,
                              b: cp.baseAddress! + grp * g.rows * g.columns, c: pp.baseAddress! + grp * og * g.columns)
                    }
                }
            }
        }
        // [out, batch * ohw] -> [batch, out, ohw]
        scatterChannelMajor(product, into: &y, batch: g.batch, channels: outChannels, plane: ohw)
        cachedCols = cols
    }

    /// Images per GEMM at inference: enough output columns (`inferenceColumns`) for OpenBLAS to run near its peak,
    /// few enough that the columns of the chunk stay in cache.
    static let inferenceColumns = 512

    /// Inference needs no columns for backward. Without the direct kernel it walks the batch a few images at a time:
    /// their im2col stays in cache for the GEMM, and with one image per GEMM, W[out x k] * cols[k x plane] is already
    /// the NCHW output (no scatter); several images (small planes) are stored to NCHW from cache. The bias is added
    /// in the same pass.
    private func denseInference(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: inout Tensor,
                                _ epilogue: ConvEpilogue?) {
        if y.count == 0 { return }
        if usesDirectKernel { return directForward(x, w, g, &y, epilogue) }
        if TapConvolution.applies(g) { return tapInference(x, w, g, &y, epilogue) }
        let hw = g.height * g.width, ohw = g.outHeight * g.outWidth, og = outChannels / groups, k = g.rows
        let imageIn = inChannels * hw, imageOut = outChannels * ohw
        let perGemm = max(1, min(g.batch, Self.inferenceColumns / max(1, ohw)))
        // A 1x1 stride-1 convolution without padding reads the input planes as its columns.
        let direct = kernel == 1 && stride == 1 && padding == 0 && perGemm == 1
        var cols = direct ? [] : Tensor.scratch(count: k * perGemm * ohw)
        var product = perGemm == 1 ? [] : Tensor.scratch(count: outChannels * perGemm * ohw)
        let biasValues = bias?.value.data ?? []
        x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                y.data.withUnsafeMutableBufferPointer { yb in
                    cols.withUnsafeMutableBufferPointer { cb in
                        product.withUnsafeMutableBufferPointer { pb in
                            biasValues.withUnsafeBufferPointer { bb in
                                let xp = xb.baseAddress!, wp = wb.baseAddress!, yp = yb.baseAddress!
                                let bp = bias == nil ? nil : bb.baseAddress
                                var n0 = 0
                                while n0 < g.batch {
                                    let images = min(perGemm, g.batch - n0), columns = images * ohw
                                    for grp in 0..<groups {
                                        let input = xp + n0 * imageIn + grp * g.channels * hw
                                        let b: UnsafePointer<Float>
                                        if direct {
                                            b = input
                                        } else {
                                            for i in 0..<images {
                                                Im2col.image(input + i * imageIn, g, cb.baseAddress! + i * ohw, ld: columns)
                                            }
                                            b = UnsafePointer(cb.baseAddress!)
                                        }
                                        let c = images == 1 ? yp + n0 * imageOut + grp * og * ohw
                                            : pb.baseAddress! + grp * og * columns
                                        sgemm(m: og, n: columns, k: k, a: wp + grp * og * k, b: b, c: c)
                                    }
                                    if images == 1 {
                                        if let bp {
                                            Im2col.addBias(bp, channels: outChannels, plane: ohw, yp + n0 * imageOut)
                                        }
                                    } else {
                                        Im2col.storeImages(pb.baseAddress!, images: images, channels: outChannels,
                                                           plane: ohw, bias: bp, yp + n0 * imageOut)
                                    }
                                    epilogue?.apply(yp, imageSize: imageOut, images: n0..<(n0 + images))
                                    n0 += images
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every dense or grouped convolution on CPUs with AVX-512, at inference and in training: the direct kernel, one
    /// group of one image at a time, the epilogue applied to each image while it is in cache.
    private func directForward(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: inout Tensor,
                                 _ epilogue: ConvEpilogue?) {
        let packed = directWeights.value(of: weight) {
            w.data.withUnsafeBufferPointer {
                DirectConvolution.pack($0.baseAddress!, outChannels: outChannels / groups, groups: groups, g)
            }
        }
        let imageOut = outChannels * g.outHeight * g.outWidth, biasValues = bias?.value.data ?? []
        x.data.withUnsafeBufferPointer { xb in
            packed.withUnsafeBufferPointer { kb in
                biasValues.withUnsafeBufferPointer { bb in
                    y.data.withUnsafeMutableBufferPointer { yb in
                        let yp = yb.baseAddress!
                        DirectConvolution.forward(DirectConvolution.Plan(g), xb.baseAddress!, packed: kb.baseAddress!,
                                                  outChannels: outChannels, groups: groups,
                                                  bias: bias == nil ? nil : bb.baseAddress, yp) { n in
                            epilogue?.apply(yp, imageSize: imageOut, images: n..<(n + 1))
                        }
                    }
                }
            }
        }
    }

    /// Stride-1 same-size convolutions on larger planes: one accumulating GEMM per kernel tap over a zero-padded
    /// copy of each image (see `TapConvolution`).
    private func tapInference(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: inout Tensor,
                              _ epilogue: ConvEpilogue?) {
        let hw = g.height * g.width, og = outChannels / groups
        let imageIn = inChannels * hw, imageOut = outChannels * hw
        var weights = Tensor.scratch(count: w.count)
        var padded = [Float](repeating: 0, count: TapConvolution.paddedCount(g))  // borders stay zero
        var wide = Tensor.scratch(count: og * g.height * (g.width + 2 * padding))
        let biasValues = bias?.value.data ?? []
        x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                y.data.withUnsafeMutableBufferPointer { yb in
                    weights.withUnsafeMutableBufferPointer { tb in
                        padded.withUnsafeMutableBufferPointer { pb in
                            wide.withUnsafeMutableBufferPointer { db in
                                biasValues.withUnsafeBufferPointer { bb in
                                    TapConvolution.weightsByTap(wb.baseAddress!, outChannels: outChannels, groups: groups, g,
                                                                tb.baseAddress!)
                                    let bp = bias == nil ? nil : bb.baseAddress
                                    for n in 0..<g.batch {
                                        for grp in 0..<groups {
                                            TapConvolution.image(xb.baseAddress! + n * imageIn + grp * g.channels * hw,
                                                                 tb.baseAddress! + grp * og * g.rows, outChannels: og, g,
                                                                 bias: bp.map { $0 + grp * og },
                                                                 padded: pb.baseAddress!, wide: db.baseAddress!,
                                                                 yb.baseAddress! + n * imageOut + grp * og * hw)
                                        }
                                        epilogue?.apply(yb.baseAddress!, imageSize: imageOut, images: n..<(n + 1))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private func denseBackward(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry, _ dx: inout Tensor) {
        let ohw = g.outHeight * g.outWidth, og = outChannels / groups
        let dyCM = gatherChannelMajor(dy, batch: g.batch, channels: outChannels, plane: ohw)
        if cachedCols.isEmpty, let x = cachedInput { cachedCols = columns(x, g) }  // forward ran the direct kernel
        let directInput = usesDirectKernel && stride == 1 && padding <= kernel - 1
        var dCols = directInput ? [] : Tensor.scratch(count: g.rows * g.columns)
        let imageStride = inChannels * g.height * g.width
        dyCM.withUnsafeBufferPointer { dp in
            cachedCols.withUnsafeBufferPointer { cp in
                w.data.withUnsafeBufferPointer { wp in
                    weight.grad.data.withUnsafeMutableBufferPointer { gw in
                        dCols.withUnsafeMutableBufferPointer { dc in
                            dx.data.withUnsafeMutableBufferPointer { dxp in
                                for grp in 0..<groups {
                                    let dyG = dp.baseAddress! + grp * og * g.columns
                                    // dW += dY * cols^T
                                    sgemm(transB: true, m: og, n: g.rows, k: g.columns, a: dyG,
                                          b: cp.baseAddress! + grp * g.rows * g.columns, beta: 1,
                                          c: gw.baseAddress! + grp * og * g.rows)
                                    if directInput { continue }
                                    // dCols = W^T * dY
                                    sgemm(transA: true, m: g.rows, n: g.columns, k: og,
                                          a: wp.baseAddress! + grp * og * g.rows, b: dyG, c: dc.baseAddress!)
                                    Im2col.col2im(dc.baseAddress!, g, imageStride: imageStride,
                                                  dxp.baseAddress! + grp * g.channels * g.height * g.width)
                                }
                            }
                        }
                    }
                }
            }
        }
        if directInput { directInputGradient(dy, w, g, &dx) }
    }

    /// dX of a stride-1 convolution on the direct kernel: the convolution of dY with the weights transposed (in and
    /// out channels swapped) and flipped (tap (ky, kx) -> (k-1-ky, k-1-kx)), padded by k - 1 - p, which gives back
    /// the input's size. Needs p <= k - 1.
    private func directInputGradient(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry, _ dx: inout Tensor) {
        let k = kernel, taps = k * k, cg = g.channels, og = outChannels / groups
        let t = ConvGeometry(batch: g.batch, channels: og, height: g.outHeight, width: g.outWidth, kernel: k, stride: 1,
                             padding: k - 1 - padding)
        precondition(t.outHeight == g.height && t.outWidth == g.width, "\(name): transposed geometry \(t) for \(g)")
        // [group][out][in][tap] -> [group][in][out][flipped tap]
        var flipped = Tensor.scratch(count: w.count)
        for grp in 0..<groups {
            for o in 0..<og {
                for c in 0..<cg {
                    let src = ((grp * og + o) * cg + c) * taps, dst = ((grp * cg + c) * og + o) * taps
                    for tap in 0..<taps { flipped[dst + taps - 1 - tap] = w.data[src + tap] }
                }
            }
        }
        let packed = flipped.withUnsafeBufferPointer {
            DirectConvolution.pack($0.baseAddress!, outChannels: cg, groups: groups, t)
        }
        dy.data.withUnsafeBufferPointer { dyb in
            packed.withUnsafeBufferPointer { kb in
                dx.data.withUnsafeMutableBufferPointer { dxb in
                    DirectConvolution.forward(DirectConvolution.Plan(t), dyb.baseAddress!, packed: kb.baseAddress!,
                                              outChannels: inChannels, groups: groups, bias: nil, dxb.baseAddress!) { _ in }
                }
            }
        }
    }

    private func addBias(_ y: inout Tensor, _ b: Tensor) {
        let batch = y.shape[0], plane = y.shape[2] * y.shape[3]
        y.data.withUnsafeMutableBufferPointer { yp in
            for n in 0..<batch {
                for c in 0..<outChannels {
                    let base = yp.baseAddress! + (n * outChannels + c) * plane
                    let v = b.data[c]
                    for i in 0..<plane { base[i] += v }
                }
            }
        }
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
/// and vectorizes at stride 1.
enum DepthwiseKernels {
    /// Output columns [lo, hi) whose input column ox * s - p + kx lies inside 0..<width; always within 0...outWidth
    /// (an empty range at outWidth when the first valid column lies past the output).
    @inline(__always)
    static func validColumns(kx: Int, stride s: Int, padding p: Int, width: Int, outWidth: Int) -> Range<Int> {
        let lo = min(outWidth, max(0, (p - kx + s - 1) / s))
        let last = width - 1 + p - kx  // the last valid ox is floor(last / s); none when last < 0
        let hi = last < 0 ? 0 : min(outWidth, last / s + 1)
        return lo..<max(lo, hi)
    }

    static func forward(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: inout Tensor) {
        let channels = x.shape[1], h = g.height, wd = g.width, oh = g.outHeight, ow = g.outWidth
        let k = g.kernel, s = g.stride, p = g.padding
        let columns = (0..<k).map { validColumns(kx: $0, stride: s, padding: p, width: wd, outWidth: ow) }
        x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                y.data.withUnsafeMutableBufferPointer { yb in
                    let xp = UnsafeSendablePointer(xb.baseAddress!), wp = UnsafeSendablePointer(wb.baseAddress!)
                    let yp = UnsafeMutableSendablePointer(yb.baseAddress!)
                    Threads.parallelFor(g.batch * channels, work: g.batch * channels * oh * ow * k * k) { planes in
                        for plane in planes {
                            let c = plane % channels
                            let src = xp.p + plane * h * wd, dst = yp.p + plane * oh * ow, f = wp.p + c * k * k
                            for oy in 0..<oh {
                                let out = dst + oy * ow
                                for ky in 0..<k {
                                    let iy = oy * s - p + ky
                                    if iy < 0 || iy >= h { continue }
                                    let row = src + iy * wd
                                    for kx in 0..<k {
                                        let weight = f[ky * k + kx], r = columns[kx], shift = kx - p
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
        let k = g.kernel, s = g.stride, p = g.padding
        let columns = (0..<k).map { validColumns(kx: $0, stride: s, padding: p, width: wd, outWidth: ow) }
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
                            Threads.parallelFor(channels, work: batch * channels * oh * ow * k * k) { cs in
                                for c in cs {
                                    let f = wp.p + c * k * k, df = dwp.p + c * k * k
                                    for n in 0..<batch {
                                        let plane = n * channels + c
                                        let src = xp.p + plane * h * wd, dsrc = dxp.p + plane * h * wd
                                        let grad = dp.p + plane * oh * ow
                                        for oy in 0..<oh {
                                            let gRow = grad + oy * ow
                                            for ky in 0..<k {
                                                let iy = oy * s - p + ky
                                                if iy < 0 || iy >= h { continue }
                                                let row = src + iy * wd, dRow = dsrc + iy * wd
                                                for kx in 0..<k {
                                                    let weight = f[ky * k + kx], r = columns[kx], shift = kx - p
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
                                                    df[ky * k + kx] += tap
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
