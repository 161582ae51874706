import XCTest
import SeerTensor
@testable import SeerEngine

final class LayerGradientTests: XCTestCase {
    let checker = GradientCheck()

    // MARK: convolution backends: each checked where this CPU runs it, skipped (with the reason) where it does not

    func testDirectConvolutionGradients() throws { try checkGradients(.direct) }
    func testIm2colConvolutionGradients() throws { try checkGradients(.im2col) }
    func testOneDNNConvolutionGradients() throws { try checkGradients(.onednn) }

    func testDirectTrainingPassesMatchIm2col() throws { try checkTrainingPassesMatchIm2col(.direct) }
    func testOneDNNTrainingPassesMatchIm2col() throws { try checkTrainingPassesMatchIm2col(.onednn) }

    /// Skips (the test output names the backend) where this CPU cannot run `algorithm`; prints what ran.
    static func requireAvailable(_ algorithm: ConvolutionAlgorithm) throws {
        try XCTSkipUnless(algorithm.isAvailable, "convolution backend \(algorithm.rawValue): not available on this CPU "
                              + "(available: \(ConvolutionAlgorithm.available.map(\.rawValue)))")
        print("convolution backend \(algorithm.rawValue): running")
    }

    /// Finite differences of dense and grouped convolutions' input, weight and bias gradients on one backend.
    func checkGradients(_ algorithm: ConvolutionAlgorithm) throws {
        try Self.requireAvailable(algorithm)
        var rng = SeededGenerator(seed: 1)
        // (3, 1, 3): padding past k - 1, where the direct backend's dX leaves the kernel for the GEMM path.
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 2, 0), (1, 1, 0), (5, 1, 2), (3, 1, 0), (2, 1, 1), (3, 1, 3), (3, 3, 1)] {
            let conv = Conv2D(name: "\(algorithm.rawValue) conv\(k)\(s)\(p)", inChannels: 3, outChannels: 4, kernel: k,
                              stride: s, padding: p, bias: true, rng: &rng)
            conv.convolutionAlgorithm = algorithm
            checker.check(conv, inputs: [awayFromKinks(shape: [2, 3, 7, 6], seed: 2)])
        }
        let grouped = Conv2D(name: "\(algorithm.rawValue) grouped", inChannels: 4, outChannels: 6, kernel: 3, stride: 1,
                             padding: 1, groups: 2, rng: &rng)
        grouped.convolutionAlgorithm = algorithm
        checker.check(grouped, inputs: [awayFromKinks(shape: [2, 4, 5, 5], seed: 4)])
        // Windows beyond square and undilated (ONNX Conv's kernel_shape, strides, dilations), dense and grouped.
        for (i, window) in Self.generalWindows.enumerated() {
            for groups in [1, 2] {
                let conv = Conv2D(name: "\(algorithm.rawValue) window \(window) g\(groups)", inChannels: 4, outChannels: 6,
                                  window: window, groups: groups, bias: true, rng: &rng)
                conv.convolutionAlgorithm = algorithm
                checker.check(conv, inputs: [awayFromKinks(shape: [2, 4, 7, 8], seed: UInt64(40 + i))])
            }
        }
    }

    /// Non-square kernels, unequal strides, dilations and padding per axis, each fitting a 7x8 input.
    static let generalWindows: [Window2D] = {
        func axis(_ k: Int, _ s: Int, _ d: Int, _ p: Int) -> WindowAxis { WindowAxis(kernel: k, stride: s, dilation: d, padding: p) }
        return [
            Window2D(height: axis(1, 1, 1, 0), width: axis(3, 1, 1, 1)),
            Window2D(height: axis(3, 2, 1, 1), width: axis(1, 1, 1, 0)),
            Window2D(height: axis(3, 1, 2, 2), width: axis(3, 1, 2, 2)),
            Window2D(height: axis(2, 1, 3, 1), width: axis(3, 2, 2, 0)),
            Window2D(height: axis(3, 3, 1, 0), width: axis(2, 1, 1, 1)),
        ]
    }()

    /// Larger shapes than a finite-difference check affords, on two threads: output, dX and dW of `algorithm` against
    /// the im2col path (same sums in another order: 1e-4 relative to the values' scale), over two training steps
    /// with a weight update between them (so cached packed or reordered weights must follow the update).
    func checkTrainingPassesMatchIm2col(_ algorithm: ConvolutionAlgorithm) throws {
        try Self.requireAvailable(algorithm)
        let before = Threads.count
        Threads.set(2)
        defer { Threads.set(before) }
        var rng = SeededGenerator(seed: 11)
        for (cin, cout, size, k, s, p, groups) in [(16, 16, 14, 3, 1, 1, 1), (16, 32, 14, 3, 2, 1, 1), (12, 18, 9, 3, 1, 1, 3),
                                                   (8, 8, 10, 5, 1, 2, 1), (16, 32, 14, 1, 2, 0, 1)] {
            let tested = Conv2D(name: "c", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p,
                                groups: groups, bias: true, rng: &rng)
            let reference = Conv2D(name: "r", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p,
                                   groups: groups, bias: true, rng: &rng)
            tested.convolutionAlgorithm = algorithm
            reference.convolutionAlgorithm = .im2col
            try checkTrainingSteps(tested, reference, size: size, label: "\(algorithm.rawValue): c\(cin)->\(cout) "
                                   + "\(size)x\(size) k\(k) s\(s) p\(p) g\(groups)", rng: &rng)
        }
        for (i, window) in Self.generalWindows.enumerated() {
            let groups = i % 2 == 0 ? 1 : 4
            let tested = Conv2D(name: "c", inChannels: 16, outChannels: 12, window: window, groups: groups, bias: true,
                                rng: &rng)
            let reference = Conv2D(name: "r", inChannels: 16, outChannels: 12, window: window, groups: groups, bias: true,
                                   rng: &rng)
            tested.convolutionAlgorithm = algorithm
            reference.convolutionAlgorithm = .im2col
            try checkTrainingSteps(tested, reference, size: 13, label: "\(algorithm.rawValue): window \(window) g\(groups)",
                                   rng: &rng)
        }
    }

    /// Two training steps of `tested` against `reference` (same weights) on 5 images of size x size, then inference.
    private func checkTrainingSteps(_ tested: Conv2D, _ reference: Conv2D, size: Int, label: String,
                                    rng: inout SeededGenerator) throws {
        let cin = tested.inChannels
        for step in 0..<2 {
            reference.weight.value = tested.weight.value
            reference.bias!.value = tested.bias!.value
            let x = Tensor.randomNormal(shape: [5, cin, size, size], std: 1, using: &rng)
            var outputs: [(y: Tensor, dx: Tensor, dw: Tensor, db: Tensor)] = []
            var dy: Tensor?
            for conv in [tested, reference] {
                conv.weight.grad = conv.weight.value.zerosLike()
                conv.bias!.grad = conv.bias!.value.zerosLike()
                let y = conv.forward([x], training: true)
                if dy == nil { dy = .randomNormal(shape: y.shape, std: 1, using: &rng) }
                let dx = conv.backward(dy!)[0]
                outputs.append((y, dx, conv.weight.grad, conv.bias!.grad))
            }
            for (a, b, what) in [(outputs[0].y, outputs[1].y, "y"), (outputs[0].dx, outputs[1].dx, "dx"),
                                 (outputs[0].dw, outputs[1].dw, "dW"), (outputs[0].db, outputs[1].db, "dbias")] {
                XCTAssertEqual(a.shape, b.shape, "\(what): \(label) step \(step)")
                let scale = 1 + b.data.map(abs).max()!
                XCTAssertLessThan(a.maxAbsDifference(b) / scale, 1e-4, "\(what): \(label) step \(step)")
            }
            // Inference on the same weights (a cached forward primitive or packing must serve both).
            let inferred = tested.forward([x], training: false)
            XCTAssertLessThan(inferred.maxAbsDifference(outputs[1].y) / (1 + outputs[1].y.data.map(abs).max()!), 1e-4,
                              "inference y: \(label) step \(step)")
            // An SGD-style in-place update: the next step must see it.
            tested.weight.value.data.withUnsafeMutableBufferPointer { w in
                for i in 0..<w.count { w[i] -= 0.1 * outputs[0].dw.data[i] / (1 + abs(outputs[0].dw.data[i])) }
            }
        }
    }

    func testUnknownOrUnavailableBackendIsAClearError() {
        XCTAssertEqual(try ConvolutionAlgorithm.configured(in: [:]), ConvolutionAlgorithm.hostDefault)
        XCTAssertThrowsError(try ConvolutionAlgorithm.configured(in: ["SEER_CONV_BACKEND": "openblas"])) { error in
            XCTAssertEqual(error as? ConvolutionBackendError, .unknown(name: "openblas"))
            XCTAssertTrue("\(error)".contains("direct, im2col, onednn"), "\(error)")
        }
        for algorithm in ConvolutionAlgorithm.allCases {
            let environment = ["SEER_CONV_BACKEND": algorithm.rawValue]
            if algorithm.isAvailable {
                XCTAssertEqual(try ConvolutionAlgorithm.configured(in: environment), algorithm)
            } else {
                XCTAssertThrowsError(try ConvolutionAlgorithm.configured(in: environment)) { error in
                    XCTAssertEqual(error as? ConvolutionBackendError, .unavailable(algorithm))
                }
            }
        }
        XCTAssertTrue(ConvolutionAlgorithm.hostDefault.isAvailable)
    }

    func testDepthwiseConvolution() {
        // oneDNN's depthwise kernels, and the direct loops the other backends use.
        for algorithm in ConvolutionAlgorithm.available {
            var rng = SeededGenerator(seed: 3)
            for s in [1, 2] {
                let depthwise = Conv2D(name: "dw\(s)", inChannels: 5, outChannels: 5, kernel: 3, stride: s, padding: 1,
                                       groups: 5, rng: &rng)
                depthwise.convolutionAlgorithm = algorithm
                let runs = depthwise.implementation(inputShape: [3, 5, 6, 6])
                XCTAssertEqual(runs == "depthwise loops", algorithm != .onednn, "\(algorithm): \(runs)")
                checker.check(depthwise, inputs: [awayFromKinks(shape: [3, 5, 6, 6], seed: 5)])
            }
            for (i, window) in Self.generalWindows.enumerated() {
                let depthwise = Conv2D(name: "dw \(window)", inChannels: 4, outChannels: 4, window: window, groups: 4,
                                       bias: true, rng: &rng)
                depthwise.convolutionAlgorithm = algorithm
                checker.check(depthwise, inputs: [awayFromKinks(shape: [2, 4, 7, 8], seed: UInt64(50 + i))])
            }
        }
    }

    /// Finite differences of batch norm's training passes, on each vector ISA this CPU runs; planes below, at and
    /// past one vector of 16 floats, so both the vector bodies and their tails are covered.
    func testBatchNormTraining() {
        for isa in VectorISA.runnable {
            print("batch norm kernels: \(isa)")
            for (i, shape) in [[4, 3, 3, 3], [2, 3, 4, 4], [2, 3, 7, 5]].enumerated() {
                let bn = BatchNorm2D(name: "bn \(isa) \(shape)", channels: 3)
                bn.kernelISA = isa
                var rng = SeededGenerator(seed: UInt64(6 + i))
                bn.gamma.value = .randomNormal(shape: [3], std: 1, using: &rng)
                bn.beta.value = .randomNormal(shape: [3], std: 1, using: &rng)
                checker.check(bn, inputs: [awayFromKinks(shape: shape, seed: UInt64(7 + i))])
            }
        }
    }

    /// Batch norm's training forward (output, batch statistics, running statistics) and backward (dx, dgamma, dbeta)
    /// against a float64 evaluation of the formulas, on each vector ISA this CPU runs; the input sits far from zero
    /// (mean 40, std 0.5), where a one-pass variance would cancel.
    func testBatchNormKernelsMatchFloat64Reference() {
        let (batch, channels, plane) = (6, 5, 37)
        var rng = SeededGenerator(seed: 90)
        var x = Tensor.randomNormal(shape: [batch, channels, plane, 1], std: 0.5, using: &rng)
        for i in 0..<x.count { x.data[i] += 40 }
        let dy = Tensor.randomNormal(shape: x.shape, std: 1, using: &rng)
        let gamma = Tensor.randomNormal(shape: [channels], std: 1, using: &rng)
        let beta = Tensor.randomNormal(shape: [channels], std: 1, using: &rng)
        func at(_ t: Tensor, _ n: Int, _ c: Int, _ i: Int) -> Double { Double(t.data[(n * channels + c) * plane + i]) }
        let count = Double(batch * plane)
        for isa in VectorISA.runnable {
            let bn = BatchNorm2D(name: "bn", channels: channels)
            bn.kernelISA = isa
            bn.gamma.value = gamma
            bn.beta.value = beta
            let y = bn.forward([x], training: true)
            let dx = bn.backward(dy)[0]
            for c in 0..<channels {
                var mean = 0.0, variance = 0.0
                for n in 0..<batch { for i in 0..<plane { mean += at(x, n, c, i) } }
                mean /= count
                for n in 0..<batch { for i in 0..<plane { variance += (at(x, n, c, i) - mean) * (at(x, n, c, i) - mean) } }
                variance /= count
                let inv = 1 / (variance + Double(bn.epsilon)).squareRoot(), g = Double(gamma.data[c])
                var dBeta = 0.0, dGamma = 0.0
                for n in 0..<batch {
                    for i in 0..<plane {
                        dBeta += at(dy, n, c, i)
                        dGamma += at(dy, n, c, i) * (at(x, n, c, i) - mean) * inv
                    }
                }
                XCTAssertEqual(Double(bn.gamma.grad.data[c]), dGamma, accuracy: 1e-3 * max(1, abs(dGamma)), "\(isa) dgamma[\(c)]")
                XCTAssertEqual(Double(bn.beta.grad.data[c]), dBeta, accuracy: 1e-4 * max(1, abs(dBeta)), "\(isa) dbeta[\(c)]")
                let unbiased = variance * count / (count - 1)
                XCTAssertEqual(Double(bn.runningMean.value.data[c]), 0.1 * mean, accuracy: 1e-4, "\(isa) running mean[\(c)]")
                XCTAssertEqual(Double(bn.runningVar.value.data[c]), 0.9 + 0.1 * unbiased, accuracy: 1e-5,
                               "\(isa) running variance[\(c)]")
                for n in 0..<batch {
                    for i in 0..<plane {
                        let xhat = (at(x, n, c, i) - mean) * inv
                        XCTAssertEqual(at(y, n, c, i), xhat * g + Double(beta.data[c]), accuracy: 1e-4 * max(1, abs(g)),
                                       "\(isa) y[\(n), \(c), \(i)]")
                        let expected = g * inv / count * (count * at(dy, n, c, i) - dBeta - xhat * dGamma)
                        XCTAssertEqual(at(dx, n, c, i), expected, accuracy: 1e-4 * max(1, abs(g * inv)),
                                       "\(isa) dx[\(n), \(c), \(i)]")
                    }
                }
            }
        }
    }

    func testActivationsAndResidualAdd() {
        checker.check(ReLU(name: "relu"), inputs: [awayFromKinks(shape: [2, 3, 4, 4], seed: 8)])
        var x = awayFromKinks(shape: [2, 3, 4, 4], seed: 9)
        for i in 0..<x.count { x.data[i] *= 3 }  // reach past the ReLU6 cap
        checker.check(ReLU(name: "relu6", cap: 6), inputs: [x])
        checker.check(Add(name: "add"), inputs: [awayFromKinks(shape: [2, 3, 4, 4], seed: 10),
                                                 awayFromKinks(shape: [2, 3, 4, 4], seed: 11)])
    }

    /// Keras's 'same' pools as tf2onnx writes them: pads unequal on an axis are the pool's margins (padding that a max
    /// never takes), and an average without count_include_pad divides by the input cells its window covers.
    func testPoolMarginsAndAveragesWithoutPadding() {
        var rng = SeededGenerator(seed: 64)
        var values: [Float] = (0..<(2 * 2 * 7 * 6)).map { (i: Int) -> Float in Float(i) * 0.05 - 9 }
        values.shuffle(using: &rng)
        let x = Tensor(shape: [2, 2, 7, 6], data: values)  // all negative: padding read as zeros would win a max
        let window = Window2D(height: WindowAxis(kernel: 2, stride: 2), width: WindowAxis(kernel: 3, stride: 2, padding: 1))
        let margins = PoolMargins(top: 0, left: 0, bottom: 1, right: 1)
        checker.check(MaxPool2D(name: "max same", window: window, margins: margins), inputs: [x])
        checker.check(AvgPool2D(name: "avg same", window: window, margins: margins, countsPadding: false), inputs: [x])
        checker.check(AvgPool2D(name: "avg same counted", window: window, margins: margins), inputs: [x])
        checker.check(AvgPool2D(name: "avg lower", window: window, ceilMode: true,
                                margins: PoolMargins(top: 1, left: 1, bottom: 0, right: 0), countsPadding: false), inputs: [x])

        // Written out: one row [-1, -2, -3], kernel 2 stride 2, one margin on the right: windows {-1, -2} and {-3}.
        let row = Tensor(shape: [1, 1, 1, 3], data: [-1, -2, -3])
        let pair = Window2D(height: WindowAxis(kernel: 1), width: WindowAxis(kernel: 2, stride: 2))
        let right = PoolMargins(top: 0, left: 0, bottom: 0, right: 1)
        let maxed = MaxPool2D(name: "max", window: pair, margins: right)
        XCTAssertEqual(maxed.outputs(height: 1, width: 3).width, 2)
        XCTAssertEqual(maxed.forward([row], training: false).data, [-1, -3])
        XCTAssertEqual(AvgPool2D(name: "avg", window: pair, margins: right, countsPadding: false)
                        .forward([row], training: false).data, [-1.5, -3])
        XCTAssertEqual(AvgPool2D(name: "avg", window: pair, margins: right).forward([row], training: false).data, [-1.5, -1.5])
        // With equal padding 1 on both sides and a kernel of 3, count_include_pad 0 divides the edges by 2.
        let three = Window2D(height: WindowAxis(kernel: 1), width: WindowAxis(kernel: 3, padding: 1))
        XCTAssertEqual(AvgPool2D(name: "avg", window: three, countsPadding: false).forward([row], training: false).data,
                       [-1.5, -2, -2.5])
        // A margin on the left moves the windows: {pad, -1}, {-2, -3}.
        let left = PoolMargins(top: 0, left: 1, bottom: 0, right: 0)
        XCTAssertEqual(MaxPool2D(name: "max", window: pair, margins: left).forward([row], training: false).data, [-1, -2])
    }

    /// The per-channel affine map of imported constant arithmetic: backward against finite differences, composition.
    func testChannelAffine() {
        let affine = ChannelAffine(name: "affine", scale: [0.5, -2, 1.5], shift: [0.1, 0, -0.3])
        checker.check(affine, inputs: [awayFromKinks(shape: [2, 3, 4, 5], seed: 70)])
        checker.check(affine, inputs: [awayFromKinks(shape: [4, 3], seed: 71)])
        let x = Tensor(shape: [1, 3, 1, 2], data: [1, 2, 3, 4, 5, 6])
        func assertClose(_ a: [Float], _ b: [Float], line: UInt = #line) {
            XCTAssertEqual(a.count, b.count, line: line)
            XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max() ?? 0, 1e-6, "\(a) vs \(b)", line: line)
        }
        assertClose(affine.forward([x], training: false).data, [0.6, 1.1, -6, -8, 7.2, 8.7])
        // Then (y - 1) / 2 on every channel: scale / 2, (shift - 1) / 2.
        affine.then(multiply: [0.5], add: [-0.5])
        assertClose(affine.scale.value.data, [0.25, -1, 0.75])
        assertClose(affine.shift.value.data, [-0.45, -0.5, -0.65])
        XCTAssertTrue(affine.parameters.isEmpty, "the graph's constants are not trained")
        let copy = affine.inferenceCopy() as? ChannelAffine
        XCTAssertEqual(copy?.scale.value.data, affine.scale.value.data)
        XCTAssertFalse(copy === affine)
    }

    func testPooling() {
        checker.check(MaxPool2D(name: "max", kernel: 3, stride: 2, padding: 1), inputs: [awayFromKinks(shape: [2, 2, 7, 7], seed: 12)])
        checker.check(MaxPool2D(name: "max2", kernel: 2, stride: 2), inputs: [awayFromKinks(shape: [2, 2, 6, 6], seed: 13)])
        checker.check(AvgPool2D(name: "avg", kernel: 3, stride: 2, padding: 1), inputs: [awayFromKinks(shape: [2, 2, 7, 7], seed: 14)])
        checker.check(GlobalAvgPool(name: "gap"), inputs: [awayFromKinks(shape: [3, 4, 5, 5], seed: 15)])
        // Non-square windows, unequal strides, padding per axis (and a dilated max pool, as ONNX MaxPool allows).
        let wide = Window2D(height: WindowAxis(kernel: 2, stride: 2), width: WindowAxis(kernel: 3, stride: 1, padding: 1))
        let dilated = Window2D(height: WindowAxis(kernel: 2, stride: 1, dilation: 2, padding: 1),
                               width: WindowAxis(kernel: 3, stride: 2, dilation: 2))
        for (i, window) in [wide, dilated].enumerated() {
            // Distinct values 0.05 apart: no two in a window within a finite-difference step of each other.
            var rng = SeededGenerator(seed: UInt64(60 + i))
            var values: [Float] = (0..<224).map { (i: Int) -> Float in Float(i) * 0.05 - 5 }
            values.shuffle(using: &rng)
            let x = Tensor(shape: [2, 2, 7, 8], data: values)
            checker.check(MaxPool2D(name: "max \(window)", window: window), inputs: [x])
            checker.check(AvgPool2D(name: "avg \(window)", window: window), inputs: [x])
        }
        // Ceil mode (ONNX ceil_mode 1): last windows hanging past the padded input, on both axes.
        let ceil = Window2D(height: WindowAxis(kernel: 3, stride: 2, padding: 1), width: WindowAxis(kernel: 2, stride: 2))
        var ceilRNG = SeededGenerator(seed: 62)
        var ceilValues: [Float] = (0..<224).map { (i: Int) -> Float in Float(i) * 0.05 - 6 }
        ceilValues.shuffle(using: &ceilRNG)
        let ceilX = Tensor(shape: [2, 2, 8, 7], data: ceilValues)
        checker.check(MaxPool2D(name: "max ceil", window: ceil, ceilMode: true), inputs: [ceilX])
        checker.check(AvgPool2D(name: "avg ceil", window: ceil, ceilMode: true), inputs: [ceilX])
        // The output shape and values of a 1x3 max pool with stride (1, 2), written out.
        let x = Tensor(shape: [1, 1, 2, 5], data: [1, 5, 2, 4, 3, 9, 0, 8, 7, 6])
        let pooled = MaxPool2D(name: "rows", window: Window2D(height: WindowAxis(kernel: 1), width: WindowAxis(kernel: 3, stride: 2)))
            .forward([x], training: false)
        XCTAssertEqual(pooled.shape, [1, 1, 2, 2])
        XCTAssertEqual(pooled.data, [5, 4, 9, 8])
        let averaged = AvgPool2D(name: "rows", window: Window2D(height: WindowAxis(kernel: 2), width: WindowAxis(kernel: 1, stride: 4)))
            .forward([x], training: false)
        XCTAssertEqual(averaged.shape, [1, 1, 1, 2])
        XCTAssertEqual(averaged.data, [5, 4.5])
        // Ceil mode, written out: a 2x2 stride-2 window over 2x5 has a third column window reading column 4 alone
        // (divided by the 2 cells it covers); with padding 1 the divisor counts the padding but not the overhang.
        let ceilWindow = Window2D(height: WindowAxis(kernel: 2, stride: 2), width: WindowAxis(kernel: 2, stride: 2))
        let ceilMax = MaxPool2D(name: "ceil", window: ceilWindow, ceilMode: true).forward([x], training: false)
        XCTAssertEqual(ceilMax.shape, [1, 1, 1, 3])
        XCTAssertEqual(ceilMax.data, [9, 8, 6])
        let ceilAverage = AvgPool2D(name: "ceil", window: ceilWindow, ceilMode: true).forward([x], training: false)
        XCTAssertEqual(ceilAverage.data, [15.0 / 4, 21.0 / 4, 9.0 / 2])
        let paddedRow = Tensor(shape: [1, 1, 1, 4], data: [1, 2, 3, 4])
        let padded = AvgPool2D(name: "ceil pad", window: Window2D(height: WindowAxis(kernel: 1),
                                                                   width: WindowAxis(kernel: 3, stride: 2, padding: 1)),
                               ceilMode: true)
        // Windows at -1..1, 1..3, 3..5: the last covers 3, 4 (padding) and 5 (past the padding): 4 / 2.
        XCTAssertEqual(padded.outputs(height: 1, width: 4).width, 3)
        XCTAssertEqual(padded.forward([paddedRow], training: false).data, [3.0 / 3, 9.0 / 3, 4.0 / 2])
        // A last window that would start past the input and its leading padding is dropped: 5 wide, kernel 2,
        // stride 2, padding 1 gives 3 outputs, not 4.
        XCTAssertEqual(WindowAxis(kernel: 2, stride: 2, padding: 1).poolOutputs(5, ceilMode: true), 3)
        XCTAssertEqual(WindowAxis(kernel: 2, stride: 2, padding: 1).poolOutputs(6, ceilMode: true), 4)
        XCTAssertEqual(WindowAxis(kernel: 2, stride: 2, padding: 1).poolOutputs(6, ceilMode: false), 4)
        XCTAssertEqual(WindowAxis(kernel: 3, stride: 2).poolOutputs(8, ceilMode: true), 4)
        XCTAssertEqual(WindowAxis(kernel: 3, stride: 2).poolOutputs(8, ceilMode: false), 3)
    }

    /// An option-A shortcut's layers: a strided spatial slice and zero channels around the input's.
    func testSpatialSliceAndChannelPadding() {
        let slice = SpatialSlice(name: "slice", rows: SliceRange(start: 0, step: 2), columns: SliceRange(start: 1, end: -1, step: 3))
        checker.check(slice, inputs: [awayFromKinks(shape: [2, 3, 7, 8], seed: 30)])
        checker.check(ZeroPad(name: "pad", top: 1, left: 0, bottom: 0, right: 2, channelsBefore: 2, channelsAfter: 1),
                      inputs: [awayFromKinks(shape: [2, 3, 4, 5], seed: 31)])
        let x = Tensor(shape: [1, 1, 3, 5], data: (0..<15).map(Float.init))
        let y = slice.forward([x], training: false)
        XCTAssertEqual(y.shape, [1, 1, 2, 1])  // rows 0 and 2; columns from 1 below 5 - 1 by 3: column 1 only
        XCTAssertEqual(y.data, [1, 11])
        XCTAssertEqual(SliceRange(start: 1, end: -1, step: 3).kept(size: 5).count, 1)
        XCTAssertEqual(SliceRange(start: 0, step: 2).kept(size: 7).count, 4)
        XCTAssertEqual(SliceRange(start: -3, end: .max, step: 1).kept(size: 5).first, 2)
        let padded = ZeroPad(name: "c", top: 0, left: 0, bottom: 0, right: 0, channelsBefore: 1, channelsAfter: 2)
            .forward([Tensor(shape: [2, 1, 1, 1], data: [5, 7])], training: false)
        XCTAssertEqual(padded.shape, [2, 4, 1, 1])
        XCTAssertEqual(padded.data, [0, 5, 0, 0, 0, 7, 0, 0])
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

final class QuantizerTests: XCTestCase {
    /// PACT: straight-through inside the clip, dL/dalpha from the clipped inputs. The rounding makes the
    /// forward piecewise constant, so the check is against the straight-through gradient computed by hand; on each
    /// vector ISA the CPU runs, and on a tensor of more than one 4096-value block with a partial vector at the end.
    func testActivationQuantizerGradientIsStraightThroughAndPACT() {
        for isa in VectorISA.runnable {
            for (signed, shape) in [(false, [2, 3, 4, 4]), (true, [2, 3, 4, 4]), (false, [3, 5, 23, 41]), (true, [3, 5, 23, 41])] {
                let q = ActivationQuantizer(name: "aq", bits: 4, signed: signed, alpha: 1.5)
                q.kernelISA = isa
                var x = awayFromKinks(shape: shape, seed: 20)
                for i in 0..<x.count { x.data[i] *= 2 }  // reach past the clip on both sides
                _ = q.forward([x], training: true)
                var rng = SeededGenerator(seed: 21)
                let g = Tensor.randomNormal(shape: x.shape, std: 1, using: &rng)
                q.alpha.zeroGrad()
                let dx = q.backward(g)[0]
                var expectedAlpha = 0.0
                for i in 0..<x.count {
                    let v = x.data[i]
                    let inside = v < 1.5 && v > (signed ? -1.5 : 0)
                    XCTAssertEqual(dx.data[i], inside ? g.data[i] : 0, "\(isa) \(shape) dx[\(i)]")
                    if v >= 1.5 { expectedAlpha += Double(g.data[i]) } else if signed && v <= -1.5 { expectedAlpha -= Double(g.data[i]) }
                }
                XCTAssertEqual(Double(q.alpha.grad.data[0]), expectedAlpha, accuracy: 1e-4 * max(1, abs(expectedAlpha)),
                               "\(isa) \(shape) signed \(signed)")
            }
        }
    }

    /// Against finite differences where they exist: the loss as a function of alpha is smooth for the clipped
    /// inputs when all inputs lie outside the clip range.
    func testActivationQuantizerAlphaGradientMatchesFiniteDifferencesWhenSaturated() {
        let q = ActivationQuantizer(name: "aq", bits: 3, signed: true, alpha: 0.5)
        var x = awayFromKinks(shape: [1, 2, 3, 3], seed: 22)
        for i in 0..<x.count { x.data[i] = x.data[i] > 0 ? x.data[i] + 1 : x.data[i] - 1 }
        GradientCheck().check(q, inputs: [x])
    }

    func testQuantizedValuesAreOnTheGrid() {
        let q = ActivationQuantizer(name: "aq", bits: 2, signed: false, alpha: 3)
        let y = q.forward([Tensor(shape: [1, 6], data: [-1, 0.4, 0.6, 1.6, 2.9, 7])], training: false)
        XCTAssertEqual(y.data, [0, 0, 1, 2, 3, 3])
        var rng = SeededGenerator(seed: 23)
        let w = Tensor.randomNormal(shape: [4, 3, 3, 3], std: 1, using: &rng)
        for bits in [2, 4, 8] {
            let wq = WeightQuantizer.calibrated(bits: bits, weight: w)
            let qw = wq.quantize(w)
            for o in 0..<4 {
                let scale = wq.clips[o] / wq.levels
                var distinct = Set<Float>()
                for i in 0..<27 {
                    let level = qw.data[o * 27 + i] / scale
                    XCTAssertEqual(level, level.rounded(), accuracy: 1e-3)
                    XCTAssertLessThanOrEqual(abs(level), wq.levels + 1e-3)
                    distinct.insert(level.rounded())
                }
                XCTAssertLessThanOrEqual(distinct.count, 1 << bits)
            }
            // More bits, less error.
            if bits == 8 { XCTAssertLessThan(qw.maxAbsDifference(w), 0.05) }
        }
    }

    func testQuantizedConvWeightGradientIsStraightThrough() {
        var rng = SeededGenerator(seed: 24)
        let conv = Conv2D(name: "qc", inChannels: 2, outChannels: 3, kernel: 3, padding: 1, rng: &rng)
        let x = awayFromKinks(shape: [2, 2, 5, 5], seed: 25)
        conv.weightQuantizer = .calibrated(bits: 3, weight: conv.weight.value)
        let y = conv.forward([x], training: true)
        let g = Tensor.randomNormal(shape: y.shape, std: 1, using: &rng)
        conv.weight.zeroGrad()
        let dxQuantized = conv.backward(g)[0]
        let gradQuantized = conv.weight.grad
        // The same gradients as a float conv whose weights are the quantized ones.
        let reference = Conv2D(name: "ref", inChannels: 2, outChannels: 3, kernel: 3, padding: 1, rng: &rng)
        reference.weight.value = conv.effectiveWeight
        _ = reference.forward([x], training: true)
        let dxReference = reference.backward(g)[0]
        XCTAssertLessThan(dxQuantized.maxAbsDifference(dxReference), 1e-5)
        XCTAssertLessThan(gradQuantized.maxAbsDifference(reference.weight.grad), 1e-4)
    }

    func testFoldingKeepsQuantizedFunction() {
        var rng = SeededGenerator(seed: 26)
        let g = Graph()
        let c = Conv2D(name: "c", inChannels: 2, outChannels: 3, kernel: 3, padding: 1, rng: &rng)
        c.weightQuantizer = .calibrated(bits: 4, weight: c.weight.value)
        let bn = BatchNorm2D(name: "bn", channels: 3)
        bn.gamma.value = Tensor(shape: [3], data: [0.5, -1.2, 2])
        bn.runningVar.value = Tensor(shape: [3], data: [0.3, 2, 1])
        bn.runningMean.value = Tensor(shape: [3], data: [0.1, -0.2, 0.3])
        let id = g.add(c, Graph.input)
        g.add(bn, id)
        let x = awayFromKinks(shape: [2, 2, 5, 5], seed: 27)
        let folded = g.foldingBatchNorm()
        XCTAssertLessThan(folded.forward(x, training: false).maxAbsDifference(g.forward(x, training: false)), 1e-4)
    }
}

/// The layers imported ONNX graphs add: elementwise activations, products, channel concatenation.
final class ImportedLayerGradientTests: XCTestCase {
    let checker = GradientCheck()

    func testPointwiseFunctions() {
        // Kinks of HardSigmoid / HardSwish at +-3 and of the clip at its bounds sit away from these inputs.
        var x = awayFromKinks(shape: [2, 3, 4, 4], seed: 5)
        for i in 0..<x.count where abs(abs(x.data[i]) - 3) < 0.05 || abs(x.data[i] - 1) < 0.05 || abs(x.data[i] + 1.5) < 0.05 {
            x.data[i] += 0.2
        }
        let functions: [Pointwise.Function] = [.sigmoid, .hardSigmoid(alpha: 1.0 / 6, beta: 0.5), .hardSwish,
                                               .leakyRelu(alpha: 0.1), .clip(low: -1.5, high: 1)]
        for f in functions { checker.check(Pointwise(name: "\(f)", function: f), inputs: [x]) }
        XCTAssertEqual(Pointwise.value(.hardSwish, 1), 1 * (1.0 / 6 + 0.5), accuracy: 1e-6)
        XCTAssertEqual(Pointwise.value(.hardSigmoid(alpha: 0.2, beta: 0.5), 10), 1)
    }

    func testMultiplyEqualShapesAndPerChannelFactors() {
        let x = awayFromKinks(shape: [2, 3, 4, 4], seed: 6)
        checker.check(Multiply(name: "silu"), inputs: [x, awayFromKinks(shape: [2, 3, 4, 4], seed: 7)])
        checker.check(Multiply(name: "se"), inputs: [x, awayFromKinks(shape: [2, 3, 1, 1], seed: 8)])
        // x * HardSigmoid(x) on a classifier's [batch, features] (HardSwish before opset 14).
        checker.check(Multiply(name: "vectors"), inputs: [awayFromKinks(shape: [2, 6], seed: 9), awayFromKinks(shape: [2, 6], seed: 10)])
        let y = Multiply(name: "se").forward([x, Tensor(shape: [2, 3, 1, 1], data: [1, 2, 3, 4, 5, 6])], training: false)
        XCTAssertEqual(y.data[16 * 5 + 3], x.data[16 * 5 + 3] * 6)
    }

    func testChannelConcatAndKeptDimensionsPool() {
        let a = awayFromKinks(shape: [2, 2, 3, 3], seed: 9), b = awayFromKinks(shape: [2, 3, 3, 3], seed: 10)
        checker.check(ChannelConcat(name: "cat"), inputs: [a, b])
        let y = ChannelConcat(name: "cat").forward([a, b], training: false)
        XCTAssertEqual(y.shape, [2, 5, 3, 3])
        XCTAssertEqual(Array(y.data[45..<63]), Array(a.data[18..<36]))
        checker.check(GlobalAvgPool(name: "pool", keepsDimensions: true), inputs: [a])
        checker.check(ZeroPad(name: "pad", top: 0, left: 1, bottom: 2, right: 1), inputs: [a])
        XCTAssertEqual(ZeroPad(name: "pad", top: 0, left: 1, bottom: 2, right: 1).forward([a], training: false).shape, [2, 2, 5, 5])
        XCTAssertEqual(GlobalAvgPool(name: "pool", keepsDimensions: true).forward([a], training: false).shape, [2, 2, 1, 1])
    }
}
