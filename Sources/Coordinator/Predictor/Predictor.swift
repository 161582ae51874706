// Performance predictors: compression policy -> accuracy, with uncertainty and input gradients.
import Foundation

/// A model from a raw policy row (a `PolicyTable`'s columns) to accuracy, differentiable in its inputs.
public protocol PerformancePredictor: Codable, Sendable {
    /// Short name for reports.
    var name: String { get }
    /// Trains on rows of raw policy columns and their accuracies; `seed` makes training deterministic.
    mutating func fit(features: [[Double]], targets: [Double], seed: UInt64) throws
    /// Predicted accuracy and its uncertainty (the spread of an ensemble; 0 for a single model).
    func predict(_ x: [Double]) -> (mean: Double, std: Double)
    /// Gradient of the predicted mean w.r.t. the raw policy columns.
    func gradient(_ x: [Double]) -> [Double]
    /// Standard error of the prediction from how far `x` lies from the training rows (see `DataSupport`); 0 for
    /// models without such a measure.
    func extrapolation(_ x: [Double]) -> Double
    /// Gradient of `extrapolation` w.r.t. the raw policy columns.
    func extrapolationGradient(_ x: [Double]) -> [Double]
    /// The scale on which the model's belief is normal: its spread and extrapolation error, converted to accuracy
    /// points at the prediction, are standard deviations on this scale (`.accuracy` for models fitted on accuracy).
    var targetScale: TargetScale { get }
}

extension PerformancePredictor {
    public func extrapolation(_ x: [Double]) -> Double { 0 }
    public func extrapolationGradient(_ x: [Double]) -> [Double] { [Double](repeating: 0, count: x.count) }
    public var targetScale: TargetScale { .accuracy }

    /// Trains on all rows of a policy table.
    public mutating func fit(_ table: PolicyTable, seed: UInt64) throws {
        try fit(features: table.features, targets: table.targets, seed: seed)
    }

    /// Predictions for many rows.
    public func predict(rows: [[Double]]) -> [(mean: Double, std: Double)] { rows.map { predict($0) } }

    /// The model as JSON, e.g. to store a snapshot.
    public func jsonData(prettyPrinted: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = prettyPrinted ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// A model stored by `jsonData()`.
    public static func load(json data: Data) throws -> Self {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(Self.self, from: data)
    }
}

public enum PredictorError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case tooFewRows(Int)
    case targetCountMismatch(rows: Int, targets: Int)
    case raggedFeatures(row: Int, expected: Int, found: Int)
    case nonFinite(row: Int)
    case schemaMismatch(expected: Int, found: Int)
    case singular

    public var description: String {
        switch self {
        case let .tooFewRows(n): return "need at least 3 training rows, got \(n)"
        case let .targetCountMismatch(rows, targets): return "\(rows) feature rows but \(targets) targets"
        case let .raggedFeatures(row, expected, found): return "training row \(row): expected \(expected) features, found \(found)"
        case let .nonFinite(row): return "training row \(row): non-finite feature or target"
        case let .schemaMismatch(expected, found): return "predictor schema has \(expected) columns, data has \(found)"
        case .singular: return "ridge system is singular"
        }
    }

    public var errorDescription: String? { description }
}

/// Checks training data; returns the column count.
func validateTrainingData(_ features: [[Double]], _ targets: [Double]) throws -> Int {
    guard features.count == targets.count else {
        throw PredictorError.targetCountMismatch(rows: features.count, targets: targets.count)
    }
    guard features.count >= 3 else { throw PredictorError.tooFewRows(features.count) }
    let d = features[0].count
    for (i, row) in features.enumerated() {
        guard row.count == d else { throw PredictorError.raggedFeatures(row: i, expected: d, found: row.count) }
        guard targets[i].isFinite, row.allSatisfy(\.isFinite) else { throw PredictorError.nonFinite(row: i) }
    }
    return d
}

/// The default lambda grid searched by leave-one-out (features and targets standardized).
public let defaultRidgeLambdas: [Double] = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000]

// MARK: - Ensemble

