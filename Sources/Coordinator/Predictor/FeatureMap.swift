// Generic, differentiable feature engineering for compression policies.
import Foundation

/// Which engineered features a `PolicyFeatureMap` builds. All are generic in the table's layers; none is tuned to a
/// particular network.
public struct FeatureOptions: Codable, Hashable, Sendable {
    /// Per column: the square of its base value (prune ratio or log2 bits), i.e. per-layer curvature.
    public var squares: Bool
    /// Per layer: kept fraction (1 - prune) times log2 of each of the layer's bit-widths.
    public var layerInteractions: Bool
    /// Per pair of consecutive pruned layers: product of kept fractions (a layer's weights scale with its kept
    /// input and output channels).
    public var adjacentKept: Bool
    /// Global means (prune ratio, log2 weight bits, log2 activation bits, kept x log2 weight bits) and all their
    /// pairwise products and squares.
    public var aggregates: Bool

    public init(squares: Bool = true, layerInteractions: Bool = false, adjacentKept: Bool = true, aggregates: Bool = true) {
        self.squares = squares
        self.layerInteractions = layerInteractions
        self.adjacentKept = adjacentKept
        self.aggregates = aggregates
    }

    public static let standard = FeatureOptions()
    /// The feature sets `EnsemblePredictor` chooses from by default: squares and aggregates always, with and without
    /// per-layer interactions and adjacent kept products.
    public static let candidates: [FeatureOptions] = [false, true].flatMap { interactions in
        [true, false].map { adjacent in
            FeatureOptions(squares: true, layerInteractions: interactions, adjacentKept: adjacent, aggregates: true)
        }
    }
    /// Only the base values (prune ratio, log2 bits) of each column.
    public static let baseOnly = FeatureOptions(squares: false, layerInteractions: false, adjacentKept: false, aggregates: false)
}

/// Maps a raw policy row (the table's columns) to engineered features, with a vector-Jacobian product so gradients
/// flow back to the raw columns.
///
/// Base values: `u = prune` for prune columns, `u = log2(bits)` for bit-width columns (bits clamped at
/// `minimumBits` so the map stays finite on a continuous relaxation). Engineered features are base values, their
/// squares, kept-fraction products and global aggregates (see `FeatureOptions`).
public struct PolicyFeatureMap: Codable, Hashable, Sendable {
    /// One term of an aggregate: `weight * (keptOf.map { 1 - u[$0] } ?? 1) * u[value]`.
    struct Part: Codable, Hashable, Sendable {
        var weight: Double
        var keptOf: Int?
        var value: Int
    }

    enum Term: Codable, Hashable, Sendable {
        case base(Int)
        case square(Int)
        /// (1 - u[prune]) * u[other]
        case keptTimes(prune: Int, other: Int)
        /// (1 - u[a]) * (1 - u[b])
        case keptProduct(Int, Int)
        case aggregate(Int)
        case aggregateProduct(Int, Int)
        /// The prior's total over every column: the untuned additive drop (the one prior feature of new maps).
        case priorTotal
        /// The prior's summed curves of one kind of column. Maps no longer make it (one weight per kind fitted on tens
        /// of rows ranks the best policies worse than the total alone, see `init(schema:options:prior:)`); kept so
        /// that predictors stored with it still load and predict.
        case priorSum(SensitivityPrior.Kind)
        /// The square of the prior's total. No longer made, like `priorSum`.
        case priorTotalSquare
    }

    public static let minimumBits = 0.5

    public let inputCount: Int
    /// Per raw column: whether its base value is log2 of the column (bit-widths) or the column itself.
    let logColumns: [Bool]
    let aggregates: [[Part]]
    let terms: [Term]
    /// Names of the engineered features, for inspection.
    public let names: [String]
    public let options: FeatureOptions
    /// Per-layer sensitivities the prior features read; nil for a map without them.
    public let prior: SensitivityPrior?

    public var outputCount: Int { terms.count }

    /// Indices of the features read from the sensitivity prior.
    public var priorFeatureIndices: [Int] {
        terms.indices.filter {
            switch terms[$0] {
            case .priorTotal, .priorSum, .priorTotalSquare: return true
            default: return false
            }
        }
    }

