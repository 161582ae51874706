import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor
import SeerTraining
import XCTest
@testable import SeerExport

/// Imported ONNX networks (built with onnx.helper by scripts/make_onnx_test_models.py) compute what onnxruntime
/// computes, count what an independent count gives, compress, train and export back.
final class OnnxImportTests: XCTestCase {
    static let generator = Fixtures.packageRoot.appendingPathComponent("scripts/make_onnx_test_models.py")

    /// Runs an exported model in onnxruntime on the NCHW batch in x.f32 under the graph's own input name, transposed
    /// to NHWC for a graph whose input is NHWC (the last argument); the graph's input must have the batch's shape.
    static let exportRunner = """
        import sys
        import numpy as np, onnx, onnxruntime as ort
        path, x_path, out_path = sys.argv[1:4]
        n, c, h, w = map(int, sys.argv[4:8])
        onnx.checker.check_model(onnx.load(path), full_check=True)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        x = np.fromfile(x_path, dtype="<f4").reshape(n, c, h, w)
        if sys.argv[8] == "nhwc":
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        assert session.get_inputs()[0].shape[1:] == list(x.shape[1:]), session.get_inputs()[0].shape
        layout = session.get_modelmeta().custom_metadata_map["seer.input_layout"]
        assert layout == sys.argv[8], layout
        (y,) = session.run(None, {name: x})
        y.astype("<f4").tofile(out_path)
        print(name)
        """

    struct Generated {
        let directory: URL
        var model: URL { directory.appendingPathComponent("model.onnx") }
        let inputShape: [Int]
        /// The ONNX input's layout ("nchw", or "nhwc" for an input only a Transpose to NCHW reads).
        let layout: String
        let classes: Int
        let input: Tensor
        let logits: [Float]
        let macs: Int
        let params: Int
    }

    /// `kind` built by the generator, or for kind "fixture" the committed file `fixture` run the same way.
    func generate(_ kind: String, fixture: URL? = nil) throws -> Generated {
        let dir = try Fixtures.temporaryDirectory(self)
        let (out, status, err) = try Fixtures.runPython([Self.generator.path, kind, dir.path] + (fixture.map { [$0.path] } ?? []))
        guard status == 0 else { throw InteropFailure(description: "generator \(kind) failed: \(err)") }
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let shape = try XCTUnwrap(report["input"] as? [Int])
        let classes = try XCTUnwrap(report["classes"] as? Int)
        guard let batch = report["batch"] as? Int else {
            return Generated(directory: dir, inputShape: shape, layout: "nchw", classes: classes, input: Tensor(shape: [0]),
                             logits: [], macs: 0, params: 0)
        }
        let x = try floats(dir.appendingPathComponent("x.f32"))
        return Generated(directory: dir, inputShape: shape, layout: try XCTUnwrap(report["layout"] as? String),
                         classes: classes, input: Tensor(shape: [batch] + shape, data: x),
                         logits: try floats(dir.appendingPathComponent("y.f32")),
                         macs: try XCTUnwrap(report["macs"] as? Int), params: try XCTUnwrap(report["params"] as? Int))
    }

