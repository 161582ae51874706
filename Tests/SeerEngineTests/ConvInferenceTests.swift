import XCTest
import SeerTensor
@testable import SeerEngine

/// The inference convolution (per-image im2col, GEMM straight into NCHW, bias in the same pass) against the
/// training path (whole-batch im2col + one GEMM + scatter) and against a direct float64 reference loop.
///
/// Tolerance: both paths sum the same k * k * cin/groups float32 products in different orders (OpenBLAS blocks K
/// differently for different N), so they differ by float32 rounding of sums of O(1) terms:
/// |a - b| <= 1e-4 * (1 + |reference|) leaves a wide margin for fan-ins up to a few hundred.
final class ConvInferenceTests: XCTestCase {
    override func setUp() {
        print("ConvInferenceTests: inference on backends \(ConvolutionAlgorithm.available.map(\.rawValue)) "
              + "(not available here: \(ConvolutionAlgorithm.allCases.filter { !$0.isAvailable }.map(\.rawValue)))")
    }

    struct Case: CustomStringConvertible {
        let batch, cin, cout, h, w: Int
        let window: Window2D
        let groups: Int
        let bias: Bool
        var description: String { "n\(batch) c\(cin)->\(cout) \(h)x\(w) window \(window) g\(groups) bias \(bias)" }

        init(batch: Int, cin: Int, cout: Int, h: Int, w: Int, window: Window2D, groups: Int, bias: Bool) {
            (self.batch, self.cin, self.cout, self.h, self.w) = (batch, cin, cout, h, w)
            (self.window, self.groups, self.bias) = (window, groups, bias)
        }

        init(batch: Int, cin: Int, cout: Int, h: Int, w: Int, kernel: Int, stride: Int, padding: Int, groups: Int,
             bias: Bool) {
            self.init(batch: batch, cin: cin, cout: cout, h: h, w: w,
                      window: .square(kernel: kernel, stride: stride, padding: padding), groups: groups, bias: bias)
        }
    }

