import Foundation
import SeerCompression

/// BitFusion (Sharma et al., "Bit Fusion: Bit-Level Dynamically Composable Architecture for Accelerating Deep Neural
/// Networks", ISCA 2018): a systolic array of Fusion Units, each of 16 BitBricks (2-bit x 2-bit multipliers) that
/// fuse spatially to the operands' widths, rounded up to 2, 4 or 8 bits. A Fusion Unit completes
/// 16 / ((w/2) x (a/2)) MACs a cycle: 16 at 2/2 bits, 4 at 4/4, 1 at 8/8.
///
/// Per layer, following the authors' simulator (github.com/hsharma35/bitfusion, `Accelerator.get_compute_cycles`):
/// output channels map onto the `columns`, input channels x the fused lanes onto the `rows`, and every tile is
/// rounded up (the utilization loss); the first layer and depthwise layers are lowered by im2col so the whole
/// k x k x in window maps onto the rows. Off-chip traffic over the memory interface overlaps with compute; latency is
/// max(compute, memory). Energy is BitBrick array energy per active cycle plus SRAM and DRAM energy per bit.
/// docs/ACCELERATORS.md derives every constant.
public struct BitFusionModel: AcceleratorModel {
    public static let defaultName = "sim-bitfusion"
    public var name = BitFusionModel.defaultName

    // Array (the authors' Eyeriss-comparison configuration, bf_e_conf.ini in their simulator).
    /// Systolic-array rows: the reduction (input-channel) dimension. bf_e_conf.ini `a = 16`.
    public var rows = 16
    /// Systolic-array columns: the output-channel dimension. bf_e_conf.ini `c = 32`; rows x columns = 512 FUs.
    public var columns = 32
    /// BitBricks per Fusion Unit (paper, Section III; 16 fuse into one 8-bit x 8-bit multiplier).
    public var bitBricksPerFusionUnit = 16
    /// Operand widths a Fusion Unit fuses to, narrowest first; the narrowest is the BitBrick's. Wider operands than
    /// the widest take ceil(bits / widest) passes each (temporal fusion, not exercised by Seer's 2...8-bit space).
    public var supportedBits = [2, 4, 8]
    /// bf_e_conf.ini `frequency = 500000000`.
    public var clockHz = 500e6

    // Memory.
    /// Weight buffer, bytes. bf_e_conf.ini `Wgt_SRAM = 65536`; half is usable per tile (double buffering).
    public var weightBufferBytes = 65_536
    /// Input buffer, bytes. bf_e_conf.ini `Act_SRAM = 32768`; half usable per tile.
    public var inputBufferBytes = 32_768
    /// Off-chip interface, bits a cycle. bf_e_conf.ini `if_width = 192` (12 GB/s at 500 MHz).
    public var memoryInterfaceBitsPerCycle = 192
    /// Width of output activations written back off chip. Assumed: the next layer requantizes, 8 bits is the widest
    /// activation in Seer's search space (the authors' simulator writes 32-bit outputs).
    public var outputBits = 8
    /// Partial-sum width in the output buffer (the authors' simulator, `oprec = 32`).
    public var accumulatorBits = 32

    // Energy, picojoules.
    /// Dynamic energy of one BitBrick for one cycle: the authors' 45 nm synthesis of a 4 x 4 Fusion-Unit array
    /// (results/systolic_array_synth.csv, max 8 / min 2 bits, 500 MHz: 3,673,500 nW dynamic) / 16 FUs / 500 MHz
    /// / 16 BitBricks = 0.0287 pJ.
    public var bitBrickEnergyPJ = 0.0287
    /// SRAM access energy per bit: Horowitz (ISSCC 2014), 45 nm, 8 KB SRAM, 10 pJ per 64-bit access.
    public var sramEnergyPJPerBit = 10.0 / 64
    /// DRAM access energy per bit: the authors' simulator (src/simulator/stats.py, `dram_cost = 15.e-3` nJ/bit).
    public var dramEnergyPJPerBit = 15.0

    public init() {}

    /// Fusion Units in the array.
    public var fusionUnits: Int { rows * columns }

    /// Width an operand of `bits` runs at, and the passes it takes when wider than the widest supported width.
    public func fusedWidth(_ bits: Int) -> (width: Int, passes: Int) {
        precondition(bits >= 1, "bit-width must be positive, got \(bits)")
        let widths = supportedBits.sorted()
        if let width = widths.first(where: { $0 >= bits }) { return (width, 1) }
        let widest = widths.last!
        return (widest, acceleratorCeilDiv(bits, widest))
    }

    /// MACs one Fusion Unit completes per cycle at these bit-widths: BitBricks / ((w / 2) x (a / 2)) with w and a
    /// rounded up to a supported width (16 at 2/2, 4 at 4/4 or 2/8, 2 at 4/8, 1 at 8/8; 3 bits cost like 4).
    public func macsPerFusionUnit(wbits: Int, abits: Int) -> Double {
        let (lanes, passes) = lanesAndPasses(wbits: wbits, abits: abits)
        return Double(lanes) / Double(passes)
    }

