import SeerTensor

/// im2col + OpenBLAS: training runs one `cblas_sgemm` per group over the whole batch's columns, which are kept for
/// the weight gradient; inference walks the batch a few images at a time (`TapConvolution` for stride-1 "same"
/// convolutions on larger planes), so the columns stay in cache.
final class Im2colConvolution: ConvolutionBackend {
    var algorithm: ConvolutionAlgorithm { .im2col }

    /// The training forward's columns, for the weight gradient.
    private var cachedCols: [Float] = []

    func forward(_ x: Tensor, _ w: Tensor, version: WeightVersion, bias: Tensor?, _ s: ConvShape, training: Bool,
                 epilogue: ConvEpilogue?, _ y: inout Tensor) {
        if y.count == 0 { return }
        if training {
            trainingForward(x, w, s, &y)
            if let bias { Self.addBias(&y, bias) }
            epilogue?.apply(&y, images: 0..<s.g.batch)
        } else if let sq = TapConvolution.applicable(s.g) {
            tapInference(x, w, bias, s, sq, &y, epilogue)
        } else {
            inference(x, w, bias, s, &y, epilogue)
        }
    }

    func endStep() { cachedCols = [] }

    func implementation(_ s: ConvShape) -> String {
        "openblas " + (TapConvolution.applicable(s.g) != nil ? "per-tap gemm" : "im2col gemm")
    }

