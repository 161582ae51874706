import ArgumentParser

/// `seer-agent`: runs compressed networks on this device and reports accuracy and latency.
@main
struct SeerAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seer-agent",
        abstract: "Measure compression policies on this device, locally or for a Seer coordinator.",
        subcommands: [RunCommand.self, EvaluateCommand.self, ComplexityCommand.self, ExportCommand.self, AgentKeygenCommand.self,
                      BatteryCommand.self, DeployDirCommand.self, ProfileLayersCommand.self])
}