    /// A feature map for a policy table's schema; with a `prior`, the prior's total (the untuned additive drop) is a
    /// feature too.
    ///
    /// One prior feature, not one per kind of column nor its square: with those, the best-ranked held-out policies of
    /// bench/search-quality's measured resnet8 policies lose about a point more (README, "Predictor":
    /// `seer-bench predictor-study`, variants `campaign` and `prior-kinds`).
    public init(schema: PolicySchema, options: FeatureOptions = .standard, prior: SensitivityPrior? = nil) {
        let columns = schema.columns
        inputCount = columns.count
        self.options = options
        precondition(prior.map { $0.curves.count == columns.count } ?? true,
                     "sensitivity prior has \(prior?.curves.count ?? 0) columns, the schema \(columns.count)")
        self.prior = prior
        logColumns = columns.map { $0.kind.isBitWidth }
        var terms: [Term] = []
        var names: [String] = []
        for (j, c) in columns.enumerated() {
            terms.append(.base(j))
            names.append(c.kind.isBitWidth ? "log2(\(c.name))" : c.name)
        }
        if options.squares {
            for (j, c) in columns.enumerated() {
                terms.append(.square(j))
                names.append(c.kind.isBitWidth ? "log2(\(c.name))^2" : "\(c.name)^2")
            }
        }
        let layers = schema.layers
        if options.layerInteractions {
            for layer in layers {
                guard let p = schema.index(layer: layer, kind: .prune) else { continue }
                for kind in [PolicyColumnKind.bits, .wbits, .abits] {
                    if let b = schema.index(layer: layer, kind: kind) {
                        terms.append(.keptTimes(prune: p, other: b))
                        names.append("(1-\(columns[p].name))*log2(\(columns[b].name))")
                    }
                }
            }
        }
        if options.adjacentKept {
            let pruned = layers.compactMap { schema.index(layer: $0, kind: .prune) }
            for (a, b) in zip(pruned, pruned.dropFirst()) {
                terms.append(.keptProduct(a, b))
                names.append("(1-\(columns[a].name))*(1-\(columns[b].name))")
            }
        }
        var aggregates: [[Part]] = []
        var aggregateNames: [String] = []
        if options.aggregates {
            func mean(_ idx: [Int], keptOf: [Int?]? = nil) -> [Part] {
                idx.enumerated().map { k, j in Part(weight: 1 / Double(idx.count), keptOf: keptOf?[k], value: j) }
            }
            let prunes = columns.indices.filter { columns[$0].kind == .prune }
            let weightBits = columns.indices.filter { columns[$0].kind == .bits || columns[$0].kind == .wbits }
            let actBits = columns.indices.filter { columns[$0].kind == .abits }
            if !prunes.isEmpty { aggregates.append(mean(prunes)); aggregateNames.append("mean(prune)") }
            if !weightBits.isEmpty { aggregates.append(mean(weightBits)); aggregateNames.append("mean(log2 wbits)") }
            if !actBits.isEmpty { aggregates.append(mean(actBits)); aggregateNames.append("mean(log2 abits)") }
            let keptBits = weightBits.compactMap { b -> (Int, Int)? in
                schema.index(layer: columns[b].layer, kind: .prune).map { ($0, b) }
            }
            if !keptBits.isEmpty {
                aggregates.append(mean(keptBits.map(\.1), keptOf: keptBits.map(\.0)))
                aggregateNames.append("mean(kept*log2 wbits)")
            }
            for g in aggregates.indices {
                terms.append(.aggregate(g)); names.append(aggregateNames[g])
            }
            for g in aggregates.indices {
                for h in g..<aggregates.count {
                    terms.append(.aggregateProduct(g, h)); names.append("\(aggregateNames[g])*\(aggregateNames[h])")
                }
            }
        }
        if let prior, !prior.presentKinds.isEmpty {
            terms.append(.priorTotal); names.append("prior(total)")
        }
        self.aggregates = aggregates
        self.terms = terms
        self.names = names
    }

    /// A schema-free map: base values are the columns themselves; optionally their squares.
    public init(genericInputs count: Int, squares: Bool = true) {
        inputCount = count
        options = FeatureOptions(squares: squares, layerInteractions: false, adjacentKept: false, aggregates: false)
        prior = nil
        logColumns = Array(repeating: false, count: count)
        aggregates = []
        var terms: [Term] = (0..<count).map { .base($0) }
        var names = (0..<count).map { "x\($0)" }
        if squares {
            terms += (0..<count).map { .square($0) }
            names += (0..<count).map { "x\($0)^2" }
        }
        self.terms = terms
        self.names = names
    }

