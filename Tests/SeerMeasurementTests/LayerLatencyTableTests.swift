import Foundation
import SeerCompression
import SeerModels
import XCTest
@testable import SeerMeasurement

private func settings(keeps: [Double] = [0.25, 0.5, 0.75, 1], bits: [Int] = [2, 3, 4, 5, 6, 8]) -> LayerProfilerSettings {
    var s = LayerProfilerSettings()
    s.keeps = keeps
    s.wbits = bits
    s.abits = bits
    return s
}

/// The table's JSON as a mutable object, for breaking one field at a time.
private func jsonObject(_ table: LayerLatencyTable) throws -> [String: Any] {
    try XCTUnwrap(JSONSerialization.jsonObject(with: table.jsonData()) as? [String: Any])
}

private func decodeError(_ object: [String: Any]) -> String? {
    do {
        _ = try LayerLatencyTable.decode(from: JSONSerialization.data(withJSONObject: object))
        return nil
    } catch {
        return "\(error)"
    }
}

final class LayerLatencyTableTests: XCTestCase {
    func testJSONRoundTrip() throws {
        let model = try ModelZoo.make("resnet8")
        let table = try LayerProfiler.profileAccelerator(BitFusionModel(), model: model, settings: settings(keeps: [0.5, 1], bits: [4, 8]))
        let text = String(decoding: try table.jsonData(), as: UTF8.self)
        for key in ["\"overhead_ms\"", "\"in_keep\"", "\"out_keep\"", "\"kept_in\"", "\"kept_out\"", "\"wbits\"", "\"ms\""] {
            XCTAssertTrue(text.contains(key), key)
        }
        XCTAssertEqual(try LayerLatencyTable.decode(from: table.jsonData()), table)

        // An engine-style table: no bit grids, timing and reference present.
        var engine = table
        engine.executor = "builtin"
        engine.wbits = nil
        engine.abits = nil
        engine.referenceMs = 0.3
        engine.timing = LatencySettings(number: 1, repeats: 3, minRepeatMs: 5, batch: 1)
        var seen = Set<String>()
        engine.entries = table.entries.filter { seen.insert("\($0.layer) \($0.inKeep) \($0.outKeep)").inserted }
            .map { var e = $0; e.wbits = nil; e.abits = nil; return e }
        try engine.validate()
        XCTAssertEqual(try LayerLatencyTable.decode(from: engine.jsonData()), engine)
    }

    func testBadTableNamesTheField() throws {
        let model = try ModelZoo.make("resnet8")
        let table = try LayerProfiler.profileAccelerator(BitFusionModel(), model: model, settings: settings(keeps: [0.5, 1], bits: [4, 8]))
        let good = try jsonObject(table)
        XCTAssertNil(decodeError(good))

        var object = good
        object["overhead_ms"] = nil
        XCTAssertEqual(decodeError(object), "latency table: overhead_ms: is missing")

        object = good
        object["keeps"] = [1, 0.5]
        XCTAssertEqual(decodeError(object), "latency table: keeps: must ascend strictly, got [1.0, 0.5]")

        object = good
        object["colour"] = "blue"
        XCTAssertTrue(decodeError(object)?.contains("colour: unknown field 'colour'") == true, decodeError(object) ?? "")

        func withEntry(_ index: Int, _ change: (inout [String: Any]) -> Void) throws -> [String: Any] {
            var object = good
            var entries = try XCTUnwrap(object["entries"] as? [[String: Any]])
            change(&entries[index])
            object["entries"] = entries
            return object
        }
        XCTAssertEqual(decodeError(try withEntry(3) { $0["ms"] = "fast" }), "latency table: entries[3].ms: is not a Double")
        XCTAssertEqual(decodeError(try withEntry(2) { $0["ms"] = -1 }),
                       "latency table: entries[2].ms: must be a finite number >= 0, got -1.0")
        XCTAssertEqual(decodeError(try withEntry(0) { $0["in_keep"] = 0.3 }),
                       "latency table: entries[0].in_keep: 0.3 is not in keeps [0.5, 1.0]")
        XCTAssertEqual(decodeError(try withEntry(1) { $0["wbits"] = 3 }),
                       "latency table: entries[1].wbits: 3 is not in wbits [4, 8]")
        XCTAssertEqual(decodeError(try withEntry(5) { $0["layer"] = nil }), "latency table: entries[5].layer: is missing")

        // A layer with one grid point missing covers neither the grid nor its diagonal.
        object = good
        var entries = try XCTUnwrap(object["entries"] as? [[String: Any]])
        entries.remove(at: 1)
        object["entries"] = entries
        let message = try XCTUnwrap(decodeError(object))
        XCTAssertTrue(message.hasPrefix("latency table: entries: layer stem.conv covers neither"), message)
    }

