import XCTest
import SeerData
import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor
import SeerTraining
@testable import SeerCompression

/// Measurements of real policies on the committed resnet8 checkpoint, on a slice of the validation split.
final class EvaluateTests: XCTestCase {
    static let data = Result { try FashionMNIST.load() }
    let images = 1000

    func settings(steps: Int, seed: UInt64 = 0) -> EvaluationSettings {
        var s = EvaluationSettings()
        s.finetuneSteps = steps
        s.batchSize = 64
        s.evaluationLimit = images
        s.seed = seed
        s.latency = LatencySettings(number: 1, repeats: 1, minRepeatMs: 0)
        return s
    }

    func measure(_ bits: String, steps: Int) throws -> EvaluationResult {
        let base = try ModelStore.load("resnet8")
        let policy = try Policy(bits: bits).resolve(for: base)
        return try PolicyEvaluation.run(base: base, policy: policy, data: Self.data.get(), settings: settings(steps: steps))
    }

    func testEightBitsKeepFloatAccuracy() throws {
        let base = try ModelStore.load("resnet8")
        let float = try evaluateAccuracy(base, data: Self.data.get(), split: .validation, limit: 2000)
        var s = settings(steps: 0)
        s.evaluationLimit = 2000
        let eight = try PolicyEvaluation.run(base: base, policy: try Policy(bits: "8/8").resolve(for: base),
                                             data: Self.data.get(), settings: s)
        XCTAssertEqual(eight.accuracy, float, accuracy: 0.3)
    }

    func testTwoBitsLoseMoreThanSixAndFineTuningRecoversPart() throws {
        let six = try measure("6/6", steps: 0)
        let two = try measure("2/2", steps: 0)
        let twoTuned = try measure("2/2", steps: 40)
        XCTAssertGreaterThan(six.accuracy - two.accuracy, 5, "6-bit \(six.accuracy) vs 2-bit \(two.accuracy)")
        XCTAssertGreaterThan(twoTuned.accuracy - two.accuracy, 3, "fine-tuned \(twoTuned.accuracy) vs \(two.accuracy)")
        XCTAssertLessThan(two.bitops, six.bitops)
    }

    func testSamePolicyAndSeedGiveTheSameNetwork() throws {
        let base = try ModelStore.load("resnet8")
        let policy = try Policy(bits: "4/4/0.25").resolve(for: base)
        let data = try Self.data.get()
        let a = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings(steps: 5)).model
        let b = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings(steps: 5)).model
        let c = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings(steps: 5, seed: 9)).model
        var rng = SeededGenerator(seed: 3)
        let x = Tensor.randomNormal(shape: [4, 1, 28, 28], std: 1, using: &rng)
        XCTAssertEqual(a.logits(x), b.logits(x))
        XCTAssertNotEqual(a.logits(x), c.logits(x))
    }

    func testResultCarriesComplexityAndTimings() throws {
        let r = try measure("4/4/0.5", steps: 3)
        XCTAssertGreaterThan(r.latencyMs, 0)
        XCTAssertGreaterThan(r.macs, 0)
        XCTAssertEqual(r.evaluatedImages, images)
        XCTAssertGreaterThan(r.timings.finetune, 0)
        XCTAssertEqual(r.finetuneSteps, 3)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(r)) as! [String: Any]
        for key in ["accuracy", "latency_ms", "macs", "bitops", "size_bytes", "seconds"] { XCTAssertNotNil(json[key], key) }
    }
}
