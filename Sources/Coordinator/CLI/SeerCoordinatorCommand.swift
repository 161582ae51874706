import ArgumentParser

/// `seer-coordinator`: trains base models, runs campaigns, optimizes and deploys policies.
@main
struct SeerCoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seer-coordinator",
        abstract: "Learn a performance predictor from measured compression policies and optimize against it.",
        subcommands: [DemoCommand.self, CampaignCommand.self, OptimizeCommand.self, TrainCommand.self,
                      PredictorCommand.self, ServeCommand.self, RedeployCommand.self, DeploymentsCommand.self,
                      KeygenCommand.self])
}
