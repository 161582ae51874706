import Foundation
import SeerData
import SeerModels
import SeerTensor

/// Trains a zoo model from scratch on Fashion-MNIST and writes its checkpoint and model card.
public enum BaseModelTraining {
    /// Trains `modelName`, evaluates on validation and test, writes `<outDir>/<model>.safetensors` and `.json`.
    public static func run(modelName: String, config: TrainingConfig, data: FashionMNIST, outDirectory: URL,
                           command: String, showProgress: Bool = true) throws -> ModelCard {
        let model = try ModelZoo.make(modelName, seed: config.seed)
        guard model.inputShape == [1, data.rows, data.columns] else {
            throw ModelError.checkpoint("\(modelName) takes \(model.inputShape) images; Fashion-MNIST has [1, \(data.rows), \(data.columns)]")
        }
        let trainer = try Trainer(model: model, data: data, config: config)
        let bar = ProgressBar(title: "train \(modelName)", total: trainer.totalSteps, enabled: showProgress)
        let report = try trainer.run { step, _, loss, accuracy in
            bar.update(step, status: String(format: "loss %.3f train %.1f%%", loss, accuracy))
        }
        bar.finish(status: String(format: "loss %.3f train %.1f%%", report.finalLoss, report.trainAccuracy))
        let validation = try evaluateAccuracy(model, data: data, split: .validation)
        let test = try evaluateAccuracy(model, data: data, split: .test)
        let card = ModelCard(model: modelName, testAccuracy: test, validationAccuracy: validation,
                             datasetSHA256: data.datasetSHA256, command: command, epochs: config.epochs, seed: config.seed,
                             parameters: model.graph.parameters.reduce(0) { $0 + $1.value.count },
                             trainingSeconds: report.seconds, created: ISO8601DateFormatter().string(from: Date()))
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        try Checkpoint.save(model, to: outDirectory.appendingPathComponent(modelName + ".safetensors"),
                            metadata: ["validation_accuracy": String(validation), "test_accuracy": String(test)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(card).write(to: outDirectory.appendingPathComponent(modelName + ".json"), options: .atomic)
        return card
    }
}
