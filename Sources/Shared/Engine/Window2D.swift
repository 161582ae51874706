/// One axis of a sliding window as ONNX's Conv, MaxPool and AveragePool define it: `kernel` taps `dilation` apart,
/// moved by `stride`, over the input zero-padded by `padding` on both sides (unequal pads: a `ZeroPad` in front of a
/// convolution, a pool's `PoolMargins`).
public struct WindowAxis: Hashable, Sendable, CustomStringConvertible {
    public let kernel: Int, stride: Int, dilation: Int, padding: Int

    public init(kernel: Int, stride: Int = 1, dilation: Int = 1, padding: Int = 0) {
        precondition(kernel >= 1 && stride >= 1 && dilation >= 1 && padding >= 0,
                     "window axis: kernel \(kernel), stride \(stride), dilation \(dilation), padding \(padding)")
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.padding = padding
    }

    /// The input extent one output reads: the first to the last tap.
    public var span: Int { (kernel - 1) * dilation + 1 }

    /// Outputs along an input of `size` (ONNX's floor mode); 0 or less when the padded input is shorter than `span`.
    public func outputs(_ size: Int) -> Int { (size + 2 * padding - span) / stride + 1 }

    /// Whether the window fits an input of `size` with at least one output.
    public func fits(_ size: Int) -> Bool { size + 2 * padding >= span && outputs(size) > 0 }

    /// How far tap `t` reads from the output's origin: output o, tap t reads input o * stride + shift(t).
    @inline(__always) func shift(tap t: Int) -> Int { t * dilation - padding }

    /// Outputs [lo, hi) whose tap `t` reads inside 0..<size; always within 0...outputs (an empty range at `outputs`
    /// when the first valid output lies past the last).
    @inline(__always) func validOutputs(tap t: Int, size: Int, outputs: Int) -> Range<Int> {
        let shift = self.shift(tap: t), s = stride
        let lo = min(outputs, max(0, (-shift + s - 1) / s))
        let last = size - 1 - shift  // the last valid o is floor(last / s); none when last < 0
        let hi = last < 0 ? 0 : min(outputs, last / s + 1)
        return lo..<max(lo, hi)
    }

    public var description: String {
        "k\(kernel)" + (stride == 1 ? "" : " s\(stride)") + (dilation == 1 ? "" : " d\(dilation)")
            + (padding == 0 ? "" : " p\(padding)")
    }
}

/// A 2-D window over NCHW planes: its height and width axes. Any kernel height and width, strides and dilations
/// per axis; the engine's general kernels (im2col, col2im, depthwise loops, pooling, oneDNN) run all of them, the
/// hand-written fast paths only `SquareWindow`s.
public struct Window2D: Hashable, Sendable, CustomStringConvertible {
    public let height: WindowAxis, width: WindowAxis

    public init(height: WindowAxis, width: WindowAxis) {
        self.height = height
        self.width = width
    }

    /// kernel x kernel, one stride and padding on both axes, no dilation.
    public static func square(kernel: Int, stride: Int = 1, padding: Int = 0) -> Window2D {
        let axis = WindowAxis(kernel: kernel, stride: stride, padding: padding)
        return Window2D(height: axis, width: axis)
    }

    /// Kernel taps: height x width.
    public var taps: Int { height.kernel * width.kernel }

    /// The window as one kernel size, stride and padding when both axes agree and nothing is dilated.
    public var square: SquareWindow? {
        guard height == width, height.dilation == 1 else { return nil }
        return SquareWindow(kernel: height.kernel, stride: height.stride, padding: height.padding)
    }

    /// [out height, out width] over an input of `height` x `width`.
    public func outputs(height h: Int, width w: Int) -> (height: Int, width: Int) {
        (height.outputs(h), width.outputs(w))
    }

    /// e.g. "3x3 s2 p1" for square windows, "1x7 (height k1, width k7 p3)" otherwise.
    public var description: String {
        if let square {
            return "\(square.kernel)x\(square.kernel)" + (square.stride == 1 ? "" : " s\(square.stride)")
                + (square.padding == 0 ? "" : " p\(square.padding)")
        }
        return "\(height.kernel)x\(width.kernel) (height \(height), width \(width))"
    }
}

/// A window with one kernel size, stride and padding on both axes and no dilation: the only windows the hand-written
/// kernels are written for (`DirectConvolution`, `TapConvolution`), which is why they take this type; layers with
/// other windows run on the general kernels.
public struct SquareWindow: Hashable, Sendable {
    public let kernel: Int, stride: Int, padding: Int
}
