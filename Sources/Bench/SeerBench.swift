import ArgumentParser
import SeerEngine

/// `seer-bench`: the measurements behind `bench/*`, each printing one JSON object on its last line.
@main
struct SeerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seer-bench",
        abstract: "Benchmarks; each prints one JSON object on its last line.",
        subcommands: [EngineBenchmark.self, LayerProfile.self, EvaluateBenchmark.self, OptimizerBenchmark.self, OnnxBenchmark.self, SearchQualityBenchmark.self, LatencyModelBenchmark.self, RuntimeLatencyModelBenchmark.self, GPUCampaignBenchmark.self,
                      RedeployBenchmark.self, ConvBenchmark.self, PickQualityBenchmark.self, PredictorStudyBenchmark.self])

    static func main() {
        // A bad SEER_CONV_BACKEND is reported here, not at the first convolution.
        do { try ConvolutionAlgorithm.validateEnvironment() } catch { exit(withError: error) }
        main(nil)
    }
}
