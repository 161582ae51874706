import Foundation
import XCTest
import SeerCompression
import SeerModels
@testable import SeerMeasurement

/// A layer as `Complexity.compute` would report it, built from its shape (LayerComplexity has no public init).
private func layer(_ name: String = "l", kind: String = "conv", in inC: Int, out outC: Int, kernel: Int = 3,
                   stride: Int = 1, groups: Int = 1, size: Int, wbits: Int = 8, abits: Int = 8) throws -> LayerComplexity {
    let (k, px) = kind == "linear" ? (1, 1) : (kernel, size * size)
    let weights = outC * (inC / groups) * k * k
    let macs = px * weights
    let fields: [String: Any] = [
        "name": name, "kind": kind, "in_channels": inC, "kept_in_channels": inC, "out_channels": outC,
        "kept_out_channels": outC, "kernel_height": k, "kernel_width": k, "stride_height": stride,
        "stride_width": stride, "dilation_height": 1, "dilation_width": 1, "groups": groups,
        "out_height": kind == "linear" ? 1 : size, "out_width": kind == "linear" ? 1 : size,
        "wbits": wbits, "abits": abits, "prune": 0.0, "macs": macs, "bitops": macs * wbits * abits,
        "weights": weights, "biases": 0, "params": weights, "size_bytes": (weights * wbits + 7) / 8,
    ]
    return try JSONDecoder().decode(LayerComplexity.self, from: JSONSerialization.data(withJSONObject: fields))
}

/// A report holding `layers` in order (totals are not used by the models).
private func report(_ layers: [LayerComplexity]) throws -> ComplexityReport {
    let layerObjects = try layers.map { try JSONSerialization.jsonObject(with: JSONEncoder().encode($0)) }
    let fields: [String: Any] = [
        "model": "test", "input_shape": [1, 8, 8], "macs": layers.reduce(0) { $0 + $1.macs },
        "bitops": layers.reduce(0) { $0 + $1.bitops }, "params": 0, "batchnorm_params": 0, "size_bytes": 0,
        "layers": layerObjects,
    ]
    return try JSONDecoder().decode(ComplexityReport.self, from: JSONSerialization.data(withJSONObject: fields))
}

private func resnet20(_ bits: String) throws -> ComplexityReport {
    let model = try ModelZoo.make("resnet20")
    return try Complexity.compute(model: model, policy: Policy(bits: bits).resolve(for: model))
}

final class AcceleratorModelTests: XCTestCase {
    // MARK: BitFusion

    /// conv 32 -> 64, 3x3, stride 1, 4x4 output, 8/8 bits, not the first layer (direct mapping), one image.
    func testBitFusionHandCountedLayer() throws {
        let m = BitFusionModel()
        let e = m.estimate(try layer(in: 32, out: 64, size: 4), batch: 1, im2col: false)
        // 1 MAC per FU at 8/8; rows take 16 input channels, columns 32 outputs:
        // 16 pixels x ceil(64/32) = 2 output tiles x 9 kernel positions x ceil(32/16) = 2 input tiles.
        XCTAssertEqual(e.computeCycles, 16 * 2 * 9 * 2)  // 576
        // Off-chip: weights 64*32*9*8 = 147456 bits (fit half the 64 KiB buffer), input 32 x 6 x 6 x 8 = 9216,
        // output 64 x 16 x 8 = 8192 bits; 164864 bits over 192 bits a cycle.
        XCTAssertEqual(e.offChipBits, 147_456 + 9216 + 8192)
        XCTAssertEqual(e.memoryCycles, 859)  // ceil(164864 / 192)
        XCTAssertEqual(e.cycles, 859)
        XCTAssertEqual(e.bound, .memory)
        XCTAssertEqual(e.latencyMs, 859 / 500e6 * 1e3, accuracy: 1e-12)
        // Utilization: 18432 x 16 MACs over 576 cycles x 512 MACs a cycle.
        XCTAssertEqual(e.utilization, 294_912.0 / (576 * 512), accuracy: 1e-12)
        // Energy: 576 cycles x 512 FUs x 16 BitBricks x 0.0287 pJ; SRAM: output-stationary is cheapest,
        // 64 x 16 x (32 + 288 x 16) = 4751360 bits, plus the 164864 off-chip bits, at 10/64 pJ; DRAM at 15 pJ/bit.
        XCTAssertEqual(e.energy.computeMJ, 576 * 512 * 16 * 0.0287e-9, accuracy: 1e-15)
        XCTAssertEqual(e.energy.onChipMJ, Double(4_751_360 + 164_864) * (10.0 / 64) * 1e-9, accuracy: 1e-15)
        XCTAssertEqual(e.energy.offChipMJ, 164_864 * 15e-9, accuracy: 1e-15)
        XCTAssertEqual(e.energyMJ, e.energy.computeMJ + e.energy.onChipMJ + e.energy.offChipMJ, accuracy: 1e-15)
        XCTAssertEqual(e.energy.boardMJ, 0)
    }

