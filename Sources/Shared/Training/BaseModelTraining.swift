import Foundation
import SeerData
import SeerModels
import SeerTensor

/// Trains a zoo model from scratch on Fashion-MNIST and writes its checkpoint and model card.
public enum BaseModelTraining {
    /// The checkpoint's file name without extension: the zoo name, or an ONNX file's name without `.onnx`.
    public static func checkpointStem(_ modelName: String) -> String {
        guard ModelReference.isOnnx(modelName) else { return modelName }
        return URL(fileURLWithPath: ModelReference.parse(modelName).path).deletingPathExtension().lastPathComponent
    }

    /// Trains `modelName` (an ONNX network: fine-tunes its weights), evaluates on validation and test, writes `<outDir>/<model>.safetensors` and `.json`.
    public static func run(modelName: String, config: TrainingConfig, data: Dataset, outDirectory: URL,
                           command: String, showProgress: Bool = true) throws -> ModelCard {
        // An imported ONNX network starts from its own weights (fine-tuning); a zoo network from `config.seed`.
        let model = try ModelZoo.make(modelName, seed: config.seed)
        try model.checkFits(data)
        let fileStem = checkpointStem(modelName)
        let trainer = try Trainer(model: model, data: data, config: config)
        let bar = ProgressBar(title: "train \(modelName)", total: trainer.totalSteps, enabled: showProgress)
        let report = try trainer.run { step, _, loss, accuracy in
            bar.update(step, status: String(format: "loss %.3f train %.1f%%", loss, accuracy))
        }
        bar.finish(status: String(format: "loss %.3f train %.1f%%", report.finalLoss, report.trainAccuracy))
        let validation = try evaluateAccuracy(model, data: data, split: .validation)
        let test = try evaluateAccuracy(model, data: data, split: .test)
        let card = ModelCard(model: model.name, testAccuracy: test, validationAccuracy: validation,
                             datasetSHA256: data.datasetSHA256, command: command, epochs: config.epochs, seed: config.seed,
                             parameters: model.graph.parameters.reduce(0) { $0 + $1.value.count },
                             trainingSeconds: report.seconds, created: ISO8601DateFormatter().string(from: Date()))
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        try Checkpoint.save(model, to: outDirectory.appendingPathComponent(fileStem + ".safetensors"),
                            metadata: ["validation_accuracy": String(validation), "test_accuracy": String(test)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(card).write(to: outDirectory.appendingPathComponent(fileStem + ".json"), options: .atomic)
        return card
    }
}
