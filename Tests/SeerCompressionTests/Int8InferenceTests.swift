import Foundation
import XCTest
import SeerData
@testable import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor
import SeerTraining
@testable import SeerCompression

/// The int8 inference path (`QuantizedInference`) against the fake-quantized float graph it is compiled from, on the
/// committed resnet8 checkpoint, on this process's oneDNN ISA; `testEveryISAPath` reruns it capped to each lower ISA
/// the host has (DNNL_MAX_CPU_ISA, in a child process: oneDNN fixes its ISA at its first primitive).
final class Int8InferenceTests: XCTestCase {
    static let data = Result { try FashionMNIST.load() }

    /// Unpruned 8/8, pruned 8/8, and lower bit-widths (pruned), the latter exact on every ISA.
    static let policies = ["8/8", "8/8/0.5", "4/6/0.25", "6/8"]

    /// resnet8 under `bits`, calibrated on 256 training images, batch norm folded: the graph the executor times.
    func folded(_ bits: String) throws -> Graph {
        let base = try ModelStore.load("resnet8")
        let policy = try Policy(bits: bits).resolve(for: base)
        let data = try Self.data.get()
        var rng = SeededGenerator(seed: 7)
        let (calibration, _) = try data.batch(split: .train, indices: Array(0..<256), augment: nil, rng: &rng)
        let quantized = PolicyQuantization.quantize(ChannelPruning.prune(base, policy: policy), policy: policy,
                                                    calibration: calibration)
        return quantized.graph.foldingBatchNorm()
    }

    func images(_ count: Int) throws -> Tensor {
        var rng = SeededGenerator(seed: 3)
        return try Self.data.get().batch(split: .validation, indices: Array(0..<count), augment: nil, rng: &rng).images
    }

    /// Every integer convolution, fed the float graph's own input to it, gives the float convolution's output up to
    /// the rounding bound of docs/LATENCY.md ("int8 inference"): with u = 2^-24, K taps per output, T = sum |x| |w|
    /// over the fake-quantized input and weights and b the bias, |y_float - y_int8| <= gamma(K + 8) * (T + |b|),
    /// gamma(n) = n u / (1 - n u). The integer accumulation is exact; the float sum's rounding is gamma(K + 1) of
    /// T + |b|, the fake-quantized operands' 2u of T, and the requantization's 4 roundings gamma(4) of |E| + |b|.
    func testIntegerConvolutionsMatchTheFloatOnesWithinTheRoundingBound() throws {
        print("int8 inference on oneDNN ISA \(QuantizedInference.effectiveISA), VNNI \(QuantizedInference.hostHasVNNI)")
        let x = try images(32)
        for bits in Self.policies {
            let graph = try folded(bits)
            let program = QuantizedInference(graph)
            if QuantizedInference.hostHasVNNI || bits != "8/8" && bits != "8/8/0.5" {
                XCTAssertFalse(program.integerLayers.isEmpty, "\(bits): no integer layer")
            }
            XCTAssertTrue(program.floatLayers.allSatisfy { !$0.reason.isEmpty })
            var values = [Graph.NodeID: Tensor](), checked = 0
            for id in graph.topologicalOrder {
                let node = graph.nodes[id]
                let ins = node.inputs.map { $0 == Graph.input ? x : values[$0]! }
                values[id] = node.layer.forward(ins, training: false)
                guard let conv = node.layer as? Conv2D, let integer = program.integerConvolutions[id] else { continue }
                let yFloat = values[id]!, yInt = integer.inference(ins[0], epilogue: ConvEpilogue())
                let bound = roundingBound(conv, input: ins[0])
                var worst: Float = 0
                for i in 0..<yFloat.count {
                    let excess = abs(yFloat.data[i] - yInt.data[i]) / bound.data[i]
                    worst = max(worst, excess)
                }
                XCTAssertLessThanOrEqual(worst, 1, "\(bits) \(conv.name): worst |difference| / bound")
                checked += 1
            }
            XCTAssertEqual(checked, program.integerLayers.count, bits)
            print("\(bits): \(checked) integer convolutions within the bound; float: "
                  + program.floatLayers.map { "\($0.name) (\($0.reason))" }.joined(separator: ", "))
        }
    }

