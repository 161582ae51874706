import CSeerDNNL
import SeerTensor

/// oneDNN (Debian libdnnl) as a backend: forward with the bias fused, backward-data and backward-weights primitives,
/// created once per shape, pass and batch chunk and kept by the layer. Plain NCHW tensors go in and out; oneDNN's
/// blocked layouts live inside the handles (see `seer_dnnl.h`).
///
/// Threads: every primitive runs on one thread (the shim sets OpenMP to 1), and the engine's own pool
/// (`Threads.parallelFor`, GCD) splits the batch into one chunk per thread, each with its own handle. A two-thread
/// OpenMP team stalls at every barrier whenever the other thread is not scheduled (measured on the shared 2-core
/// host: batch-1 inference at 1.4 images/s on two threads against 1,900 on one); GCD's calling thread takes the
/// chunks a descheduled worker has not started. A batch of one image runs on one thread.
final class OneDNNConvolution: ConvolutionBackend {
    var algorithm: ConvolutionAlgorithm { .onednn }
    /// oneDNN's depthwise JIT kernels (forward, backward-data and backward-weights) vectorize across channels, where
    /// `DepthwiseKernels` vectorize along a row of a few pixels (`bench/onnx`, mobilenetv2-tiny).
    var runsDepthwise: Bool { true }

    private var primitives: [Key: Primitive] = [:]

    private struct Key: Hashable {
        let shape: ConvShape
        let pass: UInt32
        /// Chunks run at once, so each needs its own handle even when their shapes are equal.
        let chunk: Int
    }

    /// One oneDNN handle; destroyed with the layer's cache.
    final class Primitive {
        let handle: OpaquePointer
        /// The weights of the last forward call, whose reordered copy the handle holds.
        var weights: WeightVersion?
        init(handle: OpaquePointer) { self.handle = handle }

        init(_ s: ConvShape, pass: seer_dnnl_pass) {
            var shape = s.dnnlShape
            var error = [CChar](repeating: 0, count: 256)
            guard let handle = seer_dnnl_conv_create(&shape, pass, &error, error.count) else {
                fatalError("oneDNN convolution \(s): \(String(cString: error))")
            }
            self.handle = handle
        }
        deinit { seer_dnnl_conv_destroy(handle) }

        var implementation: String { String(cString: seer_dnnl_conv_implementation(handle)) }
    }

    /// The batch split across the engine's threads: images [lo, hi) and the handle of each chunk.
    private struct Chunk {
        let images: Range<Int>
        let primitive: Primitive
    }

    private func chunks(_ s: ConvShape, _ pass: seer_dnnl_pass) -> [Chunk] {
        let batch = s.g.batch, work = batch * s.outChannels * s.g.outHeight * s.g.outWidth * s.g.rows
        let count = work < Threads.minimumParallelWork ? 1 : max(1, min(Threads.count, batch))
        return (0..<count).map { c in
            let images = (batch * c / count)..<(batch * (c + 1) / count)
            let part = ConvShape(
                g: s.g.with(batch: images.count),
                outChannels: s.outChannels, groups: s.groups, hasBias: s.hasBias)
            let key = Key(shape: part, pass: pass.rawValue, chunk: c)
            if let p = primitives[key] { return Chunk(images: images, primitive: p) }
            let p = Primitive(part, pass: pass)
            primitives[key] = p
            return Chunk(images: images, primitive: p)
        }
    }

    /// Runs `body` on each chunk on the engine's threads; `body` returns 0 or fills the error buffer it is given.
    private static func run(_ chunks: [Chunk], _ what: String,
                            _ body: (Int, Chunk, UnsafeMutablePointer<CChar>) -> Int32) {
        var errors = [CChar](repeating: 0, count: 256 * chunks.count)
        var statuses = [Int32](repeating: 0, count: chunks.count)
        errors.withUnsafeMutableBufferPointer { eb in
            statuses.withUnsafeMutableBufferPointer { sb in
                let e = UnsafeMutableSendable(eb.baseAddress!), st = UnsafeMutableSendable(sb.baseAddress!)
                Threads.parallelFor(chunks.count) { range in
                    for c in range { st.p[c] = body(c, chunks[c], e.p + 256 * c) }
                }
            }
        }
        for c in chunks.indices where statuses[c] != 0 {
            let message = errors[(256 * c)..<(256 * c + 256)].prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            fatalError("oneDNN \(what): \(String(decoding: message, as: UTF8.self))")
        }
    }

    /// oneDNN's name for the forward implementation it picks for `s` (e.g. "jit:avx512_core").
    func implementation(_ s: ConvShape) -> String {
        "onednn " + chunks(s, SEER_DNNL_FORWARD)[0].primitive.implementation
    }

