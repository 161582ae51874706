import ArgumentParser
import Foundation
import SeerData
import SeerModels
import SeerTensor
import SeerTraining

/// `seer-coordinator demo`: the embedded default job.
///
/// For now it trains resnet8 briefly and prints its accuracy; the campaign turns it into the real demo.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Run the embedded default job.")

    @Option(help: "Directory with the Fashion-MNIST IDX files.") var data = FashionMNIST.defaultDirectory
    @Option(help: "Threads for OpenBLAS and the engine.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        Threads.set(threads)
        let dataset = try FashionMNIST.load(directory: data)
        var config = TrainingConfig()
        config.epochs = 1
        config.trainLimit = 10_000
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("seer-demo-\(getpid())")
        defer { try? FileManager.default.removeItem(at: out) }
        let card = try BaseModelTraining.run(modelName: "resnet8", config: config, data: dataset, outDirectory: out,
                                             command: "seer-coordinator demo")
        print(String(format: "resnet8 after one epoch on 10k images: validation %.2f%%, test %.2f%% (%.0f s)",
                     card.validationAccuracy, card.testAccuracy, card.trainingSeconds))
    }
}
