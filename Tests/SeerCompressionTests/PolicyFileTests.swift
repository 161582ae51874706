import Foundation
import XCTest
import SeerModels
@testable import SeerCompression

final class PolicyFileTests: XCTestCase {
    let example = #"{"default": {"wbits": 4, "abits": 4, "prune": 0.25}, "layers": {"stage2.block1.conv1": {"wbits": 6}}}"#

    func testExampleResolvesEveryCompressibleLayerInTopologicalOrder() throws {
        let model = try zoo("resnet20")
        let resolved = try Policy.decode(json: Data(example.utf8)).resolve(for: model)
        XCTAssertEqual(resolved.model, "resnet20")
        XCTAssertEqual(resolved.layerNames, model.compressibleLayers.map(\.name))
        XCTAssertEqual(resolved["stem.conv"], LayerPolicy(wbits: 8, abits: 8, prune: 0))
        XCTAssertEqual(resolved["stage2.block1.conv1"], LayerPolicy(wbits: 6, abits: 4, prune: 0.25))
        XCTAssertEqual(resolved["stage3.block3.conv1"], LayerPolicy(wbits: 4, abits: 4, prune: 0.25))
        // Fixed-width layers ignore the default ratio: the classifier and the residual stream tied to the stem.
        XCTAssertEqual(resolved["fc"], LayerPolicy(wbits: 4, abits: 4, prune: 0))
        XCTAssertEqual(resolved["stage1.block2.conv2"], LayerPolicy(wbits: 4, abits: 4, prune: 0))
    }

    func testJSONRoundTrip() throws {
        let policy = try Policy.decode(json: Data(example.utf8))
        XCTAssertEqual(try Policy.decode(json: try policy.jsonData()), policy)
        XCTAssertEqual(policy.layers["stage2.block1.conv1"], PartialLayerPolicy(wbits: 6))
        let full = tinyPolicy()
        XCTAssertEqual(try Policy.decode(json: try full.jsonData()), full)
    }

    func testYAMLRoundTripAndYAMLInput() throws {
        let policy = try Policy.decode(json: Data(example.utf8))
        XCTAssertEqual(try Policy.decode(yaml: try policy.yamlString()), policy)
        let yaml = """
            default: {wbits: 4, abits: 4, prune: 0.25}
            layers:
              stage2.block1.conv1:
                wbits: 6
            """
        XCTAssertEqual(try Policy.decode(yaml: yaml), policy)
    }

