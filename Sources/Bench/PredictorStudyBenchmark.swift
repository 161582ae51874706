import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerModels
import SeerPredictor
import SeerSearch

/// `seer-bench predictor-study`: predictor variants judged on real measured policies, with no new measurement.
///
/// bench/search-quality's measurement log holds, per model and seed, hundreds of fine-tuned validation measurements
/// (random pools in each budget band, evolution's candidates, campaigns' samples) and the per-layer sensitivity probes.
/// For each seed this fits every variant on `repeats` random training sets of each size (the same sets for every
/// variant: a paired comparison) and scores it on the rest of that seed's policies:
///   - `top1_regret_B`: best held-out accuracy within budget B (band 0.6-1.0 x B) minus the accuracy of the held-out
///     policy the predictor ranks first there: what a pick by this predictor loses, in points;
///   - `top5_mean_B`: mean accuracy of its five best-ranked held-out policies within B;
///   - `tau`: Kendall tau over all held-out policies; `mae`: mean |predicted - measured|.
/// Measured accuracies carry noise (about a point), so regrets are judged as means over repeats and seeds.
struct PredictorStudyBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predictor-study",
        abstract: "Predictor variants scored on bench/search-quality's measured policies (no new measurement).")

    @Option(help: "Directory of bench/search-quality's measurement logs.") var out = "runs/search-quality"
    @Option(help: "Model whose measurements to use.") var model = "resnet8"
    @Option(help: "Seeds (measurement seeds of the log), e.g. 0-1.") var seeds = "0-1"
    @Option(help: "BitOPs budgets in % of the 8/8 model.") var budgets = "12,20,30"
    @Option(help: "Training set sizes.") var sizes = "16,32"
    @Option(help: "Random training sets per size and seed.") var repeats = 10
    @Option(help: "Variants: \(PredictorVariant.allCases.map(\.rawValue).joined(separator: ", ")).")
    var variants = PredictorVariant.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "The campaign variant's feature sets: standard or linear.") var features = "standard"
    @Option(help: "The campaign variant's MLP hidden units (0: ridge only).") var hidden = 16
    @Option(help: "The campaign variant's target scale: log_error or accuracy.") var target = TargetScale.logError.rawValue

    func run() throws {
        let chosen = try variants.split(separator: ",").map { name -> PredictorVariant in
            guard let v = PredictorVariant(rawValue: String(name)) else {
                throw ValidationError("--variants: '\(name)' is not one of \(PredictorVariant.allCases.map(\.rawValue))")
            }
            return v
        }
        guard let targetScale = TargetScale(rawValue: target) else {
            throw ValidationError("--target: '\(target)' is not one of \(TargetScale.allCases.map(\.rawValue))")
        }
        let seedList = try parseSeedList(seeds, option: "--seeds")
        let budgetList = try budgets.split(separator: ",").map { s -> Double in
            guard let v = Double(s), v > 0 else { throw ValidationError("--budgets: '\(s)' is not a percentage") }
            return v / 100
        }
        let sizeList = try sizes.split(separator: ",").map { s -> Int in
            guard let v = Int(s), v >= 4 else { throw ValidationError("--sizes: '\(s)' is not a count >= 4") }
            return v
        }
        let lines = try readJSONLines(directory: URL(fileURLWithPath: out, isDirectory: true), prefix: "measurements")
        let base = try ModelStore.load(model)
        let encoding = PolicyEncoding(model: base, space: .default)
        let complexity = try LayerwiseComplexity(model: base, encoding: encoding, metric: .bitops)
        let reference = Double(try Complexity.compute(model: base, policy: try Policy(bits: "8/8").resolve(for: base)).bitops)

        // [variant][size][metric] -> values over seeds x repeats
        var scores = [String: [String: [String: [Double]]]]()
        for seed in seedList {
            let data = try SeedData(lines: lines, model: model, seed: seed, base: base, encoding: encoding)
            let prior = data.probes.map { $0.prior(for: encoding) }
            let costs = data.levels.map { complexity.value(encoding.relaxation(levels: $0)) / reference }
            FileHandle.standardError.write(Data(("predictor-study: \(model) seed \(seed): \(data.accuracies.count) measured "
                + "policies, \(data.probes == nil ? "no" : "\(data.probeCount)") probes\n").utf8))
            for size in sizeList where size < data.accuracies.count - 10 {
                for r in 0..<repeats {
                    var rng = SplitMix64(seed: seed &* 1000 &+ UInt64(size) &* 31 &+ UInt64(r))
                    var order = Array(data.accuracies.indices)
                    order.shuffle(using: &rng)
                    let train = Array(order.prefix(size)), test = Array(order.dropFirst(size))
                    for variant in chosen {
                        var config = CampaignConfig(name: "study", model: "study", budgets: [])
                        config.predictor.features = features
                        config.predictor.hidden = hidden
                        config.predictor.target = targetScale
                        let predictor = try variant.fit(config: config, encoding: encoding, prior: prior,
                                                        features: train.map { data.features[$0] },
                                                        targets: train.map { data.accuracies[$0] }, seed: UInt64(r))
                        let predicted = test.map { predictor.predict(data.features[$0]).mean }
                        let measured = test.map { data.accuracies[$0] }
                        var row = ["tau": Metrics.kendallTau(predicted, measured),
                                   "mae": zip(predicted, measured).map { abs($0 - $1) }.reduce(0, +) / Double(test.count)]
                        for budget in budgetList {
                            let within = test.indices.filter { costs[test[$0]] <= budget && costs[test[$0]] >= 0.6 * budget }
                            guard within.count >= 5 else { continue }
                            let ranked = within.sorted { predicted[$0] > predicted[$1] }
                            let best = within.map { measured[$0] }.max()!
                            row["top1_regret_\(percent(budget))"] = best - measured[ranked[0]]
                            row["top5_mean_\(percent(budget))"] = ranked.prefix(5).map { measured[$0] }.reduce(0, +) / 5
                        }
                        for (k, v) in row where v.isFinite {
                            scores[variant.rawValue, default: [:]]["\(size)", default: [:]][k, default: []].append(v)
                        }
                    }
                }
            }
        }
        var summary = [String: Any]()
        for (variant, bySize) in scores {
            var v = [String: Any]()
            for (size, metrics) in bySize {
                var m = [String: Any]()
                for (k, values) in metrics {
                    let mean = values.reduce(0, +) / Double(values.count)
                    let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, values.count - 1))).squareRoot()
                    m[k] = ["mean": mean, "se": sd / Double(values.count).squareRoot(), "n": values.count]
                }
                v[size] = m
            }
            summary[variant] = v
        }
        let json: [String: Any] = ["bench": "predictor-study", "model": model, "seeds": seedList.map { Int($0) },
                                   "repeats": repeats, "variants": summary, "cpu": HostCPU.description]
        print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
    }
}

