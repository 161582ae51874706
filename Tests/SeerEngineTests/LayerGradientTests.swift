import XCTest
import SeerTensor
@testable import SeerEngine

final class LayerGradientTests: XCTestCase {
    let checker = GradientCheck()

    func testDenseConvolutionStrideAndPadding() {
        var rng = SeededGenerator(seed: 1)
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 2, 0), (1, 1, 0), (5, 1, 2)] {
            let conv = Conv2D(name: "conv\(k)\(s)\(p)", inChannels: 3, outChannels: 4, kernel: k, stride: s, padding: p,
                              bias: true, rng: &rng)
            checker.check(conv, inputs: [awayFromKinks(shape: [2, 3, 7, 6], seed: 2)])
        }
    }

    func testGroupedAndDepthwiseConvolution() {
        var rng = SeededGenerator(seed: 3)
        let grouped = Conv2D(name: "grouped", inChannels: 4, outChannels: 6, kernel: 3, stride: 1, padding: 1, groups: 2,
                             rng: &rng)
        checker.check(grouped, inputs: [awayFromKinks(shape: [2, 4, 5, 5], seed: 4)])
        for s in [1, 2] {
            let depthwise = Conv2D(name: "dw\(s)", inChannels: 5, outChannels: 5, kernel: 3, stride: s, padding: 1,
                                   groups: 5, rng: &rng)
            checker.check(depthwise, inputs: [awayFromKinks(shape: [3, 5, 6, 6], seed: 5)])
        }
    }

    func testBatchNormTraining() {
        let bn = BatchNorm2D(name: "bn", channels: 3)
        var rng = SeededGenerator(seed: 6)
        bn.gamma.value = .randomNormal(shape: [3], std: 1, using: &rng)
        bn.beta.value = .randomNormal(shape: [3], std: 1, using: &rng)
        checker.check(bn, inputs: [awayFromKinks(shape: [4, 3, 3, 3], seed: 7)])
    }

    func testActivationsAndResidualAdd() {
        checker.check(ReLU(name: "relu"), inputs: [awayFromKinks(shape: [2, 3, 4, 4], seed: 8)])
        var x = awayFromKinks(shape: [2, 3, 4, 4], seed: 9)
        for i in 0..<x.count { x.data[i] *= 3 }  // reach past the ReLU6 cap
        checker.check(ReLU(name: "relu6", cap: 6), inputs: [x])
        checker.check(Add(name: "add"), inputs: [awayFromKinks(shape: [2, 3, 4, 4], seed: 10),
                                                 awayFromKinks(shape: [2, 3, 4, 4], seed: 11)])
    }

    func testPooling() {
        checker.check(MaxPool2D(name: "max", kernel: 3, stride: 2, padding: 1), inputs: [awayFromKinks(shape: [2, 2, 7, 7], seed: 12)])
        checker.check(MaxPool2D(name: "max2", kernel: 2, stride: 2), inputs: [awayFromKinks(shape: [2, 2, 6, 6], seed: 13)])
        checker.check(AvgPool2D(name: "avg", kernel: 3, stride: 2, padding: 1), inputs: [awayFromKinks(shape: [2, 2, 7, 7], seed: 14)])
        checker.check(GlobalAvgPool(name: "gap"), inputs: [awayFromKinks(shape: [3, 4, 5, 5], seed: 15)])
    }

    func testLinear() {
        var rng = SeededGenerator(seed: 16)
        checker.check(Linear(name: "fc", inFeatures: 7, outFeatures: 5, rng: &rng),
                      inputs: [awayFromKinks(shape: [4, 7], seed: 17)])
    }

    func testSoftmaxCrossEntropyGradient() {
        let logits = awayFromKinks(shape: [4, 5], seed: 18)
        let labels = [0, 3, 4, 1]
        let (_, grad) = softmaxCrossEntropy(logits: logits, labels: labels)
        let h: Float = 1e-2
        for i in 0..<logits.count {
            var plus = logits, minus = logits
            plus.data[i] += h
            minus.data[i] -= h
            let numeric = (softmaxCrossEntropy(logits: plus, labels: labels).loss
                - softmaxCrossEntropy(logits: minus, labels: labels).loss) / (2 * h)
            XCTAssertEqual(numeric, grad.data[i], accuracy: 1e-3 + 1e-2 * abs(numeric), "logit \(i)")
        }
    }

    func testSoftmaxCrossEntropyValue() {
        // Uniform logits over 4 classes: loss is log 4 whatever the label.
        let (loss, _) = softmaxCrossEntropy(logits: Tensor(shape: [2, 4]), labels: [1, 3])
        XCTAssertEqual(loss, logf(4), accuracy: 1e-6)
    }
}
