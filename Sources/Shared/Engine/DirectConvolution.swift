import Foundation
import CSeerKernels
import SeerTensor

/// Dense convolution on the hand-written AVX-512 kernel (`seer_direct_conv`), for inference, the training forward
/// pass and (as a convolution of dY with transposed, flipped weights) dX of stride-1 convolutions: each image is
/// copied once into a zero-padded buffer, split into stride x stride phases when the stride is above 1, so that every
/// kernel tap reads a contiguous run of it; the kernel then accumulates output-channel x position tiles in registers
/// over all channels and taps. No im2col, no packing of the input, no GEMM library call.
///
/// Layout of one group of one image in `prepared`: channel c, phase (a, b) at (c * s * s + a * s + b) * phasePlane,
/// phase row i, column j holding padded pixel (s * i + a, s * j + b). Output (oy, ox) is computed at wide index
/// oy * phaseWidth + ox; each wide row carries phaseWidth - outWidth extra columns that are dropped on the way to NCHW.
/// `bench/conv` times resnet20's convolutions on both paths. Square, undilated windows only (`SquareConvGeometry`):
/// `DirectConvolutionBackend` runs the others on im2col.
enum DirectConvolution {
    /// Whether this host runs the kernel (AVX-512); `DirectConvolutionBackend` runs it for `Conv2D`.
    static let isAvailable = seer_direct_conv_available()

    /// Where each buffer of one group of one image lies, and which offsets the kernel taps read.
    struct Plan {
        let g: ConvGeometry
        let kernel: Int, stride: Int, padding: Int
        let phaseHeight: Int, phaseWidth: Int
        /// Floats per channel: all its phases.
        let channelArea: Int
        /// Offset of tap (ky, kx) = ky * k + kx from the output's wide index.
        let tapOffsets: [Int]
        /// Wide outputs per output channel: outHeight rows of phaseWidth.
        let wideCount: Int
        /// Floats `prepared` needs: the channel areas, or more when the last channel's taps read past them.
        let preparedCount: Int
        /// The phases (a, b) some tap reads: all s * s for kernels of at least the stride, fewer below (a strided
        /// 1x1 convolution reads one), and only those are copied.
        let usedPhases: [(a: Int, b: Int)]

        init(_ sq: SquareConvGeometry) {
            let g = sq.g, s = sq.stride, k = sq.kernel
            self.g = g
            (kernel, stride, padding) = (k, s, sq.padding)
            phaseHeight = (g.height + 2 * padding + s - 1) / s
            phaseWidth = (g.width + 2 * padding + s - 1) / s
            let phasePlane = phaseHeight * phaseWidth
            channelArea = s * s * phasePlane
            var offsets: [Int] = []
            for ky in 0..<k {
                for kx in 0..<k {
                    offsets.append(((ky % s) * s + kx % s) * phasePlane + (ky / s) * phaseWidth + kx / s)
                }
            }
            tapOffsets = offsets
            usedPhases = (0..<s).flatMap { a in (0..<s).map { b in (a, b) } }.filter { $0.a < k && $0.b < k }
            wideCount = g.outHeight * phaseWidth
            preparedCount = max(g.channels * channelArea, (g.channels - 1) * channelArea + offsets.max()! + wideCount)
        }

        /// Copies one group's input planes (`x`, NCHW planes of height x width) into `prepared`, which must be zero
        /// wherever no input pixel lands (the padding); those places are never written, so one zeroing serves
        /// every image.
        func prepare(_ x: UnsafePointer<Float>, _ prepared: UnsafeMutablePointer<Float>) {
            let s = stride, p = padding, h = g.height, w = g.width, phasePlane = phaseHeight * phaseWidth
            for c in 0..<g.channels {
                let src = x + c * h * w
                if s == 1 {
                    let dst = prepared + c * channelArea + p * phaseWidth + p
                    for row in 0..<h { (dst + row * phaseWidth).update(from: src + row * w, count: w) }
                    continue
                }
                for (a, b) in usedPhases {
                    let phase = prepared + c * channelArea + (a * s + b) * phasePlane
                    // Phase column j holds input column s * j + b - p: j from jLo while that is below w.
                    let jLo = max(0, (p - b + s - 1) / s), jHi = min(phaseWidth, (w + p - b + s - 1) / s)
                    for i in 0..<phaseHeight {
                        let row = s * i + a - p
                        if row < 0 || row >= h || jLo >= jHi { continue }
                        let srow = src + row * w, drow = phase + i * phaseWidth
                        for j in jLo..<jHi { drow[j] = srow[s * j + b - p] }
                    }
                }
            }
        }