    /// ONNX Conv's definition, written out: output (oy, ox) reads input (oy * sh - ph + ky * dh, ox * sw - pw + kx * dw).
    static func reference(_ x: Tensor, _ conv: Conv2D) -> [Double] {
        let n = x.shape[0], h = x.shape[2], w = x.shape[3], wy = conv.window.height, wx = conv.window.width
        let kh = wy.kernel, kw = wx.kernel
        let oh = (h + 2 * wy.padding - (kh - 1) * wy.dilation - 1) / wy.stride + 1
        let ow = (w + 2 * wx.padding - (kw - 1) * wx.dilation - 1) / wx.stride + 1
        let cg = conv.inChannels / conv.groups, og = conv.outChannels / conv.groups
        let wt = conv.effectiveWeight.data, b = conv.bias?.value.data
        var y = [Double](repeating: 0, count: n * conv.outChannels * oh * ow)
        for img in 0..<n {
            for o in 0..<conv.outChannels {
                let grp = o / og
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var acc = Double(b?[o] ?? 0)
                        for c in 0..<cg {
                            let ic = grp * cg + c
                            for ky in 0..<kh {
                                let iy = oy * wy.stride - wy.padding + ky * wy.dilation
                                if iy < 0 || iy >= h { continue }
                                for kx in 0..<kw {
                                    let ix = ox * wx.stride - wx.padding + kx * wx.dilation
                                    if ix < 0 || ix >= w { continue }
                                    acc += Double(wt[((o * cg + c) * kh + ky) * kw + kx])
                                        * Double(x.data[((img * conv.inChannels + ic) * h + iy) * w + ix])
                                }
                            }
                        }
                        y[((img * conv.outChannels + o) * oh + oy) * ow + ox] = acc
                    }
                }
            }
        }
        return y
    }

    func check(_ c: Case, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededGenerator(seed: seed)
        let conv = Conv2D(name: "conv", inChannels: c.cin, outChannels: c.cout, window: c.window, groups: c.groups,
                          bias: c.bias, rng: &rng)
        if let b = conv.bias { b.value = .randomNormal(shape: [c.cout], std: 1, using: &rng) }
        let x = Tensor.randomNormal(shape: [c.batch, c.cin, c.h, c.w], std: 1, using: &rng)
        // The training path proper (whole-batch im2col + GEMM), not the other backends' training forward.
        conv.convolutionAlgorithm = .im2col
        let training = conv.forward([x], training: true)
        let ref = Self.reference(x, conv)
        // Every backend this CPU runs (`setUp` prints them).
        for algorithm in ConvolutionAlgorithm.available {
            conv.convolutionAlgorithm = algorithm
            let inference = conv.forward([x], training: false)
            let path = algorithm.rawValue
            XCTAssertEqual(inference.shape, training.shape, "\(c)", file: file, line: line)
            XCTAssertEqual(inference.count, ref.count, "\(c)", file: file, line: line)
            var worst: Double = 0, worstTraining: Double = 0
            for i in 0..<min(ref.count, inference.count) {
                let scale = 1 + abs(ref[i])
                worst = max(worst, abs(Double(inference.data[i]) - ref[i]) / scale)
                worstTraining = max(worstTraining, abs(Double(inference.data[i]) - Double(training.data[i])) / scale)
            }
            XCTAssertLessThanOrEqual(worst, 1e-4, "\(path) inference vs reference: \(c)", file: file, line: line)
            XCTAssertLessThanOrEqual(worstTraining, 1e-4, "\(path) inference vs training path: \(c)", file: file, line: line)
        }
    }

    func testResNetShapes() {
        // The stages of resnet20 at 28x28 and their downsampling and shortcut layers, batch 1 and several images
        // per GEMM (7x7: 10 images per GEMM, so 23 leaves a remainder chunk of 3).
        let cases = [
            Case(batch: 1, cin: 1, cout: 16, h: 28, w: 28, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 2, cin: 16, cout: 16, h: 28, w: 28, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 3, cin: 16, cout: 32, h: 28, w: 28, kernel: 3, stride: 2, padding: 1, groups: 1, bias: true),
            Case(batch: 5, cin: 16, cout: 32, h: 28, w: 28, kernel: 1, stride: 2, padding: 0, groups: 1, bias: true),
            Case(batch: 5, cin: 32, cout: 32, h: 14, w: 14, kernel: 3, stride: 1, padding: 1, groups: 1, bias: false),
            Case(batch: 23, cin: 64, cout: 64, h: 7, w: 7, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 1, cin: 64, cout: 64, h: 7, w: 7, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 1, cin: 24, cout: 40, h: 9, w: 9, kernel: 1, stride: 1, padding: 0, groups: 1, bias: true),
            Case(batch: 1, cin: 24, cout: 40, h: 30, w: 30, kernel: 1, stride: 1, padding: 0, groups: 1, bias: false),
        ]
        for (i, c) in cases.enumerated() { check(c, seed: UInt64(100 + i)) }
    }

    func testRandomShapes() {
        var rng = SeededGenerator(seed: 2024)
        for i in 0..<120 {
            let kernel = [1, 2, 3, 3, 5][rng.nextInt(below: 5)]
            let stride = [1, 1, 2, 3][rng.nextInt(below: 4)]
            let padding = rng.nextInt(below: kernel / 2 + 2)
            let groups = [1, 1, 2, 3][rng.nextInt(below: 4)]
            let cin = groups * (1 + rng.nextInt(below: 5)), cout = groups * (1 + rng.nextInt(below: 5))
            // Odd sizes, down to inputs smaller than the kernel that only the padding makes valid.
            let h = max(1, kernel - 2 * padding) + rng.nextInt(below: 12)
            let w = max(1, kernel - 2 * padding) + rng.nextInt(below: 12)
            let batch = [1, 2, 3, 7, 40][rng.nextInt(below: 5)]
            check(Case(batch: batch, cin: cin, cout: cout, h: h, w: w, kernel: kernel, stride: stride, padding: padding,
                       groups: groups, bias: rng.nextInt(below: 2) == 0), seed: UInt64(i))
        }
    }

    /// Windows beyond square and undilated, as ONNX Conv has them: kernel height != width, unequal strides, dilations,
    /// padding per axis; dense, grouped and depthwise, on every backend this CPU runs (the direct kernel hands them to
    /// im2col), against the definition and the training path.
    func testGeneralWindows() {
        func axis(_ k: Int, _ s: Int, _ d: Int, _ p: Int) -> WindowAxis { WindowAxis(kernel: k, stride: s, dilation: d, padding: p) }
        let cases = [
            // Inception-style 1x7 / 7x1 "same" pairs: stride 1 with output as large as the input (im2col's shifted copy).
            Case(batch: 2, cin: 8, cout: 6, h: 12, w: 13, window: Window2D(height: axis(1, 1, 1, 0), width: axis(7, 1, 1, 3)),
                 groups: 1, bias: true),
            Case(batch: 2, cin: 8, cout: 6, h: 12, w: 13, window: Window2D(height: axis(7, 1, 1, 3), width: axis(1, 1, 1, 0)),
                 groups: 1, bias: false),
            // Unequal strides, and a dilated square kernel (DeepLab-style, "same" at dilation 2).
            Case(batch: 3, cin: 4, cout: 5, h: 9, w: 11, window: Window2D(height: axis(3, 2, 1, 1), width: axis(3, 1, 1, 1)),
                 groups: 1, bias: true),
            Case(batch: 2, cin: 6, cout: 4, h: 14, w: 14, window: Window2D(height: axis(3, 1, 2, 2), width: axis(3, 1, 2, 2)),
                 groups: 1, bias: true),
            // Everything at once, grouped, then depthwise.
            Case(batch: 2, cin: 6, cout: 9, h: 10, w: 9, window: Window2D(height: axis(2, 1, 3, 1), width: axis(3, 2, 2, 0)),
                 groups: 3, bias: true),
            Case(batch: 3, cin: 5, cout: 5, h: 8, w: 11, window: Window2D(height: axis(3, 2, 2, 2), width: axis(1, 3, 1, 0)),
                 groups: 5, bias: true),
            Case(batch: 2, cin: 4, cout: 4, h: 9, w: 7, window: Window2D(height: axis(1, 1, 1, 0), width: axis(5, 1, 1, 2)),
                 groups: 4, bias: false),
        ]
        for (i, c) in cases.enumerated() { check(c, seed: UInt64(500 + i)) }
        var rng = SeededGenerator(seed: 2025)
        for i in 0..<60 {
            let axes = (0..<2).map { _ -> WindowAxis in
                let k = 1 + rng.nextInt(below: 4), d = 1 + rng.nextInt(below: 3)
                return axis(k, 1 + rng.nextInt(below: 3), d, rng.nextInt(below: (k - 1) * d / 2 + 2))
            }
            let window = Window2D(height: axes[0], width: axes[1])
            let groups = [1, 1, 2, 0][rng.nextInt(below: 4)]  // 0: depthwise
            let cin = max(1, groups) * (1 + rng.nextInt(below: 4))
            let cout = groups == 0 ? cin : groups * (1 + rng.nextInt(below: 4))
            let h = max(1, axes[0].span - 2 * axes[0].padding) + rng.nextInt(below: 9)
            let w = max(1, axes[1].span - 2 * axes[1].padding) + rng.nextInt(below: 9)
            check(Case(batch: [1, 2, 5][rng.nextInt(below: 3)], cin: cin, cout: cout, h: h, w: w, window: window,
                       groups: groups == 0 ? cin : groups, bias: rng.nextInt(below: 2) == 0), seed: UInt64(600 + i))
        }
    }

    /// Inference copies (batch-norm folding, checkpoints' evaluation graphs) keep every layer's window.
    func testInferenceCopiesKeepTheWindow() {
        var rng = SeededGenerator(seed: 12)
        let window = Window2D(height: WindowAxis(kernel: 3, stride: 2, dilation: 2, padding: 2),
                              width: WindowAxis(kernel: 1, stride: 1, padding: 0))
        let conv = Conv2D(name: "c", inChannels: 3, outChannels: 4, window: window, bias: true, rng: &rng)
        let copy = conv.inferenceCopy() as! Conv2D
        XCTAssertEqual(copy.window, window)
        XCTAssertEqual(copy.weight.value, conv.weight.value)
        XCTAssertEqual((MaxPool2D(name: "m", window: window).inferenceCopy() as! MaxPool2D).window, window)
        XCTAssertEqual((AvgPool2D(name: "a", window: window).inferenceCopy() as! AvgPool2D).window, window)
        XCTAssertTrue((MaxPool2D(name: "m", window: window, ceilMode: true).inferenceCopy() as! MaxPool2D).ceilMode)
        XCTAssertTrue((AvgPool2D(name: "a", window: window, ceilMode: true).inferenceCopy() as! AvgPool2D).ceilMode)
        let x = Tensor.randomNormal(shape: [2, 3, 9, 5], std: 1, using: &rng)
        XCTAssertEqual(copy.forward([x], training: false), conv.forward([x], training: false))
    }

    /// The hand-written kernels take square, undilated windows only; a layer with another window says where it runs.
    func testDirectBackendRoutesOtherWindowsToIm2col() throws {
        try XCTSkipUnless(ConvolutionAlgorithm.direct.isAvailable, "direct backend: not available on this CPU")
        var rng = SeededGenerator(seed: 8)
        let square = Conv2D(name: "square", inChannels: 4, outChannels: 8, kernel: 3, padding: 1, rng: &rng)
        let wide = Conv2D(name: "wide", inChannels: 4, outChannels: 8,
                          window: Window2D(height: WindowAxis(kernel: 1), width: WindowAxis(kernel: 3, padding: 1)),
                          rng: &rng)
        for conv in [square, wide] { conv.convolutionAlgorithm = .direct }
        XCTAssertEqual(square.implementation(inputShape: [1, 4, 8, 8]), "direct avx512")
        XCTAssertEqual(wide.implementation(inputShape: [1, 4, 8, 8]), "openblas im2col gemm (window not square)")
        XCTAssertNil(SquareConvGeometry(ConvGeometry(batch: 1, channels: 4, height: 8, width: 8, window: wide.window)))
        let dilated = Window2D(height: WindowAxis(kernel: 3, dilation: 2), width: WindowAxis(kernel: 3, dilation: 2))
        XCTAssertNil(dilated.square)
        XCTAssertEqual(Window2D.square(kernel: 3, stride: 2, padding: 1).square,
                       SquareWindow(kernel: 3, stride: 2, padding: 1))
    }

    func testTapConvolutionShapes() {
        // Stride-1 same-size convolutions on planes of at least TapConvolution.minimumPlane outputs take the
        // per-tap GEMM path; odd sizes, 5x5 kernels, groups and the channel threshold around it.
        let cases = [
            Case(batch: 3, cin: 4, cout: 5, h: 12, w: 13, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 2, cin: 3, cout: 5, h: 12, w: 13, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 2, cin: 16, cout: 6, h: 13, w: 12, kernel: 3, stride: 1, padding: 1, groups: 2, bias: true),
            Case(batch: 2, cin: 9, cout: 7, h: 17, w: 15, kernel: 5, stride: 1, padding: 2, groups: 1, bias: false),
            Case(batch: 1, cin: 12, cout: 9, h: 31, w: 5, kernel: 3, stride: 1, padding: 1, groups: 3, bias: true),
            Case(batch: 2, cin: 8, cout: 8, h: 12, w: 12, kernel: 7, stride: 1, padding: 3, groups: 1, bias: true),
        ]
        for c in cases {
            let g = ConvGeometry(batch: c.batch, channels: c.cin / c.groups, height: c.h, width: c.w, window: c.window)
            XCTAssertEqual(TapConvolution.applicable(g) != nil, c.cin / c.groups >= TapConvolution.minimumChannels, "\(c)")
        }
        for (i, c) in cases.enumerated() { check(c, seed: UInt64(300 + i)) }
    }

    func testAcrossThreads() {
        // Two threads: a batch split by images (groups too), and one image large enough that the direct kernel
        // splits its output channels (40 channels, an uneven number of 8-channel blocks, 30x30 outputs).
        let before = Threads.count
        Threads.set(2)
        defer { Threads.set(before) }
        let cases = [
            Case(batch: 5, cin: 16, cout: 16, h: 28, w: 28, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 3, cin: 12, cout: 18, h: 20, w: 20, kernel: 3, stride: 2, padding: 1, groups: 3, bias: true),
            Case(batch: 1, cin: 24, cout: 40, h: 30, w: 30, kernel: 3, stride: 1, padding: 1, groups: 1, bias: true),
            Case(batch: 1, cin: 8, cout: 44, h: 32, w: 32, kernel: 1, stride: 1, padding: 0, groups: 1, bias: false),
        ]
        for (i, c) in cases.enumerated() { check(c, seed: UInt64(400 + i)) }
    }

    func testDepthwiseAndEdgeGeometries() {
        let cases = [
            Case(batch: 2, cin: 6, cout: 6, h: 7, w: 5, kernel: 3, stride: 1, padding: 1, groups: 6, bias: true),
            Case(batch: 2, cin: 6, cout: 6, h: 7, w: 5, kernel: 3, stride: 2, padding: 1, groups: 6, bias: false),
            // One-pixel-wide inputs at stride 2: every tap past the image edge must read nothing.
            Case(batch: 2, cin: 3, cout: 3, h: 1, w: 1, kernel: 3, stride: 2, padding: 1, groups: 3, bias: true),
            Case(batch: 2, cin: 3, cout: 4, h: 1, w: 1, kernel: 3, stride: 2, padding: 1, groups: 1, bias: true),
            Case(batch: 2, cin: 3, cout: 4, h: 2, w: 1, kernel: 3, stride: 2, padding: 1, groups: 1, bias: true),
            // Padding wider than the input ("same" output, every shifted row partly or wholly outside).
            Case(batch: 3, cin: 2, cout: 3, h: 2, w: 3, kernel: 5, stride: 1, padding: 2, groups: 1, bias: true),
            Case(batch: 3, cin: 2, cout: 3, h: 1, w: 1, kernel: 5, stride: 1, padding: 2, groups: 1, bias: false),
            // Kernels so much wider than the input that a tap's first valid output column lies past the output row
            // (im2col used to write past the row there), at stride 1 and 2.
            Case(batch: 3, cin: 2, cout: 3, h: 1, w: 1, kernel: 6, stride: 1, padding: 3, groups: 1, bias: true),
            Case(batch: 3, cin: 2, cout: 3, h: 1, w: 2, kernel: 7, stride: 2, padding: 3, groups: 1, bias: false),
            // Stride 1 with an output larger or smaller than the input.
            Case(batch: 2, cin: 3, cout: 2, h: 4, w: 6, kernel: 3, stride: 1, padding: 2, groups: 1, bias: true),
            Case(batch: 2, cin: 3, cout: 2, h: 4, w: 6, kernel: 3, stride: 1, padding: 0, groups: 1, bias: true),
        ]
        for (i, c) in cases.enumerated() { check(c, seed: UInt64(200 + i)) }
    }

    func testFoldedQuantizedGraphMatchesTrainingPath() {
        // Batch-norm-folded layers carry a bias; weight quantization goes through effectiveWeight either way.
        var rng = SeededGenerator(seed: 77)
        let conv = Conv2D(name: "q", inChannels: 8, outChannels: 12, kernel: 3, stride: 1, padding: 1, rng: &rng)
        conv.ensureBias().value = .randomNormal(shape: [12], std: 0.5, using: &rng)
        conv.weightQuantizer = .calibrated(bits: 4, weight: conv.weight.value)
        let x = Tensor.randomNormal(shape: [4, 8, 10, 10], std: 1, using: &rng)
        let a = conv.forward([x], training: false)
        conv.convolutionAlgorithm = .im2col  // training on the im2col + GEMM path, not the backend inference just used
        let b = conv.forward([x], training: true)
        XCTAssertLessThan(a.maxAbsDifference(b), 1e-4)
    }

    func testQuantizedWeightCacheFollowsWeightChanges() {
        // effectiveWeight is cached per weight version: in-place updates (SGD), assignments, batch-norm-style scaling
        // and a new quantizer must all show up in the next forward pass.
        var rng = SeededGenerator(seed: 9)
        let conv = Conv2D(name: "c", inChannels: 4, outChannels: 6, kernel: 3, padding: 1, rng: &rng)
        conv.weightQuantizer = .calibrated(bits: 4, weight: conv.weight.value)
        let x = Tensor.randomNormal(shape: [2, 4, 6, 6], std: 1, using: &rng)
        func fresh() -> Tensor { conv.weightQuantizer!.quantize(conv.weight.value) }
        XCTAssertEqual(conv.effectiveWeight, fresh())
        let y0 = conv.forward([x], training: false)
        XCTAssertEqual(conv.forward([x], training: false), y0)
        // In place through the parameter, as SGD does.
        conv.weight.grad = .randomNormal(shape: conv.weight.value.shape, std: 1, using: &rng)
        SGD(learningRate: 0.5).step(conv.parameters)
        XCTAssertEqual(conv.effectiveWeight, fresh())
        XCTAssertNotEqual(conv.forward([x], training: false), y0)
        // Element assignment and whole-tensor assignment.
        conv.weight.value.data[0] += 10
        XCTAssertEqual(conv.effectiveWeight, fresh())
        conv.weight.value = .randomNormal(shape: conv.weight.value.shape, std: 1, using: &rng)
        XCTAssertEqual(conv.effectiveWeight, fresh())
        // A new quantizer.
        conv.weightQuantizer = conv.weightQuantizer!.scaled(by: [Float](repeating: 0.5, count: 6))
        XCTAssertEqual(conv.effectiveWeight, fresh())
        conv.weightQuantizer = nil
        XCTAssertEqual(conv.effectiveWeight, conv.weight.value)

        let linear = Linear(name: "l", inFeatures: 5, outFeatures: 3, rng: &rng)
        linear.weightQuantizer = .calibrated(bits: 3, weight: linear.weight.value)
        let q0 = linear.effectiveWeight
        linear.weight.value.data.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] *= -2 } }
        XCTAssertNotEqual(linear.effectiveWeight, q0)
        XCTAssertEqual(linear.effectiveWeight, linear.weightQuantizer!.quantize(linear.weight.value))
    }
}
