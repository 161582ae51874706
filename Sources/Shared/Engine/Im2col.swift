import SeerTensor

/// The unsafe pointer kernels of the convolution, in one place.
///
/// Column layout for a batch: row r = (c * kh + ky) * kw + kx, column j = b * (oh * ow) + oy * ow + ox,
/// so that one GEMM covers the whole batch (small feature maps make per-image GEMMs too thin to be fast).
@usableFromInline
struct ConvGeometry: Hashable {
    let batch: Int, channels: Int, height: Int, width: Int
    let window: Window2D
    var outHeight: Int { window.height.outputs(height) }
    var outWidth: Int { window.width.outputs(width) }
    var rows: Int { channels * window.taps }
    var columns: Int { batch * outHeight * outWidth }

    init(batch: Int, channels: Int, height: Int, width: Int, window: Window2D) {
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        self.window = window
    }

    /// A square, undilated window.
    init(batch: Int, channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        self.init(batch: batch, channels: channels, height: height, width: width,
                  window: .square(kernel: kernel, stride: stride, padding: padding))
    }

    /// The same window over another batch or plane.
    func with(batch: Int, height: Int? = nil, width: Int? = nil) -> ConvGeometry {
        ConvGeometry(batch: batch, channels: channels, height: height ?? self.height, width: width ?? self.width,
                     window: window)
    }
}

/// A geometry whose window is square and undilated (`SquareWindow`): what the hand-written kernels
/// (`DirectConvolution`, `TapConvolution`) take, so that no other window can reach them.
struct SquareConvGeometry: Hashable {
    let g: ConvGeometry
    let kernel: Int, stride: Int, padding: Int

    init?(_ g: ConvGeometry) {
        guard let square = g.window.square else { return nil }
        self.g = g
        (kernel, stride, padding) = (square.kernel, square.stride, square.padding)
    }
}

