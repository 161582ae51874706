import ArgumentParser
import SeerCommandLine
import Foundation
import SeerCompression
import SeerData
import SeerMeasurement
import SeerModels
import SeerTensor
import SeerTraining

/// `seer-agent evaluate`: measures one compression policy locally (accuracy, latency on this host, complexity).
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Prune, quantize, calibrate and fine-tune a model under a policy; report accuracy, latency and complexity.")

    @Option(help: "Zoo name (its committed checkpoint), an ONNX file or a .safetensors path.") var model: String
    @Option(help: "Policy file (JSON or YAML).") var policy: String?
    @Option(help: "Uniform policy W/A[/PRUNE], e.g. 4/4 or 6/6/0.25.") var bits: String?
    @Option(help: "SGD steps of fine-tuning after compression.") var finetuneSteps = EvaluationSettings().finetuneSteps
    @OptionGroup var finetune: FinetuneOptions
    @Option(help: "validation (the search's split) or test (reported results only).") var split = "validation"
    @Option(help: "Evaluate on the first N images of the split.") var limit: Int?
    @Option(help: "Seed of calibration and fine-tuning.") var seed: UInt64 = 0
    @Option(help: "Threads for OpenBLAS and the engine.") var threads = 1
    @OptionGroup var data: DataOptions
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (policy == nil) != (bits == nil) else { throw ValidationError("give exactly one of --policy and --bits") }
        guard Split(rawValue: split) == .validation || Split(rawValue: split) == .test else {
            throw ValidationError("--split must be validation or test, got '\(split)'")
        }
        guard finetuneSteps >= 0 else { throw ValidationError("--finetune-steps must be at least 0") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let l = limit, l < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        Threads.set(threads)
        let base = try ModelStore.load(model)
        let chosen = try policy.map { try Policy.load(contentsOf: URL(fileURLWithPath: $0)) } ?? Policy(bits: bits!)
        let resolved = try chosen.resolve(for: base)
        let dataset = try data.spec.load(imageShape: base.inputShape)
        var settings = finetune.applied(to: EvaluationSettings())
        settings.finetuneSteps = finetuneSteps
        settings.split = Split(rawValue: split)!
        settings.evaluationLimit = limit
        settings.seed = seed
        let bar = ProgressBar(title: "fine-tune", total: max(1, finetuneSteps), enabled: !json && finetuneSteps > 0)
        let result = try PolicyEvaluation.run(base: base, policy: resolved, data: dataset, settings: settings) { step, _ in
            bar.update(step)
        }
        if finetuneSteps > 0 { bar.finish() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(data: try encoder.encode(result), encoding: .utf8)!)
        } else {
            print(String(format: "%@ under %@: %@ accuracy %.2f%% on %d images", result.model, policy ?? bits!, result.split,
                         result.accuracy, result.evaluatedImages))
            print(String(format: "latency %.3f ms median (min %.3f, max %.3f, %d x %d runs)", result.latencyMs,
                         result.latency.minMs, result.latency.maxMs, result.latency.repeats, result.latency.number))
            print("MACs \(result.macs)  BitOPs \(result.bitops)  params \(result.params)  size \(result.sizeBytes) B")
            print(String(format: "%.1f s: compression %.2f, calibration %.2f, fine-tune %.2f, evaluation %.2f, latency %.2f",
                         result.seconds, result.timings.compression, result.timings.calibration, result.timings.finetune,
                         result.timings.evaluation, result.timings.latency))
        }
    }
}