/// The predictors compared.
enum PredictorVariant: String, CaseIterable {
    /// What campaigns fit: ridge + residual MLP ensemble with the sensitivity prior's features.
    case campaign
    /// The same without the prior.
    case noPrior = "no-prior"
    /// Ridge members only, with the prior.
    case ridge
    /// The prior's additive drop alone, rescaled by one least-squares line (no per-layer learning).
    case priorLine = "prior-line"
    /// Ridge on the prior's per-kind sums and the square of its total: the prior features campaigns used before
    /// they kept its total alone.
    case priorKinds = "prior-kinds"

    func fit(config: CampaignConfig, encoding: PolicyEncoding, prior: SensitivityPrior?, features: [[Double]],
             targets: [Double], seed: UInt64) throws -> any PerformancePredictor {
        switch self {
        case .campaign:
            return try config.fitPredictor(encoding: encoding, features: features, targets: targets, round: Int(seed), prior: prior)
        case .noPrior:
            return try config.fitPredictor(encoding: encoding, features: features, targets: targets, round: Int(seed))
        case .ridge:
            var ridgeOnly = config
            ridgeOnly.predictor.hidden = 0
            return try ridgeOnly.fitPredictor(encoding: encoding, features: features, targets: targets, round: Int(seed), prior: prior)
        case .priorLine:
            guard let prior else { throw ValidationError("prior-line needs the sensitivity probes in the log") }
            var predictor = PriorLine(prior: prior)
            try predictor.fit(features: features, targets: targets, seed: seed)
            return predictor
        case .priorKinds:
            guard let prior else { throw ValidationError("prior-kinds needs the sensitivity probes in the log") }
            var predictor = PriorKinds(prior: prior)
            try predictor.fit(features: features, targets: targets, seed: seed)
            return predictor
        }
    }
}

