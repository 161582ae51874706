/// A cost over the relaxation of a `PolicyEncoding` (BitOPs, MACs, bytes, later a device's latency), with its gradient.
///
/// Searches assume more compression never costs more: level 0 of every variable is its cheapest value, so
/// `PolicyEncoding.minimumLevels` is the cheapest policy of the space.
public protocol ComplexityModel: Sendable {
    /// What is counted, for messages: "BitOPs", "MACs", "bytes", "ms".
    var metric: String { get }
    /// The cost at a point of the relaxation (and at discrete points, via `PolicyEncoding.relaxation(levels:)`).
    func value(_ x: [Double]) -> Double
    /// d value / d x, one entry per variable.
    func gradient(_ x: [Double]) -> [Double]
}

/// The counts `LayerwiseComplexity` has closed forms for.
public enum ComplexityMetric: String, CaseIterable, Codable, Sendable {
    /// MACs x wbits x abits per layer (SeerNet).
    case bitops
    case macs
    /// Weights at their bit-width plus 4 bytes per bias and batch-norm scale/shift (as `Complexity` counts).
    case sizeBytes = "size_bytes"

    /// The unit as messages print it.
    public var unit: String {
        switch self {
        case .bitops: return "BitOPs"
        case .macs: return "MACs"
        case .sizeBytes: return "bytes"
        }
    }
}

/// Any `ComplexityModel` behind one type, for code that picks the cost model at run time (a campaign's metric).
public struct AnyComplexityModel: ComplexityModel {
    public let metric: String
    private let valueOf: @Sendable ([Double]) -> Double
    private let gradientOf: @Sendable ([Double]) -> [Double]

    /// Wraps `model`.
    public init<M: ComplexityModel>(_ model: M) {
        metric = model.metric
        valueOf = { model.value($0) }
        gradientOf = { model.gradient($0) }
    }

    public func value(_ x: [Double]) -> Double { valueOf(x) }
    public func gradient(_ x: [Double]) -> [Double] { gradientOf(x) }
}