    /// At uniform policies every layer's entry (found by its kept channels and bits) is the cost model's own
    /// per-layer latency on the compressed network.
    func testAcceleratorEntriesEqualTheCostModel() throws {
        for name in ["resnet8", "mobilenetv2-tiny"] {
            let model = try ModelZoo.make(name)
            for accelerator in [BitFusionModel() as any AcceleratorModel, BISMOModel()] {
                let table = try LayerProfiler.profileAccelerator(accelerator, model: model, settings: settings(bits: [2, 3, 4, 8]))
                XCTAssertEqual(table.overheadMs, 0)
                for bits in ["2/8/0.75", "4/4/0.5", "8/8/0", "3/2/0.25", "8/3/0.5"] {
                    let report = try Complexity.compute(model: model, policy: try Policy(bits: bits).resolve(for: model))
                    let estimate = accelerator.estimate(report)
                    for (layer, cost) in zip(report.layers, estimate.perLayer) {
                        let entry = try XCTUnwrap(table.entries.first {
                            $0.layer == layer.name && $0.keptIn == layer.keptInChannels && $0.keptOut == layer.keptOutChannels
                                && $0.wbits == layer.wbits && $0.abits == layer.abits
                        }, "\(name) \(accelerator.name) \(bits) \(layer.name)")
                        XCTAssertEqual(entry.ms, cost.latencyMs, accuracy: 1e-15, "\(name) \(accelerator.name) \(bits) \(layer.name)")
                    }
                }
            }
        }
    }

    /// More channels or more bits never make a layer faster on either accelerator model.
    func testAcceleratorGridIsMonotone() throws {
        let model = try ModelZoo.make("resnet8")
        for accelerator in [BitFusionModel() as any AcceleratorModel, BISMOModel()] {
            let s = settings()
            let table = try LayerProfiler.profileAccelerator(accelerator, model: model, settings: s)
            var ms: [String: Double] = [:]
            func key(_ l: String, _ i: Int, _ o: Int, _ w: Int, _ a: Int) -> String { "\(l) \(i) \(o) \(w) \(a)" }
            for e in table.entries {
                ms[key(e.layer, s.keeps.firstIndex(of: e.inKeep)!, s.keeps.firstIndex(of: e.outKeep)!,
                       s.wbits.firstIndex(of: e.wbits!)!, s.abits.firstIndex(of: e.abits!)!)] = e.ms
            }
            var comparisons = 0
            for layer in table.layers {
                for i in s.keeps.indices { for o in s.keeps.indices { for w in s.wbits.indices { for a in s.abits.indices {
                    let here = try XCTUnwrap(ms[key(layer, i, o, w, a)])
                    for next in [(i + 1, o, w, a), (i, o + 1, w, a), (i, o, w + 1, a), (i, o, w, a + 1)] {
                        guard let there = ms[key(layer, next.0, next.1, next.2, next.3)] else { continue }
                        XCTAssertLessThanOrEqual(here, there, "\(accelerator.name) \(layer) \((i, o, w, a)) -> \(next)")
                        comparisons += 1
                    }
                }}}}
            }
            XCTAssertGreaterThan(comparisons, 1000)
        }
    }

    /// A tiny engine profile (two keeps, one short repeat per kernel): every layer at every grid point, the
    /// reference measured, and each grid point timed at its own channel counts. (Not that full width is slower than a
    /// quarter: a timing comparison fails on a loaded machine, as it once did here.)
    func testEngineProfileCoversTheGrid() throws {
        let model = try ModelZoo.make("resnet8")
        var s = LayerProfilerSettings()
        s.keeps = [0.25, 1]
        s.kernelTiming = LatencySettings(number: 1, repeats: 3, minRepeatMs: 2, batch: 1)
        s.referenceTiming = LatencySettings(number: 1, repeats: 1, minRepeatMs: 2, batch: 1)
        var calls = 0
        let table = try LayerProfiler.profileEngine(model: model, settings: s) { done, total, _ in
            calls += 1
            XCTAssertEqual(total, 40)
            XCTAssertEqual(done, calls)
        }
        XCTAssertEqual(table.entries.count, 10 * 4)
        XCTAssertEqual(table.layers, model.compressibleLayers.map(\.name))
        XCTAssertNil(table.wbits)
        XCTAssertTrue(table.entries.allSatisfy { $0.ms > 0 })
        XCTAssertGreaterThan(try XCTUnwrap(table.referenceMs), 0)
        // The stem's single input channel is one kernel whatever the keep: measured once, reused.
        let stem = table.entries.filter { $0.layer == "stem.conv" }
        XCTAssertEqual(stem.map(\.keptIn), [1, 1, 1, 1])
        XCTAssertEqual(stem[0].ms, stem[2].ms)
        let full = try XCTUnwrap(table.entry(layer: "stage3.block1.conv2", inKeep: 1, outKeep: 1))
        let quarter = try XCTUnwrap(table.entry(layer: "stage3.block1.conv2", inKeep: 0.25, outKeep: 0.25))
        XCTAssertEqual([quarter.keptIn, quarter.keptOut], [16, 16])
        XCTAssertEqual([full.keptIn, full.keptOut], [64, 64])
    }

    func testProfilerRejectsBadSettingsAndPolicies() throws {
        let model = try ModelZoo.make("resnet8")
        XCTAssertThrowsError(try LayerProfiler.profile(model: model, executor: "tpu")) {
            XCTAssertTrue("\($0)".contains("executor 'tpu' has no latency profile"), "\($0)")
        }
        var s = LayerProfilerSettings()
        s.keeps = [0.25, 0.5]
        XCTAssertThrowsError(try LayerProfiler.profileAccelerator(BitFusionModel(), model: model, settings: s)) {
            XCTAssertTrue("\($0)".contains("keeps must end at 1"), "\($0)")
        }
        let other = try Policy(bits: "8/8").resolve(for: try ModelZoo.make("resnet20"))
        XCTAssertThrowsError(try LayerProfiler.endToEndLatency(model: model, policy: other))
    }
}