    func testBitFusionFirstLayerUsesIm2col() throws {
        // resnet20's stem: 1 -> 16 channels, 3x3, 28x28 output. im2col puts the 9-element window on the rows.
        let stem = try layer("stem.conv", in: 1, out: 16, size: 28)
        let second = try layer("next.conv", in: 1, out: 16, size: 28)
        let e = BitFusionModel().estimate(try report([stem, second]), batch: 1)
        XCTAssertEqual(e.perLayer[0].computeCycles, 784 * 1 * 1)  // ceil(9/16) = 1 reduction step
        XCTAssertEqual(e.perLayer[1].computeCycles, 784 * 9 * 1)  // direct: 9 kernel positions x ceil(1/16)
    }

    func testBitFusionDepthwiseAndLinear() throws {
        let m = BitFusionModel()
        // Depthwise 32 channels, 3x3, 8x8 output: 32 groups of one channel, im2col: 64 pixels x 1 x ceil(9/16).
        let dw = try layer(kind: "depthwise", in: 32, out: 32, groups: 32, size: 8)
        XCTAssertEqual(m.estimate(dw, batch: 1, im2col: true).computeCycles, 32 * 64)
        // Linear 64 -> 10 at 4/4, batch 3: 3 x ceil(10/32) x ceil(64/(16 x 4)).
        let fc = try layer(kind: "linear", in: 64, out: 10, size: 1, wbits: 4, abits: 4)
        XCTAssertEqual(m.estimate(fc, batch: 3, im2col: false).computeCycles, 3)
    }

    func testBitFusionBitWidthSensitivity() throws {
        let m = BitFusionModel()
        // Per Fusion Unit: 2/2 bits is 16x the MAC rate of 8/8; 4/4 is 4x; mixed 2/8 is 4x.
        XCTAssertEqual(m.macsPerFusionUnit(wbits: 8, abits: 8), 1)
        XCTAssertEqual(m.macsPerFusionUnit(wbits: 4, abits: 4), 4)
        XCTAssertEqual(m.macsPerFusionUnit(wbits: 2, abits: 2), 16)
        XCTAssertEqual(m.macsPerFusionUnit(wbits: 2, abits: 8), 4)
        // Widths round up to 2/4/8: 3 bits costs like 4, 5 and 6 like 8, 1 like 2.
        XCTAssertEqual(m.macsPerFusionUnit(wbits: 3, abits: 3), m.macsPerFusionUnit(wbits: 4, abits: 4))
        XCTAssertEqual(m.macsPerFusionUnit(wbits: 5, abits: 6), m.macsPerFusionUnit(wbits: 8, abits: 8))
        XCTAssertEqual(m.macsPerFusionUnit(wbits: 1, abits: 2), m.macsPerFusionUnit(wbits: 2, abits: 2))

        // On a layer wide enough to fill the rows at every width (256 inputs = 16 rows x 16 lanes), the array's
        // compute cycles follow the per-FU rate exactly.
        var cycles: [String: Int] = [:]
        for (w, a) in [(8, 8), (4, 4), (2, 2), (3, 3), (6, 5)] {
            let wide = try layer(in: 256, out: 64, kernel: 1, size: 8, wbits: w, abits: a)
            cycles["\(w)/\(a)"] = m.estimate(wide, batch: 1, im2col: false).computeCycles
        }
        XCTAssertEqual(cycles["8/8"], 2048)  // 64 pixels x 2 output tiles x ceil(256/16)
        XCTAssertEqual(cycles["8/8"], 16 * cycles["2/2"]!)
        XCTAssertEqual(cycles["8/8"], 4 * cycles["4/4"]!)
        XCTAssertEqual(cycles["3/3"], cycles["4/4"])
        XCTAssertEqual(cycles["6/5"], cycles["8/8"])
        // A narrow layer cannot use the extra lanes: 32 inputs fill half the rows at 4/4 and an eighth at 2/2.
        var narrow: [Int: AcceleratorLayerEstimate] = [:]
        for bits in [8, 4, 2] {
            let l = try layer(in: 32, out: 64, kernel: 1, size: 8, wbits: bits, abits: bits)
            narrow[bits] = m.estimate(l, batch: 1, im2col: false)
        }
        XCTAssertEqual(narrow[8]!.computeCycles, 2 * narrow[4]!.computeCycles)
        XCTAssertEqual(narrow[4]!.computeCycles, narrow[2]!.computeCycles)
        XCTAssertEqual(narrow[2]!.utilization, 32.0 / 256, accuracy: 1e-12)
        // Energy falls with bits even where cycles do not (fewer bits moved and buffered).
        XCTAssertLessThan(narrow[2]!.energyMJ, narrow[4]!.energyMJ)
        XCTAssertLessThan(narrow[4]!.energyMJ, narrow[8]!.energyMJ)
    }

