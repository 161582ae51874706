import Foundation
import XCTest
import SeerEngine
import SeerModels
import SeerTensor
@testable import SeerCompression

final class ComplexityTests: XCTestCase {
    private func report(_ model: Model, _ policy: Policy, space: SearchSpace = .default) throws -> ComplexityReport {
        try Complexity.compute(model: model, policy: policy.resolve(for: model, space: space))
    }

    private func assertClose(_ value: Int, _ expected: Double, within relative: Double = 0.005,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(abs(Double(value) - expected) / expected, relative, "\(value) vs \(expected)",
                                 file: file, line: line)
    }

    func testResNet18HandCounts() throws {
        let model = try zoo("resnet18")
        let eight = try report(model, Policy(bits: "8/8"))
        assertClose(eight.macs, 1.81e9)
        assertClose(eight.bitops, 116.1e9)
        let four = try report(model, Policy(bits: "4/4"))
        XCTAssertEqual(four.macs, eight.macs)
        assertClose(four.bitops, 34.7e9)
        // The stem alone: 112 x 112 x 64 x 3 x 7 x 7 MACs at 8/8 bits.
        let stem = try XCTUnwrap(four.layers.first)
        XCTAssertEqual(stem.name, "stem.conv")
        XCTAssertEqual(stem.macs, 112 * 112 * 64 * 3 * 49)
        XCTAssertEqual(stem.bitops, stem.macs * 64)
        XCTAssertEqual(four.layers.last?.macs, 512 * 1000)
        // Unpruned parameters: the well-known 11.69 M, less batch norm (9600 = 2 x 4800 channels).
        XCTAssertEqual(eight.params + eight.batchNormParams, 11_689_512)
    }

    func testTinyGraphExactCounts() throws {
        let r = try report(tinyModel(), tinyPolicy())
        let byName = Dictionary(uniqueKeysWithValues: r.layers.map { ($0.name, $0) })
        // stem.conv: 8x8 out, 4 out x 2 in x 3x3 at 8/8 bits.
        XCTAssertEqual(byName["stem.conv"]?.macs, 8 * 8 * 4 * 2 * 9)  // 4608
        XCTAssertEqual(byName["stem.conv"]?.bitops, 4608 * 8 * 8)
        // a.conv: pruned to 4 of 8 outputs, 4x4 out, 2/8 bits.
        XCTAssertEqual(byName["a.conv"]?.macs, 4 * 4 * 4 * 4 * 9)  // 2304
        XCTAssertEqual(byName["a.conv"]?.bitops, 2304 * 2 * 8)
        XCTAssertEqual(byName["a.conv"]?.sizeBytes, 144 * 2 / 8)
        // b.conv and sc.conv: 1x1, 4 in, 6 out (the tied group's 0.25), 4x4 out.
        XCTAssertEqual(byName["b.conv"]?.macs, 16 * 6 * 4)
        XCTAssertEqual(byName["sc.conv"]?.macs, 16 * 6 * 4)
        // dw.conv: 6 groups of one 3x3 filter over 4x4.
        XCTAssertEqual(byName["dw.conv"]?.groups, 6)
        XCTAssertEqual(byName["dw.conv"]?.weights, 54)
        XCTAssertEqual(byName["dw.conv"]?.macs, 16 * 54)
        // fc: 6 kept inputs x 3 classes, plus 3 biases.
        XCTAssertEqual(byName["fc"]?.macs, 18)
        XCTAssertEqual(byName["fc"]?.params, 21)
        XCTAssertEqual(byName["fc"]?.sizeBytes, (18 * 4 + 7) / 8 + 4 * 3)

        XCTAssertEqual(r.macs, 4608 + 2304 + 384 + 384 + 864 + 18)
        XCTAssertEqual(r.bitops, 294_912 + 36_864 + 6144 + 6144 + 13_824 + 288)
        XCTAssertEqual(r.params, 72 + 144 + 24 + 24 + 54 + 21)
        // Batch norms over 4 + 4 + 6 + 6 + 6 kept channels, scale and shift each.
        XCTAssertEqual(r.batchNormParams, 52)
        XCTAssertEqual(r.sizeBytes, 72 + 36 + 12 + 12 + 27 + 21 + 4 * 52)
    }

    func testResNet20AtTwentyEightPixels() throws {
        let r = try report(zoo("resnet20"), Policy(bits: "8/8"))
        assertClose(r.macs, 31.0e6)
        XCTAssertEqual(r.macs, 31_021_952)
        XCTAssertEqual(r.bitops, r.macs * 64)
        XCTAssertEqual(r.layers.first { $0.name == "stage3.block3.conv2" }.map { [$0.outHeight, $0.outWidth] }, [7, 7])
    }

