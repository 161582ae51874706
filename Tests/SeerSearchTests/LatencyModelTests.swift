import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import XCTest
import SeerMeasurement
@testable import SeerSearch

/// A synthetic per-layer table of `model`: a deliberately non-bilinear function of kept channels and bit-widths, so
/// interpolation between grid points differs from the function and the tests see the interpolation itself.
private func syntheticLookup(_ model: Model, keeps: [Double], bits: [Int]?, overheadMs: Double = 0.02) throws -> LayerLatencyTable {
    let base = try Complexity.compute(model: model, policy: try Policy(bits: "8/8").resolve(for: model))
    var entries: [LayerLatencyTable.Entry] = []
    for (l, layer) in base.layers.enumerated() {
        let depthwise = layer.kind == .depthwise
        for inKeep in keeps {
            for outKeep in keeps where !depthwise || inKeep == outKeep {
                let keptOut = max(1, Int((outKeep * Double(layer.outChannels)).rounded()))
                let keptIn = depthwise ? keptOut : max(1, Int((inKeep * Double(layer.inChannels)).rounded()))
                let work = Double(layer.outHeight * layer.outWidth) * pow(Double(keptIn * keptOut), 0.9) * 1e-6
                for w in bits ?? [0] {
                    for a in bits ?? [0] {
                        let bitFactor = bits == nil ? 1 : (Double(w * a) / 64).squareRoot()
                        entries.append(LayerLatencyTable.Entry(
                            layer: layer.name, inKeep: inKeep, outKeep: outKeep, keptIn: keptIn, keptOut: keptOut,
                            wbits: bits == nil ? nil : w, abits: bits == nil ? nil : a,
                            ms: 0.001 * Double(l + 1) + work * bitFactor + 1e-5 * Double(keptOut)))
                    }
                }
            }
        }
    }
    return LayerLatencyTable(model: model.name, executor: "synthetic", device: "test", batch: 1, threads: 1, keeps: keeps,
                             wbits: bits, abits: bits, overheadMs: overheadMs, seconds: 0, entries: entries)
}

private let quarters = [0.25, 0.5, 0.75, 1]
private let eighths = [0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1]
private let spaceBits = [2, 3, 4, 5, 6, 8]

final class LatencyModelTests: XCTestCase {
    /// Central differences at interior points away from the knots (ratios in sixteenths between the space's eighths)
    /// and off integer bit-widths, where the interpolation is smooth: the analytic gradient matches to 1e-6 relative.
    func testGradientMatchesFiniteDifferences() throws {
        for (name, bits) in [("resnet8", Optional(spaceBits)), ("resnet20", nil), ("mobilenetv2-tiny", Optional(spaceBits))] {
            let model = try zoo(name)
            let encoding = PolicyEncoding(model: model)
            let latency = try LatencyModel(model: model, encoding: encoding,
                                           lookup: try syntheticLookup(model, keeps: quarters, bits: bits),
                                           calibration: LatencyCalibration(scale: 1.3, offsetMs: 0.01, samples: 2))
            var rng = SplitMix64(seed: 5)
            let x = encoding.variables.map { v -> Double in
                v.kind == .prune ? 0.0625 + 0.125 * Double(rng.nextInt(below: 6)) : 2.3 + 0.4 * Double(rng.nextInt(below: 14))
                    + 0.01 * rng.nextUniform()
            }
            let g = latency.gradient(x)
            var nonZero = 0
            for v in x.indices {
                var (up, down) = (x, x)
                up[v] += 1e-5
                down[v] -= 1e-5
                let numeric = (latency.value(up) - latency.value(down)) / 2e-5
                XCTAssertEqual(g[v], numeric, accuracy: 1e-6 * max(1e-3, abs(numeric)), "\(name) \(encoding.variables[v].name)")
                if abs(g[v]) > 1e-9 { nonZero += 1 }
            }
            // Every prune variable moves latency; bit variables do only when the table has bit grids.
            let prune = encoding.variables.filter { $0.kind == .prune }.count
            XCTAssertEqual(nonZero, bits == nil ? prune : encoding.variables.count, name)
        }
    }

    /// On a grid holding every kept fraction the space reaches, the uncalibrated value at a discrete policy is the
    /// sum of the table entries at each layer's kept channels and bits.
    func testValueAtDiscretePoliciesIsTheSumOfTableEntries() throws {
        for name in ["resnet8", "mobilenetv2-tiny"] {
            let model = try zoo(name)
            let encoding = PolicyEncoding(model: model)
            let lookup = try syntheticLookup(model, keeps: eighths, bits: spaceBits, overheadMs: 0.5)
            let latency = try LatencyModel(model: model, encoding: encoding, lookup: lookup)
            var rng = SplitMix64(seed: 9)
            for _ in 0..<10 {
                let levels = encoding.variables.map { rng.nextInt(below: $0.levels.count) }
                let report = try Complexity.compute(model: model, policy: encoding.policy(levels: levels))
                let expected = try report.layers.map { layer -> Double in
                    let entry = try XCTUnwrap(lookup.entries.first {
                        $0.layer == layer.name && $0.keptIn == layer.keptInChannels && $0.keptOut == layer.keptOutChannels
                            && $0.wbits == layer.wbits && $0.abits == layer.abits
                    }, layer.name)
                    return entry.ms
                }.reduce(0, +)
                let x = encoding.relaxation(levels: levels)
                XCTAssertEqual(latency.layerSum(x), expected, accuracy: 1e-12, name)
                // No measurements: scale 1 and the table's overhead as offset.
                XCTAssertEqual(latency.value(x), expected + 0.5, accuracy: 1e-12, name)
                XCTAssertEqual(try latency.predict(encoding.policy(levels: levels)), expected + 0.5, accuracy: 1e-12)
            }
        }
    }

