import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor
import SeerTraining
import XCTest
@testable import SeerExport

/// examples/onnx_executor.py: the `command` executor that runs exported models in onnxruntime.
final class OnnxExecutorTests: XCTestCase {
    /// The Python re-implementation of FashionMNIST.split gives Seer's split exactly.
    func testPythonSplitEqualsSwiftSplit() throws {
        let script = """
            import json, sys
            sys.path.insert(0, sys.argv[1])
            import onnx_executor as e
            out = {}
            for pool, validation, seed in [(60000, 5000, 0), (60000, 5000, 7), (1000, 100, 123456789012345)]:
                train, val = e.split(pool, validation, seed)
                out[f"{pool}/{validation}/{seed}"] = [train, val]
            g = e.SeededGenerator(2**64 - 1)
            out["raw"] = [str(g.next()) for _ in range(4)]
            print(json.dumps(out))
            """
        let output = try Fixtures.runScript(script, [Fixtures.executorScript.deletingLastPathComponent().path])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        for (pool, validation, seed) in [(60000, 5000, UInt64(0)), (60000, 5000, 7), (1000, 100, 123456789012345)] {
            let pair = try XCTUnwrap(json["\(pool)/\(validation)/\(seed)"] as? [[Int]])
            let swift = Dataset.split(poolCount: pool, validationCount: validation, seed: seed)
            XCTAssertEqual(pair[0], swift.trainIndices, "train \(pool)/\(validation)/\(seed)")
            XCTAssertEqual(pair[1], swift.validationIndices, "validation \(pool)/\(validation)/\(seed)")
        }
        // FashionMNISTTests' pinned values for the default split.
        let pinned = try XCTUnwrap(json["60000/5000/0"] as? [[Int]])
        XCTAssertEqual(Array(pinned[1].prefix(8)), [4, 27, 36, 38, 44, 51, 59, 61])
        var rng = SeededGenerator(seed: UInt64.max)
        XCTAssertEqual(json["raw"] as? [String], (0..<4).map { _ in String(rng.next()) })
    }

    func job(onnx: String, kind: String = "measure", options extra: [String: Any] = [:]) throws -> Data {
        var options: [String: Any] = ["onnx_path": onnx, "data_dir": FashionMNIST.defaultDirectory,
                                      "evaluation_limit": 300, "min_repeat_ms": 5]
        options.merge(extra) { $1 }
        let job: [String: Any] = [
            "job_id": "job-1", "device_key": "cpu-x86", "kind": kind,
            "payload": ["model": "resnet8", "policy": ["default": ["wbits": 4, "abits": 4, "prune": 0.25]],
                        "finetune_steps": 0, "split": "validation", "seed": 0,
                        "latency": ["number": 2, "repeat": 3, "warmup": 1], "timeouts": ["total_ms": 600000],
                        "options": options] as [String: Any],
        ]
        return try JSONSerialization.data(withJSONObject: job)
    }

    /// The script measures accuracy on Seer's validation images (the same the engine sees) and latency as the
    /// builtin executor does, and prints a RESULT payload.
    func testExecutorMeasuresAnExportedModel() throws {
        let (base, _) = try Fixtures.baseModel("resnet8")
        let data = try Fixtures.data()
        var settings = EvaluationSettings()
        settings.finetuneSteps = 0
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("r8.onnx")
        let model = try OnnxExport.exportPolicy(base: base, policy: try Policy(bits: "4/4/0.25").resolve(for: base),
                                                settings: settings, data: data, to: url)
        let engineAccuracy = try evaluateAccuracy(model, data: data, split: .validation, limit: 300) / 100

        let (stdout, status, stderr) = try Fixtures.runPython([Fixtures.executorScript.path], stdin: try job(onnx: url.path))
        XCTAssertEqual(status, 0, "stderr: \(stderr)\nstdout: \(stdout)")
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], stdout)
        let accuracy = try XCTUnwrap(result["accuracy"] as? Double, stdout)
        XCTAssertEqual(result["evaluated_images"] as? Int, 300)
        // Same images, same network: at most a few predictions may flip on quantization-boundary ties.
        XCTAssertEqual(accuracy, engineAccuracy, accuracy: 3.0 / 300, stdout)
        let latency = try XCTUnwrap(result["latency"] as? [String: Any], stdout)
        let median = try XCTUnwrap(latency["median_ms"] as? Double), low = try XCTUnwrap(latency["min_ms"] as? Double)
        let high = try XCTUnwrap(latency["max_ms"] as? Double)
        XCTAssertTrue(0 < low && low <= median && median <= high, "\(latency)")
        XCTAssertEqual(latency["repeat"] as? Int, 3)
        XCTAssertGreaterThanOrEqual(latency["number"] as? Int ?? 0, 2)
        let timings = try XCTUnwrap(result["timings_ms"] as? [String: Double])
        XCTAssertEqual(Set(timings.keys), ["load", "evaluate", "measure", "total"])
        XCTAssertEqual(result["execution_provider"] as? String, "CPUExecutionProvider")

        // A profile job reports latency only; a wrong model and a missing file are reported errors.
        let profile = try Fixtures.runPython([Fixtures.executorScript.path], stdin: try job(onnx: url.path, kind: "profile"))
        let p = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(profile.stdout.utf8)) as? [String: Any], profile.stderr)
        XCTAssertNil(p["accuracy"])
        XCTAssertNotNil(p["latency"])
        let missing = try Fixtures.runPython([Fixtures.executorScript.path], stdin: try job(onnx: url.path + ".absent"))
        XCTAssertNotEqual(missing.status, 0)
        let failure = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(missing.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((failure["error"] as? [String: Any])?["code"] as? String, "runtime_error", missing.stdout)
        var wrong = try XCTUnwrap(JSONSerialization.jsonObject(with: try job(onnx: url.path)) as? [String: Any])
        var payload = wrong["payload"] as! [String: Any]
        payload["model"] = "resnet20"
        wrong["payload"] = payload
        let mismatch = try Fixtures.runPython([Fixtures.executorScript.path],
                                              stdin: try JSONSerialization.data(withJSONObject: wrong))
        let m = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(mismatch.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((m["error"] as? [String: Any])?["code"] as? String, "bad_policy", mismatch.stdout)
    }
}