    /// The whole batch's im2col columns, group after group (g.rows x g.columns each).
    static func columns(_ x: Tensor, _ s: ConvShape) -> [Float] {
        let g = s.g
        var cols = Tensor.scratch(count: g.rows * g.columns * s.groups)
        x.data.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { cp in
                for grp in 0..<s.groups {
                    Im2col.im2col(xp.baseAddress! + grp * g.channels * g.height * g.width,
                                  imageStride: s.inChannels * g.height * g.width, g,
                                  cp.baseAddress! + grp * g.rows * g.columns)
                }
            }
        }
        return cols
    }

    /// One GEMM per group over the whole batch; keeps the columns for backward.
    private func trainingForward(_ x: Tensor, _ w: Tensor, _ s: ConvShape, _ y: inout Tensor) {
        let g = s.g, ohw = g.outHeight * g.outWidth, og = s.outGroupChannels
        let cols = Self.columns(x, s)
        var product = Tensor.scratch(count: s.outChannels * g.columns)
        cols.withUnsafeBufferPointer { cp in
            product.withUnsafeMutableBufferPointer { pp in
                w.data.withUnsafeBufferPointer { wp in
                    for grp in 0..<s.groups {
                        sgemm(m: og, n: g.columns, k: g.rows, a: wp.baseAddress! + grp * og * g.rows,
                              b: cp.baseAddress! + grp * g.rows * g.columns, c: pp.baseAddress! + grp * og * g.columns)
                    }
                }
            }
        }
        // [out, batch * ohw] -> [batch, out, ohw]
        scatterChannelMajor(product, into: &y, batch: g.batch, channels: s.outChannels, plane: ohw)
        cachedCols = cols
    }

    /// Images per GEMM at inference: enough output columns for OpenBLAS to run near its peak, few enough that the
    /// columns of the chunk stay in cache.
    static let inferenceColumns = 512

    /// With one image per GEMM, W[out x k] * cols[k x plane] is already the NCHW output (no scatter); several images
    /// (small planes) are stored to NCHW from cache. The bias is added in the same pass.
    private func inference(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ s: ConvShape, _ y: inout Tensor,
                           _ epilogue: ConvEpilogue?) {
        let g = s.g, hw = g.height * g.width, ohw = g.outHeight * g.outWidth, og = s.outGroupChannels, k = g.rows
        let imageIn = s.inChannels * hw, imageOut = s.outChannels * ohw
        let perGemm = max(1, min(g.batch, Self.inferenceColumns / max(1, ohw)))
        // A 1x1 stride-1 convolution without padding reads the input planes as its columns.
        let direct = g.window == .square(kernel: 1) && perGemm == 1
        var cols = direct ? [] : Tensor.scratch(count: k * perGemm * ohw)
        var product = perGemm == 1 ? [] : Tensor.scratch(count: s.outChannels * perGemm * ohw)
        let biasValues = bias?.data ?? []
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
                                    for grp in 0..<s.groups {
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
                                            Im2col.addBias(bp, channels: s.outChannels, plane: ohw, yp + n0 * imageOut)
                                        }
                                    } else {
                                        Im2col.storeImages(pb.baseAddress!, images: images, channels: s.outChannels,
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

    /// Stride-1 same-size convolutions on larger planes: one accumulating GEMM per kernel tap over a zero-padded
    /// copy of each image (see `TapConvolution`).
    private func tapInference(_ x: Tensor, _ w: Tensor, _ bias: Tensor?, _ s: ConvShape, _ sq: SquareConvGeometry,
                              _ y: inout Tensor, _ epilogue: ConvEpilogue?) {
        let g = s.g, hw = g.height * g.width, og = s.outGroupChannels
        let imageIn = s.inChannels * hw, imageOut = s.outChannels * hw
        var weights = Tensor.scratch(count: w.count)
        var padded = [Float](repeating: 0, count: TapConvolution.paddedCount(sq))  // borders stay zero
        var wide = Tensor.scratch(count: og * g.height * (g.width + 2 * sq.padding))
        let biasValues = bias?.data ?? []
        x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                y.data.withUnsafeMutableBufferPointer { yb in
                    weights.withUnsafeMutableBufferPointer { tb in
                        padded.withUnsafeMutableBufferPointer { pb in
                            wide.withUnsafeMutableBufferPointer { db in
                                biasValues.withUnsafeBufferPointer { bb in
                                    TapConvolution.weightsByTap(wb.baseAddress!, outChannels: s.outChannels,
                                                                groups: s.groups, g, tb.baseAddress!)
                                    let bp = bias == nil ? nil : bb.baseAddress
                                    for n in 0..<g.batch {
                                        for grp in 0..<s.groups {
                                            TapConvolution.image(xb.baseAddress! + n * imageIn + grp * g.channels * hw,
                                                                 tb.baseAddress! + grp * og * g.rows, outChannels: og, sq,
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

    func backwardData(_ dy: Tensor, _ w: Tensor, _ s: ConvShape, _ dx: inout Tensor) {
        inputGradient(Self.channelMajor(dy, s), w, s, &dx)
    }

    func backwardWeights(_ x: Tensor, _ dy: Tensor, _ s: ConvShape, _ dw: inout Tensor) {
        weightGradient(Self.channelMajor(dy, s), x, s, &dw)
    }

    /// Both passes on one channel-major copy of dY.
    func backward(_ x: Tensor, _ dy: Tensor, _ w: Tensor, _ s: ConvShape, dx: inout Tensor, dw: inout Tensor) {
        let dyCM = Self.channelMajor(dy, s)
        weightGradient(dyCM, x, s, &dw)
        inputGradient(dyCM, w, s, &dx)
    }

    /// dY as [out, batch * plane], the GEMMs' layout.
    private static func channelMajor(_ dy: Tensor, _ s: ConvShape) -> [Float] {
        gatherChannelMajor(dy, batch: s.g.batch, channels: s.outChannels, plane: s.g.outHeight * s.g.outWidth)
    }

    /// dW += dY * cols^T per group, on the training forward's columns or (when forward kept none) new ones.
    private func weightGradient(_ dyCM: [Float], _ x: Tensor, _ s: ConvShape, _ dw: inout Tensor) {
        let g = s.g, og = s.outGroupChannels
        if cachedCols.isEmpty { cachedCols = Self.columns(x, s) }
        dyCM.withUnsafeBufferPointer { dp in
            cachedCols.withUnsafeBufferPointer { cp in
                dw.data.withUnsafeMutableBufferPointer { gw in
                    for grp in 0..<s.groups {
                        sgemm(transB: true, m: og, n: g.rows, k: g.columns, a: dp.baseAddress! + grp * og * g.columns,
                              b: cp.baseAddress! + grp * g.rows * g.columns, beta: 1,
                              c: gw.baseAddress! + grp * og * g.rows)
                    }
                }
            }
        }
    }

    /// dX = col2im(W^T * dY) per group.
    private func inputGradient(_ dyCM: [Float], _ w: Tensor, _ s: ConvShape, _ dx: inout Tensor) {
        let g = s.g, og = s.outGroupChannels, imageStride = s.inChannels * g.height * g.width
        var dCols = Tensor.scratch(count: g.rows * g.columns)
        dyCM.withUnsafeBufferPointer { dp in
            w.data.withUnsafeBufferPointer { wp in
                dCols.withUnsafeMutableBufferPointer { dc in
                    dx.data.withUnsafeMutableBufferPointer { dxp in
                        for grp in 0..<s.groups {
                            sgemm(transA: true, m: g.rows, n: g.columns, k: og, a: wp.baseAddress! + grp * og * g.rows,
                                  b: dp.baseAddress! + grp * og * g.columns, c: dc.baseAddress!)
                            Im2col.col2im(dc.baseAddress!, g, imageStride: imageStride,
                                          dxp.baseAddress! + grp * g.channels * g.height * g.width)
                        }
                    }
                }
            }
        }
    }

    static func addBias(_ y: inout Tensor, _ b: Tensor) {
        let batch = y.shape[0], channels = y.shape[1], plane = y.shape[2] * y.shape[3]
        y.data.withUnsafeMutableBufferPointer { yp in
            for n in 0..<batch {
                for c in 0..<channels {
                    let base = yp.baseAddress! + (n * channels + c) * plane
                    let v = b.data[c]
                    for i in 0..<plane { base[i] += v }
                }
            }
        }
    }
}
