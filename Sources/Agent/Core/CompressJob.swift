import Foundation
import SeerCompression
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import SeerTraining
import SeerWire

/// A `compress` job (revision 2): the training half of a measurement on a runtime device.
///
/// Compresses, fine-tunes and validates the policy exactly as a `measure` job does (same settings, same seed: the
/// same network), and returns the network as an `onnx-qdq/1` artifact (Seer's QDQ ONNX export, named by its SHA-256)
/// with the engine's accuracy, so an agent of another device can time it and check its numerics against that accuracy.
/// No latency: this CPU is not the device the artifact is for.
enum CompressJob {
    static func run(base: Model, policy: ResolvedPolicy, settings: EvaluationSettings,
                    data: Dataset) throws -> ResultPayload {
        let start = Date()
        let (model, timings) = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings)
        var clock = Date()
        let images = min(settings.evaluationLimit ?? Int.max, data.count(settings.split))
        let accuracy = try evaluateAccuracy(model, data: data, split: settings.split, limit: images)
        let evaluation = Date().timeIntervalSince(clock)
        clock = Date()
        let onnx = try OnnxExport.serialize(model, metadata: try OnnxExport.provenance(policy: policy, settings: settings))
        let export = Date().timeIntervalSince(clock)
        let sha = SHA256.hex(SHA256.hash([UInt8](onnx)))
        let complexity = try SeerCompression.Complexity.compute(model: base, policy: policy)
        return ResultPayload(
            accuracy: accuracy / 100,
            complexity: SeerWire.Complexity(macs: complexity.macs, bitops: complexity.bitops, params: complexity.params,
                                            sizeBytes: complexity.sizeBytes),
            timingsMs: ["compression": timings.compression * 1000, "calibration": timings.calibration * 1000,
                        "finetune": timings.finetune * 1000, "evaluation": evaluation * 1000, "export": export * 1000,
                        "total": Date().timeIntervalSince(start) * 1000],
            artifact: .inline(onnx, sha256: sha))
    }
}
