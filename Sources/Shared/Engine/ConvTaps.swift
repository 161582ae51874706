import SeerTensor

/// Part of `Im2colConvolution`:
/// inference for stride-1 "same" convolutions (output as large as the input) on larger planes, without im2col:
/// the image is copied once into a zero-padded buffer (row length w + 2p), and for each kernel tap (ky, kx) the
/// padded planes read at offset ky * (w + 2p) + kx are the tap's [channels x h * (w + 2p)] column matrix, so the
/// output is k * k accumulating GEMMs W_tap[out x channels] * X_tap (ldb = the padded plane). Each output row
/// carries 2p extra columns that wrapped around the row edge; they are dropped when storing to NCHW.
///
/// im2col writes every input value k * k times and OpenBLAS then packs it again; here OpenBLAS packs straight from
/// the padded image. Measured on resnet20's 28x28 and 14x14 stages (one thread, OpenBLAS Haswell kernels) this is
/// 10-25% faster than per-image im2col + one GEMM; on 7x7 planes the 2p wasted columns per row and the thin GEMMs
/// make it slower, so `applicable` keeps it to planes of at least `minimumPlane` outputs. Square, undilated windows
/// only (`SquareConvGeometry`); other stride-1 same-size windows run on im2col.
enum TapConvolution {
    static let minimumPlane = 144
    static let minimumChannels = 4

    /// The geometry as this path takes it when it applies to `g`; nil otherwise.
    static func applicable(_ g: ConvGeometry) -> SquareConvGeometry? {
        guard let sq = SquareConvGeometry(g), sq.stride == 1, sq.kernel > 1, g.outHeight == g.height,
              g.outWidth == g.width, g.height * g.width >= minimumPlane, g.channels >= minimumChannels else { return nil }
        return sq
    }

    /// Padded-buffer floats one group needs: its planes plus the slack the last tap's wrapped columns read.
    static func paddedCount(_ sq: SquareConvGeometry) -> Int {
        let p = sq.padding, g = sq.g
        return g.channels * (g.height + 2 * p) * (g.width + 2 * p) + sq.kernel
    }

    /// [out, channels, k, k] of every group -> [group][tap][out][channels].
    static func weightsByTap(_ w: UnsafePointer<Float>, outChannels: Int, groups: Int, _ g: ConvGeometry,
                             _ out: UnsafeMutablePointer<Float>) {
        let taps = g.window.taps, cg = g.channels, og = outChannels / groups
        for grp in 0..<groups {
            let src = w + grp * og * cg * taps, dst = out + grp * og * cg * taps
            for o in 0..<og {
                for c in 0..<cg {
                    for t in 0..<taps { dst[(t * og + o) * cg + c] = src[(o * cg + c) * taps + t] }
                }
            }
        }
    }

    /// One group of one image: `x` its input planes, `weights` its [tap][out][channels] block, `y` its NCHW output
    /// planes. `padded` (paddedCount floats) must be zero outside the image interior, which this only writes;
    /// `wide` holds og * h * (w + 2p) floats.
    static func image(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, outChannels og: Int,
                      _ sq: SquareConvGeometry, bias: UnsafePointer<Float>?, padded: UnsafeMutablePointer<Float>,
                      wide: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let g = sq.g, h = g.height, w = g.width, p = sq.padding, k = sq.kernel, cg = g.channels
        let wp = w + 2 * p, plane = (h + 2 * p) * wp, n = h * wp
        assert(applicable(g) != nil, "tap convolution: geometry \(g) is not a same-size stride-1 convolution")
        for c in 0..<cg {
            let src = x + c * h * w, dst = padded + c * plane + p * wp + p
            for row in 0..<h { (dst + row * wp).update(from: src + row * w, count: w) }
        }
        for ky in 0..<k {
            for kx in 0..<k {
                let t = ky * k + kx
                // The last row of B this tap reads ends at (cg - 1) * plane + ky * wp + kx + n <= paddedCount.
                assert((cg - 1) * plane + ky * wp + kx + n <= paddedCount(sq), "tap convolution: read past the padded buffer")
                sgemm(m: og, n: n, k: cg, a: weights + t * og * cg, lda: cg, b: padded + ky * wp + kx, ldb: plane,
                      beta: t == 0 ? 0 : 1, c: wide, ldc: n)
            }
        }
        for o in 0..<og {
            let from = wide + o * n, to = y + o * h * w, v = bias?[o] ?? 0
            for row in 0..<h {
                let s = from + row * wp, d = to + row * w
                for j in 0..<w { d[j] = s[j] + v }
            }
        }
    }
}
