import ArgumentParser
import SeerMeasurement

/// Fine-tuning's optimizer on the command line of `evaluate`, `export` and `predict`: what a campaign's `measurement:`
/// sets (`learning_rate`, `batch_size`, `weight_decay`), so a network of one's own can be fine-tuned as it needs.
struct FinetuneOptions: ParsableArguments {
    @Option(help: "SGD learning rate of fine-tuning (momentum 0.9, cosine decay).")
    var learningRate = EvaluationSettings().learningRate
    @Option(help: "Training images per fine-tuning step.")
    var finetuneBatchSize = EvaluationSettings().batchSize
    @Option(help: "Weight decay of fine-tuning.")
    var weightDecay = EvaluationSettings().weightDecay
    @Option(help: "Training images that calibrate the quantizers' ranges before fine-tuning (a campaign's measurement.calibration_images).")
    var calibrationImages = EvaluationSettings().calibrationImages

    func validate() throws {
        guard learningRate > 0, learningRate.isFinite else {
            throw ValidationError("--learning-rate must be a positive number, got \(learningRate)")
        }
        guard finetuneBatchSize >= 1 else { throw ValidationError("--finetune-batch-size must be at least 1, got \(finetuneBatchSize)") }
        guard calibrationImages >= 1 else { throw ValidationError("--calibration-images must be at least 1, got \(calibrationImages)") }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw ValidationError("--weight-decay must be at least 0, got \(weightDecay)")
        }
    }

    /// `settings` with these options.
    func applied(to settings: EvaluationSettings) -> EvaluationSettings {
        var settings = settings
        settings.learningRate = learningRate
        settings.batchSize = finetuneBatchSize
        settings.weightDecay = weightDecay
        settings.calibrationImages = calibrationImages
        return settings
    }
}