    /// The base value of a bit-width column: log2 of the bits, clamped at `minimumBits`.
    public static func base(bits: Double) -> Double { log2(max(bits, minimumBits)) }

    /// The prior's total over every kind at base values `u` (0 without a prior).
    private func priorTotal(_ u: [Double]) -> Double {
        guard let prior else { return 0 }
        return prior.presentKinds.reduce(0) { $0 + prior.sum($1, base: u) }
    }

    /// Base values of a raw row: prune ratios as they are, log2 of bit-widths.
    public func base(_ x: [Double]) -> [Double] {
        precondition(x.count == inputCount, "feature map expects \(inputCount) columns, got \(x.count)")
        var u = x
        for j in 0..<inputCount where logColumns[j] { u[j] = Self.base(bits: x[j]) }
        return u
    }

    /// d base / d raw, per column.
    public func baseDerivative(_ x: [Double]) -> [Double] {
        (0..<inputCount).map { j in
            guard logColumns[j] else { return 1 }
            return x[j] > Self.minimumBits ? 1 / (x[j] * M_LN2) : 0
        }
    }

    /// Engineered features from base values.
    public func features(base u: [Double]) -> [Double] {
        let g = aggregates.map { parts in
            parts.reduce(0.0) { s, p in s + p.weight * (p.keptOf.map { 1 - u[$0] } ?? 1) * u[p.value] }
        }
        let total = terms.contains(.priorTotalSquare) || terms.contains(.priorTotal) ? priorTotal(u) : 0
        return terms.map { term in
            switch term {
            case let .base(j): return u[j]
            case let .square(j): return u[j] * u[j]
            case let .keptTimes(p, o): return (1 - u[p]) * u[o]
            case let .keptProduct(a, b): return (1 - u[a]) * (1 - u[b])
            case let .aggregate(i): return g[i]
            case let .aggregateProduct(i, k): return g[i] * g[k]
            case let .priorSum(kind): return prior!.sum(kind, base: u)
            case .priorTotalSquare: return total * total
            case .priorTotal: return total
            }
        }
    }

    /// Engineered features of a raw row.
    public func features(_ x: [Double]) -> [Double] { features(base: base(x)) }

    /// Vector-Jacobian product in base space: given d out / d features, returns d out / d base.
    public func pullbackToBase(base u: [Double], featureGradient gf: [Double]) -> [Double] {
        precondition(gf.count == terms.count)
        let g = aggregates.map { parts in
            parts.reduce(0.0) { s, p in s + p.weight * (p.keptOf.map { 1 - u[$0] } ?? 1) * u[p.value] }
        }
        var gu = [Double](repeating: 0, count: inputCount)
        var gg = [Double](repeating: 0, count: aggregates.count)
        let total = terms.contains(.priorTotalSquare) || terms.contains(.priorTotal) ? priorTotal(u) : 0
        for (t, term) in terms.enumerated() {
            let d = gf[t]
            guard d != 0 else { continue }
            switch term {
            case let .base(j): gu[j] += d
            case let .square(j): gu[j] += 2 * u[j] * d
            case let .keptTimes(p, o):
                gu[p] -= u[o] * d
                gu[o] += (1 - u[p]) * d
            case let .keptProduct(a, b):
                gu[a] -= (1 - u[b]) * d
                gu[b] -= (1 - u[a]) * d
            case let .aggregate(i): gg[i] += d
            case let .aggregateProduct(i, k):
                gg[i] += g[k] * d
                gg[k] += g[i] * d
            case let .priorSum(kind):
                prior!.pullback(kind, base: u, d, into: &gu)
            case .priorTotalSquare:
                for kind in prior!.presentKinds { prior!.pullback(kind, base: u, 2 * total * d, into: &gu) }
            case .priorTotal:
                for kind in prior!.presentKinds { prior!.pullback(kind, base: u, d, into: &gu) }
            }
        }
        for (i, parts) in aggregates.enumerated() where gg[i] != 0 {
            for p in parts {
                if let k = p.keptOf {
                    gu[k] -= p.weight * u[p.value] * gg[i]
                    gu[p.value] += p.weight * (1 - u[k]) * gg[i]
                } else {
                    gu[p.value] += p.weight * gg[i]
                }
            }
        }
        return gu
    }

    /// Chains a gradient in base space back to the raw columns.
    public func pullbackToRaw(_ x: [Double], baseGradient gu: [Double]) -> [Double] {
        zip(gu, baseDerivative(x)).map { $0 * $1 }
    }
}
