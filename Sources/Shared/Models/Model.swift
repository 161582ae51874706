import SeerEngine
import SeerTensor

/// A zoo network: its layer graph and what it expects as input.
public final class Model {
    /// Zoo name, e.g. `resnet20`.
    public let name: String
    public let graph: Graph
    /// Input shape of one image, [channels, height, width].
    public let inputShape: [Int]
    public let classes: Int

    public init(name: String, graph: Graph, inputShape: [Int], classes: Int) {
        self.name = name
        self.graph = graph
        self.inputShape = inputShape
        self.classes = classes
    }

    /// Convolutions and the classifier: the layers a compression policy addresses, in topological order.
    public var compressibleLayers: [Layer] { graph.layers.filter { $0 is Conv2D || $0 is Linear } }

    /// Logits for a batch in eval mode.
    public func logits(_ images: Tensor) -> Tensor { graph.forward(images, training: false) }
}
