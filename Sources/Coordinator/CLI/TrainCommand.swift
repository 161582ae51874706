import ArgumentParser
import SeerCommandLine
import Foundation
import SeerData
import SeerModels
import SeerTensor
import SeerTraining

/// `seer-coordinator train`: trains a zoo model (or fine-tunes an ONNX one) on `--data` and writes its checkpoint and model card.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train",
                                                    abstract: "Train a base model and write models/NAME.safetensors and NAME.json.")

    @Option(help: "Zoo model (\(ModelZoo.names.filter { $0 != "resnet18" }.joined(separator: ", "))) or an ONNX file to fine-tune.")
    var model: String
    @Option(help: "Epochs over the training split (55k images for Fashion-MNIST; fractions allowed).") var epochs: Double = 15
    @Option(help: "Images per SGD step.") var batchSize = 128
    @Option(help: "Peak learning rate of the cosine schedule.") var lr: Float = 0.1
    @Option(help: "Weight decay on convolution and linear weights.") var weightDecay: Float = 5e-4
    @Option(help: "Seed of initialization, shuffling and augmentation.") var seed: UInt64 = 0
    @Option(help: "Threads for OpenBLAS and the engine.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var data: DataOptions
    @Option(help: "Output directory.") var out = "models"
    @Option(help: "Train on the first N training images only (quick runs).") var trainLimit: Int?
    @Flag(help: "Disable random-crop and flip augmentation.") var noAugment = false

    func validate() throws {
        guard ModelZoo.names.contains(model) || ModelReference.isOnnx(model) else {
            throw ValidationError("unknown model '\(model)': give a zoo name or a PATH.onnx")
        }
        guard model != "resnet18" else { throw ValidationError("resnet18 is for complexity counting only (224x224x3 input)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard epochs > 0 else { throw ValidationError("--epochs must be positive") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        if let l = trainLimit, l <= 0 { throw ValidationError("--train-limit must be positive") }
    }

    func run() throws {
        Threads.set(threads)
        // Image folders are resized to the network's input, so its shape comes first.
        let dataset = try data.spec.load(imageShape: try ModelZoo.make(model, seed: seed).inputShape)
        var config = TrainingConfig()
        config.epochs = epochs
        config.batchSize = batchSize
        config.learningRate = lr
        config.weightDecay = weightDecay
        config.seed = seed
        config.trainLimit = trainLimit
        config.augment = !noAugment
        let command = (["seer-coordinator"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let card = try BaseModelTraining.run(modelName: model, config: config, data: dataset,
                                             outDirectory: URL(fileURLWithPath: out), command: command)
        print(String(format: "%@: validation %.2f%%, test %.2f%% (%.0f s) -> %@/%@.safetensors",
                     model, card.validationAccuracy, card.testAccuracy, card.trainingSeconds, out,
                     BaseModelTraining.checkpointStem(model)))
    }
}
