import ArgumentParser

/// `seer-agent complexity`: MACs, BitOPs, parameters and size of a model under a policy.
struct ComplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "complexity")
}
