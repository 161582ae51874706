import Foundation
import SeerCompression
import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor
import XCTest
@testable import SeerExport

final class CompressedModelFileTests: XCTestCase {
    func compressed(_ name: String) throws -> (model: Model, policy: ResolvedPolicy) {
        let (base, _) = try Fixtures.baseModel(name)
        let policy = try Fixtures.mixedPolicy(for: base)
        var settings = EvaluationSettings()
        settings.finetuneSteps = 1
        settings.batchSize = 16
        settings.calibrationImages = 64
        let model = try PolicyEvaluation.compress(base: base, policy: policy, data: try Fixtures.data(), settings: settings).model
        return (model, policy)
    }

    func testRoundTripRebuildsTheSameNetwork() throws {
        for name in ["resnet8", "mobilenetv2-tiny"] {
            let (model, policy) = try compressed(name)
            let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("\(name).safetensors")
            try CompressedModelFile.save(model, policy: policy, to: url, metadata: ["seed": "0"])
            let loaded = try CompressedModelFile.load(from: url, expecting: policy)
            XCTAssertEqual(loaded.policy, policy)
            XCTAssertEqual(loaded.metadata["seed"], "0")
            XCTAssertEqual(loaded.metadata["format"], CompressedModelFile.format)
            XCTAssertEqual(loaded.model.graph.layers.map(\.name), model.graph.layers.map(\.name), name)
            for (a, b) in zip(model.graph.namedTensors, loaded.model.graph.namedTensors) {
                XCTAssertEqual(a.name, b.name)
                XCTAssertEqual(a.tensor, b.tensor, a.name)
            }
            for (a, b) in zip(model.graph.layers, loaded.model.graph.layers) {
                XCTAssertEqual(CompressedModelFile.quantizer(of: a), CompressedModelFile.quantizer(of: b), a.name)
                if let qa = a as? ActivationQuantizer, let qb = b as? ActivationQuantizer {
                    XCTAssertEqual(qa.bits, qb.bits)
                    XCTAssertEqual(qa.signed, qb.signed)
                }
            }
            var rng = SeededGenerator(seed: 1)
            let x = Tensor.randomNormal(shape: [4] + model.inputShape, std: 1, using: &rng)
            XCTAssertEqual(model.logits(x), loaded.model.logits(x), name)
            // And the ONNX file exported from the loaded network is the same file, byte for byte.
            XCTAssertEqual(try OnnxExport.serialize(model), try OnnxExport.serialize(loaded.model), name)
        }
    }

    func testMismatchesAreErrors() throws {
        let (model, policy) = try compressed("resnet8")
        let dir = try Fixtures.temporaryDirectory(self)
        let url = dir.appendingPathComponent("c.safetensors")
        try CompressedModelFile.save(model, policy: policy, to: url)

        let other = try Policy(bits: "4/4").resolve(for: model)
        XCTAssertThrowsError(try CompressedModelFile.load(from: url, expecting: other)) { error in
            XCTAssertTrue("\(error)".contains("another policy"), "\(error)")
        }

        // A plain checkpoint is not a compressed-model file.
        let plain = dir.appendingPathComponent("plain.safetensors")
        try Checkpoint.save(try Fixtures.baseModel("resnet8").model, to: plain)
        XCTAssertThrowsError(try CompressedModelFile.load(from: plain)) { error in
            XCTAssertTrue("\(error)".contains("not a compressed-model file"), "\(error)")
        }

        // A missing tensor, a wrong shape and a stray tensor each name the tensor.
        let file = try Safetensors.read(from: url)
        func rewrite(_ edit: (inout [(name: String, tensor: Tensor)]) -> Void) throws -> URL {
            var tensors = file.order.map { (name: $0, tensor: file.tensors[$0]!) }
            edit(&tensors)
            let edited = dir.appendingPathComponent("edited-\(UUID().uuidString).safetensors")
            try Safetensors.write(tensors, metadata: file.metadata, to: edited)
            return edited
        }
        let missing = try rewrite { $0.removeAll { $0.name == "stage1.block1.conv1.aq.alpha" } }
        XCTAssertThrowsError(try CompressedModelFile.load(from: missing)) { error in
            XCTAssertTrue("\(error)".contains("stage1.block1.conv1.aq.alpha"), "\(error)")
        }
        let reshaped = try rewrite { t in
            let i = t.firstIndex { $0.name == "fc.weight_clip" }!
            t[i].tensor = Tensor(shape: [11])
        }
        XCTAssertThrowsError(try CompressedModelFile.load(from: reshaped)) { error in
            XCTAssertTrue("\(error)".contains("fc.weight_clip"), "\(error)")
        }
        let stray = try rewrite { $0.append((name: "extra.weight", tensor: Tensor(shape: [1]))) }
        XCTAssertThrowsError(try CompressedModelFile.load(from: stray)) { error in
            XCTAssertTrue("\(error)".contains("extra.weight"), "\(error)")
        }
    }

    /// `exportPolicy` runs the same compression as `PolicyEvaluation.compress`: same policy and seed, same network.
    func testExportPolicyMatchesCompress() throws {
        let (base, _) = try Fixtures.baseModel("resnet8")
        let policy = try Policy(bits: "5/6/0.375").resolve(for: base)
        var settings = EvaluationSettings()
        settings.finetuneSteps = 1
        settings.batchSize = 16
        settings.calibrationImages = 32
        settings.seed = 3
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("r8.onnx")
        let exported = try OnnxExport.exportPolicy(base: base, policy: policy, settings: settings, data: try Fixtures.data(),
                                                   to: url)
        let direct = try PolicyEvaluation.compress(base: base, policy: policy, data: try Fixtures.data(), settings: settings).model
        let provenance = try OnnxExport.provenance(policy: policy, settings: settings)
        XCTAssertEqual(try Data(contentsOf: url), try OnnxExport.serialize(direct, metadata: provenance))
        XCTAssertEqual(try OnnxExport.serialize(exported, metadata: provenance), try Data(contentsOf: url))
    }
}