    func testMACsFallAsTheRatioRises() throws {
        for name in ["resnet8", "resnet20", "mobilenetv2-tiny"] {
            let model = try zoo(name)
            let macs = try SearchSpace.default.prune.map { ratio in
                try report(model, Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: ratio))).macs
            }
            XCTAssertEqual(macs, macs.sorted(by: >), name)
            XCTAssertEqual(Set(macs).count, macs.count, "\(name): every step removes work: \(macs)")
            XCTAssertLessThan(Double(macs.last!), 0.5 * Double(macs.first!), name)
        }
    }

    func testBitOPsScaleWithBitWidthsButNotTheStem() throws {
        let model = try zoo("resnet8")
        let eight = try report(model, Policy(bits: "8/8"))
        let two = try report(model, Policy(bits: "2/2"))
        let stem = eight.layers[0].macs * 64
        XCTAssertEqual(two.bitops - stem, (eight.bitops - stem) / 16)
        XCTAssertEqual(two.params, eight.params)
        XCTAssertLessThan(two.sizeBytes, eight.sizeBytes)
    }

    func testMobileNetDepthwiseIsCountedByGroups() throws {
        let r = try report(zoo("mobilenetv2-tiny"), Policy(bits: "8/8"))
        let dw = try XCTUnwrap(r.layers.first { $0.name == "block2.dw.conv" })
        // 64 channels, stride 2: 14x14 out, one 3x3 filter per channel.
        XCTAssertEqual(dw.kind, .depthwise)
        XCTAssertEqual([dw.outHeight, dw.outWidth], [14, 14])
        XCTAssertEqual(dw.macs, 14 * 14 * 64 * 9)
        XCTAssertEqual(dw.weights, 64 * 9)
    }

    func testOutputShapesRejectInconsistentGraphs() {
        var rng = SeededGenerator(seed: 0)
        let g = Graph()
        let c = g.add(Conv2D(name: "stem.conv", inChannels: 3, outChannels: 4, kernel: 3, rng: &rng), Graph.input)
        g.add(Conv2D(name: "next.conv", inChannels: 5, outChannels: 4, kernel: 3, rng: &rng), c)
        let model = Model(name: "broken", graph: g, inputShape: [3, 8, 8], classes: 4)
        XCTAssertThrowsError(try Complexity.outputShapes(of: model)) { error in
            guard case .invalidShape(layer: "next.conv", _)? = error as? ComplexityError else { return XCTFail("\(error)") }
        }
        let tiny = Model(name: "tiny", graph: g, inputShape: [3, 2, 2], classes: 4)
        XCTAssertThrowsError(try Complexity.outputShapes(of: tiny)) { error in
            XCTAssertTrue(String(describing: error).contains("stem.conv"), "\(error)")
        }
    }

    func testReportJSONHasTheDocumentedKeys() throws {
        let r = try report(zoo("resnet8"), Policy(bits: "4/4/0.5"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try r.jsonString().utf8)) as? [String: Any])
        for key in ["macs", "bitops", "params", "size_bytes", "batchnorm_params", "layers", "model", "input_shape"] {
            XCTAssertNotNil(json[key], key)
        }
        XCTAssertEqual(json["macs"] as? Int, r.macs)
        XCTAssertEqual(json["bitops"] as? Int, r.bitops)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 10)
        XCTAssertEqual(layers[1]["name"] as? String, "stage1.block1.conv1")
        XCTAssertEqual(layers[1]["kept_out_channels"] as? Int, 8)
        XCTAssertEqual(try JSONDecoder().decode(ComplexityReport.self, from: Data(try r.jsonString().utf8)), r)
    }

    func testTableListsEveryLayerAndTheTotals() throws {
        let r = try report(zoo("resnet8"), Policy(bits: "4/4/0.5"))
        let lines = r.table().split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 1 + 1 + 10 + 1)
        XCTAssertTrue(lines[1].hasPrefix("layer"))
        XCTAssertTrue(lines[3].hasPrefix("stage1.block1.conv1"))
        XCTAssertTrue(lines[3].contains("8/16"), lines[3])
        XCTAssertTrue(lines.last!.contains("(\(r.macs))"), lines.last!)
        XCTAssertTrue(lines.last!.contains("(\(r.bitops))"), lines.last!)
    }

    func testHumanCounts() {
        XCTAssertEqual(humanCount(640), "640")
        XCTAssertEqual(humanCount(112_896), "113K")
        XCTAssertEqual(humanCount(31_021_952), "31.0M")
        XCTAssertEqual(humanCount(1_814_073_344), "1.81G")
    }
}
