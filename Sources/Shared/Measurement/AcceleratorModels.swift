import Foundation
import SeerCompression

// Analytical latency and energy models of bit-width-sensitive accelerators. The `sim-bitfusion` and `sim-bismo`
// executors report these figures as latency and energy; accuracy still comes from Seer's engine. The models are pure
// functions of the per-layer shapes and bit-widths in a `ComplexityReport`. docs/ACCELERATORS.md gives every formula
// and the source of every constant.

/// A cost model of one accelerator: latency and energy of a compressed network from its layer shapes and bit-widths.
public protocol AcceleratorModel: Sendable {
    /// The executor name the model stands for, e.g. `sim-bitfusion`.
    var name: String { get }
    /// Latency and energy of one run of `batch` images through the report's compressible layers.
    func estimate(_ report: ComplexityReport, batch: Int) -> AcceleratorEstimate
}

extension AcceleratorModel {
    /// One image.
    public func estimate(_ report: ComplexityReport) -> AcceleratorEstimate { estimate(report, batch: 1) }
}

/// What limits a layer: the datapath or the off-chip transfers.
public enum AcceleratorBound: String, Codable, Hashable, Sendable {
    case compute, memory
}

/// Energy split by where it is spent, in millijoules.
public struct AcceleratorEnergy: Codable, Hashable, Sendable {
    /// Datapath (BitFusion: BitBrick array).
    public var computeMJ: Double
    /// On-chip buffers (BitFusion: SRAM).
    public var onChipMJ: Double
    /// Off-chip memory (BitFusion: DRAM).
    public var offChipMJ: Double
    /// Whole-board power times time (BISMO), in place of a component split.
    public var boardMJ: Double

    public var totalMJ: Double { computeMJ + onChipMJ + offChipMJ + boardMJ }

    public init(computeMJ: Double = 0, onChipMJ: Double = 0, offChipMJ: Double = 0, boardMJ: Double = 0) {
        self.computeMJ = computeMJ
        self.onChipMJ = onChipMJ
        self.offChipMJ = offChipMJ
        self.boardMJ = boardMJ
    }

    public static let zero = AcceleratorEnergy()

    public static func + (a: AcceleratorEnergy, b: AcceleratorEnergy) -> AcceleratorEnergy {
        AcceleratorEnergy(computeMJ: a.computeMJ + b.computeMJ, onChipMJ: a.onChipMJ + b.onChipMJ,
                          offChipMJ: a.offChipMJ + b.offChipMJ, boardMJ: a.boardMJ + b.boardMJ)
    }

    enum CodingKeys: String, CodingKey {
        case computeMJ = "compute_mj", onChipMJ = "on_chip_mj", offChipMJ = "off_chip_mj", boardMJ = "board_mj"
    }
}

/// One compressible layer on the accelerator, for the whole batch.
public struct AcceleratorLayerEstimate: Codable, Hashable, Sendable {
    public var name: String
    public var kind: CompressibleLayer.Kind
    public var wbits: Int, abits: Int
    /// Cycles the layer takes: max(compute, memory), the two overlapping.
    public var cycles: Int
    /// Cycles of the datapath alone (BitFusion: systolic array; BISMO: execute stage).
    public var computeCycles: Int
    /// Cycles of the off-chip transfers alone (BISMO: the slower of fetch and result stages).
    public var memoryCycles: Int
    public var bound: AcceleratorBound
    /// Bits moved to and from off-chip memory.
    public var offChipBits: Int
    /// Useful work over the datapath's peak at these bit-widths during `computeCycles`, in (0, 1]: the tiling loss.
    public var utilization: Double
    public var latencyMs: Double
    public var energyMJ: Double
    public var energy: AcceleratorEnergy

    init(name: String, kind: CompressibleLayer.Kind, wbits: Int, abits: Int, computeCycles: Int,
                memoryCycles: Int, offChipBits: Int, utilization: Double, clockHz: Double,
                energy: (Int) -> AcceleratorEnergy) {
        self.name = name
        self.kind = kind
        (self.wbits, self.abits) = (wbits, abits)
        self.computeCycles = computeCycles
        self.memoryCycles = memoryCycles
        cycles = max(computeCycles, memoryCycles)
        // Ties go to compute: the datapath is busy the whole time either way.
        bound = computeCycles >= memoryCycles ? .compute : .memory
        self.offChipBits = offChipBits
        self.utilization = utilization
        latencyMs = Double(cycles) / clockHz * 1e3
        self.energy = energy(cycles)
        energyMJ = self.energy.totalMJ
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, wbits, abits, cycles, bound, utilization, energy
        case computeCycles = "compute_cycles", memoryCycles = "memory_cycles", offChipBits = "off_chip_bits"
        case latencyMs = "latency_ms", energyMJ = "energy_mj"
    }
}

