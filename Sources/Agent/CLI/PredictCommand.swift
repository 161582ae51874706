import ArgumentParser
import SeerCommandLine
import Foundation
import SeerCompression
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import SeerTensor

/// `seer-agent predict`: a model's outputs (logits, or probabilities for a file ending in Softmax) for a batch from a
/// .npy file, so that anyone can check a model against another runtime.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Write the outputs of a model (float, compressed under a policy, or a saved compressed one) for a batch.",
        discussion: """
            --input is a .npy array [N, C, H, W] (float32, float64 or uint8, converted to float32) in the model's \
            input convention: normalized for the zoo models (as `evaluate` feeds them), whatever the graph expects \
            for an imported ONNX model; [N, H, W, C] for a model whose ONNX input is NHWC (a Keras model exported \
            by tf2onnx), the array onnxruntime takes for that file. --output gets what the model returns as float32 [N, classes] \
            .npy: the logits, or the probabilities of an imported graph that ends in Softmax (as onnxruntime returns \
            them for the file; Seer trains and measures accuracy on the logits before it). Without --policy, \
            --bits or --weights the model runs as it is; --policy/--bits compress it as `seer-agent evaluate` does \
            (calibration and fine-tuning on the Fashion-MNIST training split); --weights loads a network saved with \
            `seer-agent export --save-weights`.
            """)

    @Option(help: "Zoo name (its committed checkpoint), an ONNX file or a .safetensors path.") var model: String
    @Option(help: "Policy file (JSON or YAML).") var policy: String?
    @Option(help: "Uniform policy W/A[/PRUNE], e.g. 4/4 or 6/6/0.25.") var bits: String?
    @Option(help: "A compressed network saved with `export --save-weights`.") var weights: String?
    @Option(help: "SGD steps of fine-tuning after compression.") var finetuneSteps = 0
    @OptionGroup var finetune: FinetuneOptions
    @Option(help: "Seed of calibration and fine-tuning.") var seed: UInt64 = 0
    @OptionGroup var data: DataOptions
    @Option(help: "Images per forward pass.") var batchSize = 64
    @Option(help: "Threads for OpenBLAS and the engine.") var threads = 1
    @Option(help: "The batch, a .npy array [N, C, H, W] ([N, H, W, C] for an NHWC model).") var input: String
    @Option(help: "Where to write the outputs (.npy, float32 [N, classes]): logits, or probabilities after a final Softmax.")
    var output: String

    func validate() throws {
        guard policy == nil || bits == nil else { throw ValidationError("give at most one of --policy and --bits") }
        guard weights == nil || (policy == nil && bits == nil) else {
            throw ValidationError("--weights records its policy: give it without --policy or --bits")
        }
        guard finetuneSteps >= 0 else { throw ValidationError("--finetune-steps must be at least 0") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        Threads.set(threads)
        let network = try network()
        let x = try NumpyFile.read(URL(fileURLWithPath: input))
        guard x.shape.count == 4, Array(x.shape.dropFirst()) == network.userInputShape, x.shape[0] >= 1 else {
            throw ValidationError("--input \(input) has shape \(x.shape); \(network.name) takes "
                                  + "[N, \(network.userInputShape.map(String.init).joined(separator: ", "))]"
                                  + (network.inputLayout == .nhwc ? " (NHWC)" : ""))
        }
        let images = network.inputLayout == .nhwc ? x.channelsFirst() : x
        let n = x.shape[0], per = x.count / n
        var outputs = [Float]()
        outputs.reserveCapacity(n * network.classes)
        for start in stride(from: 0, to: n, by: batchSize) {
            let end = min(n, start + batchSize)
            let batch = Tensor(shape: [end - start] + network.inputShape, data: Array(images.data[(start * per)..<(end * per)]))
            outputs += network.outputs(batch).data
        }
        try NumpyFile.write(Tensor(shape: [n, network.classes], data: outputs), to: URL(fileURLWithPath: output))
        let what = network.outputActivation == .softmax ? "probabilities" : "logits"
        print("\(network.name): \(what) [\(n), \(network.classes)] -> \(output)")
    }

    /// The model as asked: as it is, compressed now, or loaded compressed.
    private func network() throws -> Model {
        if let weights {
            // The architecture --model names: a zoo name, a pinned ONNX file, or what a checkpoint's metadata names.
            let architecture = ModelZoo.names.contains(model) ? model
                : ModelReference.isOnnx(model) ? try ModelReference.canonical(model) : try ModelStore.load(model).name
            let loaded = try CompressedModelFile.load(from: URL(fileURLWithPath: weights), expecting: nil)
            guard ModelReference.sameModel(loaded.model.name, architecture) else {
                throw ValidationError("--weights \(weights) holds a compressed \(loaded.model.name), not \(architecture)")
            }
            return loaded.model
        }
        let base = try ModelStore.load(model)
        let chosen = try policy.map { try Policy.load(contentsOf: URL(fileURLWithPath: $0)) } ?? bits.map { try Policy(bits: $0) }
        guard let chosen else { return base }
        var settings = finetune.applied(to: EvaluationSettings())
        settings.finetuneSteps = finetuneSteps
        settings.seed = seed
        return try PolicyEvaluation.compress(base: base, policy: try chosen.resolve(for: base),
                                             data: try data.spec.load(imageShape: base.inputShape), settings: settings).model
    }
}

extension Tensor {
    /// An NHWC batch [N, H, W, C] as NCHW [N, C, H, W].
    func channelsFirst() -> Tensor {
        let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        return Tensor(shape: [n, c, h, w], data: SeerTensor.channelsFirst(data, blocks: n, positions: h * w, channels: c))
    }
}