/// Settings of `EnsemblePredictor`.
public struct EnsembleConfiguration: Codable, Hashable, Sendable {
    /// Number of ensemble members; each is trained on a different part of the rows (see `sampling`).
    public var members: Int
    /// With `.subsample` (or a single member): fraction of the training rows each member holds out for early
    /// stopping and leaves out of its fit.
    public var validationFraction: Double
    /// Candidate feature sets. Each gets its best ridge penalty by exact leave-one-out error on the training rows;
    /// the one used is the smallest candidate whose leave-one-out error is within one standard error of the best.
    public var featureCandidates: [FeatureOptions]
    /// Penalties searched by exact leave-one-out error on all training rows.
    public var ridgeLambdas: [Double]
    /// The residual MLP of each member; nil for ridge-only members.
    public var mlp: MLPTraining?
    /// How each member's rows are drawn.
    public var sampling: MemberSampling
    /// The MLPs see the standardized engineered features instead of the standardized base values.
    public var mlpOnFeatures: Bool
    /// Standard deviation of one measurement (accuracy points), when known from repeated measurements: the floor of
    /// the extrapolation error's scale, since a leave-one-out RMSE on tens of rows can come out below the noise by
    /// chance and then vouch for predictions more than the data can.
    public var measurementNoise: Double?
    /// The scale the members regress on (see `TargetScale`).
    public var target: TargetScale

    public init(members: Int = 8, validationFraction: Double = 0.2,
                featureCandidates: [FeatureOptions] = FeatureOptions.candidates, ridgeLambdas: [Double] = defaultRidgeLambdas,
                mlp: MLPTraining? = MLPTraining(), sampling: MemberSampling = .folds, mlpOnFeatures: Bool = false,
                target: TargetScale = .accuracy) {
        self.members = members
        self.validationFraction = validationFraction
        self.featureCandidates = featureCandidates
        self.ridgeLambdas = ridgeLambdas
        self.mlp = mlp
        self.sampling = sampling
        self.mlpOnFeatures = mlpOnFeatures
        measurementNoise = nil
        self.target = target
    }

    enum CodingKeys: String, CodingKey {
        case members, validationFraction, featureCandidates, ridgeLambdas, mlp, sampling, mlpOnFeatures, measurementNoise,
             target
    }

    /// Decodes stored predictors too: those stored before `target` existed regressed on accuracy.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        members = try c.decode(Int.self, forKey: .members)
        validationFraction = try c.decode(Double.self, forKey: .validationFraction)
        featureCandidates = try c.decode([FeatureOptions].self, forKey: .featureCandidates)
        ridgeLambdas = try c.decode([Double].self, forKey: .ridgeLambdas)
        mlp = try c.decodeIfPresent(MLPTraining.self, forKey: .mlp)
        sampling = try c.decode(MemberSampling.self, forKey: .sampling)
        mlpOnFeatures = try c.decode(Bool.self, forKey: .mlpOnFeatures)
        measurementNoise = try c.decodeIfPresent(Double.self, forKey: .measurementNoise)
        target = try c.decodeIfPresent(TargetScale.self, forKey: .target) ?? .accuracy
    }

    public static let standard = EnsembleConfiguration()
}

/// What an `EnsemblePredictor`'s members regress on; predictions, spreads, gradients and extrapolation errors are
/// always in accuracy points.
public enum TargetScale: String, Codable, Hashable, Sendable, CaseIterable {
    /// Accuracy in percent as measured.
    case accuracy
    /// -log(error rate in percent), error rate = 100 - accuracy (at least `minimumErrorRate`). Compressions compound
    /// multiplicatively in the error rate, and on this scale a few collapsed policies (60% where most measure 85-92%)
    /// no longer dominate the squared loss, so the fit spends its few rows where the best policies differ (README,
    /// "Predictor": `seer-bench predictor-study` with and without `--target accuracy` on the committed logs).
    case logError = "log_error"

    /// The smallest error rate (percent) the scale takes: a validation set of a few thousand images resolves no less.
    public static let minimumErrorRate = 0.05

    /// Accuracy (percent) -> regression target.
    public func target(_ accuracy: Double) -> Double {
        switch self {
        case .accuracy: return accuracy
        case .logError: return -log(max(100 - accuracy, Self.minimumErrorRate))
        }
    }