/// Latency and energy of one run (a batch of images) of a compressed network on an accelerator model.
public struct AcceleratorEstimate: Codable, Hashable, Sendable {
    /// Model name, e.g. `sim-bitfusion`.
    public var accelerator: String
    /// The network, as in the complexity report.
    public var model: String
    public var batch: Int
    public var clockHz: Double
    /// Sum over layers: layers run one after another.
    public var cycles: Int
    /// For the whole batch.
    public var latencyMs: Double
    /// For the whole batch, in millijoules.
    public var energyMJ: Double
    public var energy: AcceleratorEnergy
    public var perLayer: [AcceleratorLayerEstimate]

    public init(accelerator: String, model: String, batch: Int, clockHz: Double, perLayer: [AcceleratorLayerEstimate]) {
        self.accelerator = accelerator
        self.model = model
        self.batch = batch
        self.clockHz = clockHz
        self.perLayer = perLayer
        cycles = perLayer.reduce(0) { $0 + $1.cycles }
        latencyMs = Double(cycles) / clockHz * 1e3
        energy = perLayer.reduce(AcceleratorEnergy.zero) { $0 + $1.energy }
        energyMJ = energy.totalMJ
    }

    enum CodingKeys: String, CodingKey {
        case accelerator, model, batch, cycles, energy
        case clockHz = "clock_hz", latencyMs = "latency_ms", energyMJ = "energy_mj", perLayer = "per_layer"
    }

    /// Layers the memory system limits.
    public var memoryBoundLayers: [String] { perLayer.filter { $0.bound == .memory }.map(\.name) }
}

/// The accelerator models by executor name.
public enum AcceleratorModels {
    /// Executor names with a model, as agents spell them.
    public static let names = ["sim-bitfusion", "sim-bismo"]

    /// The published configuration of `name` (`sim-bitfusion` or `sim-bismo`); nil for any other name.
    public static func named(_ name: String) -> (any AcceleratorModel)? {
        switch name {
        case BitFusionModel.defaultName: return BitFusionModel()
        case BISMOModel.defaultName: return BISMOModel()
        default: return nil
        }
    }
}

// MARK: Shared shape arithmetic

/// ceil(a / b) for a >= 0, b > 0.
@inline(__always) func acceleratorCeilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

/// A compressible layer as `groups` independent matrix products out[M x N] = W[M x K] . X[K x N] per image, the
/// convolution lowered by im2col: M = kept outputs per group, K = kept inputs per group x kh x kw, N = output pixels.
struct LayerGEMM {
    let groups: Int
    let m: Int
    /// Kept input channels per group (the reduction without the kernel window).
    let inPerGroup: Int
    let kernelArea: Int
    var k: Int { inPerGroup * kernelArea }
    /// Output pixels of one image (1 for the classifier).
    let pixels: Int
    /// Elements of one image's input feature map, not expanded by im2col: keptIn x inH x inW with
    /// inH = (outH - 1) x stride + the dilated kernel height (padding counted as read, as BitFusion's simulator does).
    let inputElements: Int
    /// Elements of one image's output: kept outputs x output pixels.
    var outputElements: Int { groups * m * pixels }

    init(_ layer: LayerComplexity) {
        let groups = max(1, layer.groups)
        self.groups = groups
        m = max(1, layer.keptOutChannels / groups)
        inPerGroup = max(1, layer.keptInChannels / groups)
        switch layer.kind {
        case .linear:
            kernelArea = 1
            pixels = 1
            inputElements = layer.keptInChannels
        case .conv, .depthwise:
            kernelArea = layer.kernelArea
            pixels = layer.outHeight * layer.outWidth
            let extent = layer.inputExtent
            inputElements = layer.keptInChannels * extent.height * extent.width
        }
    }
}
