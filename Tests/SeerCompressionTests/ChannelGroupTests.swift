import Foundation
import SeerEngine
import SeerTensor
import XCTest
import SeerModels
@testable import SeerCompression

final class ChannelGroupTests: XCTestCase {
    func testTinyGraphGroups() {
        let groups = ChannelGroups.analyze(tinyModel().graph)
        XCTAssertEqual(groups.map(\.layers), [["stem.conv"], ["a.conv"], ["b.conv", "sc.conv", "dw.conv"]])
        XCTAssertEqual(groups.map(\.depthwise), [[], [], ["dw.conv"]])
        XCTAssertEqual(groups.map(\.isPrunable), [false, true, true])
        XCTAssertEqual(groups[2].ratioLayers, ["b.conv", "sc.conv"])
        XCTAssertEqual(groups.map(\.channels), [4, 8, 8])
    }

    func testResNet20StageOneStreamIsTiedToTheStem() throws {
        let groups = ChannelGroups(graph: try zoo("resnet20").graph)
        XCTAssertEqual(groups.groups.count, 12)
        let stem = try XCTUnwrap(groups.group(of: "stem.conv"))
        XCTAssertEqual(stem.layers, ["stem.conv", "stage1.block1.conv2", "stage1.block2.conv2", "stage1.block3.conv2"])
        XCTAssertFalse(stem.isPrunable)
        XCTAssertEqual(stem.channels, 16)
    }

    func testResNet20LaterStagesTieConv2AndShortcut() throws {
        let groups = ChannelGroups(graph: try zoo("resnet20").graph)
        for (stage, width) in [(2, 32), (3, 64)] {
            let group = try XCTUnwrap(groups.group(of: "stage\(stage).block1.shortcut.conv"))
            XCTAssertEqual(group.layers, ["stage\(stage).block1.conv2", "stage\(stage).block1.shortcut.conv",
                                          "stage\(stage).block2.conv2", "stage\(stage).block3.conv2"])
            XCTAssertTrue(group.isPrunable)
            XCTAssertEqual(group.channels, width)
        }
        for stage in 1...3 {
            for block in 1...3 {
                let group = try XCTUnwrap(groups.group(of: "stage\(stage).block\(block).conv1"))
                XCTAssertEqual(group.layers, ["stage\(stage).block\(block).conv1"], "conv1 layers are free")
                XCTAssertTrue(group.isPrunable)
            }
        }
        XCTAssertNil(groups.group(of: "fc"))
    }

    func testResNet8HasOneTiedGroupPerLaterStage() throws {
        let groups = ChannelGroups.analyze(try zoo("resnet8").graph)
        XCTAssertEqual(groups.map(\.layers), [
            ["stem.conv", "stage1.block1.conv2"], ["stage1.block1.conv1"],
            ["stage2.block1.conv1"], ["stage2.block1.conv2", "stage2.block1.shortcut.conv"],
            ["stage3.block1.conv1"], ["stage3.block1.conv2", "stage3.block1.shortcut.conv"],
        ])
    }

    func testMobileNetV2TinyDepthwiseFollowsExpandAndAddsTieProjections() throws {
        let groups = ChannelGroups(graph: try zoo("mobilenetv2-tiny").graph)
        for block in 1...7 {
            let group = try XCTUnwrap(groups.group(of: "block\(block).dw.conv"))
            XCTAssertEqual(group.layers, ["block\(block).expand.conv", "block\(block).dw.conv"])
            XCTAssertEqual(group.depthwise, ["block\(block).dw.conv"])
            XCTAssertEqual(group.ratioLayers, ["block\(block).expand.conv"])
        }
        XCTAssertEqual(groups.group(of: "block3.project.conv")?.layers, ["block2.project.conv", "block3.project.conv"])
        XCTAssertEqual(groups.group(of: "block5.project.conv")?.layers, ["block4.project.conv", "block5.project.conv"])
        XCTAssertEqual(groups.group(of: "block7.project.conv")?.layers, ["block6.project.conv", "block7.project.conv"])
        // Block 1 keeps 16 channels and adds its input: its projection joins the stem's stream.
        XCTAssertEqual(groups.group(of: "block1.project.conv")?.layers, ["stem.conv", "block1.project.conv"])
        XCTAssertEqual(groups.group(of: "head.conv")?.layers, ["head.conv"])
        XCTAssertEqual(groups.groups.count, 1 + 7 + 3 + 1)
    }

