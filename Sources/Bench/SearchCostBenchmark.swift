import ArgumentParser
import Foundation
import SeerCompression
import SeerCoordinator
import SeerData
import SeerMeasurement
import SeerModels
import SeerPredictor
import SeerSearch
import SeerTensor

/// The paper's headline at small scale: best measured test accuracy under a BitOPs budget after 25, 50 and 100
/// measured policies, for random search, an evolutionary search that measures every candidate, and a Seer campaign;
/// and how many measurements each baseline needs to reach what the campaign reaches.
struct SearchCostBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "search-cost")

    @Option(help: "Model (its committed checkpoint).") var model = "resnet8"
    @Option(help: "BitOPs budget as a fraction of the 8/8 model.") var budget = 0.2
    @Option(help: "Measurement counts, comma separated.") var counts = "25,50,100"
    @Option(help: "Fine-tuning steps per measured policy.") var finetuneSteps = 20
    @Option(help: "Validation images per measurement.") var images = 1000
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Seed.") var seed: UInt64 = 0

    func run() throws {
        Threads.set(threads)
        let data = try FashionMNIST.load()
        let base = try ModelStore.load(model)
        let ns = counts.split(separator: ",").compactMap { Int($0) }.sorted()
        let maxN = ns.last!
        var settings = EvaluationSettings()
        settings.finetuneSteps = finetuneSteps
        settings.batchSize = 64
        settings.calibrationImages = 64
        settings.evaluationLimit = images
        settings.seed = seed
        settings.latency = LatencySettings(number: 1, repeats: 1, minRepeatMs: 0)
        var cache = [String: Double]()
        var measured = 0
        func accuracy(_ p: ResolvedPolicy, split: Split) throws -> Double {
            let key = String(decoding: try p.policy().jsonData(), as: UTF8.self) + split.rawValue
            if let a = cache[key] { return a }
            var s = settings
            s.split = split
            if split == .test { s.evaluationLimit = nil }
            let a = try PolicyEvaluation.run(base: base, policy: p, data: data, settings: s).accuracy
            cache[key] = a
            measured += 1
            FileHandle.standardError.write(Data("search-cost: \(measured) measurements\r".utf8))
            return a
        }

        let encoding = PolicyEncoding(model: base, space: .default)
        let complexity = try LayerwiseComplexity(model: base, encoding: encoding, metric: .bitops)
        let eight = try Complexity.compute(model: base, policy: try Policy(bits: "8/8").resolve(for: base))
        let limit = budget * Double(eight.bitops)
        let sampler = try PolicySampler(encoding: encoding, complexity: complexity, band: 0.6...1.0)

        // (a) Random search: policies drawn in band below the budget.
        let randomPolicies = try sampler.randomPolicies(count: maxN, near: [limit], seed: seed &+ 1)
        let randomCurve = try randomPolicies.map { (policy: $0, accuracy: try accuracy($0, split: .validation)) }

        // (b) Evolution measuring every candidate: 8 random parents, then tournament + crossover + mutation,
        // infeasible children resampled.
        var rng = SplitMix64(seed: seed &+ 2)
        var evolutionCurve = [(policy: ResolvedPolicy, accuracy: Double)]()
        for p in try sampler.randomPolicies(count: 8, near: [limit], seed: seed &+ 3) {
            evolutionCurve.append((p, try accuracy(p, split: .validation)))
        }
        var seen = Set(evolutionCurve.map(\.policy))
        while evolutionCurve.count < maxN {
            func tournament() -> [Int] {
                let a = evolutionCurve[Int(rng.next() % UInt64(evolutionCurve.count))]
                let b = evolutionCurve[Int(rng.next() % UInt64(evolutionCurve.count))]
                return try! encoding.levels(of: (a.accuracy >= b.accuracy ? a : b).policy)
            }
            var child = [Int]()
            for _ in 0..<50 {
                let (x, y) = (tournament(), tournament())
                child = zip(x, y).map { rng.next() % 2 == 0 ? $0 : $1 }
                for i in child.indices where rng.next() % 10 == 0 {
                    let step = rng.next() % 2 == 0 ? -1 : 1
                    child[i] = min(max(0, child[i] + step), encoding.levelCounts[i] - 1)
                }
                if complexity.value(encoding.relaxation(levels: child)) <= limit && !seen.contains(encoding.policy(levels: child)) { break }
                child = []
            }
            let policy = child.isEmpty ? try sampler.randomPolicies(count: 1, near: [limit], seed: rng.next(), exclude: seen)[0]
                : encoding.policy(levels: child)
            seen.insert(policy)
            evolutionCurve.append((policy, try accuracy(policy, split: .validation)))
        }

        // (c) Seer campaigns measuring N policies in all: random, one informative round, one refinement, the choice.
        var result: [String: Any] = ["model": model, "budget_fraction": budget, "budget_bitops": limit,
                                     "finetune_steps": finetuneSteps, "validation_images": images]
        var rows = [[String: Any]]()
        for n in ns {
            let perRound = max(1, n / 4), initial = n - perRound - 2
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seer-search-cost-\(getpid())-\(n)")
            try? FileManager.default.removeItem(at: dir)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            var config = CampaignConfig(name: "search-cost-\(n)", model: model, budgets: [Budget(value: budget, isFraction: true)])
            config.measurement = settings
            config.sampling.initial = initial
            config.sampling.rounds = 1
            config.sampling.perRound = perRound
            config.sampling.refine = 1
            config.predictor.features = "linear"
            config.seed = seed
            let store = try SeerStore(path: dir.appendingPathComponent("seer.sqlite").path)
            let backend = CachedBackend { p, split in try accuracy(p, split: split) } resolve: { try Policy.decode(json: try $0.jsonData()).resolve(for: base) }
            let runner = try CampaignRunner(config: config, store: store, backend: backend, resultsDirectory: dir,
                                            showProgress: false, log: { _ in })
            let summary = try runner.run()
            let campaignPoints = try CampaignStore.measurements(config.name, in: store)
                .filter { $0.split == "validation" && $0.accuracy != nil }
            let campaignBest = try campaignPoints.map { (try resolveJSON($0.policy, base), $0.accuracy!) }
                .filter { complexity.value(encoding.relaxation(levels: try encoding.levels(of: $0.0))) <= limit * (1 + 1e-9) }
                .max { $0.1 < $1.1 }!
            func best(_ curve: [(policy: ResolvedPolicy, accuracy: Double)], _ k: Int) -> (ResolvedPolicy, Double) {
                let top = curve.prefix(k).max { $0.accuracy < $1.accuracy }!
                return (top.policy, top.accuracy)
            }
            func needed(_ curve: [(policy: ResolvedPolicy, accuracy: Double)], toReach target: Double) -> Int? {
                var bestSoFar = -Double.infinity
                for (i, point) in curve.enumerated() {
                    bestSoFar = max(bestSoFar, point.accuracy)
                    if bestSoFar >= target { return i + 1 }
                }
                return nil
            }
            let r = best(randomCurve, n), e = best(evolutionCurve, n)
            rows.append([
                "measurements": n,
                "random_validation": r.1, "random_test": try accuracy(r.0, split: .test),
                "evolution_validation": e.1, "evolution_test": try accuracy(e.0, split: .test),
                "seer_validation": campaignBest.1, "seer_test": try accuracy(campaignBest.0, split: .test),
                "seer_measured": campaignPoints.count,
                "seer_chosen_predicted": summary.choices.first?.predicted ?? .nan,
                "random_needs": needed(randomCurve, toReach: campaignBest.1).map { $0 as Any } ?? "> \(maxN)",
                "evolution_needs": needed(evolutionCurve, toReach: campaignBest.1).map { $0 as Any } ?? "> \(maxN)",
            ])
        }
        result["rows"] = rows
        result["measurements_run"] = measured
        FileHandle.standardError.write(Data("\n".utf8))
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }
}

func resolveJSON(_ json: String, _ base: Model) throws -> ResolvedPolicy {
    try Policy.decode(json: Data(json.utf8)).resolve(for: base)
}

/// A campaign backend that measures through the benchmark's shared cache (same settings as the baselines).
final class CachedBackend: MeasurementBackend {
    let measure: (ResolvedPolicy, Split) throws -> Double
    let resolve: (Policy) throws -> ResolvedPolicy
    init(measure: @escaping (ResolvedPolicy, Split) throws -> Double, resolve: @escaping (Policy) throws -> ResolvedPolicy) {
        self.measure = measure
        self.resolve = resolve
    }
    func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        for r in requests {
            let a = try measure(try resolve(r.policy), r.settings.split)
            try record(r.id, .done(MeasuredValues(accuracy: a, timingsMs: [:])))
        }
    }
}