    func testLoadDispatchesOnExtension() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seer-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = try Policy.decode(json: Data(example.utf8))
        try policy.jsonData().write(to: dir.appendingPathComponent("p.json"))
        try policy.yamlString().write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try Policy.load(contentsOf: dir.appendingPathComponent("p.json")), policy)
        XCTAssertEqual(try Policy.load(contentsOf: dir.appendingPathComponent("p.yaml")), policy)
        let missing = dir.appendingPathComponent("absent.json")
        assertPolicyError(try Policy.load(contentsOf: missing), .unreadable(path: missing.path, reason: "no such file"),
                          mentions: ["absent.json"])
    }

    func testResolvedPolicyConvertsBackToAPolicyListingEveryLayer() throws {
        for name in ModelZoo.names {
            let model = try zoo(name)
            let resolved = try Policy.decode(json: Data(#"{"default": {"wbits": 3, "abits": 5, "prune": 0.375}}"#.utf8))
                .resolve(for: model)
            let back = resolved.policy()
            XCTAssertEqual(Set(back.layers.keys), Set(model.compressibleLayers.map(\.name)), name)
            XCTAssertTrue(back.layers.values.allSatisfy { $0.wbits != nil && $0.abits != nil && $0.prune != nil }, name)
            XCTAssertEqual(back.default, LayerPolicy(wbits: 3, abits: 5, prune: 0.375), name)
            let reread = try Policy.decode(json: try back.jsonData())
            XCTAssertEqual(try reread.resolve(for: model), resolved, name)
            XCTAssertNoThrow(try resolved.check(against: model), name)
        }
    }

    func testResolvedPolicyIsCodableAndDedupes() throws {
        let model = try zoo("resnet8")
        let uniform = try Policy(bits: "4/4/0.25").resolve(for: model)
        let spelledOut = try Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: 0.25),
                                    layers: ["stem.conv": PartialLayerPolicy(wbits: 8, abits: 8, prune: 0),
                                             "fc": PartialLayerPolicy(wbits: 4, prune: 0)]).resolve(for: model)
        let other = try Policy(bits: "4/4/0.5").resolve(for: model)
        XCTAssertEqual(Set([uniform, spelledOut, other]).count, 2)
        let json = try JSONEncoder().encode(uniform)
        XCTAssertEqual(try JSONDecoder().decode(ResolvedPolicy.self, from: json), uniform)
        let text = String(decoding: json, as: UTF8.self)
        XCTAssertTrue(text.contains(#""layer":"stem.conv""#), text)
    }

    func testResolvedPolicyRejectsBadEntries() {
        let ok = LayerPolicy(wbits: 4, abits: 4, prune: 0)
        assertPolicyError(try ResolvedPolicy(model: "m", entries: [.init(layer: "x", policy: ok), .init(layer: "x", policy: ok)]),
                          .malformed("layers.x: listed more than once"))
        assertPolicyError(try ResolvedPolicy(model: "m", entries: [.init(layer: "x", policy: LayerPolicy(wbits: 9, abits: 4))]),
                          .outsideSpace(field: "layers.x.wbits", value: "9", allowed: (2...8).map(String.init)))
        assertPolicyError(try ResolvedPolicy(model: "m", entries: [.init(layer: "x", policy: LayerPolicy(wbits: 4, abits: 4, prune: 1))]),
                          .outsideSpace(field: "layers.x.prune", value: "1", allowed: ["a ratio in [0, 1)"]))
        let noModel = #"{"layers": []}"#
        assertPolicyError(try JSONDecoder().decode(ResolvedPolicy.self, from: Data(noModel.utf8)), .missingField("model"))
    }

    func testResolvedPolicyForAnotherModelIsRejected() throws {
        let resolved = try Policy(bits: "4/4").resolve(for: zoo("resnet8"))
        let resnet20 = try zoo("resnet20")
        assertPolicyError(try resolved.check(against: resnet20),
                          .layerMismatch(model: "resnet20", reason: "layer stage1.block2.conv1 is missing"))
        XCTAssertThrowsError(try Complexity.compute(model: resnet20, policy: resolved))
    }

    // MARK: Shorthand

    func testBitsShorthand() throws {
        XCTAssertEqual(try Policy(bits: "4/4"), Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: 0)))
        XCTAssertEqual(try Policy(bits: "8/8/0.5"), Policy(default: LayerPolicy(wbits: 8, abits: 8, prune: 0.5)))
        XCTAssertEqual(try Policy(bits: " 6 / 2 "), Policy(default: LayerPolicy(wbits: 6, abits: 2, prune: 0)))
        let resolved = try Policy(bits: "2/3/0.75").resolve(for: zoo("resnet8"))
        XCTAssertEqual(resolved["stage3.block1.conv1"], LayerPolicy(wbits: 2, abits: 3, prune: 0.75))
        XCTAssertEqual(resolved["stem.conv"], Policy.stemPolicy)
    }

    func testBitsShorthandErrorsNameThePart() throws {
        assertPolicyError(try Policy(bits: "4"), .invalidShorthand("4", reason: "has 1 part"), mentions: ["W/A"])
        assertPolicyError(try Policy(bits: "4/4/0.5/1"), .invalidShorthand("4/4/0.5/1", reason: "has 4 parts"))
        assertPolicyError(try Policy(bits: "x/4"), .invalidShorthand("x/4", reason: "W 'x' is not an integer bit-width"))
        assertPolicyError(try Policy(bits: "4/4.5"), .invalidShorthand("4/4.5", reason: "A '4.5' is not an integer bit-width"))
        assertPolicyError(try Policy(bits: "4/4/nan"), .invalidShorthand("4/4/nan", reason: "PRUNE 'nan' is not a number"))
        assertPolicyError(try Policy(bits: "7/4").resolve(for: zoo("resnet8")),
                          .outsideSpace(field: "default.wbits", value: "7", allowed: ["2", "3", "4", "5", "6", "8"]))
        assertPolicyError(try Policy(bits: "4/4/0.3").resolve(for: zoo("resnet8")),
                          .outsideSpace(field: "default.prune", value: "0.3",
                                        allowed: ["0", "0.125", "0.25", "0.375", "0.5", "0.625", "0.75"]))
    }

    // MARK: Vector encoding

    func testVectorRoundTrip() throws {
        let model = try zoo("mobilenetv2-tiny")
        let resolved = try Policy(default: LayerPolicy(wbits: 5, abits: 6, prune: 0.5),
                                  layers: ["block4.expand.conv": PartialLayerPolicy(wbits: 2, prune: 0.125)]).resolve(for: model)
        let vector = resolved.vector
        let layout = ResolvedPolicy.vectorLayout(for: model)
        XCTAssertEqual(vector.count, 3 * (model.compressibleLayers.count - 1))
        XCTAssertEqual(layout.count, vector.count)
        XCTAssertEqual(Array(layout.prefix(3)), ["block1.expand.conv.prune", "block1.expand.conv.wbits", "block1.expand.conv.abits"])
        XCTAssertEqual(Array(vector.prefix(3)), [0.5, 5, 6])
        let i = layout.firstIndex(of: "block4.expand.conv.prune")!
        XCTAssertEqual(Array(vector[i..<i + 3]), [0.125, 2, 6])
        XCTAssertEqual(try ResolvedPolicy(vector: vector, model: model), resolved)
    }

    func testVectorErrors() throws {
        let model = try zoo("resnet8")
        let good = try Policy(bits: "4/4/0.25").resolve(for: model).vector
        assertPolicyError(try ResolvedPolicy(vector: Array(good.dropLast()), model: model),
                          .vectorLength(expected: good.count, got: good.count - 1))
        var fractional = good
        fractional[1] = 4.5
        assertPolicyError(try ResolvedPolicy(vector: fractional, model: model),
                          .wrongType(field: "layers.stage1.block1.conv1.wbits", expected: "an integer bit-width", got: "4.5"))
        var prunedClassifier = good
        prunedClassifier[prunedClassifier.count - 3] = 0.5
        XCTAssertThrowsError(try ResolvedPolicy(vector: prunedClassifier, model: model)) { error in
            guard case .notPrunable(layer: "fc", _, value: 0.5)? = error as? PolicyError else {
                return XCTFail("\(error)")
            }
        }
    }
}
