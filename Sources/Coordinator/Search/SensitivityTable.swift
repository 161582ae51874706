import SeerMeasurement
import SeerPredictor

/// One probe of a sensitivity table: a single search variable lowered to `level`, every other variable at its least
/// compressed level; `variable == nil` is the reference with every variable at its top level.
public struct SensitivityProbe: Hashable, Codable, Sendable {
    public let variable: Int?
    public let level: Int

    public init(variable: Int?, level: Int) {
        self.variable = variable
        self.level = level
    }

    /// The reference probe: nothing lowered.
    public static let reference = SensitivityProbe(variable: nil, level: 0)

    /// The probe's policy as level indices of `encoding`'s variables.
    public func levels(in encoding: PolicyEncoding) -> [Int] {
        var levels = encoding.maximumLevels
        if let variable { levels[variable] = level }
        return levels
    }
}

/// Per-layer sensitivities (HAWQ-style, measured rather than from the Hessian): the accuracy lost when one search
/// variable alone (a layer's weight or activation bit-width, or a tied group's prune ratio) is set to a lower level
/// while every other variable stays at its least compressed level, measured without fine-tuning on a fixed batch.
///
/// Cheap (no training: a calibration and a forward pass of a few hundred images per probe), and it ranks layers the
/// way a few tens of fine-tuned policies cannot: which layer's 2-bit activations are a cliff and which are harmless.
/// Campaigns measure it first and hand it to the predictor as a prior (`prior(for:)`); the zero-search baseline
/// allocates bits and pruning from it directly (`SensitivityAllocation`).
public struct SensitivityTable: Codable, Hashable, Sendable {
    /// Accuracy of the reference probe (every variable at its top level), in percent.
    public let reference: Double
    /// Per variable, per level (most compressed first): accuracy lost against `reference`, in points; 0 at the top
    /// level. Small negative values (noise of a fixed batch) are kept as measured.
    public let drops: [[Double]]

    /// Every probe a table over `encoding` needs: the reference, then each variable at each level below its top.
    public static func probes(for encoding: PolicyEncoding) -> [SensitivityProbe] {
        [.reference] + encoding.variables.indices.flatMap { v in
            (0..<encoding.variables[v].topLevel).map { SensitivityProbe(variable: v, level: $0) }
        }
    }

    /// The table from every probe's measured accuracy; throws naming the first probe that is missing.
    public init(encoding: PolicyEncoding, accuracies: [SensitivityProbe: Double]) throws {
        guard let reference = accuracies[.reference] else { throw SearchError.missingSensitivity(probe: "reference") }
        self.reference = reference
        drops = try encoding.variables.indices.map { v in
            try (0...encoding.variables[v].topLevel).map { level in
                if level == encoding.variables[v].topLevel { return 0 }
                guard let a = accuracies[SensitivityProbe(variable: v, level: level)] else {
                    throw SearchError.missingSensitivity(probe: "\(encoding.variables[v].name) at level \(level)")
                }
                return reference - a
            }
        }
    }

    /// A table from stored values; `drops` must have one row per variable of the encoding it is used with.
    public init(reference: Double, drops: [[Double]]) {
        self.reference = reference
        self.drops = drops
    }

    /// The additive estimate of the accuracy lost at `levels`: the sum of each variable's own drop.
    public func additiveDrop(levels: [Int]) -> Double {
        precondition(levels.count == drops.count, "sensitivity table has \(drops.count) variables, got \(levels.count)")
        return zip(drops, levels).reduce(0) { $0 + $1.0[$1.1] }
    }

    /// The table as the predictor's prior: per feature column, the drop as a piecewise-linear curve over the column's
    /// base value (prune ratio, or log2 of the bit-width). A tied group's drop is split evenly over its columns, so the
    /// sum over columns counts it once.
    public func prior(for encoding: PolicyEncoding) -> SensitivityPrior {
        precondition(drops.count == encoding.variables.count,
                     "sensitivity table has \(drops.count) variables, the encoding \(encoding.variables.count)")
        var curves = [SensitivityPrior.Curve?](repeating: nil, count: encoding.schema.columns.count)
        for (v, variable) in encoding.variables.enumerated() {
            let columns = encoding.columnsOfVariable[v]
            let isBits = variable.kind != .prune
            // Knots ascending in base value: bit-widths ascend with level, prune ratios descend.
            var points = variable.levels.indices.map { level in
                (isBits ? PolicyFeatureMap.base(bits: variable.levels[level]) : variable.levels[level],
                 drops[v][level] / Double(columns.count))
            }
            points.sort { $0.0 < $1.0 }
            let curve = SensitivityPrior.Curve(knots: points.map(\.0), values: points.map(\.1))
            for c in columns { curves[c] = curve }
        }
        let kinds = encoding.schema.columns.map { column -> SensitivityPrior.Kind in
            switch column.kind {
            case .prune: return .prune
            case .abits: return .activationBits
            default: return .weightBits
            }
        }
        return SensitivityPrior(curves: curves, kinds: kinds)
    }
}

extension SensitivityTable {
    /// How a probe is measured: the campaign's measurement settings without fine-tuning or latency timing, evaluated on
    /// the first `images` images of the validation split (the same fixed batch for every probe).
    public static func probeSettings(from measurement: EvaluationSettings, images: Int) -> EvaluationSettings {
        var settings = measurement
        settings.finetuneSteps = 0
        settings.split = .validation
        settings.evaluationLimit = images
        settings.latency = LatencySettings(number: 1, repeats: 1, minRepeatMs: 0)
        return settings
    }
}
