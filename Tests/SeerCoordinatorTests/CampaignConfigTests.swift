import XCTest
@testable import SeerCoordinator
import SeerData

final class CampaignConfigTests: XCTestCase {
    let minimal = "name: t\nmodel: resnet8\nbudgets: [\"20%\", 1.5e8]\n"

    func testMinimalConfigTakesDefaults() throws {
        let c = try CampaignConfig.parse(yaml: minimal)
        XCTAssertEqual(c.budgets, [Budget(value: 0.2, isFraction: true), Budget(value: 1.5e8, isFraction: false)])
        XCTAssertEqual(c.metric, .bitops)
        XCTAssertEqual(c.sampling, SamplingConfig())
        XCTAssertEqual(c.budgets[0].absolute(reference: 1000), 200)
        XCTAssertEqual(c.budgets[1].absolute(reference: 1000), 1.5e8)
        XCTAssertEqual(c.optimizer.pessimism, 10)
        XCTAssertEqual(c.policyOptimizer.settings.pessimism, 10)
        XCTAssertEqual(c.predictor.hidden, 0)
        XCTAssertEqual(c.predictor.features, "linear")
        XCTAssertNil(c.predictor.ensemble.mlp)
        XCTAssertEqual(c.predictor.ensemble.featureCandidates, [.baseOnly])
        let plain = try CampaignConfig.parse(yaml: minimal + "optimizer: {pessimism: 0}\n")
        XCTAssertEqual(plain.policyOptimizer.settings.pessimism, 0)
    }

    func testErrorsNameTheField() {
        let cases: [(String, String)] = [
            ("name: t\nmodel: resnet8\n", "budgets"),
            (minimal + "sampling: {initial: 2}\n", "sampling.initial"),
            (minimal + "sampling: {band: [0.9, 0.5]}\n", "sampling.band"),
            (minimal + "sampling: {per_rnd: 3}\n", "per_rnd"),
            (minimal + "colour: red\n", "colour"),
            ("name: t\nmodel: resnet8\nbudgets: [\"lots\"]\n", "budgets"),
            ("name: t\nmodel: vgg\nbudgets: [\"20%\"]\n", "model"),
            ("name: t\nmodel: resnet8\nbudgets: [\"120%\"]\n", "budgets[0]"),
            (minimal + "measurement: {finetune_steps: -1}\n", "finetune_steps"),
            (minimal + "measurement: {latency: {repeat: 0}}\n", "latency.repeat"),
            (minimal + "metric: latency\n", "latency_device"),
            (minimal + "metric: latency\nlatency_device: gpu\n", "latency_device"),
            (minimal + "metric: joules\n", "metric"),
            ("name: \"a b\"\nmodel: resnet8\nbudgets: [\"20%\"]\n", "name"),
            (minimal + "profiles: {gpu: {saver: \"bitops=10%\"}}\n", "profiles.gpu"),
            (minimal + "profiles: {cpu-x86: {saver: \"bits=10%\"}}\n", "profiles.cpu-x86.saver"),
            (minimal + "profiles: {cpu-x86: {saver: \"bitops=150%\"}}\n", "profiles.cpu-x86.saver"),
            (minimal + "profiles: {cpu-x86: {saver: \"bitops=-3\"}}\n", "profiles.cpu-x86.saver"),
            (minimal + "profiles: {cpu-x86: {}}\n", "profiles.cpu-x86"),
            (minimal + "optimizer: {pessimism: -1}\n", "optimizer.pessimism"),
            (minimal + "optimizer: {pessimism: .inf}\n", "optimizer.pessimism"),
            (minimal + "runtime_devices: [ort]\ntraining_device: cpu-x86\n", "runtime_devices"),
            (minimal + "devices: [ort]\nruntime_devices: [ort]\n", "training_device"),
            (minimal + "devices: [ort]\nruntime_devices: [ort]\ntraining_device: ort\n", "training_device"),
            (minimal + "training_device: cpu-x86\n", "training_device"),
            (minimal + "data: {format: npz, path: /nonexistent/x.npz}\n", "/nonexistent/x.npz"),
            (minimal + "data: {format: npz}\n", "data.path: required"),
            (minimal + "data: {path: x.npz, mean: [a]}\n", "data.mean: expected a number"),
            (minimal + "data: {path: /usr/share/datasets/fashion-mnist, mean: [0.5, -1], std: 0}\n", "data.std"),
            (minimal + "data: {path: /usr/share/datasets/fashion-mnist, colour: 1}\n", "data.colour"),
            (minimal + "data: {format: png, path: x}\n", "data.format"),
            (minimal + "data: {path: /usr/share/datasets/fashion-mnist, layout: nhwc}\n", "data.layout"),
            (minimal + "data: {path: /usr/share/datasets/fashion-mnist, sha256: \"\(String(repeating: "0", count: 64))\"}\n", "differ"),
            (minimal + "measurement: {dataset_sha256: \"\(String(repeating: "0", count: 64))\"}\n", "measurement.dataset_sha256"),
            (minimal + "measurement: {crop_padding: 3}\n", "measurement.crop_padding"),
        ]
        for (yaml, field) in cases {
            XCTAssertThrowsError(try CampaignConfig.parse(yaml: yaml), yaml) { error in
                XCTAssertTrue("\(error)".contains(field), "'\(error)' should name \(field)")
            }
        }
    }

