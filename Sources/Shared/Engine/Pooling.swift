import SeerTensor

extension WindowAxis {
    /// Pooling outputs along an input of `size` as ONNX's MaxPool and AveragePool count them: `outputs(size)`, or with
    /// `ceilMode` the ceiling of the same division, less a last window that would start past the input and its
    /// leading padding (onnxruntime's and PyTorch's rule). `lead` and `trail`: padding beyond `padding` before and
    /// after the input (`PoolMargins`).
    public func poolOutputs(_ size: Int, ceilMode: Bool, lead: Int = 0, trail: Int = 0) -> Int {
        let padded = size + lead + trail, room = padded + 2 * padding - span
        guard ceilMode, room >= 0 else { return outputs(padded) }
        let out = (room + stride - 1) / stride + 1
        return (out - 1) * stride >= size + lead + padding ? out - 1 : out
    }

    /// How many taps of output `o` lie on the padded input [-padding, size + padding): an average's divisor with
    /// count_include_pad 1 (the whole kernel, but for a ceil-mode window hanging past the padding).
    func paddedTaps(output o: Int, size: Int) -> Int {
        (0..<kernel).filter { t in (-padding..<(size + padding)).contains(o * stride + shift(tap: t)) }.count
    }
}

/// Rows and columns a pooling layer's input gains beyond its window's padding (which is equal on both sides of an
/// axis): ONNX pads unequal on one axis, as tf2onnx writes Keras's 'same' pools ([0, 0, 1, 1] at stride 2). They are
/// padding, not zeros: they never win a max, and an average counts them only with count_include_pad 1.
public struct PoolMargins: Hashable, Sendable, CustomStringConvertible {
    public let top: Int, left: Int, bottom: Int, right: Int
    public static let none = PoolMargins(top: 0, left: 0, bottom: 0, right: 0)

    public init(top: Int, left: Int, bottom: Int, right: Int) {
        precondition([top, left, bottom, right].allSatisfy { $0 >= 0 }, "pool margins \([top, left, bottom, right])")
        (self.top, self.left, self.bottom, self.right) = (top, left, bottom, right)
    }

    public var isNone: Bool { self == .none }
    public var description: String { "[\(top), \(left), \(bottom), \(right)]" }
}

/// One axis of a pooling sweep: the window's axis over an input of `size` cells that starts `lead` padding cells
/// before the window's own padding and ends `trail` after it.
struct PoolAxis {
    let window: WindowAxis, size: Int, lead: Int, trail: Int, ceilMode: Bool

    var outputs: Int { window.poolOutputs(size, ceilMode: ceilMode, lead: lead, trail: trail) }

    /// The input cell tap `t` of output `o` reads, or nil where it reads padding.
    @inline(__always) func cell(output o: Int, tap t: Int) -> Int? {
        let i = o * window.stride + window.shift(tap: t) - lead
        return i >= 0 && i < size ? i : nil
    }

    /// An average's divisor along this axis for output `o`: every tap on the padded input (count_include_pad 1), or
    /// only those on input cells (count_include_pad 0).
    func divisor(output o: Int, countsPadding: Bool) -> Int {
        countsPadding ? window.paddedTaps(output: o, size: size + lead + trail)
            : (0..<window.kernel).filter { cell(output: o, tap: $0) != nil }.count
    }
}

extension Window2D {
    /// [out height, out width] of a pooling window over `height` x `width` (`WindowAxis.poolOutputs`).
    public func poolOutputs(height h: Int, width w: Int, ceilMode: Bool) -> (height: Int, width: Int) {
        (height.poolOutputs(h, ceilMode: ceilMode), width.poolOutputs(w, ceilMode: ceilMode))
    }
}

/// Max pooling over NCHW windows (any `Window2D`, and `margins` for pads unequal on an axis; padding never wins:
/// padded cells count as -infinity). With `ceilMode` (ONNX ceil_mode 1) the last window on an axis may hang past the
/// padded input; it reads what it covers.
public final class MaxPool2D: Layer {
    public let name: String
    public let window: Window2D
    public let ceilMode: Bool
    public let margins: PoolMargins
    private var cachedArgmax: [Int32] = []
    private var cachedInputShape: [Int] = []

    /// A square, undilated kernel x kernel window.
    public convenience init(name: String, kernel: Int, stride: Int, padding: Int = 0) {
        self.init(name: name, window: .square(kernel: kernel, stride: stride, padding: padding))
    }

    public init(name: String, window: Window2D, ceilMode: Bool = false, margins: PoolMargins = .none) {
        self.name = name
        self.window = window
        self.ceilMode = ceilMode
        self.margins = margins
    }

