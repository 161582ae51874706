import SeerEngine
import SeerTensor

/// Errors from building or loading zoo models.
public enum ModelError: Error, CustomStringConvertible {
    case unknownModel(String)
    case checkpoint(String)
    case incompatibleData(String)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            return "unknown model '\(name)'; the zoo has \(ModelZoo.names.joined(separator: ", ")), or give a PATH.onnx"
        case .checkpoint(let message), .incompatibleData(let message): return message
        }
    }
}

/// The networks Seer compresses, as layer graphs with stable layer names.
public enum ModelZoo {
    public static let names = ["resnet8", "resnet20", "mobilenetv2-tiny", "resnet18"]

    /// Builds `name` with weights drawn from `seed` (deterministic for a seed); an ONNX reference (`PATH.onnx`, see
    /// `ModelReference`) is imported with its own weights instead.
    public static func make(_ name: String, seed: UInt64 = 0) throws -> Model {
        if ModelReference.isOnnx(name) { return try ModelReference.importOnnx(name) }
        var rng = SeededGenerator(seed: seed)
        switch name {
        case "resnet8": return cifarResNet(name: name, blocksPerStage: 1, rng: &rng)
        case "resnet20": return cifarResNet(name: name, blocksPerStage: 3, rng: &rng)
        case "mobilenetv2-tiny": return mobileNetV2Tiny(rng: &rng)
        case "resnet18": return imageNetResNet18(rng: &rng)
        default: throw ModelError.unknownModel(name)
        }
    }

    /// CIFAR-style ResNet (He et al. 2016, section 4.2) for 28x28x1: widths 16/32/64, 1x1 stride-2 projections.
    static func cifarResNet(name: String, blocksPerStage: Int, rng: inout SeededGenerator) -> Model {
        let g = GraphBuilder(graph: Graph())
        var x = g.convBNReLU("stem", in: 1, out: 16, kernel: 3, stride: 1, input: Graph.input, rng: &rng)
        var channels = 16
        for (stage, width) in [16, 32, 64].enumerated() {
            for block in 1...blocksPerStage {
                let stride = (stage > 0 && block == 1) ? 2 : 1
                x = g.basicBlock("stage\(stage + 1).block\(block)", in: channels, out: width, stride: stride, input: x, rng: &rng)
                channels = width
            }
        }
        let pool = g.graph.add(GlobalAvgPool(name: "pool"), x)
        g.graph.add(Linear(name: "fc", inFeatures: channels, outFeatures: 10, rng: &rng), pool)
        return Model(name: name, graph: g.graph, inputShape: [1, 28, 28], classes: 10)
    }

    /// MobileNetV2 (Sandler et al. 2018) cut down for 28x28x1: expansion 4, seven inverted residual blocks.
    static func mobileNetV2Tiny(rng: inout SeededGenerator) -> Model {
        let g = GraphBuilder(graph: Graph())
        var x = g.convBNReLU("stem", in: 1, out: 16, kernel: 3, stride: 1, input: Graph.input, cap: 6, rng: &rng)
        var channels = 16
        for (i, (out, stride)) in [(16, 1), (24, 2), (24, 1), (32, 2), (32, 1), (64, 2), (64, 1)].enumerated() {
            x = g.invertedResidual("block\(i + 1)", in: channels, out: out, stride: stride, expansion: 4, input: x, rng: &rng)
            channels = out
        }
        x = g.convBNReLU("head", in: channels, out: 128, kernel: 1, stride: 1, input: x, cap: 6, rng: &rng)
        let pool = g.graph.add(GlobalAvgPool(name: "pool"), x)
        g.graph.add(Linear(name: "fc", inFeatures: 128, outFeatures: 10, rng: &rng), pool)
        return Model(name: "mobilenetv2-tiny", graph: g.graph, inputShape: [1, 28, 28], classes: 10)
    }