    // MARK: BISMO

    /// The same conv, 32 -> 64, 3x3, 4x4 output, 8/8 bits, as a 64 x 288 by 288 x 16 product.
    func testBISMOHandCountedLayer() throws {
        let m = BISMOModel()
        let e = m.estimate(try layer(in: 32, out: 64, size: 4), batch: 1)
        // 8 x 8 bit-plane pairs x ceil(64/8) = 8 x ceil(288/256) = 2 x ceil(16/8) = 2.
        XCTAssertEqual(e.computeCycles, 64 * 8 * 2 * 2)  // 2048
        // Fetch: LHS 64 x 512 x 8 = 262144 bits does not fit half the 16 KiB LHS buffer (65536 bits); RHS
        // 16 x 512 x 8 = 65536 bits does, so keep the RHS and stream the LHS once: 327680 bits over 64 bits a cycle.
        // Result: 64 x 16 int32 = 32768 bits, 512 cycles.
        XCTAssertEqual(e.memoryCycles, 327_680 / 64)  // 5120
        XCTAssertEqual(e.offChipBits, 327_680 + 32_768)
        XCTAssertEqual(e.cycles, 5120)
        XCTAssertEqual(e.bound, .memory)
        XCTAssertEqual(e.latencyMs, 5120 / 200e6 * 1e3, accuracy: 1e-12)
        XCTAssertEqual(e.energyMJ, 5.0 * 5120 / 200e6 * 1e3, accuracy: 1e-12)  // 5 W x 25.6 us
        XCTAssertEqual(e.energy.boardMJ, e.energyMJ)
        XCTAssertEqual(e.utilization, 18_432.0 * 16 * 64 / (2048 * 16_384), accuracy: 1e-12)
    }

    func testBISMODepthwiseIsGroupsOfSmallProducts() throws {
        // 32 groups of a 1 x 9 by 9 x 64 product at 4/4: 16 x 1 x 1 x 8 cycles each.
        let dw = try layer(kind: "depthwise", in: 32, out: 32, groups: 32, size: 8, wbits: 4, abits: 4)
        XCTAssertEqual(BISMOModel().estimate(dw, batch: 1).computeCycles, 32 * 16 * 8)
    }

