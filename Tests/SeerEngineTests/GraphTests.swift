import XCTest
import SeerTensor
@testable import SeerEngine

final class GraphTests: XCTestCase {
    /// conv -> bn -> relu -> conv -> bn, plus a projection shortcut, added: gradients meet at the input.
    func makeResidualBlock(seed: UInt64) -> Graph {
        var rng = SeededGenerator(seed: seed)
        let g = Graph()
        let c1 = g.add(Conv2D(name: "conv1", inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1, rng: &rng), Graph.input)
        let b1 = g.add(BatchNorm2D(name: "bn1", channels: 3), c1)
        let r1 = g.add(ReLU(name: "relu1"), b1)
        let c2 = g.add(Conv2D(name: "conv2", inChannels: 3, outChannels: 3, kernel: 3, padding: 1, rng: &rng), r1)
        let b2 = g.add(BatchNorm2D(name: "bn2", channels: 3), c2)
        let sc = g.add(Conv2D(name: "shortcut", inChannels: 2, outChannels: 3, kernel: 1, stride: 2, rng: &rng), Graph.input)
        let sum = g.add(Add(name: "add"), b2, sc)
        let pool = g.add(GlobalAvgPool(name: "pool"), sum)
        g.add(Linear(name: "fc", inFeatures: 3, outFeatures: 4, rng: &rng), pool)
        return g
    }

    func testWholeGraphGradientMatchesFiniteDifferences() {
        let g = makeResidualBlock(seed: 1)
        let x = awayFromKinks(shape: [4, 2, 6, 6], seed: 2)
        let labels = [0, 1, 2, 3]
        func loss(_ x: Tensor) -> Float { softmaxCrossEntropy(logits: g.forward(x, training: true), labels: labels).loss }
        g.zeroGrad()
        let (_, dlogits) = softmaxCrossEntropy(logits: g.forward(x, training: true), labels: labels)
        let dx = g.backward(dlogits)!
        let h: Float = 1e-2
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<30 {
            let i = rng.nextInt(below: x.count)
            var plus = x, minus = x
            plus.data[i] += h
            minus.data[i] -= h
            let numeric = (loss(plus) - loss(minus)) / (2 * h)
            XCTAssertEqual(numeric, dx.data[i], accuracy: 1e-3 + 3e-2 * abs(numeric), "input \(i)")
        }
        let w = (g.layer(named: "shortcut") as! Conv2D).weight
        let analytic = w.grad
        for i in 0..<w.value.count {
            let v = w.value.data[i]
            w.value.data[i] = v + h
            let lp = loss(x)
            w.value.data[i] = v - h
            let lm = loss(x)
            w.value.data[i] = v
            XCTAssertEqual((lp - lm) / (2 * h), analytic.data[i], accuracy: 1e-3 + 3e-2 * abs(analytic.data[i]))
        }
    }

    func testTopologicalOrderPutsInputsFirst() {
        let g = makeResidualBlock(seed: 4)
        let order = g.topologicalOrder
        for (pos, id) in order.enumerated() {
            for input in g.nodes[id].inputs where input != Graph.input {
                XCTAssertLessThan(order.firstIndex(of: input)!, pos)
            }
        }
        XCTAssertEqual(order.last, g.output)
    }

    func testFoldedBatchNormComputesTheSameFunction() {
        let g = makeResidualBlock(seed: 5)
        // Give the running statistics non-trivial values.
        for _ in 0..<5 { _ = g.forward(awayFromKinks(shape: [8, 2, 6, 6], seed: 6), training: true) }
        let x = awayFromKinks(shape: [3, 2, 6, 6], seed: 7)
        let reference = g.forward(x, training: false)
        let folded = g.foldingBatchNorm()
        XCTAssertFalse(folded.layers.contains { $0 is BatchNorm2D })
        XCTAssertLessThan(folded.forward(x, training: false).maxAbsDifference(reference), 1e-4)
    }

    func testSGDMomentumStep() {
        let p = Parameter(name: "w", value: Tensor(shape: [1], data: [1]), decays: true)
        let sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: false)
        p.grad = Tensor(shape: [1], data: [0.5])
        sgd.step([p])  // v = 0.5 + 0.01 = 0.51; w = 1 - 0.051
        XCTAssertEqual(p.value.data[0], 0.949, accuracy: 1e-6)
        sgd.step([p])  // v = 0.9 * 0.51 + 0.5 + 0.00949 = 0.96849; w = 0.949 - 0.096849
        XCTAssertEqual(p.value.data[0], 0.852151, accuracy: 1e-6)
    }

    func testCosineSchedule() {
        let s = CosineSchedule(base: 0.1, totalSteps: 100)
        XCTAssertEqual(s.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 50), 0.05, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 100), 0, accuracy: 1e-6)
        let w = CosineSchedule(base: 0.1, totalSteps: 100, warmupSteps: 10)
        XCTAssertEqual(w.rate(at: 4), 0.05, accuracy: 1e-6)
    }

    func testThreadedKernelsMatchSingleThreaded() {
        let g = makeResidualBlock(seed: 8)
        let x = awayFromKinks(shape: [4, 2, 6, 6], seed: 9)
        Threads.set(1)
        let one = g.forward(x, training: true)
        Threads.set(2)
        let two = g.forward(x, training: true)
        Threads.set(1)
        XCTAssertLessThan(one.maxAbsDifference(two), 1e-5)
    }
}