    /// Between grid points a layer's value is the bilinear interpolation of its four corner entries.
    func testValueBetweenGridPointsInterpolatesBilinearly() throws {
        let model = try zoo("resnet8")
        let encoding = PolicyEncoding(model: model)
        let lookup = try syntheticLookup(model, keeps: quarters, bits: nil)
        let latency = try LatencyModel(model: model, encoding: encoding, lookup: lookup)
        // stage3.block1.conv1 reads the stage-2 group and writes its own: prune both by 1/8, i.e. keep 7/8, halfway
        // between the grid's 3/4 and 1 on both axes.
        var levels = encoding.maximumLevels
        let layer = "stage3.block1.conv1"
        let out = try XCTUnwrap(encoding.variables.firstIndex { $0.kind == .prune && $0.name.hasPrefix(layer) })
        let input = try XCTUnwrap(encoding.variables.firstIndex { $0.kind == .prune && $0.name.hasPrefix("stage2.block1.conv2") })
        for v in [out, input] { levels[v] = try XCTUnwrap(encoding.variables[v].levels.firstIndex(of: 0.125)) }
        let value = try XCTUnwrap(latency.layerLatencies(encoding.relaxation(levels: levels)).first { $0.layer == layer }).ms
        func ms(_ i: Double, _ o: Double) throws -> Double {
            try XCTUnwrap(lookup.entries.first { $0.layer == layer && $0.inKeep == i && $0.outKeep == o }).ms
        }
        let expected = (try ms(0.75, 0.75) + ms(0.75, 1) + ms(1, 0.75) + ms(1, 1)) / 4
        XCTAssertEqual(value, expected, accuracy: 1e-12)
    }

    /// Measurements made exactly as scale x layer sum + offset give that scale and offset back; the calibrated
    /// model then predicts them with zero error.
    func testCalibrationRecoversKnownScaleAndOffset() throws {
        let model = try zoo("resnet8")
        let encoding = PolicyEncoding(model: model)
        let latency = try LatencyModel(model: model, encoding: encoding,
                                       lookup: try syntheticLookup(model, keeps: quarters, bits: spaceBits))
        var rng = SplitMix64(seed: 2)
        let samples = (0..<12).map { _ -> LatencySample in
            let levels = encoding.variables.map { rng.nextInt(below: $0.levels.count) }
            let sum = latency.layerSum(encoding.relaxation(levels: levels))
            return LatencySample(policy: encoding.policy(levels: levels), measuredMs: 1.7 * sum + 0.042)
        }
        let fitted = try latency.fitCalibration(samples)
        XCTAssertEqual(fitted.scale, 1.7, accuracy: 1e-9)
        XCTAssertEqual(fitted.offsetMs, 0.042, accuracy: 1e-9)
        XCTAssertEqual(fitted.samples, 12)
        let accuracy = try latency.calibrated(fitted).accuracy(on: samples)
        XCTAssertEqual(accuracy.withinTolerance, 1)
        XCTAssertLessThan(accuracy.maxAbsRelativeError, 1e-9)
        // Uncalibrated (scale 1, table overhead) the same samples are off by far more than 10%.
        XCTAssertLessThan(try latency.accuracy(on: samples).withinTolerance, 0.5)

        // One sample fixes scale at 1 and fits the offset alone.
        let one = try latency.fitCalibration([samples[0]])
        XCTAssertEqual(one.scale, 1)
        XCTAssertEqual(one.offsetMs, samples[0].measuredMs - latency.layerSum(try latency.encoding.relaxation(
            levels: latency.encoding.levels(of: samples[0].policy))), accuracy: 1e-12)
    }

    func testCalibrationRejectsBadMeasurements() throws {
        XCTAssertThrowsError(try LatencyCalibration.fit(layerSums: [], measured: [])) {
            XCTAssertEqual($0 as? LatencyModelError, .noSamples)
        }
        XCTAssertThrowsError(try LatencyCalibration.fit(layerSums: [1, 2], measured: [1, -1])) {
            guard case .invalidSample(1, _)? = $0 as? LatencyModelError else { return XCTFail("\($0)") }
        }
        // Latency falling as the table's sum rises: no positive scale.
        XCTAssertThrowsError(try LatencyCalibration.fit(layerSums: [1, 2, 3], measured: [3, 2, 1])) {
            guard case .nonPositiveScale? = $0 as? LatencyModelError else { return XCTFail("\($0)") }
        }
    }