    /// Fused MAC lanes per Fusion Unit and the temporal passes per MAC.
    func lanesAndPasses(wbits: Int, abits: Int) -> (lanes: Int, passes: Int) {
        let brick = supportedBits.min()!
        let (w, wPasses) = fusedWidth(wbits), (a, aPasses) = fusedWidth(abits)
        let bricksPerMAC = (w / brick) * (a / brick)
        return (max(1, bitBricksPerFusionUnit / bricksPerMAC), wPasses * aPasses)
    }

    public func estimate(_ report: ComplexityReport, batch: Int) -> AcceleratorEstimate {
        precondition(batch >= 1, "batch must be at least 1, got \(batch)")
        let layers = report.layers.enumerated().map { index, layer in
            estimate(layer, batch: batch, im2col: index == 0 || layer.kind == .depthwise)
        }
        return AcceleratorEstimate(accelerator: name, model: report.model, batch: batch, clockHz: clockHz,
                                   perLayer: layers)
    }

    /// One layer. `im2col`: the k x k x in window maps onto the rows (first layer, as the authors' simulator
    /// does, and depthwise layers, whose one input channel per group would leave the rows idle otherwise).
    public func estimate(_ layer: LayerComplexity, batch: Int, im2col: Bool) -> AcceleratorLayerEstimate {
        let g = LayerGEMM(layer)
        let (lanes, passes) = lanesAndPasses(wbits: layer.wbits, abits: layer.abits)
        let rowLanes = rows * lanes
        let outTiles = acceleratorCeilDiv(g.m, columns)

        // Compute: one cycle per (output pixel, output-channel tile, reduction tile), per group and pass.
        let reductionSteps = im2col
            ? acceleratorCeilDiv(g.k, rowLanes)
            : g.kernelArea * acceleratorCeilDiv(g.inPerGroup, rowLanes)
        let computeCycles = g.groups * batch * g.pixels * outTiles * reductionSteps * passes

        // Off-chip: weights at wbits, inputs at abits, outputs at outputBits. One operand is held in (half) its buffer a
        // tile at a time while the other streams past once per tile; the cheaper of the two orders wins.
        let weightBits = layer.weights * layer.wbits
        let inputBits = (im2col ? g.groups * g.pixels * g.k : g.inputElements) * layer.abits * batch
        let outputBits = g.outputElements * self.outputBits * batch
        let weightTile = weightBufferBytes * 8 / 2, inputTile = inputBufferBytes * 8 / 2
        let keepWeights = weightBits + inputBits * max(1, acceleratorCeilDiv(weightBits, weightTile))
        let keepInputs = inputBits + weightBits * max(1, acceleratorCeilDiv(inputBits, inputTile))
        let dramBits = min(keepWeights, keepInputs) + outputBits
        let memoryCycles = acceleratorCeilDiv(dramBits, memoryInterfaceBitsPerCycle)

        // On-chip: the cheapest of input-, output- and weight-stationary buffer traffic, as the authors' optimizer
        // (src/optimizer/optimizer.py, get_stats_fast) picks, over the layer's own loop bounds (the optimizer pads
        // them to the array; idle lanes are taken not to read), plus every off-chip bit crossing a buffer once.
        let (ic, oc, px) = (g.k, g.m, batch * g.pixels)
        let (w, a, acc) = (layer.wbits, layer.abits, accumulatorBits)
        let inputStationary = ic * px * (a + oc * (w + acc))
        let outputStationary = oc * px * (acc + ic * (a + w))
        let weightStationary = ic * oc * (w + px * (a + acc))
        let sramBits = g.groups * min(inputStationary, outputStationary, weightStationary) + dramBits

        let peak = Double(fusionUnits * lanes) / Double(passes)
        let utilization = computeCycles > 0 ? Double(layer.macs * batch) / (Double(computeCycles) * peak) : 0
        let arrayEnergyPJ = Double(computeCycles) * Double(fusionUnits * bitBricksPerFusionUnit) * bitBrickEnergyPJ
        let energy = AcceleratorEnergy(computeMJ: arrayEnergyPJ * 1e-9,
                                       onChipMJ: Double(sramBits) * sramEnergyPJPerBit * 1e-9,
                                       offChipMJ: Double(dramBits) * dramEnergyPJPerBit * 1e-9)
        return AcceleratorLayerEstimate(
            name: layer.name, kind: layer.kind, wbits: layer.wbits, abits: layer.abits, computeCycles: computeCycles,
            memoryCycles: memoryCycles, offChipBits: dramBits, utilization: utilization, clockHz: clockHz,
            energy: { _ in energy })
    }
}