    func testBISMOScalesWithBitProductExactly() throws {
        let base = try layer(in: 64, out: 64, size: 8)
        func shaped(_ w: Int, _ a: Int) throws -> LayerComplexity {
            try layer(in: 64, out: 64, size: 8, wbits: w, abits: a)
        }
        // Execute cycles are w x a binary products at every width, with no rounding: 3 bits cost 3 planes.
        let unit = BISMOModel().estimate(try shaped(1, 1), batch: 1).computeCycles
        for (w, a) in [(2, 2), (3, 3), (4, 4), (2, 8), (3, 5), (8, 8)] {
            XCTAssertEqual(BISMOModel().estimate(try shaped(w, a), batch: 1).computeCycles, w * a * unit, "\(w)/\(a)")
        }
        // With the memory system out of the way every layer is compute bound, and total cycles scale exactly.
        var wide = BISMOModel()
        wide.fetchBitsPerCycle = 1 << 24
        wide.resultBitsPerCycle = 1 << 24
        let eight = wide.estimate(base, batch: 1)
        XCTAssertEqual(eight.bound, .compute)
        for (w, a) in [(2, 2), (3, 3), (4, 4), (2, 8), (5, 6)] {
            let e = wide.estimate(try shaped(w, a), batch: 1)
            XCTAssertEqual(e.bound, .compute)
            XCTAssertEqual(e.cycles * 64, eight.cycles * w * a, "\(w)/\(a)")
            XCTAssertEqual(e.energyMJ * 64, eight.energyMJ * Double(w * a), accuracy: 1e-12)
        }
        // 3 bits is cheaper than 4 on BISMO (bit-serial) but not on BitFusion (rounds up to 4).
        XCTAssertLessThan(wide.estimate(try shaped(3, 3), batch: 1).cycles, wide.estimate(try shaped(4, 4), batch: 1).cycles)
    }

    func testBISMOPeakMatchesPublishedFigure() {
        // 2 x 8 x 8 x 256 x 200 MHz = 6.55 binary TOPS, the paper's "6.5 TOPS" on the PYNQ-Z1.
        XCTAssertEqual(BISMOModel().peakBinaryOpsPerSecond, 6.5536e12, accuracy: 1e6)
    }

    // MARK: Both models

    func testLookupAndBatch() throws {
        XCTAssertEqual(AcceleratorModels.names, ["sim-bitfusion", "sim-bismo"])
        XCTAssertEqual(AcceleratorModels.named("sim-bitfusion")?.name, "sim-bitfusion")
        XCTAssertEqual(AcceleratorModels.named("sim-bismo")?.name, "sim-bismo")
        XCTAssertNil(AcceleratorModels.named("builtin"))
        XCTAssertTrue(AcceleratorModels.named("sim-bitfusion") is BitFusionModel)
        XCTAssertTrue(AcceleratorModels.named("sim-bismo") is BISMOModel)

        let r = try resnet20("8/8")
        for name in AcceleratorModels.names {
            let m = try XCTUnwrap(AcceleratorModels.named(name))
            let one = m.estimate(r), four = m.estimate(r, batch: 4)
            XCTAssertEqual(one.batch, 1)
            XCTAssertEqual(one.perLayer.map(\.name), r.layers.map(\.name))
            XCTAssertEqual(one.cycles, one.perLayer.reduce(0) { $0 + $1.cycles })
            // A batch costs more than one image and at most 4x (weights are fetched once per batch).
            XCTAssertGreaterThan(four.latencyMs, one.latencyMs, name)
            XCTAssertLessThanOrEqual(four.latencyMs, 4 * one.latencyMs + 1e-12, name)
            XCTAssertGreaterThan(four.energyMJ, one.energyMJ, name)
            // JSON round trip with the snake_case keys.
            let data = try JSONEncoder().encode(one)
            XCTAssertEqual(try JSONDecoder().decode(AcceleratorEstimate.self, from: data), one)
            let json = String(decoding: data, as: UTF8.self)
            for key in ["\"latency_ms\"", "\"energy_mj\"", "\"per_layer\"", "\"compute_cycles\"", "\"bound\""] {
                XCTAssertTrue(json.contains(key), key)
            }
        }
    }

