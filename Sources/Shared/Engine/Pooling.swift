import SeerTensor

extension WindowAxis {
    /// Pooling outputs along an input of `size` as ONNX's MaxPool and AveragePool count them: `outputs(size)`, or with
    /// `ceilMode` the ceiling of the same division, less a last window that would start past the input and its
    /// leading padding (onnxruntime's and PyTorch's rule).
    public func poolOutputs(_ size: Int, ceilMode: Bool) -> Int {
        let room = size + 2 * padding - span
        guard ceilMode, room >= 0 else { return outputs(size) }
        let out = (room + stride - 1) / stride + 1
        return (out - 1) * stride >= size + padding ? out - 1 : out
    }

    /// How many taps of output `o` lie on the padded input [-padding, size + padding): an average's divisor with
    /// count_include_pad 1 (the whole kernel, but for a ceil-mode window hanging past the padding).
    func paddedTaps(output o: Int, size: Int) -> Int {
        (0..<kernel).filter { t in (-padding..<(size + padding)).contains(o * stride + shift(tap: t)) }.count
    }
}

extension Window2D {
    /// [out height, out width] of a pooling window over `height` x `width` (`WindowAxis.poolOutputs`).
    public func poolOutputs(height h: Int, width w: Int, ceilMode: Bool) -> (height: Int, width: Int) {
        (height.poolOutputs(h, ceilMode: ceilMode), width.poolOutputs(w, ceilMode: ceilMode))
    }
}

/// Max pooling over NCHW windows (any `Window2D`; padding never wins: padded cells count as -infinity). With
/// `ceilMode` (ONNX ceil_mode 1) the last window on an axis may hang past the padded input; it reads what it covers.
public final class MaxPool2D: Layer {
    public let name: String
    public let window: Window2D
    public let ceilMode: Bool
    private var cachedArgmax: [Int32] = []
    private var cachedInputShape: [Int] = []

    /// A square, undilated kernel x kernel window.
    public convenience init(name: String, kernel: Int, stride: Int, padding: Int = 0) {
        self.init(name: name, window: .square(kernel: kernel, stride: stride, padding: padding))
    }

    public init(name: String, window: Window2D, ceilMode: Bool = false) {
        self.name = name
        self.window = window
        self.ceilMode = ceilMode
    }

    /// [out height, out width] over an input of `h` x `w`.
    public func outputs(height h: Int, width w: Int) -> (height: Int, width: Int) {
        window.poolOutputs(height: h, width: w, ceilMode: ceilMode)
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let wy = window.height, wx = window.width, (oh, ow) = outputs(height: h, width: w)
        var y = Tensor(shape: [n, c, oh, ow])
        var argmax = [Int32](repeating: -1, count: y.count)
        for plane in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity, at = -1
                    for ky in 0..<wy.kernel {
                        let iy = oy * wy.stride + wy.shift(tap: ky)
                        if iy < 0 || iy >= h { continue }
                        for kx in 0..<wx.kernel {
                            let ix = ox * wx.stride + wx.shift(tap: kx)
                            if ix < 0 || ix >= w { continue }
                            let v = x.data[plane * h * w + iy * w + ix]
                            if v > best { best = v; at = iy * w + ix }
                        }
                    }
                    let o = plane * oh * ow + oy * ow + ox
                    y.data[o] = best
                    argmax[o] = Int32(at)
                }
            }
        }
        if training { cachedArgmax = argmax; cachedInputShape = x.shape }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        var dx = Tensor(shape: cachedInputShape)
        let hw = cachedInputShape[2] * cachedInputShape[3]
        let ohw = gradOutput.shape[2] * gradOutput.shape[3]
        for o in 0..<gradOutput.count where cachedArgmax[o] >= 0 {
            dx.data[(o / ohw) * hw + Int(cachedArgmax[o])] += gradOutput.data[o]
        }
        return [dx]
    }
}

/// Average pooling over NCHW windows (any `Window2D`); padded cells count as zeros and the divisor is the full
/// window (kernel height x width), as ONNX's count_include_pad 1. With `ceilMode` (ceil_mode 1) the last window on an
/// axis may hang past the padded input; its divisor counts the cells it covers up to the end of the padding, as
/// onnxruntime's does (without padding: the input cells it covers, as count_include_pad 0 has it).
public final class AvgPool2D: Layer {
    public let name: String
    public let window: Window2D
    public let ceilMode: Bool
    private var cachedInputShape: [Int] = []

