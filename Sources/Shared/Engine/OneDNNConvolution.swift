import CSeerDNNL
import SeerTensor

/// oneDNN (Debian libdnnl, OpenMP runtime) as a backend: forward with the bias fused, backward-data and
/// backward-weights primitives, created once per shape, pass and thread count and kept by the layer. Each runs on
/// `Threads.count` OpenMP threads (oneDNN fixes a primitive's team size when it creates it, hence the key) while the
/// engine's own threads wait for it, so the pools never run at once.
/// Plain NCHW tensors go in and out; oneDNN's blocked layouts live inside the primitives' handles (see
/// `seer_dnnl.h`).
final class OneDNNConvolution: ConvolutionBackend {
    var algorithm: ConvolutionAlgorithm { .onednn }

    private var primitives: [Key: Primitive] = [:]

    private struct Key: Hashable {
        let shape: ConvShape
        let pass: UInt32
        let threads: Int
    }

    /// One oneDNN handle; destroyed with the layer's cache.
    final class Primitive {
        let handle: OpaquePointer
        /// The weights of the last forward call, whose reordered copy the handle holds.
        var weights: WeightVersion?
        init(_ s: ConvShape, pass: seer_dnnl_pass, threads: Int) {
            var shape = seer_dnnl_shape(batch: Int32(s.g.batch), in_channels: Int32(s.inChannels),
                                        out_channels: Int32(s.outChannels), groups: Int32(s.groups),
                                        height: Int32(s.g.height), width: Int32(s.g.width), kernel: Int32(s.g.kernel),
                                        stride: Int32(s.g.stride), padding: Int32(s.g.padding), bias: s.hasBias)
            var error = [CChar](repeating: 0, count: 256)
            guard let handle = seer_dnnl_conv_create(&shape, pass, Int32(threads), &error, error.count) else {
                preconditionFailure("oneDNN convolution \(s): \(String(cString: error))")
            }
            self.handle = handle
        }
        deinit { seer_dnnl_conv_destroy(handle) }

        var implementation: String { String(cString: seer_dnnl_conv_implementation(handle)) }
    }

    private func primitive(_ s: ConvShape, _ pass: seer_dnnl_pass) -> Primitive {
        let key = Key(shape: s, pass: pass.rawValue, threads: Threads.count)
        if let p = primitives[key] { return p }
        let p = Primitive(s, pass: pass, threads: Threads.count)
        primitives[key] = p
        return p
    }

    /// oneDNN's name for the forward implementation it picks for `s` (e.g. "jit:avx512_core").
    func implementation(_ s: ConvShape) -> String { "onednn " + primitive(s, SEER_DNNL_FORWARD).implementation }

    private static func check(_ status: Int32, _ error: [CChar], _ what: String) {
        precondition(status == 0, "oneDNN \(what): \(String(cString: error))")
    }

    func forward(_ x: Tensor, _ w: Tensor, version: WeightVersion, bias: Tensor?, _ s: ConvShape, training: Bool,
                 epilogue: ConvEpilogue?, _ y: inout Tensor) {
        if y.count == 0 { return }
        let p = primitive(s, SEER_DNNL_FORWARD)
        var error = [CChar](repeating: 0, count: 256)
        let biasValues = bias?.data ?? [], unchanged = p.weights == version
        p.weights = nil  // until the call has succeeded
        let status = x.data.withUnsafeBufferPointer { xb in
            w.data.withUnsafeBufferPointer { wb in
                biasValues.withUnsafeBufferPointer { bb in
                    y.data.withUnsafeMutableBufferPointer { yb in
                        seer_dnnl_conv_forward(p.handle, xb.baseAddress!, wb.baseAddress!,
                                               bias == nil ? nil : bb.baseAddress, unchanged, yb.baseAddress!,
                                               &error, error.count)
                    }
                }
            }
        }
        Self.check(status, error, "forward")
        p.weights = version
        epilogue?.apply(&y, images: 0..<s.g.batch)
    }

    func backwardData(_ dy: Tensor, _ w: Tensor, _ s: ConvShape, _ dx: inout Tensor) {
        let p = primitive(s, SEER_DNNL_BACKWARD_DATA)
        var error = [CChar](repeating: 0, count: 256)
        let status = dy.data.withUnsafeBufferPointer { db in
            w.data.withUnsafeBufferPointer { wb in
                dx.data.withUnsafeMutableBufferPointer { xb in
                    seer_dnnl_conv_backward_data(p.handle, db.baseAddress!, wb.baseAddress!, xb.baseAddress!,
                                                 &error, error.count)
                }
            }
        }
        Self.check(status, error, "backward-data")
    }

    /// oneDNN overwrites its gradient; the layer's accumulates, so it lands in a scratch copy first.
    func backwardWeights(_ x: Tensor, _ dy: Tensor, _ s: ConvShape, _ dw: inout Tensor) {
        let p = primitive(s, SEER_DNNL_BACKWARD_WEIGHTS)
        var error = [CChar](repeating: 0, count: 256)
        var gradient = Tensor.scratch(count: dw.count)
        let status = x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { db in
                gradient.withUnsafeMutableBufferPointer { gb in
                    seer_dnnl_conv_backward_weights(p.handle, xb.baseAddress!, db.baseAddress!, gb.baseAddress!,
                                                    &error, error.count)
                }
            }
        }
        Self.check(status, error, "backward-weights")
        for i in 0..<dw.count { dw.data[i] += gradient[i] }
    }

    func endStep() {}
}
