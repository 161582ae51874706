import XCTest
import SeerTensor
@testable import SeerEngine

/// Float inference with activations kept in oneDNN's layouts (`BlockedFloatInference`) computes the graph's function:
/// the same logits as `Graph.forward` up to float summation order, for every op it runs itself and with host steps
/// (layers it hands back to the engine) between them, on one thread and with the batch split across two.
final class BlockedFloatInferenceTests: XCTestCase {
    /// Residual blocks (identity and projection, fused adds and ReLUs, a capped ReLU), max and average pooling, a
    /// squeeze-excitation branch (host steps between oneDNN steps: sigmoid, per-channel product), a depthwise conv,
    /// a channel concat (host), a conv feeding two consumers (unfused add and a standalone ReLU), a linear head.
    static func network(rng: inout SeededGenerator) -> Graph {
        let g = Graph()
        func conv(_ name: String, _ cin: Int, _ cout: Int, k: Int = 3, stride: Int = 1, groups: Int = 1,
                  _ input: Graph.NodeID, rng: inout SeededGenerator) -> Graph.NodeID {
            g.addConv(name, cin, cout, k: k, stride: stride, groups: groups, input, rng: &rng)
        }
        let stem = g.add(ReLU(name: "stem.relu"), conv("stem", 3, 8, Graph.input, rng: &rng))
        let r1 = g.add(ReLU(name: "b1.relu1"), conv("b1.conv1", 8, 8, stem, rng: &rng))
        let b1 = g.add(ReLU(name: "b1.relu2"), g.add(Add(name: "b1.add"), conv("b1.conv2", 8, 8, r1, rng: &rng), stem))
        let pooled = g.add(MaxPool2D(name: "maxpool", kernel: 3, stride: 2, padding: 1), b1)  // 18x18 -> 9x9
        let p1 = g.add(ReLU(name: "b2.relu1", cap: 6), conv("b2.conv1", 8, 16, stride: 2, pooled, rng: &rng))
        let p2 = conv("b2.conv2", 16, 16, p1, rng: &rng)
        let sc = conv("b2.shortcut", 8, 16, k: 1, stride: 2, pooled, rng: &rng)
        let b2 = g.add(ReLU(name: "b2.relu2"), g.add(Add(name: "b2.add"), p2, sc))  // 5x5
        let squeeze = g.add(GlobalAvgPool(name: "se.pool", keepsDimensions: true), b2)
        let excite = conv("se.expand", 4, 16, k: 1, g.add(ReLU(name: "se.relu"), conv("se.reduce", 16, 4, k: 1, squeeze,
                                                                                          rng: &rng)), rng: &rng)
        let se = g.add(Multiply(name: "se.scale"), b2, g.add(Pointwise(name: "se.gate", function: .sigmoid), excite))
        let dw = g.add(ReLU(name: "dw.relu", cap: 6), conv("dw", 16, 16, groups: 16, se, rng: &rng))
        let cat = g.add(ChannelConcat(name: "cat"), dw, b2)
        let two = conv("two", 32, 16, k: 1, cat, rng: &rng)
        let sum = g.add(Add(name: "two.add"), g.add(ReLU(name: "two.relu"), two), two)
        let avg = g.add(AvgPool2D(name: "avgpool", kernel: 3, stride: 1, padding: 1), sum)
        let pool = g.add(GlobalAvgPool(name: "pool"), avg)
        g.add(Linear(name: "fc", inFeatures: 16, outFeatures: 5, rng: &rng), pool)
        return g
    }

    private func assertMatchesGraph(_ graph: Graph, _ x: Tensor, _ message: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
        let expected = graph.forward(x, training: false)
        let program = BlockedFloatInference(graph)
        let y = program.forward(x)
        XCTAssertEqual(y.shape, expected.shape, message, file: file, line: line)
        let scale = max(expected.data.map(abs).max()!, 1)
        XCTAssertLessThan(y.maxAbsDifference(expected) / scale, 1e-5, message, file: file, line: line)
        // A second call reuses the plan and its buffers: the same result.
        XCTAssertEqual(program.forward(x), y, message + " (second call)", file: file, line: line)
    }