    /// A square, undilated kernel x kernel window.
    public convenience init(name: String, kernel: Int, stride: Int, padding: Int = 0) {
        self.init(name: name, window: .square(kernel: kernel, stride: stride, padding: padding))
    }

    public init(name: String, window: Window2D, ceilMode: Bool = false) {
        self.name = name
        self.window = window
        self.ceilMode = ceilMode
    }

    /// [out height, out width] over an input of `h` x `w`.
    public func outputs(height h: Int, width w: Int) -> (height: Int, width: Int) {
        window.poolOutputs(height: h, width: w, ceilMode: ceilMode)
    }

    /// 1 / divisor of every output of an `oh` x `ow` plane over `h` x `w` (1 / taps but for ceil-mode windows).
    private func scales(_ h: Int, _ w: Int, _ oh: Int, _ ow: Int) -> [Float] {
        let rows = (0..<oh).map { window.height.paddedTaps(output: $0, size: h) }
        let columns = (0..<ow).map { window.width.paddedTaps(output: $0, size: w) }
        return rows.flatMap { r in columns.map { 1 / Float(r * $0) } }
    }

    private func sweep(_ h: Int, _ w: Int, _ body: (_ inIndex: Int, _ outIndex: Int) -> Void) {
        let wy = window.height, wx = window.width, (oh, ow) = outputs(height: h, width: w)
        for oy in 0..<oh {
            for ox in 0..<ow {
                for ky in 0..<wy.kernel {
                    let iy = oy * wy.stride + wy.shift(tap: ky)
                    if iy < 0 || iy >= h { continue }
                    for kx in 0..<wx.kernel {
                        let ix = ox * wx.stride + wx.shift(tap: kx)
                        if ix < 0 || ix >= w { continue }
                        body(iy * w + ix, oy * ow + ox)
                    }
                }
            }
        }
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = outputs(height: h, width: w)
        var y = Tensor(shape: [n, c, oh, ow])
        let scale = scales(h, w, oh, ow)
        for plane in 0..<(n * c) {
            sweep(h, w) { i, o in y.data[plane * oh * ow + o] += x.data[plane * h * w + i] * scale[o] }
        }
        if training { cachedInputShape = x.shape }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        var dx = Tensor(shape: cachedInputShape)
        let (h, w) = (cachedInputShape[2], cachedInputShape[3])
        let ohw = gradOutput.shape[2] * gradOutput.shape[3]
        let scale = scales(h, w, gradOutput.shape[2], gradOutput.shape[3])
        for plane in 0..<(cachedInputShape[0] * cachedInputShape[1]) {
            sweep(h, w) { i, o in dx.data[plane * h * w + i] += gradOutput.data[plane * ohw + o] * scale[o] }
        }
        return [dx]
    }
}

/// Mean over each channel's plane: [N, C, H, W] -> [N, C], or [N, C, 1, 1] when `keepsDimensions` (as ONNX's
/// GlobalAveragePool: imported graphs may feed it to a 1x1 convolution, as squeeze-excitation does).
public final class GlobalAvgPool: Layer {
    public let name: String
    public let keepsDimensions: Bool
    private var cachedInputShape: [Int] = []
    public convenience init(name: String) { self.init(name: name, keepsDimensions: false) }

    public init(name: String, keepsDimensions: Bool) {
        self.name = name
        self.keepsDimensions = keepsDimensions
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (n, c) = (x.shape[0], x.shape[1]), plane = x.count / (n * c)
        var y = Tensor(shape: keepsDimensions ? [n, c, 1, 1] : [n, c])
        x.data.withUnsafeBufferPointer { xp in
            for i in 0..<(n * c) {
                var s: Float = 0
                for j in 0..<plane { s += xp[i * plane + j] }
                y.data[i] = s / Float(plane)
            }
        }
        if training { cachedInputShape = x.shape }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        var dx = Tensor(shape: cachedInputShape)
        let plane = dx.count / gradOutput.count
        let scale = 1 / Float(plane)
        dx.data.withUnsafeMutableBufferPointer { d in
            for i in 0..<gradOutput.count {
                let v = gradOutput.data[i] * scale
                for j in 0..<plane { d[i * plane + j] = v }
            }
        }
        return [dx]
    }
}