    /// ImageNet ResNet-18 at 224x224x3, for complexity counting (its weights are never trained here).
    static func imageNetResNet18(rng: inout SeededGenerator) -> Model {
        let g = GraphBuilder(graph: Graph())
        var x = g.convBNReLU("stem", in: 3, out: 64, kernel: 7, stride: 2, input: Graph.input, rng: &rng)
        x = g.graph.add(MaxPool2D(name: "stem.pool", kernel: 3, stride: 2, padding: 1), x)
        var channels = 64
        for (stage, width) in [64, 128, 256, 512].enumerated() {
            for block in 1...2 {
                let stride = (stage > 0 && block == 1) ? 2 : 1
                x = g.basicBlock("stage\(stage + 1).block\(block)", in: channels, out: width, stride: stride, input: x, rng: &rng)
                channels = width
            }
        }
        let pool = g.graph.add(GlobalAvgPool(name: "pool"), x)
        g.graph.add(Linear(name: "fc", inFeatures: 512, outFeatures: 1000, rng: &rng), pool)
        return Model(name: "resnet18", graph: g.graph, inputShape: [3, 224, 224], classes: 1000)
    }
}

/// Appends the zoo's recurring blocks to a graph, naming every layer `<prefix>.<role>`.
struct GraphBuilder {
    let graph: Graph

    func convBNReLU(_ prefix: String, in cin: Int, out cout: Int, kernel: Int, stride: Int, input: Graph.NodeID,
                    groups: Int = 1, cap: Float? = nil, rng: inout SeededGenerator) -> Graph.NodeID {
        let c = graph.add(Conv2D(name: prefix + ".conv", inChannels: cin, outChannels: cout, kernel: kernel, stride: stride,
                                 padding: kernel / 2, groups: groups, rng: &rng), input)
        let b = graph.add(BatchNorm2D(name: prefix + ".bn", channels: cout), c)
        return graph.add(ReLU(name: prefix + ".relu", cap: cap), b)
    }

    /// Two 3x3 convolutions with a residual connection; a 1x1 projection when the shape changes.
    func basicBlock(_ prefix: String, in cin: Int, out cout: Int, stride: Int, input: Graph.NodeID,
                    rng: inout SeededGenerator) -> Graph.NodeID {
        let c1 = graph.add(Conv2D(name: prefix + ".conv1", inChannels: cin, outChannels: cout, kernel: 3, stride: stride,
                                  padding: 1, rng: &rng), input)
        let b1 = graph.add(BatchNorm2D(name: prefix + ".bn1", channels: cout), c1)
        let r1 = graph.add(ReLU(name: prefix + ".relu1"), b1)
        let c2 = graph.add(Conv2D(name: prefix + ".conv2", inChannels: cout, outChannels: cout, kernel: 3, padding: 1,
                                  rng: &rng), r1)
        let b2 = graph.add(BatchNorm2D(name: prefix + ".bn2", channels: cout), c2)
        var shortcut = input
        if stride != 1 || cin != cout {
            let sc = graph.add(Conv2D(name: prefix + ".shortcut.conv", inChannels: cin, outChannels: cout, kernel: 1,
                                      stride: stride, rng: &rng), input)
            shortcut = graph.add(BatchNorm2D(name: prefix + ".shortcut.bn", channels: cout), sc)
        }
        let sum = graph.add(Add(name: prefix + ".add"), b2, shortcut)
        return graph.add(ReLU(name: prefix + ".relu2"), sum)
    }

    /// Expand 1x1 -> depthwise 3x3 -> project 1x1 (linear), with a residual when shapes match.
    func invertedResidual(_ prefix: String, in cin: Int, out cout: Int, stride: Int, expansion: Int, input: Graph.NodeID,
                          rng: inout SeededGenerator) -> Graph.NodeID {
        let hidden = cin * expansion
        var x = convBNReLU(prefix + ".expand", in: cin, out: hidden, kernel: 1, stride: 1, input: input, cap: 6, rng: &rng)
        x = convBNReLU(prefix + ".dw", in: hidden, out: hidden, kernel: 3, stride: stride, input: x, groups: hidden, cap: 6,
                       rng: &rng)
        let p = graph.add(Conv2D(name: prefix + ".project.conv", inChannels: hidden, outChannels: cout, kernel: 1, rng: &rng), x)
        let b = graph.add(BatchNorm2D(name: prefix + ".project.bn", channels: cout), p)
        guard stride == 1 && cin == cout else { return b }
        return graph.add(Add(name: prefix + ".add"), b, input)
    }
}
