import SeerCompression
import SeerModels
import SeerPredictor
import XCTest
@testable import SeerSearch

final class EncodingTests: XCTestCase {
    func testResNet20HasOnePruneVariablePerPrunableGroup() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet20"))
        XCTAssertEqual(encoding.layers.count, 21)  // 19 convolutions after the stem, and fc
        let prune = encoding.variables.filter { $0.kind == .prune }
        // 9 free conv1 groups, plus the stage-2 and stage-3 residual groups; stage 1 is tied to the stem.
        XCTAssertEqual(prune.count, 11)
        XCTAssertEqual(prune.map(\.layers.count).sorted(), [1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4])
        XCTAssertEqual(encoding.variables.count, 11 + 2 * 21)
        // prune<i> only where the layer's own ratio can change channels: 9 conv1 + 2 x 4 tied members.
        XCTAssertEqual(encoding.schema.columns.filter { $0.kind == .prune }.count, 17)
        XCTAssertEqual(encoding.schema.columns.count, 17 + 42)
        XCTAssertNil(encoding.schema.index(layer: 1, kind: .prune), "stage1.block1.conv2 is tied to the stem")
        XCTAssertEqual(encoding.layers[1].layer, "stage1.block1.conv2")
        XCTAssertEqual(encoding.schema.names.prefix(5), ["prune0", "wbits0", "abits0", "wbits1", "abits1"])
        // Levels run from the most compressed value up.
        XCTAssertEqual(prune[0].levels, [0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0])
        XCTAssertEqual(encoding.variables[1].levels, [2, 3, 4, 5, 6, 8])
    }

    func testDepthwiseLayersHaveNoPruneColumn() throws {
        let model = try zoo("mobilenetv2-tiny")
        let encoding = PolicyEncoding(model: model)
        for (i, layer) in encoding.layers.enumerated() where layer.layer.contains(".dw.") {
            XCTAssertNil(encoding.schema.index(layer: i, kind: .prune), layer.layer)
            XCTAssertNil(encoding.pruneVariable(ofLayer: i))
        }
        let choices = SearchSpace.default.choices(for: model)
        XCTAssertEqual(encoding.schema.columns.filter { $0.kind == .prune }.count, choices.filter { $0.prune.count > 1 }.count)
    }

    func testLevelsPolicyFeaturesRoundTrip() throws {
        for name in ["resnet20", "mobilenetv2-tiny"] {
            let model = try zoo(name)
            let encoding = PolicyEncoding(model: model)
            var rng = SplitMix64(seed: 7)
            for _ in 0..<25 {
                let levels = encoding.variables.map { rng.nextInt(below: $0.levels.count) }
                let policy = encoding.policy(levels: levels)
                XCTAssertNoThrow(try policy.check(against: model), "encoded policies resolve like policy files")
                XCTAssertEqual(try encoding.levels(of: policy), levels)
                let row = try encoding.features(of: policy)
                XCTAssertEqual(row, encoding.features(levels: levels))
                XCTAssertEqual(try encoding.policy(features: row), policy)
                XCTAssertEqual(encoding.nearestLevels(relaxation: encoding.relaxation(levels: levels)), levels)
            }
        }
    }

    func testResolvedPolicyFileRoundTrips() throws {
        let model = try zoo("resnet20")
        let encoding = PolicyEncoding(model: model)
        let policy = try Policy(bits: "4/5/0.25").resolve(for: model)
        let levels = try encoding.levels(of: policy)
        XCTAssertEqual(encoding.policy(levels: levels), policy)
        let row = try encoding.features(of: policy)
        XCTAssertEqual(row[encoding.schema.index(layer: 0, kind: .prune)!], 0.25)
        XCTAssertEqual(row[encoding.schema.index(layer: 0, kind: .wbits)!], 4)
        XCTAssertEqual(row[encoding.schema.index(layer: 0, kind: .abits)!], 5)
    }

    func testGroupEncodesItsSmallestRatio() throws {
        let model = try zoo("resnet20")
        let encoding = PolicyEncoding(model: model)
        // Within stage 2's tied group, conv2 of block 1 says 0.5 and the others 0.25: the group keeps 3/4.
        let policy = try Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: 0.5),
                                layers: ["stage2.block2.conv2": PartialLayerPolicy(prune: 0.25),
                                         "stage2.block1.shortcut.conv": PartialLayerPolicy(prune: 0.25),
                                         "stage2.block3.conv2": PartialLayerPolicy(prune: 0.25)]).resolve(for: model)
        let row = try encoding.features(of: policy)
        let members = encoding.variables.first { $0.name.hasPrefix("stage2.block1.conv2.prune") }!.layers
        XCTAssertEqual(members.count, 4)
        for m in members { XCTAssertEqual(row[encoding.schema.index(layer: m, kind: .prune)!], 0.25) }
        let canonical = try encoding.policy(features: row)
        XCTAssertEqual(canonical["stage2.block1.conv2"]?.prune, 0.25)
        XCTAssertEqual(canonical["stage2.block1.conv1"]?.prune, 0.5, "free layers keep their own ratio")
        let groups = ChannelGroups(graph: model.graph)
        XCTAssertEqual(groups.keptChannels(for: canonical), groups.keptChannels(for: policy), "same channels kept")
    }

    func testRelaxationRoundsToNearestAndGradientSumsTiedColumns() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet20"))
        var x = encoding.relaxation(levels: encoding.minimumLevels)
        x[0] = 0.3    // prune: nearest of 0.25 / 0.375
        x[1] = 7.1    // wbits: nearest of 6 / 8
        x[2] = 2.4    // abits: 2
        let levels = encoding.nearestLevels(relaxation: x)
        XCTAssertEqual(encoding.variables[0].levels[levels[0]], 0.25)
        XCTAssertEqual(encoding.variables[1].levels[levels[1]], 8)
        XCTAssertEqual(encoding.variables[2].levels[levels[2]], 2)
        XCTAssertEqual(encoding.clamped([9] + x.dropFirst())[0], 0.75)

        let ones = [Double](repeating: 1, count: encoding.schema.columns.count)
        let g = encoding.relaxationGradient(featureGradient: ones)
        for (v, variable) in encoding.variables.enumerated() {
            XCTAssertEqual(g[v], Double(variable.kind == .prune ? variable.layers.count : 1), variable.name)
        }
    }

    func testErrorsNameTheProblem() throws {
        let encoding = PolicyEncoding(model: try zoo("resnet20"))
        let other = try Policy(bits: "4/4").resolve(for: try zoo("resnet8"))
        XCTAssertThrowsError(try encoding.levels(of: other)) { error in
            XCTAssertTrue("\(error)".contains("resnet8"), "\(error)")
        }
        let narrow = PolicyEncoding(model: try zoo("resnet20"), space: try SearchSpace(wbits: [4, 8], abits: [4, 8]))
        let policy = try Policy(bits: "6/4").resolve(for: try zoo("resnet20"))
        XCTAssertThrowsError(try narrow.levels(of: policy)) { error in
            XCTAssertTrue("\(error)".contains("wbits: 6 is not in the search space; allowed: 4, 8"), "\(error)")
        }
        XCTAssertThrowsError(try encoding.policy(features: [1, 2, 3])) { error in
            XCTAssertEqual("\(error)", "feature row has 3 values; expected 59")
        }
    }
}
