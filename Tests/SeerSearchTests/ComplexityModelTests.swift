import SeerCompression
import SeerModels
import SeerPredictor
import XCTest
@testable import SeerSearch

final class ComplexityModelTests: XCTestCase {
    /// At discrete policies the closed forms equal `Complexity.compute`: BitOPs and MACs exactly (kept fractions are
    /// the rounded kept channel counts at the space's ratios), bytes up to the rounding of each layer's weights up to
    /// whole bytes (less than one byte per layer).
    func testClosedFormsMatchComplexityAtDiscretePoints() throws {
        let oddSpace = try SearchSpace(wbits: [2, 4, 7], abits: [3, 8], prune: [0, 0.3, 0.55])
        for (name, space) in [("resnet20", SearchSpace.default), ("mobilenetv2-tiny", .default), ("resnet8", .default),
                              ("resnet20", oddSpace), ("mobilenetv2-tiny", oddSpace)] {
            let model = try zoo(name)
            let encoding = PolicyEncoding(model: model, space: space)
            let models = try ComplexityMetric.allCases.map { try LayerwiseComplexity(model: model, encoding: encoding, metric: $0) }
            var rng = SplitMix64(seed: 3)
            var samples = [encoding.minimumLevels, encoding.maximumLevels]
            for _ in 0..<15 { samples.append(encoding.variables.map { rng.nextInt(below: $0.levels.count) }) }
            for levels in samples {
                let report = try Complexity.compute(model: model, policy: encoding.policy(levels: levels))
                let x = encoding.relaxation(levels: levels)
                XCTAssertEqual(models[0].value(x), Double(report.bitops), accuracy: 1e-9 * Double(report.bitops), name)
                XCTAssertEqual(models[1].value(x), Double(report.macs), accuracy: 1e-9 * Double(report.macs), name)
                let bytes = models[2].value(x)
                XCTAssertLessThanOrEqual(bytes, Double(report.sizeBytes) + 1e-6, name)
                XCTAssertGreaterThan(bytes, Double(report.sizeBytes - report.layers.count), name)
            }
        }
    }

    func testResNet20FullBitOPsAndMACs() throws {
        let model = try zoo("resnet20")
        let encoding = PolicyEncoding(model: model)
        let macs = try LayerwiseComplexity(model: model, encoding: encoding, metric: .macs)
        // docs/COMPRESSION.md: resnet20 at 28x28 has 31.02 M MACs.
        XCTAssertEqual(macs.value(encoding.relaxation(levels: encoding.maximumLevels)), 31.02e6, accuracy: 0.005e6)
        XCTAssertEqual(macs.metric, "MACs")
    }

    func testGradientMatchesFiniteDifferences() throws {
        for name in ["resnet20", "mobilenetv2-tiny"] {
            let model = try zoo(name)
            let encoding = PolicyEncoding(model: model)
            var rng = SplitMix64(seed: 11)
            // An interior point away from the space's ratios, where the kept curves are smooth.
            let x = encoding.variables.map { v -> Double in
                v.kind == .prune ? 0.0625 + 0.125 * Double(rng.nextInt(below: 6)) : 2.5 + 5 * rng.nextUniform()
            }
            for metric in ComplexityMetric.allCases {
                let c = try LayerwiseComplexity(model: model, encoding: encoding, metric: metric)
                let g = c.gradient(x)
                for v in x.indices {
                    var (up, down) = (x, x)
                    up[v] += 1e-4
                    down[v] -= 1e-4
                    let numeric = (c.value(up) - c.value(down)) / 2e-4
                    XCTAssertEqual(g[v], numeric, accuracy: 1e-6 * max(1, abs(numeric)), "\(name) \(metric) \(encoding.variables[v].name)")
                }
            }
        }
    }

    func testCostGrowsWithEveryLevel() throws {
        let model = try zoo("resnet20")
        let encoding = PolicyEncoding(model: model)
        let bitops = try LayerwiseComplexity(model: model, encoding: encoding, metric: .bitops)
        let levels = encoding.variables.map { $0.topLevel / 2 }
        let here = bitops.value(encoding.relaxation(levels: levels))
        for v in levels.indices {
            var raised = levels
            raised[v] += 1
            XCTAssertGreaterThan(bitops.value(encoding.relaxation(levels: raised)), here, encoding.variables[v].name)
        }
    }
}