    /// Regression target -> accuracy (percent).
    public func accuracy(_ target: Double) -> Double {
        switch self {
        case .accuracy: return target
        case .logError: return 100 - exp(-target)
        }
    }

    /// d accuracy / d target at `target`.
    public func slope(_ target: Double) -> Double {
        switch self {
        case .accuracy: return 1
        case .logError: return exp(-target)
        }
    }
}

/// How the members of an `EnsemblePredictor` divide the training rows between fitting and early stopping.
public enum MemberSampling: String, Codable, Hashable, Sendable, CaseIterable {
    /// One seeded shuffle cut into `members` folds; member m early-stops on fold m and fits the others, so every
    /// row is held out by exactly one member. (With one member: a `validationFraction` subsample.)
    case folds
    /// Each member holds out its own random `validationFraction` of the rows.
    case subsample
    /// Each member fits a bootstrap sample (with replacement) and early-stops on the rows it missed.
    case bootstrap
}

/// The Seer performance predictor: an ensemble whose members each combine ridge regression on engineered policy
/// features (see `PolicyFeatureMap`) with a small tanh MLP (AdamW, weight decay, early stopping) fitted to the ridge
/// residuals on the standardized base values (prune ratios, log2 bit-widths).
///
/// Fitting: inputs and target are standardized; the feature set and the ridge penalty are chosen by exact
/// leave-one-out error on the training rows only (see `EnsembleConfiguration.featureCandidates`); the rows are cut
/// into `members` folds, and member m fits its ridge and MLP on the other folds and early-stops its MLP on fold m.
/// The members' mean is the prediction, their standard deviation (the ensemble spread) its uncertainty. The model is
/// differentiable in the raw policy columns (`gradient`), through the feature map.
public struct EnsemblePredictor: PerformancePredictor {
    struct Member: Codable, Hashable, Sendable {
        var ridge: LinearModel
        var mlp: MLP?
    }

    public let configuration: EnsembleConfiguration
    /// Column layout the predictor was built for; nil for schema-free inputs.
    public let schema: PolicySchema?
    /// Per-layer sensitivities every candidate feature set includes (see `SensitivityPrior`); nil for none.
    public let prior: SensitivityPrior?
    public private(set) var featureMap: PolicyFeatureMap?
    public private(set) var lambda: Double = 0
    /// Leave-one-out RMSE of ridge on the chosen features over the training rows, in the units of the target scale
    /// (accuracy points for `.accuracy`): an estimate of the error the ensemble spread does not cover (measurement
    /// noise and model bias).
    public private(set) var looRMSE: Double = 0
    /// Where the ridge fit's rows support a prediction (nil in snapshots stored before it existed).
    public private(set) var support: DataSupport?
    var featureScaler = Standardizer(mean: [], std: [])
    var baseScaler = Standardizer(mean: [], std: [])
    var targetMean = 0.0
    var targetStd = 1.0
    var members: [Member] = []

    /// How much less the ridge penalty weighs on prior features, as a ratio of standard deviations (see `fit`).
    static let priorEmphasis = 10.0

    public var name: String { configuration.mlp == nil ? "ridge-ensemble" : "ridge+mlp-ensemble" }
    public var targetScale: TargetScale { configuration.target }
    public var isFitted: Bool { !members.isEmpty }
    /// For each member, the epoch its MLP was early-stopped at (0 = the MLP adds nothing).
    public var mlpEpochs: [Int] { members.map { $0.mlp?.bestEpoch ?? 0 } }

    public init(schema: PolicySchema?, configuration: EnsembleConfiguration = .standard, prior: SensitivityPrior? = nil) {
        precondition(prior == nil || schema != nil, "a sensitivity prior needs the policy schema")
        self.schema = schema
        self.configuration = configuration
        self.prior = prior
    }

