import SeerTensor

/// Zero padding of NCHW feature maps by different amounts per side: what a convolution's own symmetric padding cannot
/// express (tf2onnx writes SAME padding at stride 2 as one more row and column at the bottom and right).
public final class ZeroPad: Layer {
    public let name: String
    public let top: Int, left: Int, bottom: Int, right: Int
    private var cachedInputShape: [Int] = []

    public init(name: String, top: Int, left: Int, bottom: Int, right: Int) {
        precondition(min(top, left, bottom, right) >= 0, "\(name): negative padding")
        self.name = name
        (self.top, self.left, self.bottom, self.right) = (top, left, bottom, right)
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (h + top + bottom, w + left + right)
        if training { cachedInputShape = x.shape }
        var y = Tensor(shape: [x.shape[0], x.shape[1], oh, ow])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for p in 0..<planes {
                    for r in 0..<h {
                        for c in 0..<w { yp[(p * oh + r + top) * ow + c + left] = xp[(p * h + r) * w + c] }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        let (planes, h, w) = (cachedInputShape[0] * cachedInputShape[1], cachedInputShape[2], cachedInputShape[3])
        let (oh, ow) = (h + top + bottom, w + left + right)
        return [Tensor(shape: cachedInputShape) { dx in
            gradOutput.data.withUnsafeBufferPointer { g in
                for p in 0..<planes {
                    for r in 0..<h {
                        for c in 0..<w { dx[(p * h + r) * w + c] = g[(p * oh + r + top) * ow + c + left] }
                    }
                }
            }
        }]
    }
}