    func testKeptChannelsOnTheTinyGraph() throws {
        let model = tinyModel()
        let groups = ChannelGroups(graph: model.graph)
        let resolved = try tinyPolicy().resolve(for: model)
        // {b.conv 0.25, sc.conv 0.5} keeps round((1 - 0.25) * 8) = 6: the smaller ratio wins; dw.conv follows.
        XCTAssertEqual(groups.keptChannels(for: resolved),
                       ["stem.conv": 4, "a.conv": 4, "b.conv": 6, "sc.conv": 6, "dw.conv": 6, "fc": 3])
        XCTAssertEqual(groups.keptInputChannels(for: resolved),
                       ["stem.conv": 2, "a.conv": 4, "b.conv": 4, "sc.conv": 4, "dw.conv": 6, "fc": 6])
    }

    func testRoundingKeepsAtLeastOneChannel() throws {
        let model = try zoo("resnet20")
        let groups = ChannelGroups(graph: model.graph)
        // 16 x (1 - 0.75) = 4; 32 x 0.25 = 8; with a space allowing 0.99 a group still keeps one channel.
        let space = try SearchSpace(prune: [0, 0.75, 0.99])
        let resolved = try Policy(bits: "4/4/0.99").resolve(for: model, space: space)
        let kept = groups.keptChannels(for: resolved)
        XCTAssertEqual(kept["stage1.block1.conv1"], 1)
        XCTAssertEqual(kept["stage3.block2.conv2"], 1)
        XCTAssertEqual(kept["stage1.block1.conv2"], 16, "tied to the stem")
        XCTAssertEqual(kept["fc"], 10)
        XCTAssertEqual(groups.keptInputChannels(for: resolved)["fc"], 1)
        let quarter = groups.keptChannels(for: try Policy(bits: "4/4/0.75").resolve(for: model, space: space))
        XCTAssertEqual(quarter["stage1.block1.conv1"], 4)
        XCTAssertEqual(quarter["stage2.block1.conv2"], 8)
    }

    func testKeptChannelsOfResNet20UnderMixedRatios() throws {
        let model = try zoo("resnet20")
        let policy = Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: 0.5), layers: [
            "stage2.block2.conv2": PartialLayerPolicy(prune: 0.125),
            "stage3.block1.conv1": PartialLayerPolicy(prune: 0.375),
        ])
        let resolved = try policy.resolve(for: model)
        let plan = ChannelGroups(graph: model.graph).plan(for: resolved)
        XCTAssertEqual(plan["stage1.block1.conv1"], KeptChannels(input: 16, output: 8))
        XCTAssertEqual(plan["stage1.block1.conv2"], KeptChannels(input: 8, output: 16))
        // The stage-2 residual group takes its most conservative member's ratio: 32 x (1 - 0.125) = 28.
        XCTAssertEqual(plan["stage2.block1.shortcut.conv"], KeptChannels(input: 16, output: 28))
        XCTAssertEqual(plan["stage2.block3.conv1"], KeptChannels(input: 28, output: 16))
        XCTAssertEqual(plan["stage3.block1.conv1"], KeptChannels(input: 28, output: 40))
        XCTAssertEqual(plan["stage3.block1.conv2"], KeptChannels(input: 40, output: 32))
        XCTAssertEqual(plan["fc"], KeptChannels(input: 32, output: 10))
    }

    func testMobileNetDepthwiseKeepsItsExpandChannels() throws {
        let model = try zoo("mobilenetv2-tiny")
        let resolved = try Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: 0.25),
                                  layers: ["block3.expand.conv": PartialLayerPolicy(prune: 0.5)]).resolve(for: model)
        let plan = ChannelGroups(graph: model.graph).plan(for: resolved)
        XCTAssertEqual(plan["block3.expand.conv"], KeptChannels(input: 18, output: 48))
        XCTAssertEqual(plan["block3.dw.conv"], KeptChannels(input: 48, output: 48))
        XCTAssertEqual(plan["block3.project.conv"], KeptChannels(input: 48, output: 18))
        XCTAssertEqual(plan["block1.project.conv"], KeptChannels(input: 48, output: 16), "tied to the stem")
        XCTAssertEqual(plan["fc"], KeptChannels(input: 96, output: 10))
    }

    func testResidualAddOnTheNetworkInputKeepsTheGroupWhole() throws {
        var rng = SeerTensor.SeededGenerator(seed: 0)
        let g = SeerEngine.Graph()
        let c = g.add(SeerEngine.Conv2D(name: "body.conv", inChannels: 3, outChannels: 3, kernel: 3, padding: 1, rng: &rng),
                      SeerEngine.Graph.input)
        g.add(SeerEngine.Add(name: "add"), c, SeerEngine.Graph.input)
        let groups = ChannelGroups(graph: g)
        XCTAssertEqual(groups.groups.count, 1)
        XCTAssertFalse(groups.groups[0].isPrunable)
        XCTAssertTrue(groups.pruneFixedReason(of: "body.conv")?.contains("network input") == true)
    }
}
