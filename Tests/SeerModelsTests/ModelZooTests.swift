import XCTest
import SeerEngine
import SeerTensor
@testable import SeerModels

final class ModelZooTests: XCTestCase {
    func testLayerNamesAreStableAndShapesFlow() throws {
        for name in ["resnet8", "resnet20", "mobilenetv2-tiny"] {
            let model = try ModelZoo.make(name)
            let logits = model.logits(Tensor(shape: [2] + model.inputShape))
            XCTAssertEqual(logits.shape, [2, 10], name)
            XCTAssertEqual(model.compressibleLayers.first?.name, "stem.conv")
            XCTAssertEqual(model.compressibleLayers.last?.name, "fc")
        }
        let resnet20 = try ModelZoo.make("resnet20")
        XCTAssertEqual(resnet20.compressibleLayers.count, 19 + 2 + 1)  // convs, two projections, classifier
        XCTAssertNotNil(resnet20.graph.layer(named: "stage2.block1.shortcut.conv"))
        XCTAssertNotNil(resnet20.graph.layer(named: "stage3.block3.conv2"))
        let mobile = try ModelZoo.make("mobilenetv2-tiny")
        XCTAssertEqual((mobile.graph.layer(named: "block2.dw.conv") as! Conv2D).groups, 64)
        XCTAssertEqual((mobile.graph.layer(named: "head.conv") as! Conv2D).outChannels, 128)
    }

    func testParameterCountsMatchTheArchitectures() throws {
        func count(_ name: String) throws -> Int { try ModelZoo.make(name).graph.parameters.reduce(0) { $0 + $1.value.count } }
        // resnet20 for one input channel: 0.27 M, as for CIFAR (the stem differs by 2 x 16 x 9 weights).
        XCTAssertEqual(Double(try count("resnet20")), 272_000, accuracy: 4_000)
        XCTAssertEqual(try count("resnet18"), 11_689_512)  // torchvision's figure
    }

    func testSameSeedSameWeights() throws {
        let a = try ModelZoo.make("resnet8", seed: 3), b = try ModelZoo.make("resnet8", seed: 3), c = try ModelZoo.make("resnet8", seed: 4)
        XCTAssertEqual(a.graph.namedTensors.map(\.tensor), b.graph.namedTensors.map(\.tensor))
        XCTAssertNotEqual(a.graph.namedTensors.map(\.tensor), c.graph.namedTensors.map(\.tensor))
    }

    func testCheckpointRoundTripAndMismatchErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seer-ckpt-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.safetensors")
        let a = try ModelZoo.make("resnet8", seed: 1)
        try Checkpoint.save(a, to: url)
        let b = try ModelZoo.make("resnet8", seed: 2)
        try Checkpoint.load(b, from: url)
        XCTAssertEqual(a.graph.namedTensors.map(\.tensor), b.graph.namedTensors.map(\.tensor))
        let loaded = try ModelStore.load(url.path)
        XCTAssertEqual(loaded.name, "resnet8")
        XCTAssertThrowsError(try Checkpoint.load(try ModelZoo.make("resnet20"), from: url)) { error in
            XCTAssertTrue("\(error)".contains("resnet8"), "\(error)")
        }
        XCTAssertThrowsError(try ModelStore.load("no-such-model")) { error in
            XCTAssertTrue("\(error)".contains("neither a zoo model"), "\(error)")
        }
    }
}
