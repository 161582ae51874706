import SeerTensor

/// Max pooling over NCHW windows (any `Window2D`; padding never wins: padded cells count as -infinity).
public final class MaxPool2D: Layer {
    public let name: String
    public let window: Window2D
    private var cachedArgmax: [Int32] = []
    private var cachedInputShape: [Int] = []

    /// A square, undilated kernel x kernel window.
    public convenience init(name: String, kernel: Int, stride: Int, padding: Int = 0) {
        self.init(name: name, window: .square(kernel: kernel, stride: stride, padding: padding))
    }

    public init(name: String, window: Window2D) {
        self.name = name
        self.window = window
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let wy = window.height, wx = window.width, (oh, ow) = window.outputs(height: h, width: w)
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
/// window (kernel height x width).
public final class AvgPool2D: Layer {
    public let name: String
    public let window: Window2D
    private var cachedInputShape: [Int] = []

    /// A square, undilated kernel x kernel window.
    public convenience init(name: String, kernel: Int, stride: Int, padding: Int = 0) {
        self.init(name: name, window: .square(kernel: kernel, stride: stride, padding: padding))
    }

    public init(name: String, window: Window2D) {
        self.name = name
        self.window = window
    }

    private func sweep(_ h: Int, _ w: Int, _ body: (_ inIndex: Int, _ outIndex: Int) -> Void) {
        let wy = window.height, wx = window.width, (oh, ow) = window.outputs(height: h, width: w)
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
        let (oh, ow) = window.outputs(height: h, width: w)
        var y = Tensor(shape: [n, c, oh, ow])
        let scale = 1 / Float(window.taps)
        for plane in 0..<(n * c) {
            sweep(h, w) { i, o in y.data[plane * oh * ow + o] += x.data[plane * h * w + i] * scale }
        }
        if training { cachedInputShape = x.shape }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        var dx = Tensor(shape: cachedInputShape)
        let (h, w) = (cachedInputShape[2], cachedInputShape[3])
        let ohw = gradOutput.shape[2] * gradOutput.shape[3]
        let scale = 1 / Float(window.taps)
        for plane in 0..<(cachedInputShape[0] * cachedInputShape[1]) {
            sweep(h, w) { i, o in dx.data[plane * h * w + i] += gradOutput.data[plane * ohw + o] * scale }
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