    func testAccuracyCountsTheTenPercentBand() throws {
        let a = try LatencyAccuracy(predicted: [1.05, 0.8, 2.2, 1.0], measured: [1, 1, 2, 1])
        XCTAssertEqual(a.count, 4)
        XCTAssertEqual(a.withinTolerance, 0.75)  // +5%, -20%, +10% (the edge counts), 0%
        XCTAssertEqual(a.medianAbsRelativeError, 0.075, accuracy: 1e-12)
        XCTAssertEqual(a.maxAbsRelativeError, 0.2, accuracy: 1e-12)
        XCTAssertEqual(a.meanRelativeError, (0.05 - 0.2 + 0.1 + 0) / 4, accuracy: 1e-12)
    }

    /// The optimizer under a latency budget returns a policy whose model latency is within it, and uses the room.
    func testOptimizerStaysWithinLatencyBudget() throws {
        let model = try zoo("resnet8")
        let encoding = PolicyEncoding(model: model)
        let latency = try LatencyModel(model: model, encoding: encoding,
                                       lookup: try syntheticLookup(model, keeps: quarters, bits: spaceBits))
        let predictor = KnownPredictor(schema: encoding.schema, uncertainColumn: 1)
        let problem = try SearchProblem(encoding: encoding, predictor: predictor, complexity: latency)
        for fraction in [0.3, 0.6] {
            let budget = problem.minimumCost + fraction * (problem.maximumCost - problem.minimumCost)
            let result = try PolicyOptimizer().optimize(problem, budget: budget)
            let cost = latency.value(encoding.relaxation(levels: result.levels))
            XCTAssertLessThanOrEqual(cost, budget, "fraction \(fraction)")
            XCTAssertEqual(result.complexity, cost, accuracy: 1e-12)
            XCTAssertGreaterThan(cost, problem.minimumCost + 0.5 * fraction * (problem.maximumCost - problem.minimumCost),
                                 "fraction \(fraction): the search left most of the budget unused")
        }
    }

    func testErrorsNameWhatIsWrong() throws {
        let model = try zoo("resnet8")
        let encoding = PolicyEncoding(model: model)
        let good = try syntheticLookup(model, keeps: quarters, bits: spaceBits)

        var other = good
        other.model = "resnet20"
        XCTAssertThrowsError(try LatencyModel(model: model, encoding: encoding, lookup: other)) {
            XCTAssertEqual($0 as? LatencyModelError, .modelMismatch(expected: "resnet8", table: "resnet20"))
        }

        var missing = good
        missing.entries.removeAll { $0.layer == "stage2.block1.conv1" && $0.inKeep == 0.5 && $0.outKeep == 1 && $0.wbits == 4 && $0.abits == 6 }
        XCTAssertThrowsError(try LatencyModel(model: model, encoding: encoding, lookup: missing)) {
            XCTAssertEqual("\($0)", "latency table has no entry for stage2.block1.conv1 at 4/6 bits, in_keep 0.5, out_keep 1.0")
        }

        var noLayer = good
        noLayer.entries.removeAll { $0.layer == "fc" }
        XCTAssertThrowsError(try LatencyModel(model: model, encoding: encoding, lookup: noLayer)) {
            XCTAssertEqual($0 as? LatencyModelError, .layerMismatch(layer: "fc", reason: "has no entries"))
        }

        // The default space prunes up to 3/4, i.e. keeps down to 1/4; a grid from 1/2 cannot serve it.
        let narrow = try syntheticLookup(model, keeps: [0.5, 1], bits: spaceBits)
        XCTAssertThrowsError(try LatencyModel(model: model, encoding: encoding, lookup: narrow)) {
            guard case let .gridTooNarrow(layer, axis, needed, _)? = $0 as? LatencyModelError else { return XCTFail("\($0)") }
            XCTAssertEqual(layer, "stage1.block1.conv1")
            XCTAssertEqual(axis, "out keep")
            XCTAssertEqual(needed.lowerBound, 0.25)
        }

        let fewBits = try syntheticLookup(model, keeps: quarters, bits: [4, 8])
        XCTAssertThrowsError(try LatencyModel(model: model, encoding: encoding, lookup: fewBits)) {
            guard case let .gridTooNarrow(_, axis, _, _)? = $0 as? LatencyModelError else { return XCTFail("\($0)") }
            XCTAssertEqual(axis, "wbits")
        }

        var wrongChannels = good
        let index = try XCTUnwrap(wrongChannels.entries.firstIndex { $0.layer == "stage3.block1.conv2" && $0.outKeep == 0.5 })
        wrongChannels.entries[index].keptOut = 16
        XCTAssertThrowsError(try LatencyModel(model: model, encoding: encoding, lookup: wrongChannels)) {
            XCTAssertEqual($0 as? LatencyModelError, .channelMismatch(layer: "stage3.block1.conv2",
                                                                     field: "kept_out at out_keep 0.5", expected: 32, got: 16))
        }
    }
}
