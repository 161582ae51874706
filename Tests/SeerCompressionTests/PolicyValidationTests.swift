import Foundation
import XCTest
import SeerModels
@testable import SeerCompression

/// Each kind of invalid policy is rejected with an error naming the bad field and, where there is one, what is allowed.
final class PolicyValidationTests: XCTestCase {
    let bits = ["2", "3", "4", "5", "6", "8"]
    let ratios = ["0", "0.125", "0.25", "0.375", "0.5", "0.625", "0.75"]

    private func resolve(_ json: String, _ model: String = "resnet20", space: SearchSpace = .default) throws -> ResolvedPolicy {
        try Policy.decode(json: Data(json.utf8)).resolve(for: zoo(model), space: space)
    }

    private func policy(layers: String) -> String {
        #"{"default": {"wbits": 4, "abits": 4, "prune": 0.25}, "layers": {\#(layers)}}"#
    }

    func testUnknownLayerListsCloseValidNames() {
        XCTAssertThrowsError(try resolve(policy(layers: #""stage2.block1.conv3": {"wbits": 6}"#))) { error in
            guard case .unknownLayer(let name, let model, let suggestions)? = error as? PolicyError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(name, "stage2.block1.conv3")
            XCTAssertEqual(model, "resnet20")
            XCTAssertEqual(suggestions.count, 5)
            XCTAssertTrue(suggestions.contains("stage2.block1.conv1"), "\(suggestions)")
            XCTAssertTrue(String(describing: error).contains("layers.stage2.block1.conv3"), "\(error)")
        }
    }

    func testNonCompressibleLayerIsNamed() {
        assertPolicyError(try resolve(policy(layers: #""stage1.block1.bn1": {"wbits": 6}"#)),
                          .notCompressible(name: "stage1.block1.bn1", model: "resnet20"), mentions: ["stage1.block1.bn1"])
    }

    func testValuesOutsideTheSpaceNameFieldAndAllowedValues() {
        assertPolicyError(try resolve(policy(layers: #""stage2.block1.conv1": {"wbits": 7}"#)),
                          .outsideSpace(field: "layers.stage2.block1.conv1.wbits", value: "7", allowed: bits),
                          mentions: ["layers.stage2.block1.conv1.wbits", "2, 3, 4, 5, 6, 8"])
        assertPolicyError(try resolve(policy(layers: #""fc": {"abits": 1}"#)),
                          .outsideSpace(field: "layers.fc.abits", value: "1", allowed: bits))
        assertPolicyError(try resolve(policy(layers: #""stage3.block2.conv1": {"prune": 0.3}"#)),
                          .outsideSpace(field: "layers.stage3.block2.conv1.prune", value: "0.3", allowed: ratios),
                          mentions: ["0.125"])
        assertPolicyError(try resolve(#"{"default": {"wbits": 4, "abits": 16, "prune": 0}}"#),
                          .outsideSpace(field: "default.abits", value: "16", allowed: bits))
        assertPolicyError(try resolve(#"{"default": {"wbits": 4, "abits": 4, "prune": -0.25}}"#),
                          .outsideSpace(field: "default.prune", value: "-0.25", allowed: ratios))
    }

    func testRatiosMatchTheSpaceUpToDecimalNoise() throws {
        let space = try SearchSpace(prune: [0, 0.1, 0.3])
        let resolved = try resolve(policy(layers: #""stage2.block2.conv1": {"prune": 0.30000000000000004}"#)
            .replacingOccurrences(of: "0.25", with: "0.1"), space: space)
        XCTAssertEqual(resolved["stage2.block2.conv1"]?.prune, 0.3)
        XCTAssertEqual(resolved["stage2.block3.conv1"]?.prune, 0.1)
    }

    func testWrongTypesNameFieldAndWhatWasFound() {
        assertPolicyError(try resolve(policy(layers: #""fc": {"wbits": "4"}"#)),
                          .wrongType(field: "layers.fc.wbits", expected: "an integer bit-width", got: "the string \"4\""),
                          mentions: ["layers.fc.wbits"])
        assertPolicyError(try resolve(policy(layers: #""fc": {"abits": 4.5}"#)),
                          .wrongType(field: "layers.fc.abits", expected: "an integer bit-width", got: "4.5"))
        assertPolicyError(try resolve(#"{"default": {"wbits": 4, "abits": 4, "prune": true}}"#),
                          .wrongType(field: "default.prune", expected: "a pruning ratio (a number in [0, 1))", got: "true"))
        assertPolicyError(try resolve(#"{"default": {"wbits": 4, "abits": 4, "prune": 0}, "layers": ["fc"]}"#),
                          .wrongType(field: "layers", expected: "a mapping from layer names to wbits/abits/prune", got: "a list"))
        assertPolicyError(try resolve(policy(layers: #""fc": 4"#)),
                          .wrongType(field: "layers.fc", expected: "a mapping of wbits, abits, prune", got: "4"))
        assertPolicyError(try resolve("[1, 2]"),
                          .wrongType(field: "document", expected: "a policy mapping with default and layers", got: "a list"))
    }

    func testUnknownKeysAreRejected() {
        assertPolicyError(try resolve(#"{"defaults": {"wbits": 4, "abits": 4, "prune": 0}}"#),
                          .unknownKey(field: "", key: "defaults", allowed: ["default", "layers"]), mentions: ["defaults"])
        assertPolicyError(try resolve(policy(layers: #""fc": {"bits": 4}"#)),
                          .unknownKey(field: "layers.fc", key: "bits", allowed: ["wbits", "abits", "prune"]),
                          mentions: ["layers.fc", "bits"])
    }

    func testMissingFieldsAreNamed() {
        assertPolicyError(try resolve(#"{"layers": {}}"#), .missingField("default"))
        assertPolicyError(try resolve(#"{"default": {"wbits": 4, "abits": 4}}"#), .missingField("default.prune"),
                          mentions: ["default.prune"])
    }

    func testMalformedDocuments() {
        XCTAssertThrowsError(try resolve("{")) { error in
            guard case .malformed(let message)? = error as? PolicyError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.hasPrefix("not valid JSON"), message)
        }
        XCTAssertThrowsError(try Policy.decode(yaml: "default: [unclosed")) { error in
            guard case .malformed(let message)? = error as? PolicyError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.hasPrefix("not valid YAML"), message)
        }
    }

    func testYAMLErrorsNameFieldsLikeJSON() {
        assertPolicyError(try Policy.decode(yaml: "default: {wbits: 4, abits: 4, prune: 0}\nlayers: {fc: {bitz: 4}}"),
                          .unknownKey(field: "layers.fc", key: "bitz", allowed: ["wbits", "abits", "prune"]))
        assertPolicyError(try Policy.decode(yaml: "default: {wbits: four, abits: 4, prune: 0}"),
                          .wrongType(field: "default.wbits", expected: "an integer bit-width", got: "the string \"four\""))
    }

    func testStemStaysAtEightBitsUnpruned() throws {
        let named = try resolve(policy(layers: #""stem.conv": {"wbits": 8, "abits": 8, "prune": 0}"#))
        XCTAssertEqual(named["stem.conv"], Policy.stemPolicy)
        assertPolicyError(try resolve(policy(layers: #""stem.conv": {"wbits": 4}"#)),
                          .stemFixed(field: "layers.stem.conv.wbits", value: "4"), mentions: ["8/8"])
        assertPolicyError(try resolve(policy(layers: #""stem.conv": {"abits": 6}"#)),
                          .stemFixed(field: "layers.stem.conv.abits", value: "6"))
        assertPolicyError(try resolve(policy(layers: #""stem.conv": {"prune": 0.25}"#)),
                          .stemFixed(field: "layers.stem.conv.prune", value: "0.25"))
    }

    func testLayersThatCannotPruneOnTheirOwnRejectARatio() throws {
        XCTAssertNoThrow(try resolve(policy(layers: #""fc": {"prune": 0}"#)))
        XCTAssertThrowsError(try resolve(policy(layers: #""fc": {"prune": 0.5}"#))) { error in
            guard case .notPrunable(layer: "fc", let reason, value: 0.5)? = error as? PolicyError else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue(reason.contains("classifier"), reason)
            XCTAssertTrue(String(describing: error).contains("layers.fc.prune"), "\(error)")
        }
        XCTAssertThrowsError(try resolve(policy(layers: #""stage1.block2.conv2": {"prune": 0.25}"#))) { error in
            guard case .notPrunable(layer: "stage1.block2.conv2", let reason, value: 0.25)? = error as? PolicyError else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue(reason.contains("stem.conv"), reason)
        }
        XCTAssertThrowsError(try resolve(policy(layers: #""block3.dw.conv": {"prune": 0.25}"#), "mobilenetv2-tiny")) { error in
            guard case .notPrunable(layer: "block3.dw.conv", let reason, value: 0.25)? = error as? PolicyError else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue(reason.contains("depthwise"), reason)
        }
    }

    // MARK: Search space

    func testSearchSpaceDefaultsAndPartialConfig() throws {
        XCTAssertEqual(SearchSpace.default.wbits, [2, 3, 4, 5, 6, 8])
        XCTAssertEqual(SearchSpace.default.prune, [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75])
        let space = try PolicyCoding.decode(SearchSpace.self, yaml: "wbits: [8, 4, 4]\nprune: [0, 0.5]")
        XCTAssertEqual(space.wbits, [4, 8])
        XCTAssertEqual(space.abits, SearchSpace.default.abits)
        XCTAssertEqual(space.prune, [0, 0.5])
        XCTAssertEqual(try PolicyCoding.decode(SearchSpace.self, json: PolicyCoding.jsonData(space)), space)
    }

    func testSearchSpaceErrors() {
        assertPolicyError(try SearchSpace(wbits: []), .invalidSpace(field: "wbits", reason: "must list at least one bit-width"))
        assertPolicyError(try SearchSpace(abits: [4, 9]), .invalidSpace(field: "abits", reason: "9 is outside 2...8"))
        assertPolicyError(try SearchSpace(prune: [0, 1]), .invalidSpace(field: "prune", reason: "1.0 is outside [0, 1)"))
        assertPolicyError(try PolicyCoding.decode(SearchSpace.self, yaml: "bits: [4]"),
                          .unknownKey(field: "", key: "bits", allowed: ["wbits", "abits", "prune"]))
        assertPolicyError(try PolicyCoding.decode(SearchSpace.self, yaml: "wbits: 4"),
                          .wrongType(field: "wbits", expected: "a list of integer bit-widths", got: "4"))
    }

    func testChoicesFixThePruneOfLayersThatCannotPrune() throws {
        let choices = SearchSpace.default.choices(for: try zoo("resnet20"))
        XCTAssertEqual(choices.count, 21)
        XCTAssertFalse(choices.contains { $0.layer == "stem.conv" })
        let byName = Dictionary(uniqueKeysWithValues: choices.map { ($0.layer, $0) })
        XCTAssertEqual(byName["fc"]?.prune, [0])
        XCTAssertEqual(byName["stage1.block1.conv2"]?.prune, [0])
        XCTAssertEqual(byName["stage1.block1.conv1"]?.prune, SearchSpace.default.prune)
        XCTAssertEqual(byName["stage2.block1.shortcut.conv"]?.prune, SearchSpace.default.prune)
        XCTAssertEqual(byName["fc"]?.wbits, SearchSpace.default.wbits)
    }
}
