import SeerTensor

/// The hand-written AVX-512 kernel (`DirectConvolution`) as a backend: forward at inference and in training, and dX
/// of stride-1 convolutions as a convolution of dY with the transposed, flipped weights. The weight gradient (and dX
/// of strided convolutions) runs on the im2col path, which builds the columns it needs in backward, so no batch of
/// columns is held between the passes. The kernel takes square, undilated windows (`SquareConvGeometry`); layers with
/// other windows run entirely on the im2col path.
final class DirectConvolutionBackend: ConvolutionBackend {
    var algorithm: ConvolutionAlgorithm { .direct }

    private let gemm = Im2colConvolution()
    /// The effective weights packed for the kernel, for the version they were packed from.
    private var packed: (version: WeightVersion, shape: ConvShape, values: [Float])?

    func forward(_ x: Tensor, _ w: Tensor, version: WeightVersion, bias: Tensor?, _ s: ConvShape, training: Bool,
                 epilogue: ConvEpilogue?, _ y: inout Tensor) {
        if y.count == 0 { return }
        guard let sq = SquareConvGeometry(s.g) else {
            gemm.forward(x, w, version: version, bias: bias, s, training: training, epilogue: epilogue, &y)
            return
        }
        let g = s.g
        if packed == nil || packed!.version != version || packed!.shape.outChannels != s.outChannels
            || packed!.shape.g.rows != g.rows {
            let values = w.data.withUnsafeBufferPointer {
                DirectConvolution.pack($0.baseAddress!, outChannels: s.outGroupChannels, groups: s.groups, g)
            }
            packed = (version, s, values)
        }
        let imageOut = s.outChannels * g.outHeight * g.outWidth, biasValues = bias?.data ?? []
        x.data.withUnsafeBufferPointer { xb in
            packed!.values.withUnsafeBufferPointer { kb in
                biasValues.withUnsafeBufferPointer { bb in
                    y.data.withUnsafeMutableBufferPointer { yb in
                        let yp = yb.baseAddress!
                        DirectConvolution.forward(DirectConvolution.Plan(sq), xb.baseAddress!, packed: kb.baseAddress!,
                                                  outChannels: s.outChannels, groups: s.groups,
                                                  bias: bias == nil ? nil : bb.baseAddress, yp) { n in
                            epilogue?.apply(yp, imageSize: imageOut, images: n..<(n + 1))
                        }
                    }
                }
            }
        }
    }

    /// The square geometry when dX runs on the kernel: stride 1 and a padding the transposed convolution can
    /// express.
    private static func kernelComputesInputGradient(_ s: ConvShape) -> SquareConvGeometry? {
        guard let sq = SquareConvGeometry(s.g), sq.stride == 1, sq.padding <= sq.kernel - 1 else { return nil }
        return sq
    }

    func backwardData(_ dy: Tensor, _ w: Tensor, _ s: ConvShape, _ dx: inout Tensor) {
        if let sq = Self.kernelComputesInputGradient(s) {
            inputGradient(dy, w, s, sq, &dx)
        } else {
            gemm.backwardData(dy, w, s, &dx)
        }
    }

    func backwardWeights(_ x: Tensor, _ dy: Tensor, _ s: ConvShape, _ dw: inout Tensor) {
        gemm.backwardWeights(x, dy, s, &dw)
    }

    func backward(_ x: Tensor, _ dy: Tensor, _ w: Tensor, _ s: ConvShape, dx: inout Tensor, dw: inout Tensor) {
        if let sq = Self.kernelComputesInputGradient(s) {
            gemm.backwardWeights(x, dy, s, &dw)
            inputGradient(dy, w, s, sq, &dx)
        } else {
            gemm.backward(x, dy, w, s, dx: &dx, dw: &dw)
        }
    }

    func endStep() { gemm.endStep() }

    func implementation(_ s: ConvShape) -> String {
        SquareConvGeometry(s.g) == nil ? gemm.implementation(s) + " (window not square)" : "direct avx512"
    }

    /// dX of a stride-1 convolution: the convolution of dY with the weights transposed (in and out channels swapped)
    /// and flipped (tap (ky, kx) -> (k-1-ky, k-1-kx)), padded by k - 1 - p, which gives back the input's size.
    private func inputGradient(_ dy: Tensor, _ w: Tensor, _ s: ConvShape, _ sq: SquareConvGeometry,
                               _ dx: inout Tensor) {
        let g = s.g, k = sq.kernel, taps = k * k, cg = g.channels, og = s.outGroupChannels, groups = s.groups
        let t = ConvGeometry(batch: g.batch, channels: og, height: g.outHeight, width: g.outWidth, kernel: k, stride: 1,
                             padding: k - 1 - sq.padding)
        let transposed = SquareConvGeometry(t)!  // square by construction
        precondition(t.outHeight == g.height && t.outWidth == g.width, "transposed geometry \(t) for \(g)")
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
                    DirectConvolution.forward(DirectConvolution.Plan(transposed), dyb.baseAddress!, packed: kb.baseAddress!,
                                              outChannels: s.inChannels, groups: groups, bias: nil, dxb.baseAddress!) { _ in }
                }
            }
        }
    }
}