    /// Windows beyond square and undilated (kernel height != width, unequal strides, dilations; dense, grouped and
    /// depthwise) run on oneDNN's int8 kernels too, within the same rounding bound. 8-bit weights on 6-bit unsigned
    /// activations: exact on every ISA (`Int8Convolution.unsupported`).
    func testGeneralWindowsRunOnIntegersWithinTheRoundingBound() {
        func axis(_ k: Int, _ s: Int, _ d: Int, _ p: Int) -> WindowAxis { WindowAxis(kernel: k, stride: s, dilation: d, padding: p) }
        let windows = [
            Window2D(height: axis(1, 1, 1, 0), width: axis(7, 1, 1, 3)),
            Window2D(height: axis(3, 2, 1, 1), width: axis(3, 1, 1, 1)),
            Window2D(height: axis(3, 1, 2, 2), width: axis(2, 2, 3, 1)),
        ]
        var rng = SeededGenerator(seed: 21)
        for window in windows {
            for groups in [1, 2, 8] {
                let conv = Conv2D(name: "c \(window) g\(groups)", inChannels: 8, outChannels: 8, window: window,
                                  groups: groups, bias: true, rng: &rng)
                conv.bias!.value = .randomNormal(shape: [8], std: 0.5, using: &rng)
                conv.weightQuantizer = .calibrated(bits: 8, weight: conv.weight.value)
                let quantizer = ActivationQuantizer(name: "aq", bits: 6, signed: false, alpha: 2)
                XCTAssertNil(Int8Convolution.unsupported(input: quantizer, weights: conv.weightQuantizer,
                                                         vnni: Int8Convolution.hostHasVNNI))
                let x = quantizer.forward([Tensor.randomNormal(shape: [3, 8, 11, 12], std: 1, using: &rng)], training: false)
                let yFloat = conv.forward([x], training: false)
                let yInt = Int8Convolution(conv, input: quantizer, weights: conv.weightQuantizer!).inference(x)
                XCTAssertEqual(yInt.shape, yFloat.shape, conv.name)
                let bound = roundingBound(conv, input: x)
                var worst: Float = 0
                for i in 0..<min(yFloat.count, yInt.count) {
                    worst = max(worst, abs(yFloat.data[i] - yInt.data[i]) / bound.data[i])
                }
                XCTAssertLessThanOrEqual(worst, 1, "\(conv.name): worst |difference| / bound")
            }
        }
    }

    /// The int8 program (`QuantizedInference`) runs those windows on integers too, between quantizers fused as
    /// post-ops: close to the fake-quantized graph (a value on a rounding boundary may land one level apart).
    func testGeneralWindowsInTheInt8Program() {
        var rng = SeededGenerator(seed: 22)
        let g = Graph()
        func quantizedConv(_ name: String, _ cin: Int, _ cout: Int, _ window: Window2D, groups: Int = 1,
                           _ input: Graph.NodeID) -> Graph.NodeID {
            let q = g.add(ActivationQuantizer(name: name + ".aq", bits: 6, signed: false, alpha: 2), input)
            let c = Conv2D(name: name, inChannels: cin, outChannels: cout, window: window, groups: groups, bias: true,
                           rng: &rng)
            c.bias!.value = .randomNormal(shape: [cout], std: 0.3, using: &rng)
            c.weightQuantizer = .calibrated(bits: 8, weight: c.weight.value)
            return g.add(ReLU(name: name + ".relu"), g.add(c, q))
        }
        let a = quantizedConv("a", 3, 8, Window2D(height: WindowAxis(kernel: 1), width: WindowAxis(kernel: 7, padding: 3)),
                              Graph.input)
        let b = quantizedConv("b", 8, 8, Window2D(height: WindowAxis(kernel: 3, dilation: 2, padding: 2),
                                                  width: WindowAxis(kernel: 3, stride: 2, padding: 1)), groups: 8, a)
        let c = quantizedConv("c", 8, 6, Window2D(height: WindowAxis(kernel: 2, stride: 2), width: WindowAxis(kernel: 3, padding: 1)), b)
        g.add(Linear(name: "fc", inFeatures: 6 * 5 * 5, outFeatures: 4, rng: &rng), g.add(ReLU(name: "out"), c))
        let program = QuantizedInference(g)
        XCTAssertEqual(program.integerLayers.sorted(), ["a", "b", "c"], "float: \(program.floatLayers)")
        let x = Tensor.randomNormal(shape: [4, 3, 11, 10], std: 1, using: &rng)
        let expected = g.forward(x, training: false), y = program.forward(x)
        XCTAssertEqual(y.shape, expected.shape)
        let range = expected.data.max()! - expected.data.min()!
        XCTAssertLessThan(y.maxAbsDifference(expected), 0.02 * range)
    }