    func testMatchesTheGraphOnOneAndTwoThreads() {
        var rng = SeededGenerator(seed: 7)
        let graph = Self.network(rng: &rng).foldingBatchNorm()
        let before = Threads.count
        defer { Threads.set(before) }
        for threads in [1, 2] {
            Threads.set(threads)
            for batch in [1, 3, 12] {
                let x = Tensor.randomNormal(shape: [batch, 3, 18, 18], std: 1, using: &rng)
                assertMatchesGraph(graph, x, "batch \(batch), \(threads) threads")
            }
        }
    }

    func testOneDNNRunsEverythingButTheHostLayers() {
        var rng = SeededGenerator(seed: 8)
        let graph = Self.network(rng: &rng)
        let steps = BlockedFloatInference(graph).implementations(inputShape: [2, 3, 18, 18])
        let host = steps.filter { $0.hasPrefix("host ") }.map { String($0.dropFirst(5)) }
        XCTAssertEqual(host, ["se.gate", "se.scale", "cat", "fc"])
        // 10 convolutions, one standalone addition and one ReLU (the fused ones are post-ops), 4 poolings.
        XCTAssertEqual(steps.filter { !$0.hasPrefix("host ") && $0 != "reorder" }.count, 10 + 1 + 1 + 4)
        XCTAssertFalse(steps.contains(""), "every oneDNN step names its implementation: \(steps)")
    }

    /// Activation quantizers run inside the program: fused into the convolution or addition before them as post-ops
    /// (clamp and scale, round and scale), or as steps of their own (the input's). Summation order differs from
    /// `Graph.forward`'s kernels, so a value on a rounding boundary may land one level apart: close, not equal.
    func testQuantizedNetworkMatchesTheGraph() {
        var rng = SeededGenerator(seed: 31)
        let graph = GraphFusionTests.network(rng: &rng)
        let program = BlockedFloatInference(graph)
        let steps = program.implementations(inputShape: [12, 3, 18, 18])
        XCTAssertEqual(steps.filter { $0.hasPrefix("host ") }, ["host fc"], "quantizers run in oneDNN: \(steps)")
        let x = Tensor.randomNormal(shape: [12, 3, 18, 18], std: 1, using: &rng)
        let expected = graph.forward(x, training: false), y = program.forward(x)
        let range = expected.data.max()! - expected.data.min()!
        XCTAssertLessThan(y.maxAbsDifference(expected), 0.02 * range)
        // Exactly the graph's quantization where no sum precedes it: the input's quantizer alone.
        let q = Graph()
        q.add(ActivationQuantizer(name: "aq", bits: 6, signed: true, alpha: 1.5), Graph.input)
        XCTAssertEqual(BlockedFloatInference(q).forward(x), q.forward(x, training: false))
    }

    /// Windows beyond square and undilated: non-square and dilated convolutions (dense and depthwise, with a fused
    /// residual and ReLU) run as oneDNN steps, non-square pooling windows as host steps.
    func testGeneralWindows() {
        var rng = SeededGenerator(seed: 10)
        let g = Graph()
        func conv(_ name: String, _ cin: Int, _ cout: Int, _ window: Window2D, groups: Int = 1,
                  _ input: Graph.NodeID) -> Graph.NodeID {
            let c = Conv2D(name: name, inChannels: cin, outChannels: cout, window: window, groups: groups, bias: true,
                           rng: &rng)
            c.bias!.value = .randomNormal(shape: [cout], std: 0.3, using: &rng)
            return g.add(c, input)
        }
        let wide = Window2D(height: WindowAxis(kernel: 1), width: WindowAxis(kernel: 5, padding: 2))
        let dilated = Window2D(height: WindowAxis(kernel: 3, dilation: 2, padding: 2), width: WindowAxis(kernel: 3, padding: 1))
        let strided = Window2D(height: WindowAxis(kernel: 3, stride: 2, padding: 1), width: WindowAxis(kernel: 2, stride: 1))
        let a = g.add(ReLU(name: "a.relu"), conv("a", 3, 8, wide, Graph.input))
        let b = g.add(ReLU(name: "b.relu"), g.add(Add(name: "b.add"), conv("b", 8, 8, dilated, groups: 8, a), a))
        let c = conv("c", 8, 6, strided, b)
        let pooled = g.add(MaxPool2D(name: "pool", window: Window2D(height: WindowAxis(kernel: 2, stride: 2),
                                                                     width: WindowAxis(kernel: 1))), c)
        // A square window in ceil mode (3x7 -> 2x4) is no oneDNN pooling either.
        let ceil = g.add(AvgPool2D(name: "ceil", window: .square(kernel: 2, stride: 2), ceilMode: true), pooled)
        g.add(Linear(name: "fc", inFeatures: 6 * 2 * 4, outFeatures: 4, rng: &rng), ceil)
        let x = Tensor.randomNormal(shape: [3, 3, 11, 8], std: 1, using: &rng)
        assertMatchesGraph(g, x, "general windows")
        let host = BlockedFloatInference(g).implementations(inputShape: [3, 3, 11, 8]).filter { $0.hasPrefix("host ") }
        XCTAssertEqual(host, ["host pool", "host ceil", "host fc"])
    }

