import Foundation
import SeerCompression
import SeerModels
import XCTest
@testable import SeerMeasurement

/// The kernel descriptions a runtime agent builds its latency table from (PROTOCOL.md, latency tables on runtime
/// agents) describe the same kernels, grid and kept channels as the engine's own profiler.
final class RuntimeKernelSpecTests: XCTestCase {
    func testResnet8KernelsMatchTheEngineProfiler() throws {
        let model = try ModelZoo.make("resnet8", seed: 1)
        let keeps = [0.25, 0.5, 0.75, 1.0]
        let specs = try RuntimeKernelSpec.all(model: model, keeps: keeps)
        let kernels = try EngineKernel.all(in: model)
        XCTAssertEqual(specs.map(\.layer), kernels.map(\.name))
        XCTAssertEqual(Set(specs.map(\.layer)), Set(CompressibleLayer.all(in: model).map(\.name)))
        for (spec, kernel) in zip(specs, kernels) {
            XCTAssertEqual(spec.points.count, keeps.count * keeps.count, spec.layer)
            for point in spec.points {
                let (keptIn, keptOut) = kernel.keptChannels(inKeep: point.inKeep, outKeep: point.outKeep)
                XCTAssertEqual([point.keptIn, point.keptOut], [keptIn, keptOut], spec.layer)
            }
            for op in spec.tail { XCTAssertTrue(op.inputs.allSatisfy { $0 >= -1 }, spec.layer) }
        }
        // The stem reads the image; the classifier is a linear layer fed by the pooled features.
        XCTAssertEqual(specs.first?.op, "conv")
        XCTAssertEqual(specs.first?.inputShape, model.inputShape)
        XCTAssertEqual(specs.last?.op, "linear")
        XCTAssertTrue(specs.contains { $0.tail.contains { $0.op == "add" && $0.inputs.contains(-1) } },
                      "a residual add takes its shortcut from outside the kernel")
        XCTAssertTrue(specs.contains { $0.tail.contains { $0.op == "global_avg_pool" } })
        // The wire form is snake_case JSON.
        let json = String(decoding: try JSONEncoder().encode(specs[0]), as: UTF8.self)
        XCTAssertTrue(json.contains("\"input_shape\"") && json.contains("\"kept_in\""), json)
    }

    func testMobilenetDepthwiseKernelsStayOnTheDiagonal() throws {
        let model = try ModelZoo.make("mobilenetv2-tiny", seed: 1)
        let specs = try RuntimeKernelSpec.all(model: model, keeps: [0.5, 1.0])
        let depthwise = specs.filter(\.depthwise)
        XCTAssertFalse(depthwise.isEmpty)
        for spec in depthwise {
            XCTAssertTrue(spec.points.allSatisfy { $0.inKeep == $0.outKeep && $0.keptIn == $0.keptOut }, spec.layer)
        }
        XCTAssertTrue(specs.contains { $0.tail.contains { $0.op == "clip" && $0.max == 6 } }, "ReLU6 is a clip at 6")
    }
}