    /// gamma(K + 8) * (T + |b|) per output element, T from a float convolution of |x| with |w|, whose own rounding
    /// (at most gamma(K) of T, all terms non-negative) is undone by dividing by 1 - gamma(K).
    func roundingBound(_ conv: Conv2D, input x: Tensor) -> Tensor {
        var rng = SeededGenerator(seed: 0)
        let magnitude = Conv2D(name: conv.name + ".abs", inChannels: conv.inChannels, outChannels: conv.outChannels,
                               window: conv.window, groups: conv.groups, rng: &rng)
        magnitude.weight.value = conv.effectiveWeight.map { abs($0) }
        let t = magnitude.forward([x.map { abs($0) }], training: false)
        let k = Double(conv.inChannels / conv.groups * conv.window.taps), u = pow(2.0, -24.0)
        func gamma(_ n: Double) -> Double { n * u / (1 - n * u) }
        let factor = Float(gamma(k + 8) / (1 - gamma(k)))
        let plane = t.shape[2] * t.shape[3], bias = conv.bias?.value.data ?? []
        return Tensor(shape: t.shape) { out in
            for i in 0..<t.count {
                let b = bias.isEmpty ? 0 : abs(bias[(i / plane) % conv.outChannels])
                // A zero bound would demand bit-equality where both sides are exactly zero; keep the smallest normal.
                out[i] = max(factor * (t.data[i] + b), .leastNormalMagnitude)
            }
        }
    }

    /// End to end on 256 validation images: the same top-1 class for nearly every image, and logits close. Not a
    /// derived bound: where a float and an integer layer output straddle a quantizer's rounding boundary (they differ
    /// by at most the bound above, about 1e-6 of the value), the next layer's input differs by one level there.
    func testLogitsAndTopOneAgreeWithTheFakeQuantizedGraph() throws {
        let x = try images(256)
        for bits in ["8/8/0.5", "4/6/0.25"] {
            let graph = try folded(bits)
            let reference = graph.forward(x, training: false)
            let program = QuantizedInference(graph)
            let logits = program.forward(x)
            XCTAssertEqual(logits.shape, reference.shape)
            let classes = logits.shape[1]
            var agree = 0, worst: Float = 0, range: Float = 0
            for n in 0..<logits.shape[0] {
                let a = Array(logits.data[(n * classes)..<((n + 1) * classes)])
                let b = Array(reference.data[(n * classes)..<((n + 1) * classes)])
                if a.indices.max(by: { a[$0] < a[$1] }) == b.indices.max(by: { b[$0] < b[$1] }) { agree += 1 }
                for c in 0..<classes { worst = max(worst, abs(a[c] - b[c])) }
                range = max(range, b.max()! - b.min()!)
            }
            // On the oneDNN backend, a quantizer read only by integer convolutions hands them its levels as the
            // layer before it wrote them, with no reorder between (conv1 -> ReLU -> quantizer -> conv2).
            let steps = program.programSteps(inputShape: x.shape)
            if !steps.isEmpty && program.integerLayers.count > 1 {
                XCTAssertLessThan(steps.filter { $0 == "reorder (levels)" }.count, program.integerLayers.count, "\(steps)")
            }
            print("\(bits) on \(QuantizedInference.effectiveISA): top-1 agreement \(agree)/\(logits.shape[0]), "
                  + "max |logit difference| \(worst) (logit range \(range)), \(program.integerLayers.count) integer layers")
            XCTAssertGreaterThanOrEqual(agree, logits.shape[0] * 99 / 100, bits)
            XCTAssertLessThan(worst, 0.05 * range, bits)
        }
    }

