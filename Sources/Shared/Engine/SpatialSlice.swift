import SeerTensor

/// Rows `start`, `start + step`, ... below `end` of an axis (clamped to the axis as ONNX's Slice clamps them).
public struct SliceRange: Hashable, Sendable, CustomStringConvertible {
    public let start: Int, end: Int, step: Int

    /// `start` and `end` may be negative (counted from the end) or past the axis; `step` must be positive.
    public init(start: Int, end: Int = .max, step: Int = 1) {
        precondition(step >= 1, "slice step \(step): only positive steps")
        (self.start, self.end, self.step) = (start, end, step)
    }

    /// The first index and the count of indices kept along an axis of `size`.
    public func kept(size: Int) -> (first: Int, count: Int) {
        func clamped(_ v: Int) -> Int { min(max(v < 0 ? v + size : v, 0), size) }
        let from = clamped(start), to = clamped(end)
        return (from, to > from ? (to - from + step - 1) / step : 0)
    }

    public var isIdentity: Bool { start == 0 && end >= .max / 2 && step == 1 }

    public var description: String { "\(start):\(end == .max ? "" : String(end)):\(step)" }
}

/// A strided slice of NCHW feature maps along height and width (ONNX Slice on axes 2 and 3): the spatial half of a
/// CIFAR ResNet's option-A shortcut, `x[:, :, ::2, ::2]`.
public final class SpatialSlice: Layer {
    public let name: String
    public let rows: SliceRange, columns: SliceRange
    private var cachedInputShape: [Int] = []

    public init(name: String, rows: SliceRange, columns: SliceRange) {
        self.name = name
        self.rows = rows
        self.columns = columns
    }

    /// [out height, out width] of an input of `height` x `width`.
    public func outputs(height: Int, width: Int) -> (height: Int, width: Int) {
        (rows.kept(size: height).count, columns.kept(size: width).count)
    }

    /// Calls `body(input index, output index)` within one plane.
    private func sweep(_ h: Int, _ w: Int, _ body: (Int, Int) -> Void) {
        let r = rows.kept(size: h), c = columns.kept(size: w)
        for i in 0..<r.count {
            let iy = r.first + i * rows.step
            for j in 0..<c.count { body(iy * w + c.first + j * columns.step, i * c.count + j) }
        }
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (h, w) = (x.shape[2], x.shape[3]), (oh, ow) = outputs(height: h, width: w)
        if training { cachedInputShape = x.shape }
        var y = Tensor(shape: [x.shape[0], x.shape[1], oh, ow])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for plane in 0..<(x.shape[0] * x.shape[1]) {
                    sweep(h, w) { i, o in yp[plane * oh * ow + o] = xp[plane * h * w + i] }
                }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        let (h, w) = (cachedInputShape[2], cachedInputShape[3]), (oh, ow) = outputs(height: h, width: w)
        var dx = Tensor(shape: cachedInputShape)
        gradOutput.data.withUnsafeBufferPointer { g in
            dx.data.withUnsafeMutableBufferPointer { d in
                for plane in 0..<(cachedInputShape[0] * cachedInputShape[1]) {
                    sweep(h, w) { i, o in d[plane * h * w + i] = g[plane * oh * ow + o] }
                }
            }
        }
        return [dx]
    }
}
