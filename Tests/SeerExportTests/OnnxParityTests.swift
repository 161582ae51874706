import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor
import XCTest
@testable import SeerExport

/// Exported models run in onnxruntime (CPU) and must compute what the engine computes.
final class OnnxParityTests: XCTestCase {
    /// Checks the file with onnx's checker (full check: shape inference too), runs it in onnxruntime on the raw images
    /// with all graph optimizations and with none, and writes both logits next to the inputs.
    static let runner = """
        import json, sys
        import numpy as np, onnx, onnx.numpy_helper, onnxruntime as ort
        path, images_path, n, c, h, w = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        x = np.fromfile(images_path, dtype="<f4").reshape(n, c, h, w)
        report = {"opset": [[o.domain, o.version] for o in model.opset_import], "ir_version": model.ir_version,
                  "ops": sorted({node.op_type for node in model.graph.node}),
                  "metadata": {p.key: p.value for p in model.metadata_props}}
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        report["weights"] = {k[:-len(".weight_quantized")]: [str(v.dtype), int(np.abs(v.astype(np.int32)).max())]
                             for k, v in inits.items() if k.endswith(".weight_quantized")}
        report["activations"] = {k[:-len(".zero_point")]: [str(v.dtype), int(v),
                                 float(inits[k[:-len(".zero_point")] + ".clip_max"] / inits[k[:-len(".zero_point")] + ".scale"])]
                                 for k, v in inits.items() if k.endswith(".aq.zero_point")}
        for level, name in [(ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "all"),
                            (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "none")]:
            options = ort.SessionOptions()
            options.graph_optimization_level = level
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            (y,) = session.run(None, {"image": x})
            y.astype("<f4").tofile(images_path + "." + name)
            report["shape"] = list(y.shape)
        print(json.dumps(report))
        """

    struct Comparison: CustomStringConvertible {
        var maxAbs: Float = 0
        var scale: Float = 0
        var argmaxAgreement = 0
        var images = 0
        /// Images whose logits agree to 1e-4 of the logit scale (float noise only).
        var exact = 0
        /// Images whose largest difference exceeds 1e-3 of the logit scale.
        var outliers = 0
        var description: String {
            String(format: "max |diff| %.3g (%.3g of logit scale %.3g), %d/%d images within 1e-4, %d beyond 1e-3, "
                   + "argmax agrees on %d/%d", maxAbs, maxAbs / scale, scale, exact, images, outliers, argmaxAgreement, images)
        }
    }

    static func compare(_ engine: Tensor, _ onnx: [Float], classes: Int) -> Comparison {
        var c = Comparison()
        c.images = engine.count / classes
        c.scale = max(engine.data.map(abs).max() ?? 1, 1e-6)
        for i in 0..<c.images {
            let e = Array(engine.data[(i * classes)..<((i + 1) * classes)]), o = Array(onnx[(i * classes)..<((i + 1) * classes)])
            let diff = zip(e, o).map { abs($0 - $1) }.max()!
            c.maxAbs = max(c.maxAbs, diff)
            if diff <= 1e-4 * c.scale { c.exact += 1 }
            if diff > 1e-3 * c.scale { c.outliers += 1 }
            if e.firstIndex(of: e.max()!) == o.firstIndex(of: o.max()!) { c.argmaxAgreement += 1 }
        }
        return c
    }

