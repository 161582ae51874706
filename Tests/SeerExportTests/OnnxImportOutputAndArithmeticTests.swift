import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerModels
import SeerTensor
import XCTest
@testable import SeerExport

/// A final Softmax, constant arithmetic that follows no convolution (Keras's Rescaling and Normalization, a scale after
/// an activation) and Keras's 'same' pools: onnxruntime's outputs, training on the logits, pruning, the export.
extension OnnxImportTests {
    /// The graph from onnx's helper: Rescaling and Normalization on the NHWC input compose into one affine layer before
    /// the Transpose, a scale and shift after a Relu into another, a Sub after a convolution and a per-class scale
    /// after the classifier fold into them; the file ends in Softmax, which `outputs`, `predict` and the export apply
    /// while the graph computes logits.
    func testFinalSoftmaxAndConstantArithmeticAsKerasWritesThem() throws {
        let (model, g) = try checkFidelity("affine")
        XCTAssertEqual(model.outputActivation, .softmax)
        XCTAssertEqual(model.inputLayout, .nhwc)
        XCTAssertEqual(model.graph.layers.compactMap { ($0 as? ChannelAffine)?.name }, ["rescaling/mul", "mid/mul", "half/div"])
        XCTAssertEqual(model.stemLayerName, "conv1")
        XCTAssertNil(model.graph.layer(named: "conv2/sub"), "folded into conv2")
        XCTAssertNil(model.graph.layer(named: "fc/scale"), "folded into the classifier")

        // The graph's output is the logits; the model's outputs are their softmax.
        let logits = model.logits(g.input), outputs = model.outputs(g.input)
        XCTAssertLessThan(outputs.maxAbsDifference(softmaxRows(logits)), 1e-7)
        for row in 0..<g.input.shape[0] {
            let sum = outputs.data[(row * model.classes)..<((row + 1) * model.classes)].reduce(0, +)
            XCTAssertEqual(sum, 1, accuracy: 1e-5)
        }
        XCTAssertGreaterThan(logits.maxAbsDifference(outputs), 0.1, "logits are not probabilities")

        // The export ends in Softmax and returns probabilities, as the original file (checkFidelity ran it).
        let proto = try OnnxExport.modelProto(model)
        XCTAssertEqual(proto.graph.nodes.last?.opType, "Softmax")
        XCTAssertEqual(proto.graph.outputs.map(\.name), [OnnxExport.probabilitiesName])

        // Pruning selects the affine layer's constants with conv2's channels (conv3 reads them).
        let groups = ChannelGroups(graph: model.graph)
        XCTAssertEqual(groups.inputGroup(of: "half/div").map { groups.groups[$0].layers }, ["conv2"])
        XCTAssertNil(groups.inputGroup(of: "rescaling/mul"), "the input's channels are never pruned")
        try checkPruning(model, kind: "affine")
        let pruned = ChannelPruning.prune(model, policy: try Policy(bits: "6/6/0.5").resolve(for: model))
        XCTAssertEqual((pruned.graph.layer(named: "half/div") as? ChannelAffine)?.channels, 4)
        XCTAssertEqual(pruned.outputActivation, .softmax)

        // `seer-agent predict` returns the probabilities onnxruntime returns for the file (NHWC batch).
        let x = g.directory.appendingPathComponent("x.npy"), y = g.directory.appendingPathComponent("y.npy")
        _ = try Fixtures.runScript("import sys, numpy as np; np.save(sys.argv[2], np.fromfile(sys.argv[1], dtype='<f4')"
                                   + ".reshape(\(g.input.shape.map(String.init).joined(separator: ", "))).transpose(0, 2, 3, 1))",
                                   [g.directory.appendingPathComponent("x.f32").path, x.path])
        let predict = try Fixtures.runAgent(["predict", "--model", g.model.path, "--input", x.path, "--output", y.path])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        XCTAssertTrue(predict.stdout.contains("probabilities"), predict.stdout)
        XCTAssertLessThanOrEqual(relativeDifference(try NumpyFile.read(y).data, g.logits), 1e-4)
    }

