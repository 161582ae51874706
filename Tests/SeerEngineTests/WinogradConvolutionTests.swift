import XCTest
import SeerTensor
@testable import SeerEngine

/// The float program's Winograd steps (F(2x2, 3x3), `winograd_conv.c`) compute the graph's function under every
/// setting, on odd sizes, with fused residuals, capped ReLUs and without bias; `on` runs them on any host's blocked
/// layout, `off` never; `SEER_WINOGRAD` is read strictly.
final class WinogradConvolutionTests: XCTestCase {
    /// A stem into 16 channels, then 3x3 stride-1 convolutions: a residual block, a convolution whose residual is
    /// also its source (y = conv(a) + a), one widening to 32 channels without bias under a capped ReLU, two more;
    /// six Winograd candidates.
    static func network(rng: inout SeededGenerator) -> Graph {
        let g = Graph()
        func conv(_ name: String, _ cin: Int, _ cout: Int, bias: Bool = true, _ input: Graph.NodeID) -> Graph.NodeID {
            g.addConv(name, cin, cout, bias: bias, input, rng: &rng)
        }
        let stem = g.add(ReLU(name: "stem.relu"), conv("stem", 3, 16, Graph.input))
        let r1 = g.add(ReLU(name: "b1.relu1"), conv("b1.conv1", 16, 16, stem))
        let b1 = g.add(ReLU(name: "b1.relu2"), g.add(Add(name: "b1.add"), conv("b1.conv2", 16, 16, r1), stem))
        let own = g.add(Add(name: "own.add"), conv("own", 16, 16, b1), b1)
        let wide = g.add(ReLU(name: "wide.relu", cap: 6), conv("wide", 16, 32, bias: false, own))
        let next = g.add(ReLU(name: "next.relu"), conv("next", 32, 32, wide))
        let last = g.add(ReLU(name: "last.relu"), conv("last", 32, 32, next))
        let pool = g.add(GlobalAvgPool(name: "pool"), last)
        g.add(Linear(name: "fc", inFeatures: 32, outFeatures: 5, rng: &rng), pool)
        return g
    }

    func testTheEnvironmentVariableIsReadStrictly() throws {
        XCTAssertNil(try WinogradConvolution.configured(in: [:]))
        XCTAssertEqual(try WinogradConvolution.configured(in: ["SEER_WINOGRAD": "auto"]), .auto)
        XCTAssertEqual(try WinogradConvolution.configured(in: ["SEER_WINOGRAD": "on"]), .on)
        XCTAssertEqual(try WinogradConvolution.configured(in: ["SEER_WINOGRAD": "off"]), .off)
        XCTAssertThrowsError(try WinogradConvolution.configured(in: ["SEER_WINOGRAD": "1"])) { error in
            XCTAssertEqual((error as? WinogradConvolutionError)?.description,
                           "SEER_WINOGRAD=1: expected auto, on or off")
        }
    }

    func testEverySettingComputesTheGraphsFunction() {
        let before = WinogradConvolution.current
        defer { WinogradConvolution.set(before) }
        var rng = SeededGenerator(seed: 43)
        let graph = Self.network(rng: &rng)
        let hasAVX2 = VectorISA.runnable.contains(.avx2)
        for shape in [[5, 3, 13, 11], [1, 3, 2, 3], [2, 3, 1, 1]] {
            let x = Tensor.randomNormal(shape: shape, std: 1, using: &rng)
            let expected = graph.forward(x, training: false)
            let scale = max(expected.data.map(abs).max()!, 1)
            for setting in WinogradConvolution.allCases {
                WinogradConvolution.set(setting)
                let program = BlockedFloatInference(graph)
                let steps = program.implementations(inputShape: x.shape)
                let winograd = steps.filter { $0.hasPrefix("winograd") }.count
                print("WinogradConvolutionTests: \(setting), input \(shape), ISA \(QuantizedInference.effectiveISA): "
                      + steps.joined(separator: ", "))
                switch setting {
                case .off: XCTAssertEqual(winograd, 0, "\(steps)")
                case .on: XCTAssertEqual(winograd, hasAVX2 ? 6 : 0, "b1.conv1, b1.conv2, own, wide, next, last: \(steps)")
                case .auto: XCTAssertLessThanOrEqual(winograd, 6, "\(steps)")
                }
                let y = program.forward(x)
                XCTAssertLessThan(y.maxAbsDifference(expected) / scale, 1e-5, "\(setting), input \(shape)")
                XCTAssertEqual(program.forward(x), y, "\(setting), input \(shape): a second run, the same")
            }
        }
    }

    /// Fake quantizations fused after Winograd steps (unsigned after a ReLU, signed with none) round as oneDNN's
    /// post-ops do. Summation order differs from the graph's kernels and from oneDNN's, so a value on a rounding
    /// boundary may land one level apart: every output within one level, and almost all exactly equal.
    func testFakeQuantizationAfterIt() {
        let before = WinogradConvolution.current
        defer { WinogradConvolution.set(before) }
        var rng = SeededGenerator(seed: 44)
        for (signed, bits, alpha) in [(false, 4, Float(3)), (true, 8, Float(1.5))] {
            let g = Graph()
            let stem = g.add(ReLU(name: "stem.relu"), g.addConv("stem", 3, 16, Graph.input, rng: &rng))
            let a = g.addConv("a", 16, 16, stem, rng: &rng)
            let quantizer = ActivationQuantizer(name: "a.aq", bits: bits, signed: signed, alpha: alpha)
            g.add(quantizer, signed ? a : g.add(ReLU(name: "a.relu"), a))
            let levels = signed ? Float((1 << (bits - 1)) - 1) : Float((1 << bits) - 1)
            let step = alpha / levels
            let x = Tensor.randomNormal(shape: [4, 3, 12, 9], std: 1, using: &rng)
            let expected = g.forward(x, training: false)
            var outputs: [WinogradConvolution: Tensor] = [:]
            for setting in [WinogradConvolution.off, .on] {
                WinogradConvolution.set(setting)
                let program = BlockedFloatInference(g)
                let steps = program.implementations(inputShape: x.shape)
                print("WinogradConvolutionTests: \(signed ? "signed" : "unsigned") \(bits)-bit quantizer, \(setting): "
                      + steps.joined(separator: ", "))
                if setting == .on {
                    XCTAssertEqual(steps.filter { $0.hasPrefix("winograd") }.count,
                                   VectorISA.runnable.contains(.avx2) ? 1 : 0, "a: \(steps)")
                }
                outputs[setting] = program.forward(x)
            }
            for (name, y, reference) in [("Winograd against oneDNN", outputs[.on]!, outputs[.off]!),
                                         ("Winograd against the graph", outputs[.on]!, expected),
                                         ("oneDNN against the graph", outputs[.off]!, expected)] {
                let differences = zip(y.data, reference.data).map { abs($0 - $1) }
                XCTAssertLessThanOrEqual(differences.max()!, step * 1.001, "\(name), \(bits) bits")
                XCTAssertLessThan(differences.filter { $0 > 1e-5 }.count, max(2, y.count / 100), "\(name), \(bits) bits")
                XCTAssertGreaterThan(Set(y.data).count, 3, "\(name): the output spans several levels")
            }
        }
    }
}