    /// [out height, out width] over an input of `h` x `w`.
    public func outputs(height h: Int, width w: Int) -> (height: Int, width: Int) {
        let (y, x) = poolAxes(window, margins, ceilMode, h, w)
        return (y.outputs, x.outputs)
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ay, ax) = poolAxes(window, margins, ceilMode, h, w), (oh, ow) = (ay.outputs, ax.outputs)
        var y = Tensor(shape: [n, c, oh, ow])
        var argmax = [Int32](repeating: -1, count: y.count)
        for plane in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity, at = -1
                    for ky in 0..<window.height.kernel {
                        guard let iy = ay.cell(output: oy, tap: ky) else { continue }
                        for kx in 0..<window.width.kernel {
                            guard let ix = ax.cell(output: ox, tap: kx) else { continue }
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

/// Average pooling over NCHW windows (any `Window2D`, and `margins` for pads unequal on an axis). Padded cells count
/// as zeros; the divisor is the whole padded window with `countsPadding` (ONNX's count_include_pad 1), else the input
/// cells the window covers (count_include_pad 0, Keras's 'same' average pools). With `ceilMode` (ceil_mode 1) the
/// last window on an axis may hang past the padded input; counting padding, its divisor counts the cells it covers up
/// to the end of the padding, as onnxruntime's does.
public final class AvgPool2D: Layer {
    public let name: String
    public let window: Window2D
    public let ceilMode: Bool
    public let margins: PoolMargins
    public let countsPadding: Bool
    private var cachedInputShape: [Int] = []

    /// A square, undilated kernel x kernel window.
    public convenience init(name: String, kernel: Int, stride: Int, padding: Int = 0) {
        self.init(name: name, window: .square(kernel: kernel, stride: stride, padding: padding))
    }

    public init(name: String, window: Window2D, ceilMode: Bool = false, margins: PoolMargins = .none,
                countsPadding: Bool = true) {
        self.name = name
        self.window = window
        self.ceilMode = ceilMode
        self.margins = margins
        self.countsPadding = countsPadding
    }

    /// Whether any window reads padding (where `countsPadding` matters).
    public var isPadded: Bool { window.height.padding > 0 || window.width.padding > 0 || !margins.isNone }

    /// [out height, out width] over an input of `h` x `w`.
    public func outputs(height h: Int, width w: Int) -> (height: Int, width: Int) {
        let (y, x) = poolAxes(window, margins, ceilMode, h, w)
        return (y.outputs, x.outputs)
    }

    /// 1 / divisor of every output of the plane.
    private func scales(_ y: PoolAxis, _ x: PoolAxis) -> [Float] {
        let rows = (0..<y.outputs).map { y.divisor(output: $0, countsPadding: countsPadding) }
        let columns = (0..<x.outputs).map { x.divisor(output: $0, countsPadding: countsPadding) }
        return rows.flatMap { r in columns.map { 1 / Float(r * $0) } }
    }

    private func sweep(_ y: PoolAxis, _ x: PoolAxis, _ body: (_ inIndex: Int, _ outIndex: Int) -> Void) {
        for oy in 0..<y.outputs {
            for ox in 0..<x.outputs {
                for ky in 0..<window.height.kernel {
                    guard let iy = y.cell(output: oy, tap: ky) else { continue }
                    for kx in 0..<window.width.kernel {
                        guard let ix = x.cell(output: ox, tap: kx) else { continue }
                        body(iy * x.size + ix, oy * x.outputs + ox)
                    }
                }
            }
        }
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ay, ax) = poolAxes(window, margins, ceilMode, h, w), (oh, ow) = (ay.outputs, ax.outputs)
        var y = Tensor(shape: [n, c, oh, ow])
        let scale = scales(ay, ax)
        for plane in 0..<(n * c) {
            sweep(ay, ax) { i, o in y.data[plane * oh * ow + o] += x.data[plane * h * w + i] * scale[o] }
        }
        if training { cachedInputShape = x.shape }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        var dx = Tensor(shape: cachedInputShape)
        let (h, w) = (cachedInputShape[2], cachedInputShape[3])
        let (ay, ax) = poolAxes(window, margins, ceilMode, h, w)
        let ohw = gradOutput.shape[2] * gradOutput.shape[3]
        let scale = scales(ay, ax)
        for plane in 0..<(cachedInputShape[0] * cachedInputShape[1]) {
            sweep(ay, ax) { i, o in dx.data[plane * h * w + i] += gradOutput.data[plane * ohw + o] * scale[o] }
        }
        return [dx]
    }
}

/// The height and width sweeps of a pooling window over `h` x `w` with `margins`.
private func poolAxes(_ window: Window2D, _ margins: PoolMargins, _ ceilMode: Bool, _ h: Int, _ w: Int)
    -> (PoolAxis, PoolAxis) {
    (PoolAxis(window: window.height, size: h, lead: margins.top, trail: margins.bottom, ceilMode: ceilMode),
     PoolAxis(window: window.width, size: w, lead: margins.left, trail: margins.right, ceilMode: ceilMode))
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
