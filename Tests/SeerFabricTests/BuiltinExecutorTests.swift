import XCTest
import SeerCompression
import SeerMeasurement
import SeerModels
import SeerWire
@testable import SeerAgent

/// The engine-backed executors on a resnet8 checkpoint with seeded random weights (the machinery, not the accuracy).
final class BuiltinExecutorTests: XCTestCase {
    static let checkpoint: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-builtin-\(getpid()).safetensors")
        try! Checkpoint.save(try! ModelZoo.make("resnet8", seed: 2), to: url)
        return url
    }()

    func job(_ policy: [String: JSONValue], split: String = "validation") -> JobBody {
        JobBody(jobID: "j1", deviceKey: "cpu-x86", kind: .measure,
                payload: JobPayload(model: Self.checkpoint.path, policy: policy, finetuneSteps: 1, split: split, seed: 3,
                                    latency: LatencySettings(number: 1, repeat: 2),
                                    options: ["evaluation_limit": .number(50), "batch_size": .number(8),
                                              "calibration_images": .number(8), "min_repeat_ms": .number(0)]))
    }

    let fourBits: [String: JSONValue] = ["default": .object(["wbits": .number(4), "abits": .number(4), "prune": .number(0.25)])]

    func testBuiltinMeasuresAccuracyLatencyAndComplexity() throws {
        let executor = BuiltinExecutor(settings: ExecutorSettings(deviceKey: "cpu-x86"))
        let result = try executor.run(job(fourBits), cancel: nil)
        let accuracy = try XCTUnwrap(result.accuracy)
        XCTAssertTrue((0...1).contains(accuracy))
        XCTAssertGreaterThan(try XCTUnwrap(result.latency).medianMs, 0)
        let base = try ModelStore.load(Self.checkpoint.path)
        let expected = try SeerCompression.Complexity.compute(model: base, policy: try Policy(bits: "4/4/0.25").resolve(for: base))
        XCTAssertEqual(result.complexity?.bitops, expected.bitops)
        XCTAssertNil(result.energy)
    }

    func testBadPolicyAndSplitAreBadPolicyErrors() {
        let executor = BuiltinExecutor(settings: ExecutorSettings(deviceKey: "cpu-x86"))
        let badBits: [String: JSONValue] = ["default": .object(["wbits": .number(7), "abits": .number(4), "prune": .number(0)])]
        let unknownLayer: [String: JSONValue] = ["default": .object(["wbits": .number(4), "abits": .number(4), "prune": .number(0)]),
                                                 "layers": .object(["stage9.conv": .object(["wbits": .number(4)])])]
        for (policy, split) in [(badBits, "validation"), (unknownLayer, "validation"), (fourBits, "train")] {
            XCTAssertThrowsError(try executor.run(job(policy, split: split), cancel: nil)) { error in
                XCTAssertEqual((error as? ExecutorError)?.code, .badPolicy, "\(error)")
            }
        }
    }

    func testSimulatedAcceleratorsReportTheirCostModels() throws {
        for name in ["sim-bitfusion", "sim-bismo"] {
            let executor = try ExecutorRegistry.shared.make(name, settings: ExecutorSettings(deviceKey: "fpga"))
            XCTAssertEqual(executor.kind.rawValue, name)
            let result = try executor.run(job(fourBits), cancel: nil)
            let base = try ModelStore.load(Self.checkpoint.path)
            let report = try SeerCompression.Complexity.compute(model: base, policy: try Policy(bits: "4/4/0.25").resolve(for: base))
            let estimate = AcceleratorModels.named(name)!.estimate(report, batch: 1)
            XCTAssertEqual(try XCTUnwrap(result.latency).medianMs, estimate.latencyMs, accuracy: 1e-12, name)
            XCTAssertEqual(try XCTUnwrap(result.energy).joules, estimate.energyMJ / 1000, accuracy: 1e-15, name)
            XCTAssertNotNil(result.accuracy, name)
        }
    }
}
