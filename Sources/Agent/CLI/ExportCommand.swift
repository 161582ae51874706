import ArgumentParser
import SeerCommandLine
import Foundation
import SeerCompression
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import SeerTensor
import SeerTraining

/// `seer-agent export`: a compressed network as ONNX (and optionally its weights as safetensors).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Compress a model under a policy (or load a compressed one) and write it as ONNX.",
        discussion: """
            Without --weights the model is compressed exactly as `seer-agent evaluate` does it (same policy, \
            fine-tuning options and --seed give the same network); --save-weights also writes the compressed network's \
            tensors (parameters, batch-norm statistics, PACT clips, weight-quantizer clips) as safetensors. With \
            --weights such a file is loaded instead and nothing is trained; --policy/--bits may then be left out (the \
            file records its policy) and, if given, must match it. The ONNX graph (opset 13) takes float32 NCHW \
            images in [0, 1] named `image`, normalizes them inside, and outputs `logits` (an imported ONNX model \
            keeps its own input name and convention); batch norm is folded, and \
            quantization is Clip/QuantizeLinear/DequantizeLinear (see OnnxExport and examples/README.md).
            """)

    @Option(help: "Zoo name (its committed checkpoint), an ONNX file or a .safetensors path.") var model: String
    @Option(help: "Policy file (JSON or YAML).") var policy: String?
    @Option(help: "Uniform policy W/A[/PRUNE], e.g. 4/4 or 6/6/0.25.") var bits: String?
    @Option(help: "A compressed network saved with --save-weights: export it instead of compressing.") var weights: String?
    @Option(help: "Also save the compressed network's tensors here (safetensors).") var saveWeights: String?
    @Option(help: "SGD steps of fine-tuning after compression.") var finetuneSteps = EvaluationSettings().finetuneSteps
    @OptionGroup var finetune: FinetuneOptions
    @Option(help: "Seed of calibration and fine-tuning.") var seed: UInt64 = 0
    @Option(help: "Threads for OpenBLAS and the engine.") var threads = 1
    @OptionGroup var data: DataOptions
    @Option(help: "Where to write the ONNX model.") var out: String
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if weights == nil {
            guard (policy == nil) != (bits == nil) else { throw ValidationError("give exactly one of --policy and --bits") }
        } else {
            guard policy == nil || bits == nil else { throw ValidationError("give at most one of --policy and --bits") }
            guard saveWeights == nil else { throw ValidationError("--save-weights needs a compression run, not --weights") }
        }
        guard finetuneSteps >= 0 else { throw ValidationError("--finetune-steps must be at least 0") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        Threads.set(threads)
        let outURL = URL(fileURLWithPath: out)
        let compressed: Model
        let resolved: ResolvedPolicy
        var metadata: [String: String]
        if let weights {
            let architecture = try modelName()
            let given = try requestedPolicy().map { try $0.resolve(for: try ModelZoo.make(architecture)) }
            let loaded = try CompressedModelFile.load(from: URL(fileURLWithPath: weights), expecting: given)
            guard ModelReference.sameModel(loaded.model.name, architecture) else {
                throw ValidationError("--weights \(weights) holds a compressed \(loaded.model.name), not \(architecture)")
            }
            (compressed, resolved) = (loaded.model, loaded.policy)
            metadata = ["seer.policy": loaded.metadata["policy"] ?? "", "seer.weights": weights]
            for key in ["finetune_steps", "seed"] { if let v = loaded.metadata[key] { metadata["seer." + key] = v } }
        } else {
            let base = try ModelStore.load(model)
            resolved = try requestedPolicy()!.resolve(for: base)
            let dataset = try data.spec.load(imageShape: base.inputShape)
            var settings = finetune.applied(to: EvaluationSettings())
            settings.finetuneSteps = finetuneSteps
            settings.seed = seed
            let bar = ProgressBar(title: "fine-tune", total: max(1, finetuneSteps), enabled: !json && finetuneSteps > 0)
            compressed = try PolicyEvaluation.compress(base: base, policy: resolved, data: dataset, settings: settings) { step, _ in
                bar.update(step)
            }.model
            if finetuneSteps > 0 { bar.finish() }
            metadata = try OnnxExport.provenance(policy: resolved, settings: settings)
            if let saveWeights {
                try CompressedModelFile.save(compressed, policy: resolved, to: URL(fileURLWithPath: saveWeights),
                                             metadata: ["finetune_steps": String(finetuneSteps), "seed": String(seed)])
            }
        }
        // A zoo network's graph normalizes its [0, 1] input as the data did (an imported network keeps its own input).
        let spec = try data.spec
        let normalization = spec.normalization(for: try spec.resolvedFormat())
        var options = OnnxExport.Options()
        if normalization.mean.count == 1 && normalization.std.count == 1 {
            options.normalization = (normalization.mean[0], normalization.std[0])
        }
        let proto = try OnnxExport.modelProto(compressed, metadata: metadata, options: options)
        let bytes = proto.serialized()
        try bytes.write(to: outURL, options: .atomic)
        if json {
            var report: [String: Any] = ["onnx": outURL.path, "model": compressed.name, "bytes": bytes.count,
                                         "nodes": proto.graph.nodes.count, "initializers": proto.graph.initializers.count,
                                         "opset": OnnxExport.opset]
            if let saveWeights { report["weights"] = saveWeights }
            report["policy"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(resolved))
            print(String(data: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .withoutEscapingSlashes]), encoding: .utf8)!)
        } else {
            print("\(compressed.name) -> \(outURL.path): \(bytes.count) bytes, \(proto.graph.nodes.count) nodes, opset \(OnnxExport.opset)")
            if let saveWeights { print("compressed weights -> \(saveWeights)") }
        }
    }

    private func requestedPolicy() throws -> Policy? {
        if let policy { return try Policy.load(contentsOf: URL(fileURLWithPath: policy)) }
        if let bits { return try Policy(bits: bits) }
        return nil
    }

    /// The zoo architecture --model names: the name itself, or the `model` metadata of a .safetensors path.
    private func modelName() throws -> String {
        if ModelZoo.names.contains(model) { return model }
        if ModelReference.isOnnx(model) { return try ModelReference.canonical(model) }
        let url = URL(fileURLWithPath: model)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ValidationError("'\(model)' is neither a zoo model (\(ModelZoo.names.joined(separator: ", "))) nor a file")
        }
        guard let name = try Safetensors.read(from: url).metadata["model"] else {
            throw ValidationError("\(url.path) does not name its model in the safetensors metadata ('model')")
        }
        return name
    }
}
