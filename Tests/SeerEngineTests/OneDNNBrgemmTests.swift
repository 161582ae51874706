import XCTest
import SeerTensor
@testable import SeerEngine

/// With oneDNN's brgemm implementations passed over (the default on AMD CPUs) or allowed (elsewhere), inference and
/// training compute the same function; without them no step runs one; `SEER_ONEDNN_BRGEMM` is read strictly.
final class OneDNNBrgemmTests: XCTestCase {
    /// An inverted residual block at widths where oneDNN's AVX-512 choice is brgemm (1x1 expand and project,
    /// depthwise 3x3), with a fused residual add, on mobilenetv2-tiny's 28x28 single-channel input.
    static func block(rng: inout SeededGenerator) -> Graph {
        let g = Graph()
        func conv(_ name: String, _ cin: Int, _ cout: Int, k: Int, groups: Int = 1, _ input: Graph.NodeID,
                  rng: inout SeededGenerator) -> Graph.NodeID {
            g.addConv(name, cin, cout, k: k, groups: groups, input, rng: &rng)
        }
        let stem = g.add(ReLU(name: "stem.relu"), conv("stem", 1, 16, k: 3, Graph.input, rng: &rng))
        let expand = g.add(ReLU(name: "expand.relu", cap: 6), conv("expand", 16, 64, k: 1, stem, rng: &rng))
        let dw = g.add(ReLU(name: "dw.relu", cap: 6), conv("dw", 64, 64, k: 3, groups: 64, expand, rng: &rng))
        let project = conv("project", 64, 16, k: 1, dw, rng: &rng)
        let sum = g.add(Add(name: "add"), project, stem)
        let pool = g.add(GlobalAvgPool(name: "pool"), sum)
        g.add(Linear(name: "fc", inFeatures: 16, outFeatures: 5, rng: &rng), pool)
        return g
    }

    private static func isBrgemm(_ implementation: String) -> Bool {
        implementation.hasPrefix("brg") || implementation.hasPrefix("brdgmm")
    }

    func testTheEnvironmentVariableIsReadStrictly() throws {
        XCTAssertNil(try OneDNNBrgemm.configured(in: [:]))
        XCTAssertEqual(try OneDNNBrgemm.configured(in: ["SEER_ONEDNN_BRGEMM": "on"]), true)
        XCTAssertEqual(try OneDNNBrgemm.configured(in: ["SEER_ONEDNN_BRGEMM": "off"]), false)
        XCTAssertThrowsError(try OneDNNBrgemm.configured(in: ["SEER_ONEDNN_BRGEMM": "yes"])) { error in
            XCTAssertEqual((error as? OneDNNBrgemmError)?.description, "SEER_ONEDNN_BRGEMM=yes: expected on or off")
        }
    }

    func testInferenceIsTheSameFunctionEitherWayAndOffRunsNoBrgemmKernel() {
        let before = OneDNNBrgemm.isAllowed
        defer { OneDNNBrgemm.set(before) }
        var rng = SeededGenerator(seed: 41)
        let graph = Self.block(rng: &rng).foldingBatchNorm()
        let x = Tensor.randomNormal(shape: [8, 1, 28, 28], std: 1, using: &rng)
        let expected = graph.forward(x, training: false)
        let scale = max(expected.data.map(abs).max()!, 1)
        for allowed in [false, true] {
            OneDNNBrgemm.set(allowed)
            let program = BlockedFloatInference(graph)
            let steps = program.implementations(inputShape: x.shape)
            print("OneDNNBrgemmTests: brgemm \(allowed ? "allowed" : "passed over"), ISA \(QuantizedInference.effectiveISA): "
                  + steps.joined(separator: ", "))
            if !allowed { XCTAssertFalse(steps.contains(where: Self.isBrgemm), "\(steps)") }
            XCTAssertFalse(steps.contains { $0.hasPrefix("ref") }, "no reference kernel either way: \(steps)")
            XCTAssertLessThan(program.forward(x).maxAbsDifference(expected) / scale, 1e-5, "brgemm \(allowed)")
        }
    }

    func testTrainingPassesAreTheSameEitherWay() {
        let before = OneDNNBrgemm.isAllowed
        defer { OneDNNBrgemm.set(before) }
        var rng = SeededGenerator(seed: 42)
        let x = Tensor.randomNormal(shape: [8, 16, 28, 28], std: 1, using: &rng)
        var results: [(y: Tensor, dx: Tensor, dw: Tensor)] = []
        for allowed in [false, true] {
            OneDNNBrgemm.set(allowed)
            var layerRng = SeededGenerator(seed: 5)
            let conv = Conv2D(name: "expand", inChannels: 16, outChannels: 64, kernel: 1, stride: 1, padding: 0,
                              groups: 1, bias: false, rng: &layerRng)
            conv.convolutionAlgorithm = .onednn
            let y = conv.forward([x], training: true)
            var dyRng = SeededGenerator(seed: 6)
            let dy = Tensor.randomNormal(shape: y.shape, std: 1, using: &dyRng)
            let dx = conv.backward(dy)[0]
            results.append((y, dx, conv.weight.grad))
        }
        XCTAssertLessThan(results[0].y.maxAbsDifference(results[1].y), 1e-4)
        XCTAssertLessThan(results[0].dx.maxAbsDifference(results[1].dx), 1e-4)
        XCTAssertLessThan(results[0].dw.maxAbsDifference(results[1].dw), 1e-3)
    }
}