    public mutating func fit(features: [[Double]], targets: [Double], seed: UInt64) throws {
        let d = try validateTrainingData(features, targets)
        if let schema, schema.columns.count != d {
            throw PredictorError.schemaMismatch(expected: schema.columns.count, found: d)
        }
        let n = features.count
        let targets = targets.map(configuration.target.target)
        targetMean = targets.reduce(0, +) / Double(n)
        let variance = targets.reduce(0) { $0 + ($1 - targetMean) * ($1 - targetMean) } / Double(n)
        targetStd = variance > 1e-24 ? variance.squareRoot() : 1
        let y = targets.map { ($0 - targetMean) / targetStd }
        let all = Array(0..<n)

        // Feature set and ridge penalty by exact leave-one-out error on the training rows: the best penalty per
        // candidate, then the simplest candidate within one standard error (of the paired per-row difference) of the
        // best candidate.
        let candidates = configuration.featureCandidates.isEmpty ? [FeatureOptions.standard] : configuration.featureCandidates
        typealias Fitted = (map: PolicyFeatureMap, z: Matrix, scaler: Standardizer, lambda: Double, error: Double,
                            rowErrors: [Double])
        var fitted: [Fitted] = []
        for options in candidates {
            let map = schema.map { PolicyFeatureMap(schema: $0, options: options, prior: prior) }
                ?? PolicyFeatureMap(genericInputs: d, squares: options.squares)
            let phi = Matrix(features.map { map.features($0) })
            var scaler = Standardizer(fitting: phi)
            // Prior features count 10 standard deviations per unit, so the ridge penalty weighs on them 100 times less:
            // a few summed sensitivities explain what tens of per-layer columns cannot from tens of rows, and an equal
            // penalty would spread their weight over correlated per-layer columns that extrapolate worse.
            for j in map.priorFeatureIndices { scaler.std[j] /= Self.priorEmphasis }
            let z = scaler.apply(phi)
            let (lambda, error, rowErrors) = LinearModel.selectLambda(z, y, rows: all, grid: configuration.ridgeLambdas)
            fitted.append((map, z, scaler, lambda, error, rowErrors))
        }
        let best = fitted.indices.min { fitted[$0].error < fitted[$1].error }!
        let chosen = fitted.indices.filter { i in
            let differences = zip(fitted[i].rowErrors, fitted[best].rowErrors).map { $0 - $1 }
            let mean = differences.reduce(0, +) / Double(n)
            let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(n - 1, 1))
            return mean <= (variance / Double(n)).squareRoot()
        }.min { (fitted[$0].map.outputCount, $0) < (fitted[$1].map.outputCount, $1) }.map { fitted[$0] }
            ?? fitted[best]
        let map = chosen.map
        let z = chosen.z
        featureScaler = chosen.scaler
        lambda = chosen.lambda
        looRMSE = chosen.error.squareRoot() * targetStd
        // The noise is in accuracy points; on another scale it is converted at the rows' mean.
        let noise = (configuration.measurementNoise ?? 0) / configuration.target.slope(targetMean)
        support = DataSupport(z: z, lambda: lambda, scale: max(looRMSE, noise))
        let u = Matrix(features.map { map.base($0) })
        baseScaler = Standardizer(fitting: u)
        let zu = baseScaler.apply(u)