    func testMonotonicInPruning() throws {
        for name in AcceleratorModels.names {
            let m = try XCTUnwrap(AcceleratorModels.named(name))
            var previous: AcceleratorEstimate?
            for bits in ["4/4", "4/4/0.25", "4/4/0.5", "4/4/0.75"] {
                let e = m.estimate(try resnet20(bits))
                if let p = previous {
                    XCTAssertLessThanOrEqual(e.cycles, p.cycles, "\(name) \(bits)")
                    XCTAssertLessThanOrEqual(e.energyMJ, p.energyMJ, "\(name) \(bits)")
                    // Layer by layer too: pruning never makes a layer slower.
                    for (l, q) in zip(e.perLayer, p.perLayer) {
                        XCTAssertLessThanOrEqual(l.cycles, q.cycles, "\(name) \(bits) \(l.name)")
                    }
                }
                previous = e
            }
            let full = m.estimate(try resnet20("4/4")), half = m.estimate(try resnet20("4/4/0.5"))
            XCTAssertLessThan(half.cycles, full.cycles, name)
            XCTAssertLessThan(half.energyMJ, full.energyMJ, name)
        }
    }

    /// resnet20 at 28x28 (31.02 M MACs), one image. Plausible ranges:
    /// - BitFusion: 512 FUs at 500 MHz peak 256 G MAC/s at 8/8, so >= 0.12 ms at full utilization; the 16-channel
    ///   stage fills half the columns, so 0.12...1 ms. Energy: 31 M MACs x ~0.46 pJ array + buffers + DRAM,
    ///   0.01...1 mJ (the paper's 45 nm design spends well under 1 nJ per 8-bit MAC all-in).
    /// - BISMO: 31 M MACs x 64 bit products / 16384 per cycle at 200 MHz = 0.61 ms at full utilization, more with
    ///   K padded to 256 and 1.6 GB/s fetches: 0.6...20 ms; at 5 W that is 3...100 mJ.
    func testResNet20TotalsArePlausibleAndFourBitsIsFaster() throws {
        let r8 = try resnet20("8/8"), r4 = try resnet20("4/4")
        let bf = BitFusionModel(), bismo = BISMOModel()
        let bf8 = bf.estimate(r8), bf4 = bf.estimate(r4)
        let bs8 = bismo.estimate(r8), bs4 = bismo.estimate(r4)
        for e in [bf8, bf4, bs8, bs4] {
            func f(_ x: Double) -> String { String(format: "%.4f", x) }
            print("\(e.accelerator) resnet20 \(e.perLayer[1].wbits)/\(e.perLayer[1].abits): \(f(e.latencyMs)) ms, "
                  + "\(f(e.energyMJ)) mJ (\(e.cycles) cycles; compute \(f(e.energy.computeMJ)), on-chip "
                  + "\(f(e.energy.onChipMJ)), off-chip \(f(e.energy.offChipMJ)), board \(f(e.energy.boardMJ)) mJ); "
                  + "memory-bound: \(e.memoryBoundLayers)")
        }
        XCTAssertGreaterThanOrEqual(bf8.latencyMs, 31.02e6 / 512 / 500e6 * 1e3)
        XCTAssertLessThan(bf8.latencyMs, 1)
        XCTAssertGreaterThan(bf8.energyMJ, 0.01)
        XCTAssertLessThan(bf8.energyMJ, 1)
        XCTAssertGreaterThanOrEqual(bs8.latencyMs, 31.02e6 * 64 / 16_384 / 200e6 * 1e3)
        XCTAssertLessThan(bs8.latencyMs, 20)
        XCTAssertGreaterThan(bs8.energyMJ, 3)
        XCTAssertLessThan(bs8.energyMJ, 100)
        // 4/4 is faster and cheaper than 8/8 on both.
        XCTAssertLessThan(bf4.latencyMs, bf8.latencyMs)
        XCTAssertLessThan(bf4.energyMJ, bf8.energyMJ)
        XCTAssertLessThan(bs4.latencyMs, bs8.latencyMs)
        XCTAssertLessThan(bs4.energyMJ, bs8.energyMJ)
        // The stem stays at 8/8 in both policies and costs the same.
        XCTAssertEqual(bf4.perLayer[0], bf8.perLayer[0])
        XCTAssertEqual(bs4.perLayer[0], bs8.perLayer[0])
    }
}