    /// Exports `model` (compressed), runs engine and onnxruntime on `count` validation images and compares.
    func check(_ model: Model, label: String, count: Int = 100) throws {
        let data = try Fixtures.data()
        let dir = try Fixtures.temporaryDirectory(self)
        let onnxURL = dir.appendingPathComponent("model.onnx")
        try OnnxExport.export(model: model, to: onnxURL, metadata: ["test": label])
        let (raw, normalized, _) = try Fixtures.validationImages(data, count: count)
        let imagesURL = dir.appendingPathComponent("images.f32")
        try Fixtures.rawBytes(raw).write(to: imagesURL)

        let reference = model.graph.foldingBatchNorm().forward(normalized, training: false)
        // Folding changes float rounding only: the unfolded compressed network agrees closely too.
        let unfolded = model.logits(normalized)
        let output = try Fixtures.runScript(Self.runner, [onnxURL.path, imagesURL.path, String(count)]
                                            + model.inputShape.map(String.init))
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        XCTAssertEqual(report["shape"] as? [Int], [count, model.classes], label)
        XCTAssertEqual((report["opset"] as? [[Any]])?.first?.last as? Int, 13, label)
        let ops = Set(report["ops"] as? [String] ?? [])
        XCTAssertTrue(ops.isSuperset(of: ["Conv", "QuantizeLinear", "DequantizeLinear", "Clip", "Gemm", "Sub", "Div"]),
                      "\(label): ops \(ops.sorted())")
        XCTAssertFalse(ops.contains("BatchNormalization") || ops.contains("Mul"), "\(label): batch norm left unfolded")
        // Bit-widths below 8 are the integer range: int8 weights within +-(2^(b-1)-1), activation clip / scale = levels.
        let weights = report["weights"] as? [String: [Any]] ?? [:], activations = report["activations"] as? [String: [Any]] ?? [:]
        for layer in model.graph.layers {
            if let q = CompressedModelFile.quantizer(of: layer) {
                let w = try XCTUnwrap(weights[layer.name], "\(label): \(layer.name) has no quantized weights")
                XCTAssertEqual(w[0] as? String, "int8")
                XCTAssertLessThanOrEqual(w[1] as? Int ?? 999, (1 << (q.bits - 1)) - 1, "\(label): \(layer.name)")
            }
            if let aq = layer as? ActivationQuantizer {
                let a = try XCTUnwrap(activations[aq.name], "\(label): \(aq.name) missing")
                XCTAssertEqual(a[0] as? String, aq.signed ? "int8" : "uint8", aq.name)
                XCTAssertEqual(a[1] as? Int, 0, aq.name)
                XCTAssertEqual(a[2] as? Double ?? 0, Double(aq.levels), accuracy: 1e-3, "\(label): \(aq.name)")
            }
        }
        let metadata = report["metadata"] as? [String: String] ?? [:]
        XCTAssertEqual(metadata["seer.model"], model.name)
        XCTAssertEqual(metadata["test"], label)

        for level in ["none", "all"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: imagesURL.path + "." + level))
            let logits = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertEqual(logits.count, count * model.classes)
            let c = Self.compare(reference, logits, classes: model.classes)
            print("\(label) [onnxruntime optimizations \(level)] vs engine: \(c)")
            // Float summation order differs (BLAS vs onnxruntime's kernels), so an activation within rounding noise of
            // a quantization boundary (x / s = 5.4999914 here, 5.5000005 there) can land on the neighbouring level in
            // one of the two and move that image's later activations a little. Such ties are rare and local: most
            // images agree to float noise, the rest closely, and predictions agree. A wrong scale, clip, rounding mode
            // or bias would move every image.
            XCTAssertGreaterThanOrEqual(c.exact, count * 6 / 10, "\(label) [\(level)]: \(c)")
            XCTAssertLessThanOrEqual(c.outliers, count * 4 / 10, "\(label) [\(level)]: \(c)")
            XCTAssertLessThan(c.maxAbs, 0.05 * c.scale, "\(label) [\(level)]: \(c)")
            XCTAssertGreaterThanOrEqual(c.argmaxAgreement, count - max(2, count / 25), "\(label) [\(level)]: \(c)")
        }
        let u = Self.compare(reference, unfolded.data, classes: model.classes)
        XCTAssertGreaterThanOrEqual(u.argmaxAgreement, count - max(1, count / 50), "\(label) folded vs unfolded: \(u)")
    }

    func compressed(_ name: String, _ policy: (Model) throws -> ResolvedPolicy, finetuneSteps: Int = 0) throws -> Model {
        let (base, _) = try Fixtures.baseModel(name)
        var settings = EvaluationSettings()
        settings.finetuneSteps = finetuneSteps
        settings.batchSize = 32
        settings.seed = 5
        return try PolicyEvaluation.compress(base: base, policy: try policy(base), data: try Fixtures.data(),
                                             settings: settings).model
    }

    func testResNet8At8Bits() throws {
        let model = try compressed("resnet8") { try Policy(bits: "8/8").resolve(for: $0) }
        try check(model, label: "resnet8 8/8")
    }

    func testResNet8MixedLowBitPruned() throws {
        // Two fine-tuning steps: the exported PACT clips and weights are the trained ones, not the calibrated ones.
        let model = try compressed("resnet8", Fixtures.mixedPolicy, finetuneSteps: 2)
        try check(model, label: "resnet8 mixed")
    }

    func testMobileNetV2TinyAt8Bits() throws {
        let model = try compressed("mobilenetv2-tiny") { try Policy(bits: "8/8").resolve(for: $0) }
        try check(model, label: "mobilenetv2-tiny 8/8")
    }

    func testMobileNetV2TinyMixedLowBitPruned() throws {
        let model = try compressed("mobilenetv2-tiny", Fixtures.mixedPolicy)
        try check(model, label: "mobilenetv2-tiny mixed")
    }

    /// The int8 levels times their scales are the engine's quantized weights bit for bit, within the b-bit range.
    func testQuantizedWeightsReproduceTheEngine() throws {
        var rng = SeededGenerator(seed: 9)
        let w = Tensor.randomNormal(shape: [6, 3, 3, 3], std: 0.5, using: &rng)
        for bits in 2...8 {
            var q = WeightQuantizer.calibrated(bits: bits, weight: w)
            // A zeroed channel and folding-style scaled clips, as batch-norm folding produces.
            q = q.scaled(by: [1, -0.5, 2, 0.25, 1, 3])
            let scaled = WeightQuantizer(bits: bits, clips: q.clips.enumerated().map { $0.offset == 4 ? 0 : $0.element })
            var folded = w
            for o in 0..<6 { for i in 0..<27 { folded.data[o * 27 + i] *= [1, -0.5, 2, 0.25, 1, 3][o] } }
            let (levels, scales) = OnnxExport.quantizedWeights(folded, scaled)
            let expected = scaled.quantize(folded)
            let top = Int8((1 << (bits - 1)) - 1)
            for o in 0..<6 {
                for i in 0..<27 {
                    let l = levels[o * 27 + i]
                    XCTAssertTrue((-top...top).contains(l), "bits \(bits): level \(l)")
                    // Equal as numbers: the engine may produce -0.0 where int8 holds 0.
                    XCTAssertEqual(Float(l) * scales[o], expected.data[o * 27 + i], "bits \(bits) channel \(o) index \(i)")
                }
            }
        }
    }

    func testUnsupportedBitWidthIsAnError() throws {
        let (base, _) = try Fixtures.baseModel("resnet8")
        let conv = try XCTUnwrap(base.graph.layer(named: "stage1.block1.conv1") as? Conv2D)
        conv.weightQuantizer = .calibrated(bits: 12, weight: conv.weight.value)
        XCTAssertThrowsError(try OnnxExport.serialize(base)) { error in
            XCTAssertEqual(error as? OnnxExportError, .unsupportedBits(layer: "stage1.block1.conv1", bits: 12))
        }
    }
}