        let memberCount = max(1, configuration.members)
        var holdout = Int((configuration.validationFraction * Double(n)).rounded())
        holdout = min(max(holdout, n >= 5 ? 1 : 0), n - 2)
        var foldRng = SplitMix64(seed: SplitMix64.derive(seed, 0xF01D))
        let foldOrder = foldRng.permutation(n)
        var members: [Member] = []
        for m in 0..<memberCount {
            var rng = SplitMix64(seed: SplitMix64.derive(seed, UInt64(m)))
            let (train, validation) = memberRows(n: n, member: m, of: memberCount, holdout: holdout,
                                                 foldOrder: foldOrder, rng: &rng)
            guard let ridge = LinearModel.ridge(z, y, rows: train, lambda: lambda) else { throw PredictorError.singular }
            var member = Member(ridge: ridge, mlp: nil)
            if let settings = configuration.mlp {
                let residual = (0..<n).map { r in y[r] - ridge.predict(Array(z.row(r))) }
                let input = configuration.mlpOnFeatures ? z : zu
                var mlp = MLP(inputs: input.cols, hidden: settings.hiddenUnits, rng: &rng)
                mlp.train(x: input.data, y: residual, train: train, validation: validation, settings: settings, rng: &rng)
                member.mlp = mlp
            }
            members.append(member)
        }
        self.members = members
        self.featureMap = map
    }

    /// A member's training and early-stopping rows.
    private func memberRows(n: Int, member m: Int, of count: Int, holdout: Int, foldOrder: [Int],
                            rng: inout SplitMix64) -> (train: [Int], validation: [Int]) {
        let all = Array(0..<n)
        if count == 1 && configuration.mlp == nil { return (all, []) }
        switch configuration.sampling {
        case .folds where count > 1:
            let lo = m * n / count, hi = (m + 1) * n / count
            return (Array(foldOrder[..<lo] + foldOrder[hi...]), Array(foldOrder[lo..<hi]))
        case .bootstrap:
            let sample = (0..<n).map { _ in rng.nextInt(below: n) }
            var inBag = [Bool](repeating: false, count: n)
            for r in sample { inBag[r] = true }
            return (sample, all.filter { !inBag[$0] })
        case .folds, .subsample:
            let perm = rng.permutation(n)
            return (Array(perm[holdout...]), Array(perm[..<holdout]))
        }
    }

    /// Each member's prediction (accuracy in percent).
    public func memberPredictions(_ x: [Double]) -> [Double] { memberTargets(x).map(configuration.target.accuracy) }

    /// Each member's prediction on the target scale.
    func memberTargets(_ x: [Double]) -> [Double] {
        guard let map = featureMap else { preconditionFailure("EnsemblePredictor used before fit") }
        let ub = map.base(x)
        let zf = featureScaler.apply(map.features(base: ub))
        let zu = baseScaler.apply(ub)
        let mlpInput = configuration.mlpOnFeatures ? zf : zu
        var out: [Double] = []
        out.reserveCapacity(members.count)
        for member in members {
            var s = member.ridge.predict(zf)
            if let mlp = member.mlp { s += mlp.predict(mlpInput) }
            out.append(targetMean + targetStd * s)
        }
        return out
    }

    public func predict(_ x: [Double]) -> (mean: Double, std: Double) {
        let p = memberPredictions(x)
        let mean = p.reduce(0, +) / Double(p.count)
        guard p.count > 1 else { return (mean, 0) }
        let variance = p.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(p.count - 1)
        return (mean, variance.squareRoot())
    }

    public func gradient(_ x: [Double]) -> [Double] {
        // d mean accuracy = mean over members of slope(t_m) x d t_m.
        let weights = configuration.target == .accuracy
            ? [Double](repeating: 1, count: members.count) : memberTargets(x).map(configuration.target.slope)
        return targetGradient(x, memberWeights: weights)
    }

    /// Sum over members of memberWeights[m] x d t_m / d x, divided by the member count (t_m: member m's prediction on
    /// the target scale).
    private func targetGradient(_ x: [Double], memberWeights: [Double]) -> [Double] {
        guard let map = featureMap else { preconditionFailure("EnsemblePredictor used before fit") }
        let ub = map.base(x)
        let zu = baseScaler.apply(ub)
        let zf = configuration.mlpOnFeatures ? featureScaler.apply(map.features(base: ub)) : []
        let k = Double(members.count)
        var gf = [Double](repeating: 0, count: map.outputCount)
        var gu = [Double](repeating: 0, count: map.inputCount)
        for (member, weight) in zip(members, memberWeights) {
            for (i, w) in member.ridge.weights.enumerated() { gf[i] += weight * w }
            if let mlp = member.mlp {
                if configuration.mlpOnFeatures {
                    for (i, g) in mlp.inputGradient(zf).enumerated() { gf[i] += weight * g }
                } else {
                    for (i, g) in mlp.inputGradient(zu).enumerated() { gu[i] += weight * g }
                }
            }
        }
        for i in gf.indices { gf[i] *= targetStd / (k * featureScaler.std[i]) }
        for i in gu.indices { gu[i] *= targetStd / (k * baseScaler.std[i]) }
        let fromFeatures = map.pullbackToBase(base: ub, featureGradient: gf)
        for i in gu.indices { gu[i] += fromFeatures[i] }
        return map.pullbackToRaw(x, baseGradient: gu)
    }

    /// The standard error on the target scale, converted to accuracy points at the members' mean target
    /// (first-order: the error rate's share of the standard error).
    public func extrapolation(_ x: [Double]) -> Double {
        guard let map = featureMap, let support else { return 0 }
        let targetError = support.standardError(standardized: featureScaler.apply(map.features(x)))
        guard configuration.target != .accuracy else { return targetError }
        return targetError * configuration.target.slope(meanTarget(x))
    }

    public func extrapolationGradient(_ x: [Double]) -> [Double] {
        guard let map = featureMap, let support else { return [Double](repeating: 0, count: x.count) }
        let ub = map.base(x)
        let z = featureScaler.apply(map.features(base: ub))
        let gz = support.gradient(standardized: z)
        let gf = zip(gz, featureScaler.std).map { $0 / $1 }
        let errorGradient = map.pullbackToRaw(x, baseGradient: map.pullbackToBase(base: ub, featureGradient: gf))
        guard configuration.target != .accuracy else { return errorGradient }
        // d [e(x) s(t(x))] = s de + e s'(t) dt, with s' = -s on the log-error scale.
        let t = meanTarget(x)
        let s = configuration.target.slope(t)
        let e = support.standardError(standardized: z)
        let dt = targetGradient(x, memberWeights: [Double](repeating: 1, count: members.count))
        return zip(errorGradient, dt).map { s * $0 - e * s * $1 }
    }

    /// The members' mean prediction on the target scale.
    private func meanTarget(_ x: [Double]) -> Double {
        let t = memberTargets(x)
        return t.reduce(0, +) / Double(t.count)
    }
}

