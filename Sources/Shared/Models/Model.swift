import SeerData
import SeerEngine
import SeerTensor

/// What a model's file applies to its logits before returning them: nothing, or a softmax over the classes (a Keras
/// classifier's `activation='softmax'`, exported as a final Softmax node). Training and accuracy always use the
/// logits; `Model.outputs`, `seer-agent predict` and the ONNX export return what the original file returns.
public enum OutputActivation: String, Sendable, CaseIterable {
    case none
    case softmax
}

/// A zoo network: its layer graph and what it expects as input.
public final class Model {
    /// Zoo name, e.g. `resnet20`.
    public let name: String
    public let graph: Graph
    /// Input shape of one image, [channels, height, width].
    public let inputShape: [Int]
    public let classes: Int
    /// The input's name in an imported ONNX graph, which an export keeps; nil for zoo networks.
    public let inputName: String?
    /// How the model's users lay out a batch: NCHW, or NHWC for a graph exported from Keras by tf2onnx (its input
    /// Transpose becomes this declaration). The engine computes in NCHW either way (`inputShape` and `logits` are
    /// [C, H, W]); `seer-agent predict` reads, and an ONNX export takes, batches in this layout.
    public let inputLayout: ChannelLayout
    /// What the model's users get from `outputs` (the graph computes logits either way).
    public let outputActivation: OutputActivation

    public init(name: String, graph: Graph, inputShape: [Int], classes: Int, inputName: String? = nil,
                inputLayout: ChannelLayout = .nchw, outputActivation: OutputActivation = .none) {
        self.inputName = inputName
        self.inputLayout = inputLayout
        self.outputActivation = outputActivation
        self.name = name
        self.graph = graph
        self.inputShape = inputShape
        self.classes = classes
    }

    /// Convolutions and the classifier: the layers a compression policy addresses, in topological order.
    public var compressibleLayers: [Layer] { graph.layers.filter { $0 is Conv2D || $0 is Linear } }

    /// The stem: the first compressible layer in topological order, the one that sees the raw input (`stem.conv` in
    /// the zoo). Found structurally, so an imported network's first convolution is its stem whatever its name.
    public var stemLayerName: String? { graph.layers.first { $0 is Conv2D || $0 is Linear }?.name }

    /// The shape of one image as the model's users lay it out: `inputShape`, or [H, W, C] for an NHWC model.
    public var userInputShape: [Int] {
        inputLayout == .nhwc ? [inputShape[1], inputShape[2], inputShape[0]] : inputShape
    }

    /// Logits for a batch in eval mode.
    public func logits(_ images: Tensor) -> Tensor { graph.forward(images, training: false) }

    /// What the model's file returns for a batch in eval mode: the logits, or their softmax (`outputActivation`).
    public func outputs(_ images: Tensor) -> Tensor {
        let logits = logits(images)
        switch outputActivation {
        case .none: return logits
        case .softmax: return softmaxRows(logits)
        }
    }
}

extension Model {
    /// Throws unless the network takes the dataset's images and predicts its classes.
    public func checkFits(_ data: Dataset) throws {
        guard inputShape == data.imageShape, classes == data.classCount else {
            throw ModelError.incompatibleData("\(name) takes [\(inputShape.map(String.init).joined(separator: ", "))] images "
                + "and predicts \(classes) classes; the data in \(data.source) have "
                + "[\(data.imageShape.map(String.init).joined(separator: ", "))] images and \(data.classCount) classes")
        }
    }
}
