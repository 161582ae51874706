import SeerTensor

/// Zero padding of NCHW feature maps by different amounts per side, and of the channels before and after: what a
/// convolution's own padding cannot express (tf2onnx writes SAME padding at stride 2 as one more row and column at the
/// bottom and right), and the zero channels of a CIFAR ResNet's option-A shortcut (`F.pad(x, (0, 0, 0, 0, p, p))`).
public final class ZeroPad: Layer {
    public let name: String
    public let top: Int, left: Int, bottom: Int, right: Int
    /// Zero channels added before and after the input's.
    public let channelsBefore: Int, channelsAfter: Int
    private var cachedInputShape: [Int] = []

    public init(name: String, top: Int, left: Int, bottom: Int, right: Int, channelsBefore: Int = 0,
                channelsAfter: Int = 0) {
        precondition(min(top, left, bottom, right, channelsBefore, channelsAfter) >= 0, "\(name): negative padding")
        self.name = name
        (self.top, self.left, self.bottom, self.right) = (top, left, bottom, right)
        (self.channelsBefore, self.channelsAfter) = (channelsBefore, channelsAfter)
    }

    /// Whether the layer adds channels (and so maps input channel c to output channel c + channelsBefore).
    public var padsChannels: Bool { channelsBefore > 0 || channelsAfter > 0 }

    /// Calls `body(input plane, output plane)` for each image's input channels.
    private func planes(_ shape: [Int], _ body: (Int, Int) -> Void) {
        let (n, c) = (shape[0], shape[1]), outChannels = c + channelsBefore + channelsAfter
        for image in 0..<n {
            for channel in 0..<c { body(image * c + channel, image * outChannels + channelsBefore + channel) }
        }
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (h, w) = (x.shape[2], x.shape[3])
        let (oh, ow) = (h + top + bottom, w + left + right)
        if training { cachedInputShape = x.shape }
        var y = Tensor(shape: [x.shape[0], x.shape[1] + channelsBefore + channelsAfter, oh, ow])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                planes(x.shape) { from, to in
                    for r in 0..<h {
                        for c in 0..<w { yp[(to * oh + r + top) * ow + c + left] = xp[(from * h + r) * w + c] }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        let (h, w) = (cachedInputShape[2], cachedInputShape[3])
        let (oh, ow) = (h + top + bottom, w + left + right)
        return [Tensor(shape: cachedInputShape) { dx in
            gradOutput.data.withUnsafeBufferPointer { g in
                planes(cachedInputShape) { from, to in
                    for r in 0..<h {
                        for c in 0..<w { dx[(from * h + r) * w + c] = g[(to * oh + r + top) * ow + c + left] }
                    }
                }
            }
        }]
    }
}