    /// mobilenetv2-tiny (random weights) pruned at 4/4/0.5: depthwise and 1x1 integer layers, ReLU6 before the
    /// quantizers, residual additions; the integer program agrees with the fake-quantized graph as resnet8's does
    /// (on AVX2 some of its layers stay float and hand float values to integer ones).
    func testMobileNetAgreesWithTheFakeQuantizedGraph() throws {
        let base = try ModelZoo.make("mobilenetv2-tiny")
        let policy = try Policy(bits: "4/4/0.5").resolve(for: base)
        var rng = SeededGenerator(seed: 7)
        let (calibration, _) = try Self.data.get().batch(split: .train, indices: Array(0..<64), augment: nil, rng: &rng)
        let quantized = PolicyQuantization.quantize(ChannelPruning.prune(base, policy: policy), policy: policy,
                                                    calibration: calibration)
        let graph = quantized.graph.foldingBatchNorm(), x = try images(64)
        let reference = graph.forward(x, training: false)
        let program = QuantizedInference(graph)
        let logits = program.forward(x)
        let range = reference.data.max()! - reference.data.min()!
        print("mobilenetv2-tiny 4/4/0.5 on \(QuantizedInference.effectiveISA): \(program.integerLayers.count) integer "
              + "layers, max |logit difference| \(logits.maxAbsDifference(reference)) (logit range \(range))")
        XCTAssertFalse(program.integerLayers.isEmpty)
        XCTAssertLessThan(logits.maxAbsDifference(reference), 0.05 * range)
    }

    /// Which layers run on integers follows the CPU: with VNNI every resnet8 convolution at 8/8; without it, 8/8
    /// stays float (16-bit pair sums would saturate) and 8-bit weights on 6-bit activations run on integers, except the stem (signed).
    func testQualificationFollowsTheISA() throws {
        let eight = try folded("8/8"), sixBitActivations = try folded("8/6")
        let convolutions = eight.layers.compactMap { $0 as? Conv2D }.count
        XCTAssertEqual(QuantizedInference(eight, vnni: true).integerLayers.count, convolutions)
        XCTAssertEqual(QuantizedInference(eight, vnni: false).integerLayers, [])
        let noVNNI = QuantizedInference(sixBitActivations, vnni: false)
        XCTAssertEqual(noVNNI.integerLayers.count, convolutions - 1)
        XCTAssertEqual(noVNNI.floatLayers.map(\.name), ["stem.conv"])
    }

    /// Reruns the ISA-dependent tests in child processes capped to each lower ISA oneDNN has on this host, and says
    /// which ran. On an AVX2-only host there is none (this process already ran AVX2).
    func testEveryISAPath() throws {
        let native = QuantizedInference.effectiveISA
        if ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"] != nil { return }  // a child itself
        let lower: [(cap: String, requires: [String])] = [
            ("AVX512_CORE", ["avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"]),
            ("AVX2", ["avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"]),
        ]
        var ran = [native]
        for (cap, requires) in lower where requires.contains(native) {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            // The whole class (XCTest on Linux takes one filter); this test returns at once in the child.
            child.arguments = ["SeerCompressionTests.Int8InferenceTests"]
            var environment = ProcessInfo.processInfo.environment
            environment["DNNL_MAX_CPU_ISA"] = cap
            child.environment = environment
            let output = Pipe()
            child.standardOutput = output
            child.standardError = output
            try child.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            let isa = text.components(separatedBy: "oneDNN ISA ").dropFirst().first?.split(separator: ",").first
            XCTAssertEqual(child.terminationStatus, 0, "DNNL_MAX_CPU_ISA=\(cap):\n\(text)")
            XCTAssertNotNil(isa, "DNNL_MAX_CPU_ISA=\(cap): the child did not report its ISA:\n\(text)")
            ran.append(isa.map(String.init) ?? cap)
        }
        print("int8 inference tests ran on oneDNN ISAs: \(ran.joined(separator: ", "))")
    }
}

private extension Tensor {
    func map(_ f: (Float) -> Float) -> Tensor { Tensor(shape: shape, data: data.map(f)) }
}
