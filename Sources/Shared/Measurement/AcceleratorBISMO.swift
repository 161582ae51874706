import Foundation
import SeerCompression

/// BISMO (Umuroglu, Rasnayake, Sjalander, "BISMO: A Scalable Bit-Serial Matrix Multiplication Overlay for
/// Reconfigurable Computing", FPL 2018, arXiv:1806.08862): a bit-serial matrix-multiply overlay on an FPGA. A product of
/// an M x K matrix at w bits and a K x N matrix at a bits runs as w x a binary matrix products on a dot-product array
/// of Dm x Dn units, each consuming Dk bits of both operands a cycle (AND + popcount, shifted and accumulated). Cost
/// grows with w x a exactly, at any bit-width (3 bits cost 3 planes, unlike BitFusion's rounding to 4).
///
/// Per layer, lowered to GEMM by im2col on the host (M = kept outputs per group, K = kept inputs per group x k x k,
/// N = output pixels x batch; a depthwise layer is `groups` small products): execute cycles =
/// groups x w x a x ceil(M/Dm) x ceil(K/Dk) x ceil(N/Dn). The fetch stage streams both bit-serial matrices (padded to
/// the array) and the result stage writes 32-bit results, each over a 64-bit port; the three stages are decoupled
/// and overlap, so latency is the slowest of the three. Energy is a board power times time. Constants are the
/// PYNQ-Z1 instance the paper reports (8 x 256 x 8 at 200 MHz: 2 x 8 x 8 x 256 x 200 MHz = 6.55 binary TOPS);
/// docs/ACCELERATORS.md gives the sources.
public struct BISMOModel: AcceleratorModel {
    public static let defaultName = "sim-bismo"
    public var name = BISMOModel.defaultName

    /// Dot-product-array rows (LHS, weight rows). BISMO Main.scala `dpaDimLHS = 8`; README "8x256x8 array".
    public var dm = 8
    /// Dot-product-array columns (RHS, activation columns). `dpaDimRHS = 8`.
    public var dn = 8
    /// Bits each dot-product unit consumes per operand per cycle. `dpaDimCommon = 256`.
    public var dk = 256
    /// README: "generate a 8x256x8 array at 200 MHz".
    public var clockHz = 200e6
    /// Dk-bit entries per LHS buffer memory (Dm of them). Main.scala `lhsEntriesPerMem = 64 * 32 * 64 / (8 * 256)`.
    public var lhsEntriesPerMemory = 64
    /// Dk-bit entries per RHS buffer memory (Dn of them). Main.scala `rhsEntriesPerMem`, same value.
    public var rhsEntriesPerMemory = 64
    /// Fetch-stage read width, bits a cycle: fpga-tidbits PYNQZ1Params `memDataBits = 64` (one port,
    /// BISMOLimits `fetchDRAMChanID = 0`).
    public var fetchBitsPerCycle = 64
    /// Result-stage write width, bits a cycle (the same 64-bit port's write channel, `resDRAMChanID = 0`).
    public var resultBitsPerCycle = 64
    /// Accumulator and result width (Main.scala characterization, `accWidth = 32`; results are int32).
    public var accumulatorBits = 32
    /// Board power while running, watts. README: "6.5 TOPS ... while drawing less than 5 W"; 5 W is that bound.
    public var boardPowerW = 5.0

    public init() {}

    /// Binary operations per second at peak: 2 (AND and popcount-add) x Dm x Dn x Dk x clock.
    public var peakBinaryOpsPerSecond: Double { 2 * Double(dm * dn * dk) * clockHz }

    public func estimate(_ report: ComplexityReport, batch: Int) -> AcceleratorEstimate {
        precondition(batch >= 1, "batch must be at least 1, got \(batch)")
        return AcceleratorEstimate(accelerator: name, model: report.model, batch: batch, clockHz: clockHz,
                                   perLayer: report.layers.map { estimate($0, batch: batch) })
    }

    /// One layer, for `batch` images.
    public func estimate(_ layer: LayerComplexity, batch: Int) -> AcceleratorLayerEstimate {
        precondition(layer.wbits >= 1 && layer.abits >= 1, "bit-widths must be positive")
        let g = LayerGEMM(layer)
        let n = g.pixels * batch
        let mTiles = acceleratorCeilDiv(g.m, dm), kTiles = acceleratorCeilDiv(g.k, dk)
        let nTiles = acceleratorCeilDiv(n, dn)

        // Execute: one Dm x Dn tile of Dk-bit binary dot products a cycle, w x a bit-plane pairs.
        let computeCycles = g.groups * layer.wbits * layer.abits * mTiles * kTiles * nTiles

        // Fetch: both matrices as bit planes padded to the array; when neither fits half its buffer (the other half
        // takes the next tile), the one streamed is re-fetched once per buffer-load of the other.
        let lhsBits = mTiles * dm * kTiles * dk * layer.wbits
        let rhsBits = nTiles * dn * kTiles * dk * layer.abits
        let lhsHalf = dm * lhsEntriesPerMemory * dk / 2, rhsHalf = dn * rhsEntriesPerMemory * dk / 2
        let fetchPerGroup = min(lhsBits + rhsBits * max(1, acceleratorCeilDiv(lhsBits, lhsHalf)),
                                rhsBits + lhsBits * max(1, acceleratorCeilDiv(rhsBits, rhsHalf)))
        let fetchBits = g.groups * fetchPerGroup
        // Result: every M x N result once, at the accumulator width.
        let resultBits = g.groups * g.m * n * accumulatorBits
        let memoryCycles = max(acceleratorCeilDiv(fetchBits, fetchBitsPerCycle),
                               acceleratorCeilDiv(resultBits, resultBitsPerCycle))

        let binaryMACs = Double(layer.macs * batch) * Double(layer.wbits * layer.abits)
        let utilization = computeCycles > 0 ? binaryMACs / (Double(computeCycles) * Double(dm * dn * dk)) : 0
        let (power, clock) = (boardPowerW, clockHz)
        return AcceleratorLayerEstimate(
            name: layer.name, kind: layer.kind, wbits: layer.wbits, abits: layer.abits, computeCycles: computeCycles,
            memoryCycles: memoryCycles, offChipBits: fetchBits + resultBits, utilization: utilization,
            clockHz: clockHz, energy: { cycles in AcceleratorEnergy(boardMJ: power * Double(cycles) / clock * 1e3) })
    }
}