    /// A model whose file ends in Softmax trains on its logits: cross-entropy of the pre-softmax values (never a
    /// softmax twice) falls under SGD, and the graph's gradients, the affine layers' included, match finite
    /// differences of that loss.
    func testModelEndingInSoftmaxTrainsOnItsLogits() throws {
        let g = try generate("affine")
        let model = try ModelZoo.make(g.model.path)
        XCTAssertEqual(model.outputActivation, .softmax)
        let graph = model.graph
        var rng = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal(shape: [8] + model.inputShape, std: 1, using: &rng)
        let labels = (0..<8).map { $0 % model.classes }
        for layer in graph.layers { (layer as? Conv2D)?.convolutionAlgorithm = .im2col }
        func loss() -> Float { softmaxCrossEntropy(logits: graph.forward(x, training: true), labels: labels).loss }

        graph.zeroGrad()
        let (_, gradient) = softmaxCrossEntropy(logits: graph.forward(x, training: true), labels: labels)
        graph.backward(gradient)
        // A small step: the graph has ReLUs, whose kinks a large one may cross.
        Fixtures.assertParameterGradients(graph, samples: 3, step: 2e-3, absolute: 5e-3, relative: 5e-2, label: "",
                                          loss: { Double(loss()) })

        let before = loss()
        let sgd = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 0)
        for _ in 0..<20 {
            graph.zeroGrad()
            let (_, gradient) = softmaxCrossEntropy(logits: graph.forward(x, training: true), labels: labels)
            graph.backward(gradient)
            sgd.step(graph.parameters)
        }
        XCTAssertLessThan(loss(), before * 0.8, "SGD on the logits lowers the cross-entropy")
    }

    /// Opset 10's Softmax (default axis 1, the input coerced to 2-D), a constant minus the NCHW input, and a
    /// per-feature scale of the pooled features (a [C] constant on the global pool's flattened [C, 1, 1]).
    func testFinalSoftmaxAtOpset10AndAConstantMinusTheInput() throws {
        let (model, _) = try checkFidelity("softmax-10")
        XCTAssertEqual(model.outputActivation, .softmax)
        let flip = try XCTUnwrap(model.graph.layer(named: "flip/sub") as? ChannelAffine)
        XCTAssertTrue(flip.scale.value.data.allSatisfy { $0 < 0 }, "c - x, then / std: a negative scale")
        XCTAssertEqual(model.graph.layers.compactMap { ($0 as? ChannelAffine)?.name }, ["flip/sub", "features/mul"])
    }

    /// MaxPool with pads unequal on an axis over negative values, SAME_LOWER, AveragePool with count_include_pad 0
    /// (unequal and equal pads) and 1: onnxruntime's logits, the independent MAC count, the export round trip; no
    /// zero padding in front of any pool.
    func testKerasSamePoolsWithUnequalPadsAndWithoutCountingPadding() throws {
        let (model, _) = try checkFidelity("same-pools")
        let maxPool = try XCTUnwrap(model.graph.layer(named: "maxpool/same") as? MaxPool2D)
        XCTAssertEqual(maxPool.margins, PoolMargins(top: 0, left: 0, bottom: 1, right: 0))
        XCTAssertEqual((model.graph.layer(named: "maxpool/same-lower") as? MaxPool2D)?.margins,
                       PoolMargins(top: 1, left: 1, bottom: 0, right: 0))
        let average = try XCTUnwrap(model.graph.layer(named: "avgpool/same") as? AvgPool2D)
        XCTAssertFalse(average.countsPadding)
        XCTAssertEqual(average.margins, PoolMargins(top: 0, left: 0, bottom: 1, right: 0))
        XCTAssertEqual((model.graph.layer(named: "avgpool/same-equal") as? AvgPool2D)?.countsPadding, false)
        XCTAssertEqual((model.graph.layer(named: "avgpool/counted") as? AvgPool2D)?.countsPadding, true)
        XCTAssertFalse(model.graph.layers.contains { $0 is ZeroPad }, model.graph.layers.map(\.name).description)
    }

    /// Keras's Rescaling(1/255) and Normalization before tf2onnx's input Transpose, MaxPooling2D and
    /// AveragePooling2D with padding='same', a Rescaling after a ReLU and a softmax Dense, from tf2onnx at opsets 13
    /// and 18 (Tests/Fixtures/onnx, made by scripts/make_tf2onnx_fixtures.py).
    func testKerasRescalingSamePoolsAndSoftmaxFromTf2onnx() throws {
        for file in ["keras-rescaling-tf2onnx-opset13", "keras-rescaling-tf2onnx-opset18"] {
            let url = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/onnx/\(file).onnx")
            let (model, _) = try checkFidelity("fixture", fixture: url)
            XCTAssertEqual(model.inputLayout, .nhwc, file)
            XCTAssertEqual(model.userInputShape, [15, 15, 3], file)
            XCTAssertEqual(model.outputActivation, .softmax, file)
            // Rescaling and Normalization (Mul, Add, Mul) are one layer; the mid-network Rescaling another.
            XCTAssertEqual(model.graph.layers.filter { $0 is ChannelAffine }.count, 2, file)
            XCTAssertTrue(model.graph.layers.first is ChannelAffine, file)
            let maxPool = try XCTUnwrap(model.graph.layers.compactMap { $0 as? MaxPool2D }.first, file)
            XCTAssertEqual(maxPool.margins, PoolMargins(top: 0, left: 0, bottom: 1, right: 1), file)
            let average = try XCTUnwrap(model.graph.layers.compactMap { $0 as? AvgPool2D }.first, file)
            XCTAssertFalse(average.countsPadding, file)
            try checkPruning(model, kind: file)
        }
    }
}