    /// A slice runs the steps its nodes became: a convolution with its fused ReLU and quantizer is one step (two
    /// with a reorder into its layout), the fused nodes none of their own, the standalone addition one.
    func testProgramSliceRunsTheStepsOfItsNodes() throws {
        var rng = SeededGenerator(seed: 31)
        let graph = GraphFusionTests.network(rng: &rng)
        let x = Tensor.randomNormal(shape: [2, 3, 18, 18], std: 1, using: &rng)
        func id(_ name: String) -> Graph.NodeID { graph.nodes.firstIndex { $0.layer.name == name }! }
        func slice(_ names: [String]) throws -> ProgramSlice {
            try XCTUnwrap(ProgramSlice(graph, arithmetic: .float, input: x, nodes: Set(names.map(id))))
        }
        // The convolution, and a reorder where no fast kernel reads the layout its producer wrote.
        XCTAssertTrue((1...2).contains(try slice(["b1.conv1"]).stepCount))
        XCTAssertEqual(try slice(["b1.relu1", "b1.conv2.aq"]).stepCount, 0, "fused into b1.conv1")
        XCTAssertEqual(try slice(["two.add"]).stepCount, 1)
        XCTAssertEqual(try slice([]).stepCount, 0)
        let everything = try slice(graph.nodes.indices.map { graph.nodes[$0].layer.name })
        XCTAssertGreaterThan(everything.stepCount, 10)
        everything.run()
        XCTAssertNil(ProgramSlice(graph, arithmetic: .float, input: Tensor(shape: [2, 3 * 18 * 18]), nodes: []),
                     "an input that is not NCHW")
    }

    /// y = conv(a) + a, dense and depthwise: the residual is the convolution's own source, so the output must not take
    /// over its buffer (the sum would add in place while the convolution still reads it), whichever layouts the
    /// kernels pick, brgemm allowed or not.
    func testResidualThatIsAlsoTheSource() {
        let before = OneDNNBrgemm.isAllowed
        defer { OneDNNBrgemm.set(before) }
        var rng = SeededGenerator(seed: 12)
        let g = Graph()
        func conv(_ name: String, _ cin: Int, _ cout: Int, groups: Int = 1, _ input: Graph.NodeID) -> Graph.NodeID {
            g.addConv(name, cin, cout, groups: groups, input, rng: &rng)
        }
        let a = g.add(ReLU(name: "a.relu"), conv("a", 3, 16, Graph.input))
        let b = g.add(ReLU(name: "b.relu"), g.add(Add(name: "b.add"), conv("b", 16, 16, a), a))
        let c = g.add(Add(name: "c.add"), conv("c", 16, 16, groups: 16, b), b)
        g.add(GlobalAvgPool(name: "pool"), c)
        let x = Tensor.randomNormal(shape: [4, 3, 14, 14], std: 1, using: &rng)
        for allowed in [false, true] {
            OneDNNBrgemm.set(allowed)
            assertMatchesGraph(g, x, "brgemm \(allowed)")
        }
    }

    /// A graph whose output is a convolution (no head, plain NCHW out) and whose residual is the network input.
    func testConvolutionOutputAndInputResidual() {
        var rng = SeededGenerator(seed: 9)
        let g = Graph()
        let c = Conv2D(name: "c", inChannels: 4, outChannels: 4, kernel: 3, padding: 1, bias: true, rng: &rng)
        c.bias!.value = .randomNormal(shape: [4], std: 0.5, using: &rng)
        let conv = g.add(c, Graph.input)
        g.add(ReLU(name: "r"), g.add(Add(name: "add"), conv, Graph.input))
        let x = Tensor.randomNormal(shape: [2, 4, 7, 7], std: 1, using: &rng)
        assertMatchesGraph(g, x, "residual from the input")
        g.output = conv
        assertMatchesGraph(g, x, "a convolution as the output")
    }
}