    func floats(_ url: URL) throws -> [Float] {
        try Data(contentsOf: url).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Largest difference relative to the logit scale (the largest |logit| of the reference).
    func relativeDifference(_ a: [Float], _ reference: [Float]) -> Float {
        let scale = max(reference.map(abs).max() ?? 1, 1e-6)
        return zip(a, reference).map { abs($0 - $1) }.max()! / scale
    }

    /// Imports `kind`, checks logits against onnxruntime, complexity against the independent count, and the export
    /// of the unchanged model in onnxruntime; returns the imported model.
    @discardableResult
    func checkFidelity(_ kind: String, fixture: URL? = nil) throws -> (Model, Generated) {
        let g = try generate(kind, fixture: fixture)
        let model = try ModelZoo.make(g.model.path)
        XCTAssertEqual(model.inputShape, g.inputShape, kind)
        XCTAssertEqual(model.inputLayout.rawValue, g.layout, kind)
        XCTAssertEqual(model.classes, g.classes, kind)
        XCTAssertEqual(model.inputName, "input", kind)
        XCTAssertTrue(model.name.hasPrefix(g.model.path + "@sha256:"), model.name)

        // What the file returns: logits, or probabilities for a graph ending in Softmax.
        let engine = model.outputs(g.input)
        XCTAssertEqual(engine.shape, [g.input.shape[0], g.classes], kind)
        let difference = relativeDifference(engine.data, g.logits)
        XCTAssertLessThanOrEqual(difference, 1e-4, "\(kind): engine vs onnxruntime")

        let report = try Complexity.compute(model: model, policy: try Policy(bits: "8/8").resolve(for: model))
        XCTAssertEqual(report.macs, g.macs, "\(kind): MACs")
        XCTAssertEqual(report.params, g.params, "\(kind): params")

        let exported = g.directory.appendingPathComponent("export.onnx")
        try OnnxExport.export(model: model, to: exported)
        let xURL = g.directory.appendingPathComponent("x.f32"), yURL = g.directory.appendingPathComponent("export.f32")
        let name = try Fixtures.runScript(Self.exportRunner, [exported.path, xURL.path, yURL.path]
                                          + g.input.shape.map(String.init) + [g.layout])
        XCTAssertEqual(name.trimmingCharacters(in: .whitespacesAndNewlines), "input", "\(kind): exported input name")
        let roundTrip = relativeDifference(try floats(yURL), g.logits)
        XCTAssertLessThanOrEqual(roundTrip, 1e-4, "\(kind): export of the unchanged import in onnxruntime")
        print("\(kind): engine vs onnxruntime \(difference), export round trip \(roundTrip) of the logit scale; "
              + "\(report.macs) MACs, \(report.params) params")
        return (model, g)
    }

    func testPlainCNNAtOpset10() throws {
        let (model, _) = try checkFidelity("plain")
        XCTAssertEqual(model.graph.layers.map(\.name), ["conv1", "relu1", "pool1", "conv2", "bn2", "clip2", "pool2", "fc"])
        XCTAssertEqual((model.graph.layer(named: "bn2") as? BatchNorm2D)?.epsilon, 1e-3)
        XCTAssertEqual((model.graph.layer(named: "clip2") as? ReLU)?.cap, 6)
        XCTAssertEqual(model.stemLayerName, "conv1")
    }

    func testResNetWithShapeChainAndMatMulAdd() throws {
        let (model, _) = try checkFidelity("resnet")
        XCTAssertEqual(model.stemLayerName, "stem")
        XCTAssertEqual(model.compressibleLayers.map(\.name),
                       ["stem", "b1.conv1", "b1.conv2", "b2.conv1", "b2.conv2", "b2.proj", "fc.matmul"])
        let groups = ChannelGroups.analyze(model.graph)
        // The identity block's residual ties its second convolution to the stem; the projection block's two outputs.
        let stemGroup = try XCTUnwrap(groups.first { $0.layers.contains("stem") })
        XCTAssertEqual(stemGroup.layers, ["stem", "b1.conv2"])
        XCTAssertFalse(stemGroup.isPrunable)
        let projected = try XCTUnwrap(groups.first { $0.layers.contains("b2.proj") })
        XCTAssertEqual(Set(projected.layers), ["b2.conv2", "b2.proj"])
        XCTAssertTrue(projected.isPrunable)
        // Unnamed nodes get their op type and position.
        XCTAssertTrue(model.graph.layers.contains { $0.name.hasPrefix("Relu_") }, model.graph.layers.map(\.name).description)
        try checkPruning(model, kind: "resnet")
    }

    func testExternalDataInitializers() throws {
        let (model, g) = try checkFidelity("resnet-external")
        XCTAssertTrue(FileManager.default.fileExists(atPath: g.directory.appendingPathComponent("weights.bin").path))
        // Without the weights file the import names the tensor and the file it needs.
        try FileManager.default.removeItem(at: g.directory.appendingPathComponent("weights.bin"))
        XCTAssertThrowsError(try ModelZoo.make(g.model.path)) { error in
            XCTAssertTrue("\(error)".contains("weights.bin"), "\(error)")
        }
        XCTAssertEqual(model.classes, 5)
    }

    func testMobileNetV2Blocks() throws {
        let (model, _) = try checkFidelity("mobilenet")
        let groups = ChannelGroups.analyze(model.graph)
        for block in 0..<3 {
            let expand = try XCTUnwrap(groups.first { $0.layers.contains("block\(block).expand") })
            XCTAssertEqual(expand.depthwise, ["block\(block).dw"], "depthwise follows its input's channels")
        }
        // block2's residual add ties block1's and block2's projections; block0's ties its projection to the stem.
        let tied = try XCTUnwrap(groups.first { $0.layers.contains("block2.project") })
        XCTAssertEqual(Set(tied.ratioLayers), ["block1.project", "block2.project"])
        let stem = try XCTUnwrap(groups.first { $0.layers.contains("stem") })
        XCTAssertTrue(stem.layers.contains("block0.project"))
        XCTAssertFalse(stem.isPrunable)
        try checkPruning(model, kind: "mobilenet")
    }

    func testAsymmetricPadsAsTf2onnxWritesThem() throws {
        let (model, _) = try checkFidelity("same-padding")
        let pad = try XCTUnwrap(model.graph.layer(named: "conv1.pad") as? ZeroPad)
        XCTAssertEqual([pad.top, pad.left, pad.bottom, pad.right], [0, 0, 1, 1])
        XCTAssertEqual(model.stemLayerName, "conv1")
    }

    /// Conv and pooling windows beyond square and undilated import with onnxruntime's logits, the independent MAC
    /// count, an export that onnxruntime runs to the same logits, and prune (the dilated depthwise 3x1 tied to its
    /// residual).
    func testNonSquareStridedAndDilatedWindows() throws {
        let (model, _) = try checkFidelity("windows")
        func window(_ name: String) -> Window2D? {
            switch model.graph.layer(named: name) {
            case let c as Conv2D: return c.window
            case let p as MaxPool2D: return p.window
            case let p as AvgPool2D: return p.window
            default: return nil
            }
        }
        func axis(_ k: Int, _ s: Int = 1, _ d: Int = 1, _ p: Int = 0) -> WindowAxis {
            WindowAxis(kernel: k, stride: s, dilation: d, padding: p)
        }
        XCTAssertEqual(window("conv1x7"), Window2D(height: axis(1), width: axis(7, 1, 1, 3)))
        XCTAssertEqual(window("conv7x1"), Window2D(height: axis(7, 1, 1, 3), width: axis(1)))
        XCTAssertEqual(window("dw"), Window2D(height: axis(3, 1, 2, 2), width: axis(1)))
        XCTAssertEqual(window("strided"), Window2D(height: axis(3, 2, 1, 1), width: axis(3, 1, 1, 1)))
        XCTAssertEqual(window("dilated"), Window2D(height: axis(3, 1, 1, 1), width: axis(2, 2, 2, 1)))
        // Pads [0, 1, 1, 2]: the layer pads each axis by its smaller pad, a ZeroPad adds the bottom row and right column.
        XCTAssertEqual(window("uneven"), Window2D(height: axis(2), width: axis(3, 2, 1, 1)))
        let pad = try XCTUnwrap(model.graph.layer(named: "uneven.pad") as? ZeroPad)
        XCTAssertEqual([pad.top, pad.left, pad.bottom, pad.right], [0, 0, 1, 1])
        XCTAssertEqual(window("maxpool"), Window2D(height: axis(1), width: axis(3, 2, 2, 1)))
        XCTAssertEqual(window("avgpool"), Window2D(height: axis(3, 2, 1, 1), width: axis(1)))
        XCTAssertEqual(model.stemLayerName, "conv1x7")
        try checkPruning(model, kind: "windows")
    }

    /// CIFAR ResNets whose downsampling shortcut is option A, `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))`, as real
    /// `torch.onnx.export` files (scripts/make_torch_fixtures.py; TorchScript at opset 13 computes the pads through a
    /// ConstantOfShape/Slice/Transpose chain, dynamo at opset 18 has them constant): onnxruntime's logits, the MAC count,
    /// the export round trip; the zero-padded residual channels stay unpruned with the reason, the blocks' inner
    /// convolutions prune.
    func testCifarResNetWithOptionAShortcutsFromPyTorch() throws {
        for file in ["cifar-resnet-option-a-torchscript-opset13", "cifar-resnet-option-a-dynamo-opset18"] {
            let url = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/onnx/\(file).onnx")
            let (model, _) = try checkFidelity("fixture", fixture: url)
            let slices = model.graph.layers.compactMap { $0 as? SpatialSlice }
            let pads = model.graph.layers.compactMap { $0 as? ZeroPad }
            // One Slice per axis, as both exporters write `::2, ::2`.
            XCTAssertEqual(slices.map { [$0.rows.step, $0.columns.step] }, [[2, 1], [1, 2], [2, 1], [1, 2]], file)
            XCTAssertEqual(pads.map { [$0.channelsBefore, $0.channelsAfter, $0.top, $0.left, $0.bottom, $0.right] },
                           [[2, 2, 0, 0, 0, 0], [4, 4, 0, 0, 0, 0]], file)
            let groups = ChannelGroups(graph: model.graph)
            let fixed = groups.groups.filter { $0.fixedReason?.contains("zero-padded along the channels") == true }
            XCTAssertEqual(fixed.map(\.channels).sorted(), [4, 8, 16], file)
            let inner = model.graph.layers.compactMap { $0 as? Conv2D }.filter { groups.pruneFixedReason(of: $0.name) == nil }
            XCTAssertEqual(inner.count, 3, "\(file): the blocks' first convolutions prune")
            try checkPruning(model, kind: file)
        }
    }

    /// ceil_mode 1 on MaxPool and AveragePool (windows hanging past the padded input; the average's divisor counts the
    /// padding but not the overhang; a last window that would start in the padding is dropped) and auto_pad SAME_* with
    /// dilations (pads as the ONNX specification has them, checked by the generator with onnx.reference): onnxruntime's
    /// logits, the MAC count, and an export that onnxruntime runs (ceil_mode written back, SAME as explicit pads).
    func testCeilModePoolsAndDilatedSamePadding() throws {
        let (ceil, _) = try checkFidelity("ceil-pools")
        let pools = ceil.graph.layers.compactMap { layer -> Bool? in (layer as? MaxPool2D)?.ceilMode ?? (layer as? AvgPool2D)?.ceilMode }
        XCTAssertEqual(pools, [true, true, true, true])

        let (same, _) = try checkFidelity("same-dilated")
        func window(_ name: String) -> Window2D? {
            (same.graph.layer(named: name) as? Conv2D)?.window ?? (same.graph.layer(named: name) as? MaxPool2D)?.window
        }
        // Pads [2, 0, 2, 1] (top, left, bottom, right): the width's extra column is a ZeroPad.
        XCTAssertEqual(window("conv/same-upper"), Window2D(height: WindowAxis(kernel: 3, stride: 2, dilation: 2, padding: 2),
                                                           width: WindowAxis(kernel: 2)))
        let upper = try XCTUnwrap(same.graph.layer(named: "conv/same-upper.pad") as? ZeroPad)
        XCTAssertEqual([upper.top, upper.left, upper.bottom, upper.right], [0, 0, 0, 1])
        // SAME_LOWER puts the larger pad first: [2, 2, 1, 1].
        let lower = try XCTUnwrap(same.graph.layer(named: "dw/same-lower.pad") as? ZeroPad)
        XCTAssertEqual([lower.top, lower.left, lower.bottom, lower.right], [1, 1, 0, 0])
        XCTAssertEqual(window("maxpool/same-upper"), Window2D(height: WindowAxis(kernel: 3, dilation: 2, padding: 2),
                                                              width: WindowAxis(kernel: 3, dilation: 2, padding: 2)))
    }

    /// Keras CNNs exported by tf2onnx (scripts/make_tf2onnx_fixtures.py) at opsets 13 and 18: the NHWC input that
    /// tf2onnx transposes to NCHW becomes the model's declared layout (the engine starts at the Transpose; `predict`
    /// and the export take NHWC batches as the original file does); batch norms left as Mul and Add after the
    /// depthwise convolution fold into it; GlobalAveragePooling2D as GlobalAveragePool + Squeeze (13) or Transpose +
    /// ReduceMean (18); Keras's Flatten of the NHWC map (a Transpose back, a Shape/Gather/Cast/Slice/Concat chain and a
    /// Reshape) reorders the classifier's weight columns; Dense as MatMul + Add. onnxruntime's logits, the
    /// independent MAC count, the export round trip, and pruning.
    func testKerasModelsExportedByTf2onnx() throws {
        for file in ["keras-residual-tf2onnx-opset13", "keras-residual-tf2onnx-opset18",
                     "keras-flatten-tf2onnx-opset13", "keras-flatten-tf2onnx-opset18"] {
            let url = Fixtures.packageRoot.appendingPathComponent("Tests/Fixtures/onnx/\(file).onnx")
            let (model, g) = try checkFidelity("fixture", fixture: url)
            XCTAssertEqual(model.inputLayout, .nhwc, file)
            XCTAssertEqual(model.inputShape, [3, 16, 16], file)
            XCTAssertEqual(model.userInputShape, [16, 16, 3], file)
            let convolutions = model.graph.layers.compactMap { $0 as? Conv2D }
            if file.hasPrefix("keras-residual") {
                XCTAssertEqual(convolutions.map(\.groups), [1, 8, 1, 1], file)
                // 'same' at stride 2: one more row and column at the bottom and right.
                let pad = try XCTUnwrap(model.graph.layers.compactMap { $0 as? ZeroPad }.first, file)
                XCTAssertEqual([pad.top, pad.left, pad.bottom, pad.right], [0, 0, 1, 1], file)
                XCTAssertEqual(model.stemLayerName, convolutions.first?.name, file)
                let groups = ChannelGroups.analyze(model.graph)
                let residual = try XCTUnwrap(groups.first { $0.layers.contains(convolutions[0].name) }, file)
                // The residual ties the 1x1 convolution to the stem; the depthwise convolution follows the stem.
                XCTAssertEqual(residual.layers, convolutions[0...2].map(\.name), file)
                XCTAssertEqual(residual.depthwise, [convolutions[1].name], file)
            } else {
                XCTAssertEqual(convolutions.map { $0.window.height.dilation }, [1, 1, 2], file)
                XCTAssertEqual(model.compressibleLayers.compactMap { ($0 as? Linear)?.inFeatures }, [128, 16], file)
                // The flattened 8 x 4 x 4 map keeps its channels whole; the middle convolution prunes.
                let groups = ChannelGroups(graph: model.graph)
                XCTAssertEqual(groups.group(of: convolutions[2].name)?.fixedReason, "flattened with their positions into "
                               + "classifier \(model.compressibleLayers[3].name)", file)
                XCTAssertNil(groups.pruneFixedReason(of: convolutions[1].name), file)
            }
            try checkPruning(model, kind: file)
            guard file == "keras-flatten-tf2onnx-opset13" else { continue }
            // `seer-agent predict` takes the NHWC array onnxruntime takes for the original file.
            let x = g.directory.appendingPathComponent("x.npy"), y = g.directory.appendingPathComponent("y.npy")
            _ = try Fixtures.runScript("import sys, numpy as np; np.save(sys.argv[2], np.fromfile(sys.argv[1], dtype='<f4')"
                                       + ".reshape(\(g.input.shape.map(String.init).joined(separator: ", "))).transpose(0, 2, 3, 1))",
                                       [g.directory.appendingPathComponent("x.f32").path, x.path])
            let predict = try Fixtures.runAgent(["predict", "--model", g.model.path, "--input", x.path, "--output", y.path])
            XCTAssertEqual(predict.status, 0, predict.stderr)
            XCTAssertLessThanOrEqual(relativeDifference(try NumpyFile.read(y).data, g.logits), 1e-4, file)
            let nchw = g.directory.appendingPathComponent("nchw.npy")
            try NumpyFile.write(g.input, to: nchw)
            let wrong = try Fixtures.runAgent(["predict", "--model", g.model.path, "--input", nchw.path, "--output", y.path])
            XCTAssertNotEqual(wrong.status, 0)
            XCTAssertTrue(wrong.stderr.contains("[N, 16, 16, 3] (NHWC)"), wrong.stderr)
        }
    }

    /// What the windows, option-A shortcuts, tf2onnx layouts, constant arithmetic and Softmax still do not cover is an
    /// error naming the node and the reason.
    func testUnsupportedWindowsSlicesAndPadsAreClearErrors() throws {
        for (kind, node, reason) in [("avgpool-dilated", "pool/dilated", "dilations"),
                                     ("slice-channels", "shortcut/slice", "slices the channels"),
                                     ("pad-reflect", "shortcut/pad", "mode 'reflect'"),
                                     ("transpose-hw", "swap_hw", "perm [0, 1, 3, 2] of an NCHW feature map"),
                                     ("scale-per-pixel", "pixel/mul", "only scalars and per-channel constants ([4, 1, 1])"),
                                     ("div-by-tensor", "reciprocal/div", "dividing a constant by the image's tensor"),
                                     ("softmax-inside", "inner/softmax", "only a final Softmax"),
                                     ("softmax-axis", "batch/softmax", "axis 0 of a [batch, classes] input")] {
            let g = try generate(kind)
            XCTAssertThrowsError(try ModelZoo.make(g.model.path), kind) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(node) && message.contains(reason), message)
            }
        }
    }

    func testSqueezeExcitationSiLULeakyReluConcatAtOpset14() throws {
        let (model, _) = try checkFidelity("se")
        XCTAssertEqual((model.graph.layer(named: "se.hsigmoid") as? Pointwise)?.function, .hardSigmoid(alpha: 1.0 / 6, beta: 0.5))
        XCTAssertEqual((model.graph.layer(named: "clip") as? Pointwise)?.function, .clip(low: -1.5, high: 2))
        XCTAssertTrue(model.graph.layer(named: "se.mul") is Multiply)
        XCTAssertTrue(model.graph.layer(named: "concat") is ChannelConcat)
        let groups = ChannelGroups.analyze(model.graph)
        // The excitation's Mul ties its gate convolution to the block's channels, which the depthwise follows.
        let block = try XCTUnwrap(groups.first { $0.layers.contains("expand") })
        XCTAssertEqual(Set(block.layers), ["expand", "dw", "se.expand"])
        XCTAssertTrue(block.isPrunable)
        // A concatenation's inputs keep their channels.
        let silu = try XCTUnwrap(groups.first { $0.layers.contains("silu.conv") })
        XCTAssertFalse(silu.isPrunable)
        try checkPruning(model, kind: "se")
    }

    /// The dynamo exporter (opset 18) writes adaptive_avg_pool2d as ReduceMean with axes as an input and keepdims 1,
    /// and torch.flatten as Reshape to [-1, F] with allowzero 1: both global pools (squeeze-excitation and head) import.
    func testReduceMeanWithAxesInputAndReshapeAllowZeroAtOpset18() throws {
        let (model, _) = try checkFidelity("reduce-mean")
        XCTAssertEqual((model.graph.layer(named: "se.pool") as? GlobalAvgPool)?.keepsDimensions, true)
        XCTAssertEqual((model.graph.layer(named: "gap") as? GlobalAvgPool)?.keepsDimensions, true)
        XCTAssertEqual((model.graph.layer(named: "head.hswish") as? Pointwise)?.function, .hardSwish)
        let groups = ChannelGroups.analyze(model.graph)
        let gate = try XCTUnwrap(groups.first { $0.layers.contains("se.expand") })
        XCTAssertTrue(gate.layers.contains("stem"), "the excitation's Mul ties its gate to the stem's channels")
        try checkPruning(model, kind: "reduce-mean")
    }

    /// The TorchScript exporter before opset 14: ReduceMean with an axes attribute and keepdims 0 (`x.mean((2, 3))`),
    /// and HardSwish as x * HardSigmoid(x), which on the classifier multiplies two [batch, features] vectors.
    func testReduceMeanAttributeAndHardSwishProductOnVectorsAtOpset13() throws {
        let (model, _) = try checkFidelity("reduce-mean-13")
        XCTAssertEqual((model.graph.layer(named: "gap") as? GlobalAvgPool)?.keepsDimensions, false)
        XCTAssertTrue(model.graph.layer(named: "head.hswish") is Multiply)
        XCTAssertEqual(model.compressibleLayers.map(\.name), ["stem", "se.reduce", "se.expand", "conv2", "fc1", "fc2"])
        try checkPruning(model, kind: "reduce-mean-13")
    }

    func testReduceMeanOverChannelsNamesTheNode() throws {
        let g = try generate("reduce-channels")
        XCTAssertThrowsError(try ModelZoo.make(g.model.path)) { error in
            guard case OnnxImportError.unsupportedUse(let op, let node, let opset, let reason)? = error as? OnnxImportError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(op, "ReduceMean")
            XCTAssertEqual(node, "channel_mean")
            XCTAssertEqual(opset, 18)
            XCTAssertTrue(reason.contains("axes [1]"), reason)
            XCTAssertTrue("\(error)".contains("ReduceMean node 'channel_mean' (opset 18)"), "\(error)")
        }
    }

    /// Pruning an imported network removes channels exactly as masking them does, and quantizes and exports.
    func checkPruning(_ model: Model, kind: String) throws {
        let policy = try Policy(bits: "6/6/0.5").resolve(for: model)
        let pruned = ChannelPruning.prune(model, policy: policy), masked = ChannelPruning.mask(model, policy: policy)
        XCTAssertLessThan(pruned.graph.parameters.reduce(0) { $0 + $1.value.count },
                          model.graph.parameters.reduce(0) { $0 + $1.value.count }, kind)
        var rng = SeededGenerator(seed: 3)
        let x = Tensor.randomNormal(shape: [2] + model.inputShape, std: 1, using: &rng)
        XCTAssertLessThan(pruned.logits(x).maxAbsDifference(masked.logits(x)), 1e-3, "\(kind): pruned vs masked")
        let quantized = PolicyQuantization.quantize(pruned, policy: policy, calibration: x)
        let data = try OnnxExport.serialize(quantized)
        XCTAssertGreaterThan(data.count, 0)
    }

    /// The imported graph trains: its parameter gradients (batch norm in training mode, squeeze-excitation, SiLU,
    /// concatenation, residual add) match central finite differences of the loss. The graph has smooth activations
    /// only; ReLU, clip and pooling backward are checked layer by layer in SeerEngineTests, away from their kinks.
    func testImportedGraphGradientsMatchFiniteDifferences() throws {
        let (model, _) = try checkFidelity("smooth")
        let kind = "smooth"
        let graph = model.graph
        var rng = SeededGenerator(seed: 11)
        let x = Tensor.randomNormal(shape: [3] + model.inputShape, std: 1, using: &rng)
        let direction = Tensor.randomNormal(shape: [3, model.classes], std: 1, using: &rng)
        for layer in graph.layers { (layer as? Conv2D)?.convolutionAlgorithm = .im2col }
        func loss() -> Double {
            let y = graph.forward(x, training: true)
            return zip(y.data, direction.data).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        graph.zeroGrad()
        _ = graph.forward(x, training: true)
        graph.backward(direction)
        Fixtures.assertParameterGradients(graph, samples: 4, step: 1e-2, absolute: 5e-3, relative: 3e-2, label: "\(kind): ",
                                          loss: loss)
    }

    /// `seer-agent predict` and `complexity` on an ONNX path: logits through .npy files as numpy writes and reads them.
    func testAgentCommandsTakeAnOnnxPath() throws {
        let g = try generate("mobilenet")
        let x = g.directory.appendingPathComponent("x.npy"), y = g.directory.appendingPathComponent("y.npy")
        _ = try Fixtures.runScript("import sys, numpy as np; np.save(sys.argv[2], np.fromfile(sys.argv[1], dtype='<f4')"
                                   + ".reshape(\(g.input.shape.map(String.init).joined(separator: ", "))))",
                                   [g.directory.appendingPathComponent("x.f32").path, x.path])
        let predict = try Fixtures.runAgent(["predict", "--model", g.model.path, "--input", x.path, "--output", y.path,
                                             "--batch-size", "2"])
        XCTAssertEqual(predict.status, 0, predict.stderr)
        let printed = try Fixtures.runScript("import sys, numpy as np; a = np.load(sys.argv[1]); print(a.dtype, a.shape); "
                                             + "a.astype('<f4').tofile(sys.argv[1] + '.f32')", [y.path])
        XCTAssertEqual(printed.trimmingCharacters(in: .whitespacesAndNewlines), "float32 (\(g.input.shape[0]), \(g.classes))")
        XCTAssertLessThanOrEqual(relativeDifference(try floats(URL(fileURLWithPath: y.path + ".f32")), g.logits), 1e-4)
        XCTAssertEqual(try NumpyFile.read(y).shape, [g.input.shape[0], g.classes])

        let complexity = try Fixtures.runAgent(["complexity", "--model", g.model.path, "--bits", "8/8", "--json"])
        XCTAssertEqual(complexity.status, 0, complexity.stderr)
        let report = try JSONDecoder().decode(ComplexityReport.self, from: Data(complexity.stdout.utf8))
        XCTAssertEqual(report.macs, g.macs)

        let wrong = try Fixtures.runAgent(["predict", "--model", g.model.path, "--input", y.path, "--output", x.path])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("[N, 3, 16, 16]"), wrong.stderr)
    }

    /// Seer's own float export of the zoo networks imports back to the same function, layers and costs, and an
    /// imported network measures on Fashion-MNIST like the zoo one (`seer-agent evaluate`'s path).
    func testZooNetworksRoundTripThroughOnnx() throws {
        let data = try Fixtures.data()
        let (_, images, _) = try Fixtures.validationImages(data, count: 16)
        for name in ["resnet8", "mobilenetv2-tiny"] {
            let (zoo, _) = try Fixtures.baseModel(name)
            // A model with an input name exports without the normalization nodes, as an imported one does.
            let plain = Model(name: name, graph: zoo.graph, inputShape: zoo.inputShape, classes: zoo.classes, inputName: "pixels")
            let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("\(name).onnx")
            try OnnxExport.export(model: plain, to: url)
            let imported = try ModelZoo.make(url.path)
            XCTAssertEqual(imported.inputName, "pixels")
            XCTAssertEqual(imported.compressibleLayers.map(\.name), zoo.compressibleLayers.map(\.name), name)
            XCTAssertEqual(imported.stemLayerName, "stem.conv", name)
            XCTAssertLessThanOrEqual(relativeDifference(imported.logits(images).data, zoo.logits(images).data), 1e-4, name)
            let policy = try Policy(bits: "4/4/0.5").resolve(for: zoo)
            XCTAssertEqual(try Policy(bits: "4/4/0.5").resolve(for: imported).entries, policy.entries, name)
            XCTAssertEqual(try Complexity.compute(model: imported, policy: try Policy(bits: "4/4/0.5").resolve(for: imported)).macs,
                           try Complexity.compute(model: zoo, policy: policy).macs, name)
            XCTAssertEqual(ChannelGroups.analyze(imported.graph).map(\.layers), ChannelGroups.analyze(zoo.graph).map(\.layers), name)

            var settings = EvaluationSettings()
            settings.evaluationLimit = 200
            settings.finetuneSteps = 2
            settings.batchSize = 16
            let a = try PolicyEvaluation.run(base: imported, policy: try Policy(bits: "8/8").resolve(for: imported), data: data,
                                             settings: settings)
            let b = try PolicyEvaluation.run(base: zoo, policy: try Policy(bits: "8/8").resolve(for: zoo), data: data,
                                             settings: settings)
            // Batch norm is folded in the export, so fine-tuning differs a little; the functions agree at the start.
            XCTAssertEqual(a.accuracy, b.accuracy, accuracy: 5, name)
        }
    }

    func testUnsupportedOperatorNamesOpNodeAndOpset() throws {
        let g = try generate("unsupported")
        XCTAssertThrowsError(try ModelZoo.make(g.model.path)) { error in
            guard case OnnxImportError.unsupportedOperator(let op, _, let node, let opset)? = error as? OnnxImportError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(op, "Tanh")
            XCTAssertEqual(node, "act/tanh")
            XCTAssertEqual(opset, 13)
            XCTAssertTrue("\(error)".contains("Tanh") && "\(error)".contains("act/tanh") && "\(error)".contains("opset 13"))
        }
    }

    func testRepeatedNodeNamesBecomeUniqueLayerNames() throws {
        let g = try generate("duplicates")
        let model = try ModelZoo.make(g.model.path)
        XCTAssertEqual(model.graph.layers.map(\.name), ["conv", "same", "conv2", "same_2", "GlobalAveragePool_4"])
    }

    func testReferencesPinTheFileBySHA256() throws {
        let g = try generate("duplicates")
        let canonical = try ModelReference.canonical(g.model.path)
        XCTAssertTrue(canonical.hasPrefix(g.model.path + "@sha256:"), canonical)
        XCTAssertEqual(try ModelZoo.make(canonical).name, canonical)
        // The same bytes elsewhere are the same model; other bytes under a pinned reference are refused.
        let copy = g.directory.appendingPathComponent("copy.onnx")
        try FileManager.default.copyItem(at: g.model, to: copy)
        XCTAssertTrue(ModelReference.sameModel(try ModelReference.canonical(copy.path), canonical))
        let other = try generate("plain")
        try FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: other.model, to: copy)
        let digest = ModelReference.parse(canonical).digest!
        XCTAssertThrowsError(try ModelZoo.make(copy.path + "@sha256:" + digest)) { error in
            guard case OnnxImportError.digestMismatch? = error as? OnnxImportError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(ModelReference.isOnnx("resnet20"), false)
        XCTAssertEqual(try ModelReference.canonical("resnet20"), "resnet20")
    }

    func testTruncatedOrForeignFilesAreClearErrors() throws {
        let g = try generate("plain")
        let bytes = try Data(contentsOf: g.model)
        for (label, data) in [("truncated", bytes.prefix(bytes.count / 2)), ("foreign", Data("not a model at all".utf8))] {
            let url = g.directory.appendingPathComponent("\(label).onnx")
            try data.write(to: url)
            XCTAssertThrowsError(try ModelZoo.make(url.path), label) { error in
                XCTAssertTrue(error is OnnxImportError, "\(label): \(error)")
                XCTAssertTrue("\(error)".contains(url.path) || "\(error)".contains("ONNX"), "\(label): \(error)")
            }
        }
        XCTAssertThrowsError(try ModelZoo.make(g.directory.appendingPathComponent("absent.onnx").path))
    }

    func testImportedModelMustFitTheDataset() throws {
        let g = try generate("plain")
        let model = try ModelZoo.make(g.model.path)
        XCTAssertThrowsError(try model.checkFits(try Fixtures.data())) { error in
            XCTAssertTrue("\(error)".contains("[3, 16, 16]") && "\(error)".contains("[1, 28, 28]"), "\(error)")
        }
    }

    /// Bring your own network and data: a 32x32x3, 5-class ONNX network fits a Keras-style npz, fine-tunes on it (the
    /// loss falls), is measured on its validation split by `PolicyEvaluation` and by `seer-agent evaluate --data`, and
    /// refuses data other than the ones a job names.
    /// 200 training and 40 test images, NHWC uint8, 32x32x3: class k of 5 is a noisy image of colour k.
    func colourNpz(in directory: URL) throws -> URL {
        let npz = directory.appendingPathComponent("data.npz")
        _ = try Fixtures.runScript("""
            import sys, numpy as np
            rng = np.random.default_rng(0)
            colours = np.array([(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)])
            def make(n):
                y = rng.integers(0, 5, n)
                x = colours[y].reshape(n, 1, 1, 3) + rng.integers(-30, 30, (n, 32, 32, 3))
                return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)
            xtr, ytr = make(200); xte, yte = make(40)
            np.savez_compressed(sys.argv[1], x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
            """, [npz.path])
        return npz
    }

    func testCifarSizedOnnxNetworkTrainsAndMeasuresOnAnNpz() throws {
        let g = try generate("cifar")
        let npz = try colourNpz(in: g.directory)
        let spec = DataSpec(path: npz.path, mean: [0.5], std: [0.25])
        let model = try ModelZoo.make(g.model.path)
        let data = try spec.load(imageShape: model.inputShape)
        XCTAssertEqual(data.imageShape, [3, 32, 32])
        XCTAssertEqual(data.classCount, 5)
        XCTAssertNoThrow(try model.checkFits(data))
        XCTAssertThrowsError(try ModelZoo.make("resnet8", seed: 0).checkFits(data)) { error in
            XCTAssertTrue("\(error)".contains("[3, 32, 32] images and 5 classes"), "\(error)")
        }

        func loss() throws -> Float {
            var rng = SeededGenerator(seed: 0)
            let (x, labels) = try data.batch(split: .train, indices: 0..<100, augment: nil, rng: &rng)
            return softmaxCrossEntropy(logits: model.logits(x), labels: labels.map(Int.init)).loss
        }
        let before = try loss()
        var config = TrainingConfig()
        config.steps = 15
        config.batchSize = 20
        config.learningRate = 0.05
        let report = try Trainer(model: model, data: data, config: config).run()
        XCTAssertEqual(report.steps, 15)
        let after = try loss()
        XCTAssertLessThan(after, before, "fine-tuning on the npz lowers the loss")

        var settings = EvaluationSettings()
        settings.finetuneSteps = 2
        settings.batchSize = 16
        settings.calibrationImages = 16
        settings.latency = LatencySettings(number: 1, repeats: 1, minRepeatMs: 0, batch: 2)
        settings.datasetSHA256 = data.datasetSHA256
        let result = try PolicyEvaluation.run(base: model, policy: try Policy(bits: "8/8").resolve(for: model), data: data,
                                              settings: settings)
        XCTAssertEqual(result.evaluatedImages, 20, "10% of 200 training images are the validation split")
        XCTAssertTrue((0...100).contains(result.accuracy))
        settings.datasetSHA256 = String(repeating: "f", count: 64)
        XCTAssertThrowsError(try PolicyEvaluation.run(base: model, policy: try Policy(bits: "8/8").resolve(for: model),
                                                      data: data, settings: settings)) { error in
            XCTAssertTrue("\(error)".contains(npz.path) && "\(error)".contains("differ"), "\(error)")
        }

        let cli = try Fixtures.runAgent(["evaluate", "--model", g.model.path, "--data", npz.path, "--data-mean", "0.5",
                                         "--data-std", "0.25", "--bits", "8/8", "--finetune-steps", "2", "--limit", "20",
                                         "--json"])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        let measured = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(cli.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(measured["evaluated_images"] as? Int, 20)
        let wrongData = try Fixtures.runAgent(["evaluate", "--model", g.model.path, "--bits", "8/8", "--finetune-steps", "0"])
        XCTAssertNotEqual(wrongData.status, 0)
        XCTAssertTrue(wrongData.stderr.contains("[1, 28, 28] images and 10 classes"), wrongData.stderr)
    }

    /// A trained imported network, compressed (4-bit weights and activations, a quarter of the channels pruned) and
    /// fine-tuned, exports as QDQ ONNX that onnxruntime runs with the engine's predictions: the file keeps the user's
    /// input name and convention (normalized input, as the imported file took it), and its accuracy is the engine's.
    func testTrainedImportedNetworkExportsQuantizedAtTheEnginesAccuracy() throws {
        let g = try generate("cifar")
        let npz = try colourNpz(in: g.directory)
        let model = try ModelZoo.make(g.model.path)
        let data = try DataSpec(path: npz.path, mean: [0.5], std: [0.25]).load(imageShape: model.inputShape)
        var training = TrainingConfig()
        training.steps = 30
        training.batchSize = 20
        training.learningRate = 0.05
        _ = try Trainer(model: model, data: data, config: training).run()

        var settings = EvaluationSettings()
        settings.finetuneSteps = 3
        settings.batchSize = 16
        settings.calibrationImages = 32
        settings.seed = 5
        let policy = try Policy(bits: "4/4/0.25").resolve(for: model)
        let compressed = try PolicyEvaluation.compress(base: model, policy: policy, data: data, settings: settings).model
        XCTAssertLessThan(try Complexity.compute(model: compressed, policy: policy).macs,
                          try Complexity.compute(model: model, policy: try Policy(bits: "8/8").resolve(for: model)).macs)

        let dir = try Fixtures.temporaryDirectory(self)
        let onnx = dir.appendingPathComponent("compressed.onnx"), images = dir.appendingPathComponent("images.f32")
        try OnnxExport.export(model: compressed, to: onnx)
        let count = 20  // the validation split: 10% of the 200 training images
        let (_, normalized, labels) = try Fixtures.validationImages(data, count: count)
        try Fixtures.rawBytes(normalized).write(to: images)
        let output = try Fixtures.runScript("""
            import json, sys
            import numpy as np, onnx, onnxruntime as ort
            path, images, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
            onnx.checker.check_model(onnx.load(path), full_check=True)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            spec = session.get_inputs()[0]
            x = np.fromfile(images, dtype="<f4").reshape([n] + list(spec.shape[1:]))
            (y,) = session.run(None, {spec.name: x})
            y.astype("<f4").tofile(images + ".logits")
            print(json.dumps({"input": spec.name, "ops": sorted({node.op_type for node in onnx.load(path).graph.node})}))
            """, [onnx.path, images.path, String(count)])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        XCTAssertEqual(report["input"] as? String, "input", "the exported file keeps the imported file's input name")
        let ops = Set(report["ops"] as? [String] ?? [])
        XCTAssertTrue(ops.isSuperset(of: ["QuantizeLinear", "DequantizeLinear", "Conv"]), "\(ops.sorted())")

        let logits = try Data(contentsOf: URL(fileURLWithPath: images.path + ".logits"))
            .withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let engine = compressed.graph.foldingBatchNorm().forward(normalized, training: false)
        let c = OnnxParityTests.compare(engine, logits, classes: compressed.classes)
        print("trained imported cifar 4/4/0.25 vs onnxruntime: \(c)")
        // As OnnxParityTests: rounding ties may move a few images slightly; a wrong scale, clip or bias moves all.
        XCTAssertGreaterThanOrEqual(c.exact, count * 6 / 10, "\(c)")
        XCTAssertLessThan(c.maxAbs, 0.05 * c.scale, "\(c)")
        func accuracy(_ values: [Float]) -> Int {
            (0..<count).filter { i in
                let row = Array(values[(i * compressed.classes)..<((i + 1) * compressed.classes)])
                return row.firstIndex(of: row.max()!) == Int(labels[i])
            }.count
        }
        let engineCorrect = accuracy(engine.data), onnxCorrect = accuracy(logits)
        XCTAssertGreaterThanOrEqual(engineCorrect, count / 2, "the trained network learned the colours")
        XCTAssertLessThanOrEqual(abs(engineCorrect - onnxCorrect), 1, "engine \(engineCorrect), onnxruntime \(onnxCorrect) of \(count)")
    }
}