// MARK: - Ridge

/// Ridge regression with the penalty chosen by exact leave-one-out error. With `features: nil` it regresses on the
/// standardized raw columns (the baseline); with feature options and a schema, on engineered features.
public struct RidgePredictor: PerformancePredictor {
    public let schema: PolicySchema?
    public let features: FeatureOptions?
    public let lambdas: [Double]
    public private(set) var lambda: Double = 0
    public private(set) var featureMap: PolicyFeatureMap?
    var scaler = Standardizer(mean: [], std: [])
    var model = LinearModel(weights: [], intercept: 0)

    public var name: String { features == nil ? "ridge" : "ridge-features" }

    /// The baseline: ridge on standardized raw columns.
    public init(lambdas: [Double] = defaultRidgeLambdas) {
        schema = nil
        features = nil
        self.lambdas = lambdas
    }

    /// Ridge on engineered features of a policy schema.
    public init(schema: PolicySchema, features: FeatureOptions = .standard, lambdas: [Double] = defaultRidgeLambdas) {
        self.schema = schema
        self.features = features
        self.lambdas = lambdas
    }

    public mutating func fit(features rows: [[Double]], targets: [Double], seed: UInt64) throws {
        let d = try validateTrainingData(rows, targets)
        let map: PolicyFeatureMap
        if let schema, let features {
            guard schema.columns.count == d else { throw PredictorError.schemaMismatch(expected: schema.columns.count, found: d) }
            map = PolicyFeatureMap(schema: schema, options: features)
        } else {
            map = PolicyFeatureMap(genericInputs: d, squares: false)
        }
        let phi = Matrix(rows.map { map.features($0) })
        scaler = Standardizer(fitting: phi)
        let z = scaler.apply(phi)
        let all = Array(rows.indices)
        lambda = LinearModel.selectLambda(z, targets, rows: all, grid: lambdas).lambda
        guard let model = LinearModel.ridge(z, targets, rows: all, lambda: lambda) else { throw PredictorError.singular }
        self.model = model
        featureMap = map
    }

    public func predict(_ x: [Double]) -> (mean: Double, std: Double) {
        guard let map = featureMap else { preconditionFailure("RidgePredictor used before fit") }
        return (model.predict(scaler.apply(map.features(x))), 0)
    }

    public func gradient(_ x: [Double]) -> [Double] {
        guard let map = featureMap else { preconditionFailure("RidgePredictor used before fit") }
        let gf = zip(model.weights, scaler.std).map { $0 / $1 }
        return map.pullbackToRaw(x, baseGradient: map.pullbackToBase(base: map.base(x), featureGradient: gf))
    }
}
