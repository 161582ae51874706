// Cross-validation of performance predictors over seeded random splits.
import Foundation

/// Held-out metrics of one split.
public struct SplitMetrics: Codable, Hashable, Sendable {
    public var seed: UInt64
    public var kendallTau: Double
    public var spearman: Double
    public var rmse: Double
    /// Mean predicted uncertainty (ensemble spread) on the held-out rows.
    public var meanStd: Double
    /// Spearman rho between predicted uncertainty and absolute error on the held-out rows (NaN without spread).
    public var stdErrorSpearman: Double
}

/// Mean held-out metrics over random splits.
public struct CrossValidationResult: Codable, Hashable, Sendable {
    public var predictor: String
    public var splits: Int
    public var holdout: Double
    public var rows: Int
    /// Held-out rows per split.
    public var testRows: Int
    public var kendallTau: Double
    public var spearman: Double
    public var rmse: Double
    public var meanStd: Double
    public var stdErrorSpearman: Double
    /// Standard deviation of Kendall tau over the splits.
    public var kendallTauStd: Double
    public var perSplit: [SplitMetrics]
}

/// The split of seed `seed`: a SplitMix64 Fisher-Yates permutation of the rows; the first `round(holdout * n)` rows
/// (at least 2, leaving at least 3 for training) are held out.
public func randomSplit(rows n: Int, holdout: Double, seed: UInt64) -> (train: [Int], test: [Int]) {
    var rng = SplitMix64(seed: seed)
    let perm = rng.permutation(n)
    let testCount = min(max(Int((holdout * Double(n)).rounded()), 2), max(n - 3, 0))
    return (Array(perm[testCount...]), Array(perm[..<testCount]))
}

/// Cross-validates predictors made by `make` on `splits` random splits seeded 0 ..< splits; each fit is seeded with
/// its split's seed. Metrics are computed on the held-out rows of each split and averaged. Splits run concurrently
/// when `concurrent`; `progress(done, total)` is called (serialized) after each split.
public func crossValidate<P: PerformancePredictor>(
    _ table: PolicyTable, splits: Int = 30, holdout: Double = 0.2, concurrent: Bool = true,
    make: @escaping @Sendable () -> P, progress: (@Sendable (Int, Int) -> Void)? = nil
) throws -> CrossValidationResult {
    precondition(splits >= 1, "splits must be at least 1")
    precondition(holdout > 0 && holdout < 1, "holdout must be in (0, 1)")
    let n = table.rowCount
    let box = SplitResults(count: splits)
    let work: @Sendable (Int) -> Void = { s in
        do {
            let (train, test) = randomSplit(rows: n, holdout: holdout, seed: UInt64(s))
            var model = make()
            try model.fit(features: train.map { table.features[$0] }, targets: train.map { table.targets[$0] },
                          seed: UInt64(s))
            let predictions = test.map { model.predict(table.features[$0]) }
            let predicted = predictions.map(\.mean)
            let spread = predictions.map(\.std)
            let actual = test.map { table.targets[$0] }
            let errors = zip(predicted, actual).map { abs($0 - $1) }
            let metrics = SplitMetrics(seed: UInt64(s), kendallTau: Metrics.kendallTau(predicted, actual),
                                       spearman: Metrics.spearman(predicted, actual),
                                       rmse: Metrics.rmse(predicted, actual),
                                       meanStd: spread.reduce(0, +) / Double(spread.count),
                                       stdErrorSpearman: Metrics.spearman(spread, errors))
            box.store(s, .success(metrics), progress: progress)
        } catch {
            box.store(s, .failure(error), progress: progress)
        }
    }
    if concurrent && splits > 1 {
        DispatchQueue.concurrentPerform(iterations: splits, execute: work)
    } else {
        for s in 0..<splits { work(s) }
    }
    let perSplit = try box.results.map { try $0!.get() }
    func mean(_ k: KeyPath<SplitMetrics, Double>) -> Double {
        let values = perSplit.map { $0[keyPath: k] }.filter { !$0.isNaN }
        return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }
    let tau = mean(\.kendallTau)
    let taus = perSplit.map(\.kendallTau).filter { !$0.isNaN }
    let tauStd = taus.count > 1 ? (taus.reduce(0) { $0 + ($1 - tau) * ($1 - tau) } / Double(taus.count - 1)).squareRoot() : 0
    let name = make().name
    return CrossValidationResult(predictor: name, splits: splits, holdout: holdout, rows: n,
                                 testRows: randomSplit(rows: n, holdout: holdout, seed: 0).test.count,
                                 kendallTau: tau, spearman: mean(\.spearman), rmse: mean(\.rmse),
                                 meanStd: mean(\.meanStd), stdErrorSpearman: mean(\.stdErrorSpearman),
                                 kendallTauStd: tauStd, perSplit: perSplit)
}

/// Cross-validates the standard `EnsemblePredictor` for the table's schema.
public func crossValidate(_ table: PolicyTable, splits: Int = 30, holdout: Double = 0.2,
                          configuration: EnsembleConfiguration = .standard,
                          progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> CrossValidationResult {
    let schema = table.schema
    return try crossValidate(table, splits: splits, holdout: holdout,
                             make: { EnsemblePredictor(schema: schema, configuration: configuration) }, progress: progress)
}

/// Thread-safe per-split result store.
private final class SplitResults: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Result<SplitMetrics, Error>?]
    private var done = 0

    init(count: Int) { stored = Array(repeating: nil, count: count) }

    func store(_ index: Int, _ result: Result<SplitMetrics, Error>, progress: ((Int, Int) -> Void)?) {
        lock.lock(); defer { lock.unlock() }
        stored[index] = result
        done += 1
        progress?(done, stored.count)
    }

    var results: [Result<SplitMetrics, Error>?] {
        lock.lock(); defer { lock.unlock() }
        return stored
    }
}
