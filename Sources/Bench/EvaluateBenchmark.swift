import ArgumentParser
import Foundation
import SeerCompression
import SeerData
import SeerMeasurement
import SeerModels
import SeerTensor

/// Seconds per measured policy at default settings, split into compression, calibration, fine-tuning,
/// evaluation and latency timing; and how latency and MACs fall with the pruning ratio.
struct EvaluateBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate")

    @Option(help: "Models to measure.") var models = "resnet8,resnet20"
    @Option(help: "Policy measured for the time split.") var bits = "4/4/0.25"
    @Option(help: "Threads.") var threads = 1

    func run() throws {
        Threads.set(threads)
        let data = try FashionMNIST.load()
        var result: [String: Any] = ["bits": bits, "threads": threads, "settings": try settingsJSON()]
        for name in models.split(separator: ",").map(String.init) {
            let base = try ModelStore.load(name)
            let policy = try Policy(bits: bits).resolve(for: base)
            let r = try PolicyEvaluation.run(base: base, policy: policy, data: data, settings: EvaluationSettings())
            result["\(name)_seconds"] = r.seconds
            result["\(name)_accuracy"] = r.accuracy
            result["\(name)_split"] = ["compression": r.timings.compression, "calibration": r.timings.calibration,
                                       "finetune": r.timings.finetune, "evaluation": r.timings.evaluation,
                                       "latency": r.timings.latency]
            // Pruning sweep at 8/8: MACs and measured batch-1 latency against the ratio.
            var sweep = [[String: Double]]()
            for ratio in [0.0, 0.25, 0.5, 0.75] {
                let p = try Policy(bits: "8/8/\(ratio)").resolve(for: base)
                let pruned = ChannelPruning.prune(base, policy: p).graph.foldingBatchNorm()
                var rng = SeededGenerator(seed: 1)
                let (x, _) = try data.batch(split: .validation, indices: [0], augment: nil, rng: &rng)
                let latency = LatencyTimer.measure(LatencySettings()) { _ = pruned.forward(x, training: false) }
                let macs = try Complexity.compute(model: base, policy: p).macs
                sweep.append(["prune": ratio, "macs": Double(macs), "latency_ms": latency.medianMs])
            }
            result["\(name)_prune_sweep"] = sweep
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }

    func settingsJSON() throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(EvaluationSettings()))
    }
}
