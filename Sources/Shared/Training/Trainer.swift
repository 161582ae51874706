import Foundation
import SeerData
import SeerEngine
import SeerModels
import SeerTensor

/// Hyperparameters of one training run (base-model training and policy fine-tuning alike).
public struct TrainingConfig: Codable, Sendable, Equatable {
    public var epochs: Double = 15
    public var batchSize = 128
    public var learningRate: Float = 0.1
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var warmupSteps = 0
    public var augment = true
    public var seed: UInt64 = 0
    /// Train on only the first `trainLimit` examples of the train split (tests, quick demos).
    public var trainLimit: Int?
    /// A fixed number of SGD steps (fine-tuning a policy); overrides `epochs` when set.
    public var steps: Int?

    public init() {}

    /// Checks ranges; the message names the field.
    public func validate() throws {
        func fail(_ message: String) -> TrainingError { TrainingError.invalidConfig(message) }
        guard epochs > 0 else { throw fail("epochs must be positive, got \(epochs)") }
        guard batchSize > 0 else { throw fail("batch size must be positive, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("learning rate must be positive, got \(learningRate)") }
        guard (0..<1).contains(momentum) else { throw fail("momentum must lie in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 else { throw fail("weight decay must be at least 0, got \(weightDecay)") }
        if let l = trainLimit, l <= 0 { throw fail("train limit must be positive, got \(l)") }
        if let s = steps, s < 0 { throw fail("steps must be at least 0, got \(s)") }
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case invalidConfig(String)
    case diverged(step: Int, loss: Float)

    public var description: String {
        switch self {
        case .invalidConfig(let m): return "invalid training configuration: \(m)"
        case .diverged(let step, let loss): return "training diverged at step \(step): loss \(loss)"
        }
    }
}

/// What one training run did.
public struct TrainingReport: Sendable {
    public var steps: Int
    public var finalLoss: Float
    public var trainAccuracy: Double
    public var seconds: Double
    public var imagesPerSecond: Double
}

/// Trains a model's graph with SGD + momentum under a cosine schedule, from seeded shuffles and augmentation.
public final class Trainer {
    public let model: Model
    public let data: Dataset
    public let config: TrainingConfig

    public init(model: Model, data: Dataset, config: TrainingConfig) throws {
        try config.validate()
        self.model = model
        self.data = data
        self.config = config
    }

    /// The number of optimizer steps the run will take.
    public var totalSteps: Int {
        if let steps = config.steps { return steps }
        let n = min(config.trainLimit ?? Int.max, data.count(.train))
        let perEpoch = (n + config.batchSize - 1) / config.batchSize
        return max(1, Int((Double(perEpoch) * config.epochs).rounded()))
    }

    /// Runs every step; `progress` gets (step, total, running loss, running accuracy).
    @discardableResult
    public func run(progress: ((Int, Int, Float, Double) -> Void)? = nil) throws -> TrainingReport {
        let graph = model.graph
        let sgd = SGD(learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay)
        let schedule = CosineSchedule(base: config.learningRate, totalSteps: totalSteps, warmupSteps: config.warmupSteps)
        let parameters = graph.parameters
        let limit = min(config.trainLimit ?? Int.max, data.count(.train))
        var augmentRNG = SeededGenerator(seed: config.seed &+ 0xA5A5)
        let start = Date()
        var step = 0, epoch: UInt64 = 0
        var runningLoss: Float = 0, correct = 0, seen = 0, images = 0
        while step < totalSteps && limit > 0 {
            // One shuffle per epoch, seeded by (seed, epoch), restricted to the first `limit` examples.
            var order = Array(0..<limit)
            var shuffleRNG = SeededGenerator(seed: config.seed &* 1_000_003 &+ epoch)
            shuffleRNG.shuffle(&order)
            epoch += 1
            var offset = 0
            while offset < order.count && step < totalSteps {
                let indices = order[offset..<min(offset + config.batchSize, order.count)]
                offset += config.batchSize
                let (x, labels32) = try data.batch(split: .train, indices: indices,
                                                   augment: config.augment ? data.augmentation : nil, rng: &augmentRNG)
                let labels = labels32.map(Int.init)
                sgd.learningRate = schedule.rate(at: step)
                graph.zeroGrad()
                let logits = graph.forward(x, training: true)
                let (loss, dlogits) = softmaxCrossEntropy(logits: logits, labels: labels)
                guard loss.isFinite else { throw TrainingError.diverged(step: step, loss: loss) }
                graph.backward(dlogits)
                sgd.step(parameters)
                let predicted = argmaxRows(logits)
                correct += zip(predicted, labels).filter { $0 == $1 }.count
                seen += labels.count
                images += labels.count
                runningLoss = step == 0 ? loss : 0.98 * runningLoss + 0.02 * loss
                step += 1
                progress?(step, totalSteps, runningLoss, 100 * Double(correct) / Double(max(1, seen)))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        return TrainingReport(steps: step, finalLoss: runningLoss, trainAccuracy: 100 * Double(correct) / Double(max(1, seen)),
                              seconds: seconds, imagesPerSecond: Double(images) / max(seconds, 1e-9))
    }
}

/// Top-1 accuracy in percent of `model` (eval mode) on the first `limit` examples of `split`.
public func evaluateAccuracy(_ model: Model, data: Dataset, split: Split, limit: Int? = nil,
                             batchSize: Int = 500) throws -> Double {
    let n = min(limit ?? Int.max, data.count(split))
    var correct = 0
    var rng = SeededGenerator(seed: 0)
    var start = 0
    while start < n {
        let indices = start..<min(start + batchSize, n)
        let (x, labels) = try data.batch(split: split, indices: indices, augment: nil, rng: &rng)
        let predicted = argmaxRows(model.logits(x))
        correct += zip(predicted, labels).filter { $0 == Int($1) }.count
        start += batchSize
    }
    return 100 * Double(correct) / Double(max(1, n))
}
