import ArgumentParser

/// `seer-coordinator predictor ...`: fit and cross-validate the performance predictor.
struct PredictorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predictor",
                                                    abstract: "Fit and evaluate the performance predictor.")
}
