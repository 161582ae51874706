import ArgumentParser
import Foundation
import SeerEngine

/// `seer-coordinator`: trains base models, runs campaigns, optimizes and deploys policies.
@main
struct SeerCoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seer-coordinator",
        abstract: "Learn a performance predictor from measured compression policies and optimize against it.",
        subcommands: [DemoCommand.self, CampaignCommand.self, OptimizeCommand.self, TrainCommand.self,
                      PredictorCommand.self, ServeCommand.self, RedeployCommand.self, DeploymentsCommand.self,
                      AgentsCommand.self, KeygenCommand.self])

    static func main() {
        // stdio buffers stdout in blocks unless it is a terminal, so progress lines sent to a pipe (`| tee`, a service
        // manager's log) would appear only at exit; a line at a time, they appear as they are printed.
        setvbuf(stdout, nil, _IOLBF, 0)
        // A bad SEER_CONV_BACKEND is reported here, not at the first convolution.
        do { try ConvolutionAlgorithm.validateEnvironment() } catch { exit(withError: error) }
        main(nil)
    }
}