/// accuracy = a + b x (the prior's total untuned drop): the sensitivity allocation's own model, calibrated.
struct PriorLine: PerformancePredictor {
    let prior: SensitivityPrior
    var a = 0.0, b = 0.0
    var name: String { "prior-line" }

    func total(_ x: [Double]) -> Double { SensitivityPrior.Kind.allCases.map { prior.sum($0, base: x) }.reduce(0, +) }

    mutating func fit(features: [[Double]], targets: [Double], seed: UInt64) throws {
        let t = features.map(total)
        let mt = t.reduce(0, +) / Double(t.count), my = targets.reduce(0, +) / Double(targets.count)
        let sxy = zip(t, targets).map { ($0 - mt) * ($1 - my) }.reduce(0, +)
        let sxx = t.map { ($0 - mt) * ($0 - mt) }.reduce(0, +)
        b = sxx > 0 ? sxy / sxx : 0
        a = my - b * mt
    }

    func predict(_ x: [Double]) -> (mean: Double, std: Double) { (a + b * total(x), 0) }
    func gradient(_ x: [Double]) -> [Double] { [Double](repeating: 0, count: x.count) }
}

/// Ridge (penalty by leave-one-out error) on [per-kind prior sums, total^2].
struct PriorKinds: PerformancePredictor {
    let prior: SensitivityPrior
    var ridge = RidgePredictor()
    var name: String { "prior-kinds" }

    func row(_ x: [Double]) -> [Double] {
        let sums = SensitivityPrior.Kind.allCases.map { prior.sum($0, base: x) }
        let t = sums.reduce(0, +)
        return sums + [t * t]
    }

    mutating func fit(features: [[Double]], targets: [Double], seed: UInt64) throws {
        try ridge.fit(features: features.map(row), targets: targets, seed: seed)
    }

    func predict(_ x: [Double]) -> (mean: Double, std: Double) { ridge.predict(row(x)) }
    func gradient(_ x: [Double]) -> [Double] { [Double](repeating: 0, count: x.count) }
}

/// One seed's measured policies (fine-tuned, validation) and its sensitivity probes, read from the log.
struct SeedData {
    var features: [[Double]] = []
    var levels: [[Int]] = []
    var accuracies: [Double] = []
    var probes: SensitivityTable?
    var probeCount = 0

    init(lines: [[String: Any]], model: String, seed: UInt64, base: Model, encoding: PolicyEncoding) throws {
        var probeAccuracy = [String: Double]()
        var seen = Set<String>()
        for line in lines {
            guard let key = line["key"] as? String, let accuracy = jsonDouble(line["accuracy"]) else { continue }
            let parts = key.split(separator: "\n", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == model,
                  let settings = try JSONSerialization.jsonObject(with: Data(parts[2].utf8)) as? [String: Any],
                  jsonDouble(settings["seed"]) == Double(seed), settings["split"] as? String == "validation" else { continue }
            if jsonDouble(settings["finetune_steps"]) == 0 {
                probeAccuracy[parts[1]] = accuracy
                continue
            }
            guard seen.insert(parts[1]).inserted else { continue }
            let policy = try Policy.decode(json: Data(parts[1].utf8)).resolve(for: base)
            features.append(try encoding.features(of: policy))
            levels.append(try encoding.levels(of: policy))
            accuracies.append(accuracy)
        }
        var table = [SensitivityProbe: Double]()
        for probe in SensitivityTable.probes(for: encoding) {
            let policy = try compactPolicyJSON(encoding.policy(levels: probe.levels(in: encoding)))
            if let a = probeAccuracy[policy] { table[probe] = a }
        }
        probeCount = table.count
        if table.count == SensitivityTable.probes(for: encoding).count {
            probes = try SensitivityTable(encoding: encoding, accuracies: table)
        }
    }
}