        /// Wide kernel output (`outChannels` rows of `wideCount`) -> NCHW planes, plus the bias.
        func store(_ wide: UnsafePointer<Float>, outChannels: Int, bias: UnsafePointer<Float>?,
                   _ y: UnsafeMutablePointer<Float>) {
            let oh = g.outHeight, ow = g.outWidth
            for o in 0..<outChannels {
                let from = wide + o * wideCount, to = y + o * oh * ow, v = bias?[o] ?? 0
                for row in 0..<oh {
                    let s = from + row * phaseWidth, d = to + row * ow
                    for j in 0..<ow { d[j] = s[j] + v }
                }
            }
        }
    }

    /// [out, channels, k, k] weights of each group -> the kernel's packed blocks, groups one after another
    /// (`packedCount` floats per group).
    static func pack(_ w: UnsafePointer<Float>, outChannels og: Int, groups: Int, _ g: ConvGeometry) -> [Float] {
        let taps = g.window.taps, perGroup = packedCount(outChannels: og, g)
        var packed = [Float](repeating: 0, count: perGroup * groups)
        packed.withUnsafeMutableBufferPointer { p in
            for grp in 0..<groups {
                seer_direct_conv_pack(w + grp * og * g.rows, Int32(og), Int32(g.channels), Int32(taps),
                                      p.baseAddress! + grp * perGroup)
            }
        }
        return packed
    }

    static func packedCount(outChannels og: Int, _ g: ConvGeometry) -> Int {
        seer_direct_conv_packed_count(Int32(og), Int32(g.channels), Int32(g.window.taps))
    }

    /// The convolution over a batch (`x` NCHW with `inChannels` = groups * g.channels, `y` NCHW): images split across
    /// the configured threads, or for a single image its output-channel blocks, each thread with its own buffers;
    /// `finish(n)` runs once image n is complete (the epilogue, while the image is in cache).
    static func forward(_ plan: Plan, _ x: UnsafePointer<Float>, packed: UnsafePointer<Float>, outChannels: Int,
                        groups: Int, bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
                        finish: (Int) -> Void) {
        precondition(isAvailable, "direct convolution: this CPU has no AVX-512")
        let g = plan.g, og = outChannels / groups, ohw = g.outHeight * g.outWidth
        let imageIn = groups * g.channels * g.height * g.width, imageOut = outChannels * ohw
        let perGroup = packedCount(outChannels: og, g), block = Int(SEER_DIRECT_CONV_BLOCK)
        let x = UnsafeSendablePointer(x), y = UnsafeMutableSendablePointer(y), packed = UnsafeSendablePointer(packed)
        let bias = bias.map(UnsafeSendablePointer.init)
        // One image, output channels [o0, o1) of one group (o0 a multiple of the block), into `wide` from `prepared`.
        func channels(_ n: Int, _ grp: Int, _ o0: Int, _ o1: Int, _ prepared: UnsafePointer<Float>,
                      _ wide: UnsafeMutablePointer<Float>) {
            plan.tapOffsets.withUnsafeBufferPointer { offsets in
                seer_direct_conv(prepared, plan.channelArea, offsets.baseAddress!, Int32(offsets.count),
                                 Int32(g.channels), packed.p + grp * perGroup + o0 * g.channels * offsets.count,
                                 Int32(o1 - o0), plan.wideCount, wide + o0 * plan.wideCount, plan.wideCount)
            }
            plan.store(wide + o0 * plan.wideCount, outChannels: o1 - o0, bias: bias.map { $0.p + grp * og + o0 },
                       y.p + n * imageOut + (grp * og + o0) * ohw)
        }
        let buffers = Threads.count
        var prepared = [Float](repeating: 0, count: plan.preparedCount * buffers)  // padding stays zero
        var wide = Tensor.scratch(count: og * plan.wideCount * buffers)  // every element read is written first
        prepared.withUnsafeMutableBufferPointer { pb in
            wide.withUnsafeMutableBufferPointer { wb in
                let pb = UnsafeMutableSendablePointer(pb.baseAddress!), wb = UnsafeMutableSendablePointer(wb.baseAddress!)
                if g.batch == 1 && groups == 1 {
                    plan.prepare(x.p, pb.p)
                    let blocks = (og + block - 1) / block
                    Threads.parallelFor(blocks, work: imageOut) { range in
                        channels(0, 0, range.lowerBound * block, min(og, range.upperBound * block), pb.p, wb.p)
                    }
                    finish(0)
                    return
                }
                let chunks = min(buffers, g.batch)
                Threads.parallelFor(chunks, work: g.batch * imageOut) { range in
                    for chunk in range {
                        let prepared = pb.p + chunk * plan.preparedCount, wide = wb.p + chunk * og * plan.wideCount
                        for n in (g.batch * chunk / chunks)..<(g.batch * (chunk + 1) / chunks) {
                            for grp in 0..<groups {
                                plan.prepare(x.p + n * imageIn + grp * g.channels * g.height * g.width, prepared)
                                channels(n, grp, 0, og, prepared, wide)
                            }
                            finish(n)
                        }
                    }
                }
            }
        }
    }
}
