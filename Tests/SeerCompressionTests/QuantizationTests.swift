import XCTest
import SeerEngine
import SeerModels
import SeerTensor
@testable import SeerCompression

final class QuantizationTests: XCTestCase {
    func testEveryCompressibleLayerGetsItsBits() throws {
        let model = try ModelZoo.make("mobilenetv2-tiny")
        var policy = Policy(default: LayerPolicy(wbits: 4, abits: 3, prune: 0))
        policy.layers["block2.project.conv"] = PartialLayerPolicy(wbits: 6, abits: 5)
        let resolved = try policy.resolve(for: model)
        var rng = SeededGenerator(seed: 1)
        let calibration = Tensor.randomNormal(shape: [8, 1, 28, 28], std: 1, using: &rng)
        let q = PolicyQuantization.quantize(model, policy: resolved, calibration: calibration)
        for layer in model.compressibleLayers {
            let expected = resolved[layer.name] ?? Policy.stemPolicy
            let copy = q.graph.layer(named: layer.name)
            let wq = (copy as? Conv2D)?.weightQuantizer ?? (copy as? Linear)?.weightQuantizer
            XCTAssertEqual(wq?.bits, expected.wbits, layer.name)
            let aq = q.graph.layer(named: PolicyQuantization.activationQuantizerName(for: layer.name)) as? ActivationQuantizer
            XCTAssertEqual(aq?.bits, expected.abits, layer.name)
            XCTAssertGreaterThan(aq?.alpha.value.data[0] ?? 0, 0, layer.name)
        }
        // Inputs after a ReLU are unsigned; the image and linear bottlenecks are signed.
        XCTAssertEqual((q.graph.layer(named: "stem.conv.aq") as! ActivationQuantizer).signed, true)
        XCTAssertEqual((q.graph.layer(named: "block1.expand.conv.aq") as! ActivationQuantizer).signed, false)
        XCTAssertEqual((q.graph.layer(named: "block3.expand.conv.aq") as! ActivationQuantizer).signed, true)
        XCTAssertEqual((q.graph.layer(named: "fc.aq") as! ActivationQuantizer).signed, false)
    }
}
