import ArgumentParser
import Foundation
import SeerCompression
import SeerModels
import SeerPredictor
import SeerSearch

/// Gradient policy optimizer vs the evolutionary baseline over one and the same predictor, per BitOPs budget.
///
/// The predictor: a standard `EnsemblePredictor` fitted on `rows` random policies of resnet20's real searchable layout
/// (`PolicyEncoding`: 11 tied-group prune ratios, wbits/abits for 21 layers) drawn near the budgets, labelled by
/// `SyntheticAccuracy` (SeerNet-style damage model) plus 0.15 points of noise. Both searches maximize its prediction;
/// `*_true` is the noise-free synthetic accuracy of what they return.
struct OptimizerBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "optimizer")

    @Option(help: "Budgets as fractions of the 8/8 unpruned BitOPs.") var fractions: [Double] = [0.15, 0.25, 0.40]
    @Option(help: "Timed optimizer runs per budget (median reported, after one warm-up).") var repeats = 15
    @Option(help: "Timed evolution runs per budget (median reported).") var evolutionRepeats = 3
    @Option(help: "Training rows of the predictor.") var rows = 400
    @Option(help: "Seed of the synthetic accuracy, the training rows and the predictor.") var seed: UInt64 = 1
    @Option(help: "Optimizer: random starts besides the all-minimum policy.") var randomStarts = PolicyOptimizer.Settings().randomStarts
    @Option(help: "Optimizer: gradient steps per start.") var iterations = PolicyOptimizer.Settings().iterations
    @Option(help: "Optimizer: starts finished on the discrete space.") var finishes = PolicyOptimizer.Settings().finishes
    @Option(help: "Optimizer: exact predictions per discrete move.") var candidates = PolicyOptimizer.Settings().candidatesPerMove
    @Option(help: "Optimizer: exchange pool size.") var exchangePool = PolicyOptimizer.Settings().exchangePool
    @Option(help: "Optimizer: Adam step size.") var learningRate = PolicyOptimizer.Settings().learningRate

    func run() throws {
        let model = try ModelZoo.make("resnet20", seed: 0)
        let encoding = PolicyEncoding(model: model)
        let bitops = try LayerwiseComplexity(model: model, encoding: encoding, metric: .bitops)
        let full = Double(try Complexity.compute(model: model, policy: try Policy(bits: "8/8").resolve(for: model)).bitops)
        let budgets = fractions.map { $0 * full }

        let sampler = try PolicySampler(encoding: encoding, complexity: bitops, band: 0.5...1.1)
        let training = try sampler.randomPolicies(count: rows, near: budgets, seed: seed)
        let truth = SyntheticAccuracy(encoding: encoding, seed: seed)
        let table = truth.table(rows: try training.map(encoding.features(of:)), seed: seed)
        var predictor = EnsemblePredictor(schema: encoding.schema)
        let fitStart = Date()
        try predictor.fit(table, seed: seed)
        let fitSeconds = Date().timeIntervalSince(fitStart)
        log("fitted \(predictor.name) on \(rows) rows in \(String(format: "%.1f", fitSeconds)) s")
        let problem = try SearchProblem(encoding: encoding, predictor: predictor, complexity: bitops)
        let row = table.features[0]
        let predictMicros = microseconds(2000) { _ = predictor.predict(row) }
        let gradientMicros = microseconds(2000) { _ = predictor.gradient(row) }

        let optimizer = PolicyOptimizer(settings: PolicyOptimizer.Settings(
            randomStarts: randomStarts, iterations: iterations, finishes: finishes, learningRate: learningRate,
            candidatesPerMove: candidates, exchangePool: exchangePool))
        var perBudget: [[String: Any]] = []
        for (fraction, budget) in zip(fractions, budgets) {
            // Optimizer runs are interleaved with the evolution runs, so both medians sample the same stretch of time
            // on a machine whose load changes (a few ms of optimizer runs back to back can all hit one busy spell).
            _ = try optimizer.optimize(problem, budget: budget)
            var optimized: [SearchResult] = [], evolved: [SearchResult] = []
            let rounds = max(1, evolutionRepeats)
            for round in 0..<rounds {
                evolved.append(try EvolutionarySearch().search(problem, budget: budget))
                let share = max(1, repeats) * (round + 1) / rounds - max(1, repeats) * round / rounds
                for _ in 0..<share { optimized.append(try optimizer.optimize(problem, budget: budget)) }
            }
            let (o, e) = (optimized[0], evolved[0])
            let optimizerMs = 1000 * medianOf(optimized.map(\.seconds))
            let evolutionMs = 1000 * medianOf(evolved.map(\.seconds))
            let entry: [String: Any] = [
                "fraction": fraction, "budget_bitops": budget,
                "optimizer_ms": optimizerMs, "evolution_ms": evolutionMs, "speedup": evolutionMs / optimizerMs,
                "optimizer_predicted": o.predictedMean, "evolution_predicted": e.predictedMean,
                "optimizer_std": o.predictedStd, "evolution_std": e.predictedStd,
                "optimizer_true": truth.accuracy(features: encoding.features(levels: o.levels)),
                "evolution_true": truth.accuracy(features: encoding.features(levels: e.levels)),
                "optimizer_cost_fraction": o.complexity / budget, "evolution_cost_fraction": e.complexity / budget,
                "optimizer_predictor_calls": o.predictorCalls, "evolution_predictor_calls": e.predictorCalls,
                "call_ratio": Double(e.predictorCalls) / Double(o.predictorCalls),
            ]
            log("budget \(fraction): optimizer \(format(o.predictedMean)) in \(format(optimizerMs)) ms, "
                + "evolution \(format(e.predictedMean)) in \(format(evolutionMs)) ms")
            perBudget.append(entry)
        }
        let speedups = perBudget.map { $0["speedup"] as! Double }
        let gaps = perBudget.map { ($0["evolution_predicted"] as! Double) - ($0["optimizer_predicted"] as! Double) }
        let result: [String: Any] = [
            "model": "resnet20", "variables": encoding.variables.count, "training_rows": rows,
            "predictor": predictor.name, "predictor_fit_s": fitSeconds,
            "predict_us": predictMicros, "gradient_us": gradientMicros, "budgets": perBudget,
            "speedup_min": speedups.min()!, "accuracy_gap_max": gaps.max()!,
            "call_ratio_min": perBudget.map { $0["call_ratio"] as! Double }.min()!,
            "optimizer_ms_max": perBudget.map { $0["optimizer_ms"] as! Double }.max()!,
            "goal_met": speedups.min()! >= 100 && gaps.max()! <= 0,
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }

    private func log(_ message: String) { FileHandle.standardError.write(Data("bench/optimizer: \(message)\n".utf8)) }
    private func format(_ value: Double) -> String { String(format: "%.3f", value) }
}

private func medianOf(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// Mean microseconds per call over `calls` calls.
private func microseconds(_ calls: Int, _ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<calls { body() }
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3 / Double(calls)
}
