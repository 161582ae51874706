import XCTest
import SeerEngine
import SeerModels
import SeerTensor
@testable import SeerCompression

final class PruningTests: XCTestCase {
    /// A zoo model whose batch norms have non-trivial statistics, so that masking and pruning are tested on
    /// more than identity normalizations.
    func randomizedModel(_ name: String, seed: UInt64) throws -> Model {
        let model = try ModelZoo.make(name, seed: seed)
        var rng = SeededGenerator(seed: seed &+ 1)
        for layer in model.graph.layers {
            guard let bn = layer as? BatchNorm2D else { continue }
            for c in 0..<bn.channels {
                bn.gamma.value.data[c] = 0.5 + rng.nextUnitFloat()
                bn.beta.value.data[c] = rng.nextUnitFloat() - 0.5
                bn.runningMean.value.data[c] = (rng.nextUnitFloat() - 0.5) * 0.2
                bn.runningVar.value.data[c] = 0.5 + rng.nextUnitFloat()
            }
        }
        return model
    }

    func testPrunedNetworkComputesTheMaskedFunction() throws {
        for (name, bits) in [("resnet20", "8/8/0.5"), ("resnet8", "4/4/0.25"), ("mobilenetv2-tiny", "8/8/0.375")] {
            let model = try randomizedModel(name, seed: 3)
            let policy = try Policy(bits: bits).resolve(for: model)
            let pruned = ChannelPruning.prune(model, policy: policy)
            let masked = ChannelPruning.mask(model, policy: policy)
            var rng = SeededGenerator(seed: 4)
            let x = Tensor.randomNormal(shape: [3] + model.inputShape, std: 1, using: &rng)
            let difference = pruned.logits(x).maxAbsDifference(masked.logits(x))
            XCTAssertLessThan(difference, 1e-3, "\(name) \(bits)")
            // And pruning changed the function at all (the masked channels mattered).
            XCTAssertGreaterThan(model.logits(x).maxAbsDifference(masked.logits(x)), 1e-3, "\(name) \(bits)")
        }
    }

    func testPruningRemovesExactlyThePlannedChannels() throws {
        for name in ["resnet20", "mobilenetv2-tiny"] {
            let model = try ModelZoo.make(name)
            let policy = try Policy(bits: "4/4/0.5").resolve(for: model)
            let plan = ChannelGroups(graph: model.graph).plan(for: policy)
            let pruned = ChannelPruning.prune(model, policy: policy)
            var prunedSomething = false
            for layer in pruned.graph.layers {
                if let c = layer as? Conv2D {
                    XCTAssertEqual(c.outChannels, plan[c.name]?.output, "\(name) \(c.name) outputs")
                    XCTAssertEqual(c.inChannels, plan[c.name]?.input, "\(name) \(c.name) inputs")
                    XCTAssertEqual(c.weight.value.shape[0], c.outChannels)
                    let original = model.graph.layer(named: c.name) as! Conv2D
                    prunedSomething = prunedSomething || c.outChannels < original.outChannels
                } else if let l = layer as? Linear {
                    XCTAssertEqual(l.inFeatures, plan[l.name]?.input)
                    XCTAssertEqual(l.outFeatures, 10)
                }
            }
            XCTAssertTrue(prunedSomething, name)
            // The stem stays whole.
            XCTAssertEqual((pruned.graph.layer(named: "stem.conv") as! Conv2D).outChannels, 16)
        }
    }

    func testKeptChannelsAreThoseWithTheLargestFilterNorms() throws {
        let model = try ModelZoo.make("resnet8", seed: 5)
        let conv = model.graph.layer(named: "stage2.block1.conv1") as! Conv2D
        let per = conv.weight.value.count / conv.outChannels
        // Make channels 0..7 clearly the strongest.
        for o in 0..<conv.outChannels {
            for i in 0..<per { conv.weight.value.data[o * per + i] *= o < 8 ? 10 : 0.1 }
        }
        var policy = Policy(default: LayerPolicy(wbits: 8, abits: 8, prune: 0))
        policy.layers["stage2.block1.conv1"] = PartialLayerPolicy(prune: 0.75)
        let resolved = try policy.resolve(for: model)
        let groups = ChannelGroups(graph: model.graph)
        let index = groups.groups.firstIndex { $0.layers.contains("stage2.block1.conv1") }!
        XCTAssertEqual(ChannelPruning.keptIndices(model, groups: groups, policy: resolved)[index], Array(0..<8))
    }
}
