import XCTest
import SeerTensor
@testable import SeerEngine

/// Inference fusion of residual adds, ReLUs and activation quantizers into the convolution before them: the fused
/// graph forward must equal running the layers one by one exactly (tolerance 0: each fused step is the same float
/// operation on the same values).
final class GraphFusionTests: XCTestCase {
    /// Layer by layer, as `Graph.forward` does without fusion.
    static func unfused(_ graph: Graph, _ x: Tensor) -> Tensor {
        var values = [Graph.NodeID: Tensor]()
        for id in graph.topologicalOrder {
            let node = graph.nodes[id]
            values[id] = node.layer.forward(node.inputs.map { $0 == Graph.input ? x : values[$0]! }, training: false)
        }
        return values[graph.output]!
    }

    /// A small quantized residual network: an identity block, a projection block (stride 2, the shortcut conv runs
    /// after the block's second conv), a capped ReLU, a conv feeding two consumers, pooling and a linear head.
    static func network(rng: inout SeededGenerator) -> Graph {
        let g = Graph()
        func conv(_ name: String, _ cin: Int, _ cout: Int, k: Int = 3, stride: Int = 1, groups: Int = 1,
                  _ input: Graph.NodeID, rng: inout SeededGenerator) -> Graph.NodeID {
            let c = Conv2D(name: name, inChannels: cin, outChannels: cout, kernel: k, stride: stride, padding: k / 2,
                           groups: groups, bias: true, rng: &rng)
            c.bias!.value = .randomNormal(shape: [cout], std: 0.3, using: &rng)
            c.weightQuantizer = .calibrated(bits: 5, weight: c.weight.value)
            let aq = ActivationQuantizer(name: name + ".aq", bits: 6, signed: input == Graph.input, alpha: 2.5)
            let q = g.add(aq, input)
            return g.add(c, q)
        }
        let stem = g.add(ReLU(name: "stem.relu"), conv("stem", 3, 8, Graph.input, rng: &rng))
        // Identity block: conv1 -> relu -> (aq of conv2) fused; conv2 -> add(stem) -> relu fused.
        let r1 = g.add(ReLU(name: "b1.relu1"), conv("b1.conv1", 8, 8, stem, rng: &rng))
        let c2 = conv("b1.conv2", 8, 8, r1, rng: &rng)
        let b1 = g.add(ReLU(name: "b1.relu2"), g.add(Add(name: "b1.add"), c2, stem))
        // Projection block at stride 2 (18x18 -> 9x9): the shortcut conv computes after conv2, so the add fuses there
        // (with the ReLU and the next conv's quantizer).
        let p1 = g.add(ReLU(name: "b2.relu1", cap: 6), conv("b2.conv1", 8, 16, stride: 2, b1, rng: &rng))
        let p2 = conv("b2.conv2", 16, 16, p1, rng: &rng)
        let sc = conv("b2.shortcut", 8, 16, k: 1, stride: 2, b1, rng: &rng)
        let b2 = g.add(ReLU(name: "b2.relu2"), g.add(Add(name: "b2.add"), p2, sc))
        // Depthwise conv followed by a ReLU; a conv whose output feeds two consumers (not fused).
        let dw = g.add(ReLU(name: "dw.relu"), conv("dw", 16, 16, groups: 16, b2, rng: &rng))
        let two = conv("two", 16, 16, k: 1, dw, rng: &rng)
        let sum = g.add(Add(name: "two.add"), g.add(ReLU(name: "two.relu"), two), two)
        let pool = g.add(GlobalAvgPool(name: "pool"), sum)
        g.add(Linear(name: "fc", inFeatures: 16, outFeatures: 5, rng: &rng), pool)
        return g
    }

    func testFusedForwardEqualsLayerByLayer() {
        var rng = SeededGenerator(seed: 31)
        let graph = Self.network(rng: &rng)
        let fusions = graph.inferenceFusions
        func fused(_ conv: String) -> [String]? {
            guard let id = graph.nodes.firstIndex(where: { $0.layer.name == conv }) else { return nil }
            return fusions[id]?.nodes.map { graph.nodes[$0].layer.name }
        }
        XCTAssertEqual(fused("stem"), ["stem.relu"])
        XCTAssertEqual(fused("b1.conv1"), ["b1.relu1", "b1.conv2.aq"])
        XCTAssertEqual(fused("b1.conv2"), ["b1.add", "b1.relu2"])
        XCTAssertEqual(fused("b2.conv1"), ["b2.relu1", "b2.conv2.aq"])
        XCTAssertNil(fused("b2.conv2"), "its add's other operand is computed after it")
        XCTAssertEqual(fused("b2.shortcut"), ["b2.add", "b2.relu2", "dw.aq"])
        XCTAssertEqual(fused("dw"), ["dw.relu", "two.aq"])
        XCTAssertNil(fused("two"), "two consumers")
        for batch in [1, 3, 12] {
            let x = Tensor.randomNormal(shape: [batch, 3, 18, 18], std: 1, using: &rng)
            XCTAssertEqual(graph.forward(x, training: false), Self.unfused(graph, x), "batch \(batch)")
        }
        // The quantizer clip is read in each pass, not when the plan was made.
        (graph.layer(named: "b1.conv2.aq") as! ActivationQuantizer).alpha.value.data[0] = 0.7
        let x = Tensor.randomNormal(shape: [2, 3, 18, 18], std: 1, using: &rng)
        XCTAssertEqual(graph.forward(x, training: false), Self.unfused(graph, x))
        // Training runs layer by layer; on the im2col + GEMM path (the direct kernel off) it sums each output in
        // another order than the inference kernels: the same values up to float rounding (no quantizer bucket flips
        // for this input).
        let convs = graph.nodes.compactMap { $0.layer as? Conv2D }
        let algorithms = convs.map(\.convolutionAlgorithm)
        for c in convs { c.convolutionAlgorithm = .im2col }
        let trained = graph.forward(x, training: true)
        for (c, a) in zip(convs, algorithms) { c.convolutionAlgorithm = a }
        XCTAssertLessThan(trained.maxAbsDifference(Self.unfused(graph, x)), 1e-4)
    }

    func testFusionEndsAtTheOutputAndPlanFollowsIt() {
        var rng = SeededGenerator(seed: 5)
        let g = Graph()
        let c = g.add(Conv2D(name: "c", inChannels: 2, outChannels: 4, kernel: 3, padding: 1, rng: &rng), Graph.input)
        let r = g.add(ReLU(name: "r"), c)
        let x = Tensor.randomNormal(shape: [2, 2, 13, 13], std: 1, using: &rng)
        XCTAssertEqual(g.inferenceFusions[c]?.nodes, [r])
        XCTAssertEqual(g.forward(x, training: false), Self.unfused(g, x))
        // With the conv itself as the output nothing may be fused past it.
        g.output = c
        XCTAssertTrue(g.inferenceFusions.isEmpty)
        XCTAssertEqual(g.forward(x, training: false), Self.unfused(g, x))
        XCTAssertLessThan(g.forward(x, training: false).data.min()!, 0)
    }
}
