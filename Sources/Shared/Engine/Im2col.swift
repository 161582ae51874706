import SeerTensor

/// The unsafe pointer kernels of the convolution, in one place.
///
/// Column layout for a batch: row r = (c * kh + ky) * kw + kx, column j = b * (oh * ow) + oy * ow + ox,
/// so that one GEMM covers the whole batch (small feature maps make per-image GEMMs too thin to be fast).
@usableFromInline
struct ConvGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let kernel: Int, stride: Int, padding: Int
    var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    var rows: Int { channels * kernel * kernel }
    var columns: Int { batch * outHeight * outWidth }
}

enum Im2col {
    /// Fills `cols` (rows x columns) from the NCHW input `x` whose channel stride is `channelStride`
    /// (lets a grouped convolution read a slice of channels).
    static func im2col(_ x: UnsafePointer<Float>, imageStride: Int, _ g: ConvGeometry,
                       _ cols: UnsafeMutablePointer<Float>) {
        let hw = g.height * g.width, oh = g.outHeight, ow = g.outWidth, ohw = oh * ow
        let k = g.kernel, s = g.stride, p = g.padding
        let cols = UnsafeMutableSendablePointer(cols), x = UnsafeSendablePointer(x)
        Threads.parallelFor(g.rows, work: g.rows * g.columns) { rows in
            for r in rows {
                let c = r / (k * k), ky = (r / k) % k, kx = r % k
                let rowBase = cols.p + r * g.columns
                for b in 0..<g.batch {
                    let src = x.p + b * imageStride + c * hw
                    let dst = rowBase + b * ohw
                    for oy in 0..<oh {
                        let iy = oy * s - p + ky
                        let d = dst + oy * ow
                        if iy < 0 || iy >= g.height {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let srow = src + iy * g.width
                        if s == 1 {
                            // Contiguous run: only the padded edges need care.
                            let lo = max(0, p - kx), hi = min(ow, g.width + p - kx)
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi > lo { (d + lo).update(from: srow + (lo - p + kx), count: hi - lo) }
                            if hi < ow { (d + max(hi, lo)).update(repeating: 0, count: ow - max(hi, lo)) }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * s - p + kx
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
        let k = g.kernel, s = g.stride, p = g.padding
        let cols = UnsafeSendablePointer(cols), dx = UnsafeMutableSendablePointer(dx)
        Threads.parallelFor(g.channels, work: g.rows * g.columns) { channels in
            for c in channels {
                for ky in 0..<k {
                    for kx in 0..<k {
                        let rowBase = cols.p + ((c * k + ky) * k + kx) * g.columns
                        for b in 0..<g.batch {
                            let dst = dx.p + b * imageStride + c * hw
                            let src = rowBase + b * ohw
                            for oy in 0..<oh {
                                let iy = oy * s - p + ky
                                if iy < 0 || iy >= g.height { continue }
                                let drow = dst + iy * g.width, srow = src + oy * ow
                                if s == 1 {
                                    let lo = max(0, p - kx), hi = min(ow, g.width + p - kx)
                                    if hi > lo {
                                        let d = drow + (lo - p + kx), sr = srow + lo
                                        for i in 0..<(hi - lo) { d[i] += sr[i] }
                                    }
                                } else {
                                    for ox in 0..<ow {
                                        let ix = ox * s - p + kx
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
