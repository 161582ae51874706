import Foundation
import XCTest

/// `seer-agent evaluate`, `export` and `predict` take fine-tuning's optimizer (`--learning-rate`,
/// `--finetune-batch-size`, `--weight-decay`) and the quantizers' `--calibration-images`: a network of one's own may need
/// another than the zoo's defaults, and a campaign's measurement is reproduced by hand with its settings.
final class AgentFinetuneOptionsTests: XCTestCase {
    /// The options reach the fine-tuning that made an exported file (its provenance metadata records them).
    func testExportRecordsTheFineTuningItWasMadeWith() throws {
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("resnet8.onnx")
        let export = try Fixtures.runAgent(["export", "--model", "resnet8", "--bits", "8/8", "--finetune-steps", "2",
                                            "--learning-rate", "0.002", "--finetune-batch-size", "16",
                                            "--weight-decay", "0.0001", "--calibration-images", "32", "--out", out.path])
        XCTAssertEqual(export.status, 0, export.stderr)
        let metadata = try Fixtures.runScript("""
            import sys, onnx
            props = {p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}
            print(props['seer.learning_rate'], props['seer.batch_size'], props['seer.weight_decay'], props['seer.finetune_steps'],
                  props['seer.calibration_images'])
            """, [out.path])
        XCTAssertEqual(metadata.trimmingCharacters(in: .whitespacesAndNewlines), "0.002 16 0.0001 2 32")
    }

    func testBadFineTuningOptionsAreRefusedByName() throws {
        let commands = [["evaluate"], ["export", "--out", "/nonexistent/x.onnx"],
                        ["predict", "--input", "/nonexistent/x.npy", "--output", "/nonexistent/y.npy"]]
        for (arguments, named) in [(["--learning-rate", "0"], "--learning-rate"), (["--learning-rate", "nan"], "--learning-rate"),
                                   (["--finetune-batch-size", "0"], "--finetune-batch-size"),
                                   (["--weight-decay", "-1"], "--weight-decay"),
                                   (["--calibration-images", "0"], "--calibration-images")] {
            for command in commands {
                let run = try Fixtures.runAgent(command + ["--model", "resnet8", "--bits", "8/8"] + arguments)
                XCTAssertNotEqual(run.status, 0, "\(command[0]) \(arguments)")
                XCTAssertTrue(run.stderr.contains(named), "\(command[0]) \(arguments): \(run.stderr)")
            }
        }
    }
}