    func forward(_ x: Tensor, _ w: Tensor, version: WeightVersion, bias: Tensor?, _ s: ConvShape, training: Bool,
                 epilogue: ConvEpilogue?, _ y: inout Tensor) {
        if y.count == 0 { return }
        let parts = chunks(s, SEER_DNNL_FORWARD)
        let imageIn = s.inChannels * s.g.height * s.g.width, imageOut = s.outChannels * s.g.outHeight * s.g.outWidth
        let biasValues = bias?.data ?? []
        x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                biasValues.withUnsafeBufferPointer { bb in
                    y.data.withUnsafeMutableBufferPointer { yb in
                        let xp = UnsafeSendablePointer(xb.baseAddress!), wp = UnsafeSendablePointer(wb.baseAddress!)
                        let yp = UnsafeMutableSendablePointer(yb.baseAddress!)
                        let bp = bias == nil ? nil : UnsafeSendablePointer(bb.baseAddress!)
                        Self.run(parts, "forward") { _, chunk, error in
                            let p = chunk.primitive, unchanged = p.weights == version, n0 = chunk.images.lowerBound
                            p.weights = nil  // until the call has succeeded
                            let status = seer_dnnl_conv_forward(p.handle, xp.p + n0 * imageIn, wp.p, bp?.p, unchanged,
                                                                yp.p + n0 * imageOut, error, 256)
                            if status == 0 {
                                p.weights = version
                                epilogue?.apply(yp.p, imageSize: imageOut, images: chunk.images)
                            }
                            return status
                        }
                    }
                }
            }
        }
    }

    func backwardData(_ dy: Tensor, _ w: Tensor, _ s: ConvShape, _ dx: inout Tensor) {
        let parts = chunks(s, SEER_DNNL_BACKWARD_DATA)
        let imageIn = s.inChannels * s.g.height * s.g.width, imageOut = s.outChannels * s.g.outHeight * s.g.outWidth
        dy.data.withUnsafeBufferPointer { db in
            w.data.withUnsafeBufferPointer { wb in
                dx.data.withUnsafeMutableBufferPointer { xb in
                    let dp = UnsafeSendablePointer(db.baseAddress!), wp = UnsafeSendablePointer(wb.baseAddress!)
                    let xp = UnsafeMutableSendablePointer(xb.baseAddress!)
                    Self.run(parts, "backward-data") { _, chunk, error in
                        let n0 = chunk.images.lowerBound
                        return seer_dnnl_conv_backward_data(chunk.primitive.handle, dp.p + n0 * imageOut, wp.p,
                                                            xp.p + n0 * imageIn, error, 256)
                    }
                }
            }
        }
    }

    /// oneDNN overwrites its gradient and each chunk has its own; the layer's accumulates, so the chunks' land in
    /// scratch copies that are then added to it.
    func backwardWeights(_ x: Tensor, _ dy: Tensor, _ s: ConvShape, _ dw: inout Tensor) {
        let parts = chunks(s, SEER_DNNL_BACKWARD_WEIGHTS), size = dw.count
        let imageIn = s.inChannels * s.g.height * s.g.width, imageOut = s.outChannels * s.g.outHeight * s.g.outWidth
        var gradients = Tensor.scratch(count: size * parts.count)
        x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { db in
                gradients.withUnsafeMutableBufferPointer { gb in
                    let xp = UnsafeSendablePointer(xb.baseAddress!), dp = UnsafeSendablePointer(db.baseAddress!)
                    let gp = UnsafeMutableSendablePointer(gb.baseAddress!)
                    Self.run(parts, "backward-weights") { c, chunk, error in
                        let n0 = chunk.images.lowerBound
                        return seer_dnnl_conv_backward_weights(chunk.primitive.handle, xp.p + n0 * imageIn,
                                                               dp.p + n0 * imageOut, gp.p + c * size, error, 256)
                    }
                }
            }
        }
        dw.data.withUnsafeMutableBufferPointer { d in
            for c in parts.indices {
                for i in 0..<size { d[i] += gradients[c * size + i] }
            }
        }
    }

    func endStep() {}
}

extension ConvShape {
    /// The shape as the oneDNN shim takes it (float and int8 handles alike).
    var dnnlShape: seer_dnnl_shape {
        let wy = g.window.height, wx = g.window.width
        return seer_dnnl_shape(batch: Int32(g.batch), in_channels: Int32(inChannels), out_channels: Int32(outChannels),
                               groups: Int32(groups), height: Int32(g.height), width: Int32(g.width),
                               kernel_h: Int32(wy.kernel), kernel_w: Int32(wx.kernel), stride_h: Int32(wy.stride),
                               stride_w: Int32(wx.stride), dilation_h: Int32(wy.dilation),
                               dilation_w: Int32(wx.dilation), padding_h: Int32(wy.padding),
                               padding_w: Int32(wx.padding), bias: hasBias)
    }
}

/// A buffer pointer the chunks' closures may share; each chunk writes only its own elements.
private struct UnsafeMutableSendable<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
