import ArgumentParser
import Foundation
import SeerCompression
import SeerModels

/// `seer-agent complexity`: MACs, BitOPs, parameters and size of a model under a policy.
struct ComplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complexity",
        abstract: "Count MACs, BitOPs, parameters and size of a zoo or ONNX model under a compression policy.",
        discussion: """
            Counts come from layer shapes alone: no checkpoint is needed. The stem (the first convolution) always stays at \
            8/8 bits unpruned. See docs/COMPRESSION.md for the policy format and the counting rules.
            """)

    @Option(help: "Zoo model (\(ModelZoo.names.joined(separator: ", "))) or an ONNX file.")
    var model: String

    @Option(help: "Policy file (JSON, or YAML for any other extension).")
    var policy: String?

    @Option(help: "Uniform policy W/A[/PRUNE], e.g. 4/4 or 8/8/0.5.")
    var bits: String?

    @Option(help: "Search space file (YAML or JSON); the default space when absent.")
    var space: String?

    @Flag(help: "Print JSON (macs, bitops, params, size_bytes, layers) instead of a table.")
    var json = false

    func validate() throws {
        switch (policy, bits) {
        case (nil, nil): throw ValidationError("give a policy: --policy FILE or --bits W/A[/PRUNE]")
        case (.some, .some): throw ValidationError("give either --policy or --bits, not both")
        default: break
        }
        guard ModelZoo.names.contains(model) || ModelReference.isOnnx(model) else {
            throw ValidationError("unknown model '\(model)' for --model; the zoo has \(ModelZoo.names.joined(separator: ", ")), "
                                  + "or give a PATH.onnx")
        }
        if let bits {
            do { _ = try Policy(bits: bits) } catch { throw ValidationError(String(describing: error)) }
        }
    }

    func run() throws {
        let network = try ModelZoo.make(model)
        let searchSpace = try space.map { try SearchSpace.load(contentsOf: URL(fileURLWithPath: $0)) } ?? .default
        let chosen = try policy.map { try Policy.load(contentsOf: URL(fileURLWithPath: $0)) } ?? Policy(bits: bits ?? "")
        let resolved: ResolvedPolicy
        do {
            resolved = try chosen.resolve(for: network, space: searchSpace)
        } catch PolicyError.outsideSpace(let field, let value, let allowed) where bits != nil {
            // The shorthand has no `default.wbits` the user wrote; name its own part instead.
            let part = ["default.wbits": "W", "default.abits": "A", "default.prune": "PRUNE"][field] ?? field
            throw ValidationError("--bits '\(bits!)': \(part) = \(value) is not in the search space; "
                                  + "allowed: \(allowed.joined(separator: ", "))")
        }
        let report = try Complexity.compute(model: network, policy: resolved)
        print(json ? try report.jsonString() : report.table())
    }
}