enum Im2col {
    /// Fills `cols` (rows x columns) from the NCHW input `x` whose channel stride is `channelStride`
    /// (lets a grouped convolution read a slice of channels).
    static func im2col(_ x: UnsafePointer<Float>, imageStride: Int, _ g: ConvGeometry,
                       _ cols: UnsafeMutablePointer<Float>) {
        let hw = g.height * g.width, oh = g.outHeight, ow = g.outWidth, ohw = oh * ow
        let wy = g.window.height, wx = g.window.width, kh = wy.kernel, kw = wx.kernel, sw = wx.stride
        let cols = UnsafeMutableSendablePointer(cols), x = UnsafeSendablePointer(x)
        Threads.parallelFor(g.rows, work: g.rows * g.columns) { rows in
            for r in rows {
                let c = r / (kh * kw), ky = (r / kw) % kh, kx = r % kw
                let shiftY = wy.shift(tap: ky), shiftX = wx.shift(tap: kx)
                let rowBase = cols.p + r * g.columns
                for b in 0..<g.batch {
                    let src = x.p + b * imageStride + c * hw
                    let dst = rowBase + b * ohw
                    for oy in 0..<oh {
                        let iy = oy * wy.stride + shiftY
                        let d = dst + oy * ow
                        if iy < 0 || iy >= g.height {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let srow = src + iy * g.width
                        if sw == 1 {
                            // Contiguous run: only the padded edges need care.
                            let lo = min(ow, max(0, -shiftX)), hi = max(lo, min(ow, g.width - shiftX))
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi > lo { (d + lo).update(from: srow + (lo + shiftX), count: hi - lo) }
                            if hi < ow { (d + hi).update(repeating: 0, count: ow - hi) }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * sw + shiftX
                                d[ox] = (ix >= 0 && ix < g.width) ? srow[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// Accumulates `cols` back into the NCHW gradient `dx` (which must be zeroed by the caller).
    /// Split by input channel so that no two threads write the same element.
    static func col2im(_ cols: UnsafePointer<Float>, _ g: ConvGeometry, imageStride: Int,
                       _ dx: UnsafeMutablePointer<Float>) {
        let hw = g.height * g.width, oh = g.outHeight, ow = g.outWidth, ohw = oh * ow
        let wy = g.window.height, wx = g.window.width, kh = wy.kernel, kw = wx.kernel, sw = wx.stride
        let cols = UnsafeSendablePointer(cols), dx = UnsafeMutableSendablePointer(dx)
        Threads.parallelFor(g.channels, work: g.rows * g.columns) { channels in
            for c in channels {
                for ky in 0..<kh {
                    let shiftY = wy.shift(tap: ky)
                    for kx in 0..<kw {
                        let shiftX = wx.shift(tap: kx)
                        let rowBase = cols.p + ((c * kh + ky) * kw + kx) * g.columns
                        for b in 0..<g.batch {
                            let dst = dx.p + b * imageStride + c * hw
                            let src = rowBase + b * ohw
                            for oy in 0..<oh {
                                let iy = oy * wy.stride + shiftY
                                if iy < 0 || iy >= g.height { continue }
                                let drow = dst + iy * g.width, srow = src + oy * ow
                                if sw == 1 {
                                    let lo = max(0, -shiftX), hi = min(ow, g.width - shiftX)
                                    if hi > lo {
                                        let d = drow + (lo + shiftX), sr = srow + lo
                                        for i in 0..<(hi - lo) { d[i] += sr[i] }
                                    }
                                } else {
                                    for ox in 0..<ow {
                                        let ix = ox * sw + shiftX
                                        if ix >= 0 && ix < g.width { drow[ix] += srow[ox] }
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

/// Pointer wrappers that may cross into `concurrentPerform` closures; each user splits work so that
/// threads never write the same element.
@usableFromInline struct UnsafeSendablePointer: @unchecked Sendable {
    @usableFromInline let p: UnsafePointer<Float>
    @usableFromInline init(_ p: UnsafePointer<Float>) { self.p = p }
}

@usableFromInline struct UnsafeMutableSendablePointer: @unchecked Sendable {
    @usableFromInline let p: UnsafeMutablePointer<Float>
    @usableFromInline init(_ p: UnsafeMutablePointer<Float>) { self.p = p }
}

extension Im2col {
    /// The columns of one image for an inference GEMM: row r = (c * kh + ky) * kw + kx of `cols` (leading dimension
    /// `ld`, so that several images can sit side by side), column oy * ow + ox, read from the `g.channels` planes at
    /// `x`. Serial: the caller walks the batch one image (or a few) at a time, so the columns stay in cache for the
    /// GEMM that follows.
    ///
    /// A stride-1 convolution whose output is as large as its input ("same" padding, which includes 1x1 without
    /// padding) needs no per-row loop: each kernel tap's row is the input plane shifted by the tap's row and column
    /// offsets, i.e. one contiguous copy, after which the few entries that wrapped around a row edge and the rows
    /// shifted in from outside are zeroed.
    static func image(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ cols: UnsafeMutablePointer<Float>, ld: Int) {
        let h = g.height, w = g.width, hw = h * w, oh = g.outHeight, ow = g.outWidth, ohw = oh * ow
        let wy = g.window.height, wx = g.window.width, kh = wy.kernel, kw = wx.kernel
        assert(ld >= ohw, "im2col: leading dimension \(ld) below the plane \(ohw)")
        if wy.stride == 1 && wx.stride == 1 && oh == h && ow == w {
            for c in 0..<g.channels {
                let src = x + c * hw
                for ky in 0..<kh {
                    let dy = wy.shift(tap: ky)
                    let oy0 = min(h, max(0, -dy)), oy1 = max(oy0, min(h, h - dy))  // rows whose source row exists
                    for kx in 0..<kw {
                        let dx = wx.shift(tap: kx)
                        let d = cols + ((c * kh + ky) * kw + kx) * ld
                        if oy1 == oy0 || dx >= w || -dx >= w {
                            d.update(repeating: 0, count: ohw)
                            continue
                        }
                        if oy0 > 0 { d.update(repeating: 0, count: oy0 * w) }
                        if oy1 < h { (d + oy1 * w).update(repeating: 0, count: (h - oy1) * w) }
                        // Output j = oy * w + ox (oy in oy0..<oy1) reads source j + dy * w + dx; within a row, the
                        // entries whose ox + dx leaves 0..<w got a neighbouring row's value and are zeroed below.
                        let n = (oy1 - oy0) * w, dst = d + oy0 * w, from = oy0 * w + dy * w + dx
                        let lo = max(0, -dx), hi = n - max(0, dx)  // copy dst[lo..<hi] = src[from + lo ..< from + hi]
                        assert(from + lo >= 0 && from + hi <= hw, "im2col: shifted copy outside the plane")
                        (dst + lo).update(from: src + from + lo, count: hi - lo)
                        if dx < 0 {
                            for row in 0..<(oy1 - oy0) { (dst + row * w).update(repeating: 0, count: -dx) }
                        } else if dx > 0 {
                            for row in 0..<(oy1 - oy0) { (dst + row * w + w - dx).update(repeating: 0, count: dx) }
                        }
                    }
                }
            }
            return
        }
        let s = wx.stride
        for c in 0..<g.channels {
            let src = x + c * hw
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let d = cols + ((c * kh + ky) * kw + kx) * ld
                    let r = wx.validOutputs(tap: kx, size: w, outputs: ow)
                    let shift = wx.shift(tap: kx), lo = min(r.lowerBound, ow), hi = max(lo, r.upperBound)
                    for oy in 0..<oh {
                        let iy = oy * wy.stride + wy.shift(tap: ky), out = d + oy * ow
                        if iy < 0 || iy >= h {
                            out.update(repeating: 0, count: ow)
                            continue
                        }
                        if lo > 0 { out.update(repeating: 0, count: lo) }
                        if hi < ow { (out + hi).update(repeating: 0, count: ow - hi) }
                        if hi == lo { continue }
                        let row = src + iy * w + shift
                        assert(shift + lo * s >= 0 && shift + (hi - 1) * s < w, "im2col: row read outside the plane")
                        if s == 1 {
                            (out + lo).update(from: row + lo, count: hi - lo)
                        } else {
                            for ox in lo..<hi { out[ox] = row[ox * s] }
                        }
                    }
                }
            }
        }
    }

    /// [channels, images * plane] (leading dimension images * plane) -> `images` NCHW images at `y`, adding
    /// `bias[c]` when given.
    static func storeImages(_ product: UnsafePointer<Float>, images: Int, channels: Int, plane: Int,
                            bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>) {
        let ld = images * plane
        for c in 0..<channels {
            for i in 0..<images {
                let s = product + c * ld + i * plane, d = y + (i * channels + c) * plane
                if let bias {
                    let v = bias[c]
                    for j in 0..<plane { d[j] = s[j] + v }
                } else {
                    d.update(from: s, count: plane)
                }
            }
        }
    }

    /// y[c * plane + j] += bias[c] over one NCHW image.
    static func addBias(_ bias: UnsafePointer<Float>, channels: Int, plane: Int, _ y: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            let d = y + c * plane, v = bias[c]
            for j in 0..<plane { d[j] += v }
        }
    }
}