    /// The data are pinned when the config is read: absolute path, format and SHA-256, and the jobs' settings carry
    /// the SHA-256, the normalization and the validation split, so agents measure on the coordinator's data or refuse.
    func testDataArePinnedIntoTheMeasurementSettings() throws {
        let c = try CampaignConfig.parse(yaml: minimal)
        XCTAssertEqual(c.data.format, .idx)
        XCTAssertEqual(c.data.path, FashionMNIST.defaultDirectory)
        let sha = try FashionMNIST.fingerprint(directory: FashionMNIST.defaultDirectory)
        XCTAssertEqual(c.data.sha256, sha)
        XCTAssertEqual(c.measurement.datasetSHA256, sha)
        XCTAssertEqual(c.measurement.normalization, FashionMNIST.normalization)
        XCTAssertNil(c.measurement.validationCount)
        let custom = try CampaignConfig.parse(yaml: minimal + "data: {path: \(FashionMNIST.defaultDirectory), mean: 0.5, std: 0.5, validation: 1000}\n")
        XCTAssertEqual(custom.measurement.normalization, Normalization(mean: [0.5], std: [0.5]))
        XCTAssertEqual(custom.measurement.validationCount, 1000)
        XCTAssertNil(custom.measurement.cropPadding)
        let padded = try CampaignConfig.parse(yaml: minimal + "data: {path: \(FashionMNIST.defaultDirectory), crop_padding: 4}\n")
        XCTAssertEqual(padded.measurement.cropPadding, 4, "jobs carry the campaign's crop padding")
        // Stored as JSON and read back (resume, the service) unchanged.
        let json = try JSONEncoder().encode(custom)
        XCTAssertEqual(try JSONDecoder().decode(CampaignConfig.self, from: json), custom)
    }

    func testProfilesParseAsMetricBudgets() throws {
        let c = try CampaignConfig.parse(yaml: minimal + "profiles:\n  cpu-x86: {performance: \"bitops=30%\", saver: \"size=40000\"}\n")
        XCTAssertEqual(c.profileList.map(\.profile), ["performance", "saver"])
        XCTAssertEqual(c.profiles["cpu-x86"]?["saver"], MetricBudget(metric: .size, budget: Budget(value: 40000, isFraction: false)))
        XCTAssertEqual(c.profiles["cpu-x86"]?["performance"]?.description, "bitops=30%")
        // Stored as JSON in the campaign table and read back by deployments.
        XCTAssertEqual(try JSONDecoder().decode(CampaignConfig.self, from: try JSONEncoder().encode(c)), c)
    }

    func testShippedConfigsAreValid() throws {
        // The demo embeds its config so that it needs no files; configs/demo.yaml shows it and must say the same.
        let root0 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shown = try CampaignConfig.load(contentsOf: root0.appendingPathComponent("configs/demo.yaml"))
        XCTAssertEqual(shown, try CampaignConfig.parse(yaml: DemoConfig.yaml))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["demo.yaml", "resnet20-bitops.yaml"] {
            XCTAssertNoThrow(try CampaignConfig.load(contentsOf: root.appendingPathComponent("configs/\(name)")), name)
        }
    }
}
