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
        // The split and normalization the network was compressed under (the job's), for its accuracy and its graph.
        let data = try settings.prepare(data)
        var clock = Date()
        let images = min(settings.evaluationLimit ?? Int.max, data.count(settings.split))
        let accuracy = try evaluateAccuracy(model, data: data, split: settings.split, limit: images)
        let evaluation = Date().timeIntervalSince(clock)
        clock = Date()
        let onnx = try OnnxExport.serialize(model, metadata: try OnnxExport.provenance(policy: policy, settings: settings),
                                            options: try exportOptions(model, normalization: data.normalization))
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

    /// A zoo network's graph normalizes its [0, 1] input as the engine did for this job (the job's normalization, else
    /// the agent's data's), so a runtime agent feeds it raw pixels; an imported network keeps its own input convention
    /// and the exporter ignores this. The graph holds one mean and std, so per-channel values must agree.
    static func exportOptions(_ model: Model, normalization: Normalization) throws -> OnnxExport.Options {
        guard model.inputName == nil else { return OnnxExport.Options(normalization: nil) }
        guard Set(normalization.mean).count == 1, Set(normalization.std).count == 1 else {
            throw DataError.invalidRequest("the exported graph normalizes with one mean and std; \(normalization) differs per channel")
        }
        return OnnxExport.Options(normalization: (normalization.mean[0], normalization.std[0]))
    }
}
