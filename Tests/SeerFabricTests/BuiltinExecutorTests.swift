import XCTest
import SeerCompression
import SeerData
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

    /// A compress job's artifact normalizes in its graph with the job's normalization, the one the engine measured
    /// under (it used to bake in Fashion-MNIST's whatever the job said), so a runtime agent feeding it raw pixels sees
    /// what the engine saw.
    func testCompressArtifactNormalizesAsTheJob() throws {
        var settings = EvaluationSettings()
        settings.finetuneSteps = 0
        settings.evaluationLimit = 20
        settings.calibrationImages = 8
        settings.seed = 3
        settings.latency.number = 1
        settings.latency.repeats = 2
        settings.normalization = Normalization(mean: [0.5], std: [0.25])
        var body = job(fourBits)
        body.kind = .compress
        body.payload.finetuneSteps = 0
        body.payload.options = nil
        body.payload.settings = try JSONDecoder().decode([String: JSONValue].self, from: try settings.jobJSON())
        let result = try BuiltinExecutor(settings: ExecutorSettings(deviceKey: "cpu-x86")).run(body, cancel: nil)
        let onnx = try XCTUnwrap(try result.artifact?.inlineBytes(in: .result))
        let note = "normalized in the graph as (x - 0.5) / 0.25"
        XCTAssertNotNil(onnx.range(of: Data(note.utf8)), "the artifact's seer.input should say: \(note)")

        // Per-channel values a one-value graph cannot hold are an error, not Fashion-MNIST's silently.
        let base = try ModelStore.load(Self.checkpoint.path)
        XCTAssertThrowsError(try CompressJob.exportOptions(base, normalization: Normalization(mean: [0.1, 0.2], std: [1])))
    }

    func profileJob(_ policy: [String: JSONValue], options: [String: JSONValue]) -> JobBody {
        var body = job(policy)
        body.kind = .profile
        body.payload.options = options
        return body
    }

    func testProfileJobsReportLatencyOrALayerTableWithoutFineTuning() throws {
        // The policy's latency and complexity only.
        let engine = BuiltinExecutor(settings: ExecutorSettings(deviceKey: "cpu-x86"))
        let plain = try engine.run(profileJob(fourBits, options: ["min_repeat_ms": .number(0)]), cancel: nil)
        XCTAssertNil(plain.accuracy)
        XCTAssertGreaterThan(try XCTUnwrap(plain.latency).medianMs, 0)
        XCTAssertNotNil(plain.complexity)

        // The simulated accelerator's table comes back whole through the executor and its packing (that it equals the
        // cost model is LayerLatencyTableTests' check), and passes the wire checks.
        let bitfusion = try ExecutorRegistry.shared.make("sim-bitfusion", settings: ExecutorSettings(deviceKey: "fpga"))
        let result = try bitfusion.run(profileJob([:], options: ["layer_table": .object(["keeps": .array([0.5, 1])])]), cancel: nil)
        let object = try XCTUnwrap(result.layerTable)
        XCTAssertNoThrow(try WireCodec.encode(.result(ResultBody(jobID: "j1", agentID: "a", payload: result))))
        let table = try JSONDecoder().decode(PackedLayerLatencyTable.self, from: try JSONEncoder().encode(object)).unpacked()
        // Packing keeps every entry, latencies to float32 precision.
        let base0 = try ModelStore.load(Self.checkpoint.path)
        var settings = LayerProfilerSettings()
        settings.keeps = [0.5, 1]
        let direct = try LayerProfiler.profile(model: base0, executor: "sim-bitfusion", settings: settings)
        XCTAssertEqual(table.entries.count, direct.entries.count)
        for (a, b) in zip(table.entries, direct.entries) {
            XCTAssertEqual(a.layer, b.layer)
            XCTAssertEqual(a.keptIn, b.keptIn)
            XCTAssertEqual(a.wbits, b.wbits)
            XCTAssertEqual(a.ms, b.ms, accuracy: b.ms * 1e-6)
            XCTAssertEqual(try XCTUnwrap(a.mj), try XCTUnwrap(b.mj), accuracy: (b.mj ?? 0) * 1e-6)
        }
        XCTAssertEqual(table.executor, "sim-bitfusion")
        XCTAssertEqual(table.keeps, [0.5, 1])
        let base = try ModelStore.load(Self.checkpoint.path)
        XCTAssertEqual(Set(table.layers), Set(base.compressibleLayers.map(\.name)))

        let bad = profileJob([:], options: ["layer_table": .object(["keeps": .array([0.5, 0.25])])])
        XCTAssertThrowsError(try bitfusion.run(bad, cancel: nil)) { error in
            XCTAssertEqual((error as? ExecutorError)?.code, .badPolicy, "\(error)")
            XCTAssertTrue("\(error)".contains("keeps"), "\(error)")
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
