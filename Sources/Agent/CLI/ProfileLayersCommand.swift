import ArgumentParser
import Foundation
import SeerMeasurement
import SeerModels
import SeerTensor

/// `seer-agent profile-layers`: the per-layer latency table of a model on this device (or an accelerator model).
struct ProfileLayersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile-layers",
        abstract: "Profile every compressible layer's latency by kept channels (and bit-widths) into a lookup table.",
        discussion: """
            builtin times each layer's kernel (activation quantizer, layer with batch norm folded, the ops it owns) \
            in isolation at every (in keep, out keep) grid point, and the unpruned model end to end for the table's \
            overhead; sim-bitfusion and sim-bismo evaluate their cost models at every grid point and bit pair. \
            See docs/LATENCY.md.
            """)

    @Option(help: "Zoo name (shapes only: latency does not depend on weights), an ONNX file or a .safetensors checkpoint.")
    var model: String
    @Option(help: "builtin, \(AcceleratorModels.names.joined(separator: ", ")).")
    var executor = "builtin"
    @Option(help: "Threads for OpenBLAS and the engine (builtin).")
    var threads = 1
    @Option(help: "Kept-fraction grid, ascending, ending at 1 (default: the default search space's, 1 - prune).")
    var keeps = LayerProfilerSettings().keeps.map { String(format: "%g", $0) }.joined(separator: ",")
    @Option(help: "Images per run.")
    var batch = 1
    @Option(help: "Milliseconds each timed repeat of one kernel lasts at least (builtin).")
    var kernelMinRepeatMs = LayerProfilerSettings().kernelTiming.minRepeatMs
    @Option(help: "Where to write the table (JSON).")
    var out: String

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard executor == "builtin" || AcceleratorModels.names.contains(executor) else {
            throw ValidationError("--executor '\(executor)' has no latency profile; expected builtin, "
                                  + AcceleratorModels.names.joined(separator: ", "))
        }
        _ = try parsedKeeps()
    }

    func run() throws {
        Threads.set(threads)
        let network = ModelZoo.names.contains(model) || ModelReference.isOnnx(model) ? try ModelZoo.make(model) : try ModelStore.load(model)
        var settings = LayerProfilerSettings()
        settings.keeps = try parsedKeeps()
        settings.batch = batch
        settings.kernelTiming.minRepeatMs = kernelMinRepeatMs
        try settings.validate()
        var lastPrinted = -1
        let table = try LayerProfiler.profile(model: network, executor: executor, settings: settings) { done, total, layer in
            let percent = 100 * done / total
            guard percent != lastPrinted else { return }
            lastPrinted = percent
            FileHandle.standardError.write(Data("\rprofile-layers \(network.name) on \(executor): \(done)/\(total) \(layer)\u{1B}[K"
                .utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        try table.jsonData().write(to: URL(fileURLWithPath: out))
        let reference = table.referenceMs.map { String(format: ", unpruned end to end %.3f ms, overhead %.3f ms", $0, table.overheadMs) } ?? ""
        FileHandle.standardError.write(Data(String(format: "wrote %@: %d entries in %.1f s%@\n", out, table.entries.count,
                                                   table.seconds, reference).utf8))
    }

    private func parsedKeeps() throws -> [Double] {
        let values = keeps.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return try values.map { text in
            guard let v = Double(text) else { throw ValidationError("--keeps: '\(text)' is not a number") }
            return v
        }
    }
}
