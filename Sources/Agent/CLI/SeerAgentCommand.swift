import ArgumentParser
import Foundation
import SeerEngine

/// `seer-agent`: runs compressed networks on this device and reports accuracy and latency.
@main
struct SeerAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seer-agent",
        abstract: "Measure compression policies on this device, locally or for a Seer coordinator.",
        subcommands: [RunCommand.self, EvaluateCommand.self, ComplexityCommand.self, ExportCommand.self, AgentKeygenCommand.self,
                      BatteryCommand.self, DeployDirCommand.self, ProfileLayersCommand.self, PredictCommand.self,
                      DatasetCommand.self])

    static func main() {
        // stdio buffers stdout in blocks unless it is a terminal, so progress lines sent to a pipe (`| tee`, a service
        // manager's log) would appear only at exit; a line at a time, they appear as they are printed.
        setvbuf(stdout, nil, _IOLBF, 0)
        // A bad SEER_CONV_BACKEND is reported here, not at the first convolution.
        do { try ConvolutionAlgorithm.validateEnvironment() } catch { exit(withError: error) }
        main(nil)
    }
}
