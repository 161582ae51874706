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

/// An honest multi-seed comparison of search methods under a BitOPs budget, every method with the same measurement
/// settings: Seer campaigns of N measurements, random search and aging evolution measuring every candidate, and a
/// zero-search sensitivity allocation. Each method picks its final policy on validation; that pick is then fine-tuned
/// `--test-seeds` times and measured on the whole test split (`SeedRun.test`). See bench/search-quality for the plan,
/// resuming and sharding.
struct SearchQualityBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-quality",
        abstract: "Seer campaigns vs random search, aging evolution and a sensitivity allocation, over seeds.")

    @Option(name: .customLong("run"), help: ArgumentHelp(
        "MODEL:SEEDS:BUDGETS, e.g. resnet8:0-4:12,20,30 (BitOPs budgets in % of the 8/8 model); repeatable.",
        discussion: "Default: resnet8:0-4:12,20,30 and resnet20:0-2:20."))
    var runs: [String] = []
    @Option(help: "Seer campaign sizes: fine-tuned validation measurements per campaign (each >= 12).") var seerCounts = "16,32,64"
    @Option(help: "Random search and evolution sizes: validation measurements.") var baselineCounts = "32,64,128"
    @Option(help: "Methods to run: seer, random, evolution, sensitivity.") var methods = "seer,random,evolution,sensitivity"
    @Option(help: "Fine-tuning steps per measurement.") var finetuneSteps = 40
    @Option(help: "Fine-tuning batch size.") var batchSize = 64
    @Option(help: "Validation images per measurement (test: the whole split).") var images = 1000
    @Option(help: "Calibration images per measurement.") var calibrationImages = 128
    @Option(help: ArgumentHelp(
        "Fine-tunings per test figure: a method's pick is fine-tuned with the run's seed and N - 1 more, each measured "
            + "on the whole test split, and its test accuracy is their mean.",
        discussion: "One fine-tuning's luck moves test accuracy by about 0.6 points (sd), as much as good policies "
            + "differ; 1 reproduces figures from before this option."))
    var testSeeds = 3
    @Option(help: "Validation images per sensitivity probe (default: the campaign's sampling.sensitivity_images).")
    var probeImages: Int?
    @Option(help: "Seer campaigns: the optimizer's pessimism (default: the campaign config's default).")
    var seerPessimism: Double?
    @Option(help: "Seer campaigns: the predictor's hidden units per member, 0 for ridge members (default: the config's).")
    var seerHidden: Int?
    @Option(help: "Seer campaigns: the predictor's feature sets, standard or linear (default: the config's).")
    var seerFeatures: String?
    @Option(help: "Aging evolution: population.") var population = 16
    @Option(help: "Aging evolution: tournament sample size.") var sampleSize = 4
    @Option(help: "Where measurements, campaigns and results are kept (resumable).") var out = "runs/search-quality"
    @Option(help: "Label of this method version: results and campaigns of another label are kept apart.") var label = ""
    @Option(help: "i/k: run only the (model, seed) pairs whose position in the plan is i mod k.") var shard = "0/1"
    @Flag(help: "Measure nothing: read every finished result under --out and print the JSON.") var merge = false
    @Option(help: "Also write a plot per model and budget (SVG, test accuracy against measurements) into this directory.")
    var plots: String?
    @Option(help: "Engine threads of this process.") var threads = 1

    func run() throws {
        let plan = try parsePlan()
        let options = try parseOptions()
        let outDir = URL(fileURLWithPath: out, isDirectory: true)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let results = ResultLog(directory: outDir, shard: options.shardName)
        var failures = [String]()
        if !merge {
            Threads.set(threads)
            let measurer = try Measurer(log: try MeasurementLog(directory: outDir, shard: options.shardName),
                                        prefix: "search-quality \(shard)")
            let pairs = plan.flatMap { entry in entry.seeds.map { (entry, $0) } }
            for (index, (entry, seed)) in pairs.enumerated() where index % options.shardCount == options.shardIndex {
                let context = try SeedRun(model: entry.model, seed: seed, budgets: entry.budgets, settings: options.settings,
                                          testSeeds: options.testSeeds, measurer: measurer, directory: outDir)
                for method in options.methods {
                    measurer.progress("\(entry.model) seed \(seed): \(method.name)")
                    do {
                        for outcome in try method.run(context) {
                            try results.append(ResultRecord(method: method.name, tag: method.tag(options), model: entry.model,
                                                            seed: seed, budget: outcome.budget, values: outcome.values,
                                                            policies: outcome.policies, cpu: HostCPU.description))
                        }
                    } catch {
                        // One failed method must not stop hours of others; its results stay missing in the JSON.
                        failures.append("\(entry.model) seed \(seed) \(method.name): \(error)")
                        measurer.progress("FAILED \(failures.last!)")
                    }
                }
            }
            measurer.progress("done: \(measurer.fresh) measured by this process, \(measurer.reused) read from the log"
                              + (failures.isEmpty ? "" : "; \(failures.count) failed:\n  " + failures.joined(separator: "\n  ")))
        }
        let report = Report(plan: plan, options: options, records: try results.readAll())
        if let plots {
            let directory = URL(fileURLWithPath: plots, isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for plot in report.plots() {
                try Data(plot.svg.utf8).write(to: directory.appendingPathComponent(plot.fileName))
            }
        }
        print(String(decoding: try report.json(), as: UTF8.self))
        if !failures.isEmpty { throw ExitCode(1) }
    }

    // MARK: Options

    func parsePlan() throws -> [PlanEntry] {
        let specs = runs.isEmpty ? ["resnet8:0-4:12,20,30", "resnet20:0-2:20"] : runs
        return try specs.map { spec in
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, !parts[0].isEmpty else { throw ValidationError("--run '\(spec)': expected MODEL:SEEDS:BUDGETS") }
            let seeds = try parseSeedList(parts[1], option: "--run '\(spec)'")
            let budgets = try parts[2].split(separator: ",").map { item -> Double in
                guard let percent = Double(item.trimmingCharacters(in: .whitespaces)), percent > 0, percent <= 100 else {
                    throw ValidationError("--run '\(spec)': budgets are percentages in (0, 100], got '\(item)'")
                }
                return percent / 100
            }
            guard !seeds.isEmpty, !budgets.isEmpty else { throw ValidationError("--run '\(spec)': no seeds or no budgets") }
            return PlanEntry(model: parts[0], seeds: seeds, budgets: budgets)
        }
    }

    func parseOptions() throws -> Options {
        func counts(_ text: String, _ name: String, minimum: Int) throws -> [Int] {
            let values = try text.split(separator: ",").map { item -> Int in
                guard let n = Int(item.trimmingCharacters(in: .whitespaces)), n >= minimum else {
                    throw ValidationError("--\(name): '\(item)' is not a count >= \(minimum)")
                }
                return n
            }
            guard !values.isEmpty else { throw ValidationError("--\(name): give at least one count") }
            return Array(Set(values)).sorted()
        }
        let shardParts = shard.split(separator: "/").compactMap { Int($0) }
        guard shardParts.count == 2, shardParts[1] >= 1, (0..<shardParts[1]).contains(shardParts[0]) else {
            throw ValidationError("--shard: i/k with 0 <= i < k, got '\(shard)'")
        }
        guard testSeeds >= 1 else { throw ValidationError("--test-seeds: at least 1, got \(testSeeds)") }
        if let seerPessimism, !(seerPessimism >= 0) {
            throw ValidationError("--seer-pessimism: at least 0, got \(seerPessimism)")
        }
        if let seerHidden, seerHidden < 0 { throw ValidationError("--seer-hidden: at least 0, got \(seerHidden)") }
        if let seerFeatures, !["standard", "linear"].contains(seerFeatures) {
            throw ValidationError("--seer-features: standard or linear, got '\(seerFeatures)'")
        }
        guard population >= 2, sampleSize >= 1, sampleSize <= population else {
            throw ValidationError("--population >= 2 and 1 <= --sample-size <= population")
        }
        var settings = EvaluationSettings()
        settings.finetuneSteps = finetuneSteps
        settings.batchSize = batchSize
        settings.calibrationImages = calibrationImages
        settings.evaluationLimit = images
        settings.split = .validation
        // Latency plays no part here; time it once, as cheaply as the engine allows.
        settings.latency = LatencySettings(number: 1, repeats: 1, minRepeatMs: 0)
        try settings.validate()
        let seer = try counts(seerCounts, "seer-counts", minimum: 12)
        let baseline = try counts(baselineCounts, "baseline-counts", minimum: population)
        let probes = probeImages ?? SamplingConfig().sensitivityImages
        guard probes >= 1 else { throw ValidationError("--probe-images: at least 1") }
        var chosen = [any QualityMethod]()
        for name in methods.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch name {
            case "seer": chosen.append(SeerCampaigns(counts: seer, label: label, pessimism: seerPessimism, hidden: seerHidden,
                                                   features: seerFeatures))
            case "random": chosen.append(RandomSearch(counts: baseline))
            case "evolution": chosen.append(AgingEvolution(counts: baseline, population: population, sampleSize: sampleSize))
            case "sensitivity": chosen.append(SensitivityBaseline(probeImages: probes))
            default: throw ValidationError("--methods: '\(name)' is not seer, random, evolution or sensitivity")
            }
        }
        return Options(settings: settings, testSeeds: testSeeds, seerCounts: seer, baselineCounts: baseline, methods: chosen,
                       probeImages: probes, population: population, sampleSize: sampleSize, label: label,
                       shardIndex: shardParts[0], shardCount: shardParts[1])
    }
}

struct PlanEntry {
    let model: String
    let seeds: [UInt64]
    /// BitOPs budgets as fractions of the 8/8 unpruned model.
    let budgets: [Double]
}

struct Options {
    /// The measurement settings of every method (validation; a run's seed is set per run).
    let settings: EvaluationSettings
    /// Fine-tunings whose test accuracies are averaged into each test figure.
    let testSeeds: Int
    let seerCounts: [Int]
    let baselineCounts: [Int]
    let methods: [any QualityMethod]
    let probeImages: Int
    let population: Int
    let sampleSize: Int
    let label: String
    let shardIndex: Int
    let shardCount: Int

    var shardName: String { "\(shardIndex)of\(shardCount)" }

    /// What every result depends on besides its method's own settings: the measurement settings and the label.
    /// One test fine-tuning leaves the tag as it was before `testSeeds` existed, so those results still merge.
    var settingsTag: String {
        stableHash(((try? canonicalJSON(settings)) ?? "") + "|" + label + (testSeeds == 1 ? "" : "|test-seeds\(testSeeds)"))
    }
}

/// Sampling band of random search and evolution, as fractions of the budget: the campaign's default.
let qualityBand: ClosedRange<Double> = {
    let band = SamplingConfig().band
    return band[0]...band[1]
}()

/// "20%" for 0.2.
func percent(_ fraction: Double) -> String {
    let p = fraction * 100
    return p == p.rounded() ? "\(Int(p))%" : String(format: "%.4g%%", p)
}

// MARK: - One (model, seed) run

/// What every method of one (model, seed) run shares: the model, its encoding and BitOPs model, the budgets, the
/// measurement settings with the run's seed, and the measurer.
final class SeedRun {
    let model: String
    let seed: UInt64
    let base: Model
    let encoding: PolicyEncoding
    let complexity: LayerwiseComplexity
    /// BitOPs of the 8/8 unpruned model: budgets are fractions of it.
    let reference: Double
    let budgets: [Double]
    /// Validation settings with the run's seed.
    let settings: EvaluationSettings
    /// Fine-tunings averaged into a test figure (`test`).
    let testSeeds: Int
    let measurer: Measurer
    let directory: URL

    init(model: String, seed: UInt64, budgets: [Double], settings: EvaluationSettings, testSeeds: Int, measurer: Measurer,
         directory: URL) throws {
        self.model = model
        self.seed = seed
        base = try measurer.base(model)
        encoding = PolicyEncoding(model: base, space: .default)
        complexity = try LayerwiseComplexity(model: base, encoding: encoding, metric: .bitops)
        reference = Double(try Complexity.compute(model: base, policy: try Policy(bits: "8/8").resolve(for: base)).bitops)
        self.budgets = budgets
        var s = settings
        s.seed = seed
        s.split = .validation
        self.settings = s
        self.testSeeds = testSeeds
        self.measurer = measurer
        self.directory = directory
    }

    func cost(_ levels: [Int]) -> Double { complexity.value(encoding.relaxation(levels: levels)) }

    /// Validation accuracy of `policy` with the run's settings.
    func validation(_ policy: ResolvedPolicy, _ label: String) throws -> Double {
        try measurer.accuracy(model: model, policy: policy, settings: settings, label: label)
    }

    /// Test accuracy of `policy`: the mean over `testSeeds` fine-tunings, the run's seed first, then the run's seed
    /// plus 1000, 2000, ... (clear of every seed a campaign or another run fine-tunes with), each with the run's
    /// settings on the whole test split. `withRunSeed`: the first one's result where it was measured already (a
    /// campaign's own test measurement).
    func test(_ policy: ResolvedPolicy, _ label: String, withRunSeed: Double? = nil) throws -> Double {
        var accuracies = [Double]()
        for k in 0..<testSeeds {
            if k == 0, let withRunSeed { accuracies.append(withRunSeed); continue }
            var s = settings
            s.split = .test
            s.seed = seed &+ UInt64(k) &* 1_000
            accuracies.append(try measurer.accuracy(model: model, policy: policy, settings: s,
                                                    label: testSeeds == 1 ? label : "\(label) test \(k + 1)/\(testSeeds)"))
        }
        return accuracies.reduce(0, +) / Double(accuracies.count)
    }

    func label(_ method: String, _ budget: Double) -> String { "\(model) seed \(seed) \(percent(budget)) \(method)" }

    /// The policy with the best validation accuracy among the first `count` of `trajectory` (the first on ties).
    static func best(_ trajectory: [(policy: ResolvedPolicy, accuracy: Double)], count: Int)
        -> (policy: ResolvedPolicy, accuracy: Double) {
        trajectory.prefix(count).reduce(trajectory[0]) { $1.accuracy > $0.accuracy ? $1 : $0 }
    }
}

/// One method's results for one budget of a run: metric name -> value, and the policies it picked (JSON).
struct MethodOutcome {
    let budget: Double
    var values: [String: Double] = [:]
    var policies: [String: String] = [:]
}

/// A search method of the comparison. `tag` names everything its results depend on besides model, seed and budget,
/// so that results of other settings are never mixed in.
protocol QualityMethod {
    var name: String { get }
    func tag(_ options: Options) -> String
    func run(_ run: SeedRun) throws -> [MethodOutcome]
}

// MARK: - Random search

/// Best of N random policies in the band below the budget, by validation. N = 32 is the first 32 of the N = 128 draws
/// (one pool per model, seed and budget), so larger N only adds measurements. The pool is drawn exactly as a campaign
/// draws its round 0 (same sampler, band and seed), so a campaign's random round is the pool's first N/2 policies and
/// is measured once for both: the comparison is paired on its common random draws.
struct RandomSearch: QualityMethod {
    let counts: [Int]
    var name: String { "random" }
    func tag(_ options: Options) -> String { options.settingsTag }

    /// The first `count` policies of the run's random pool for `budget`: distinct, in band, drawn like a campaign's
    /// round 0 for that budget alone (`PolicySampler.randomPolicies` with the run's seed).
    static func pool(_ run: SeedRun, budget: Double, count: Int) throws -> [ResolvedPolicy] {
        let sampler = try PolicySampler(encoding: run.encoding, complexity: run.complexity, band: qualityBand)
        return try sampler.randomPolicies(count: count, near: [budget * run.reference], seed: run.seed)
    }

    func run(_ run: SeedRun) throws -> [MethodOutcome] {
        try run.budgets.map { budget -> MethodOutcome in
            let label = run.label(name, budget)
            let policies = try Self.pool(run, budget: budget, count: counts.last!)
            var trajectory = [(policy: ResolvedPolicy, accuracy: Double)]()
            for (i, p) in policies.enumerated() {
                trajectory.append((p, try run.validation(p, "\(label) \(i + 1)/\(policies.count)")))
            }
            var outcome = MethodOutcome(budget: budget)
            for n in counts where n <= trajectory.count {
                let pick = SeedRun.best(trajectory, count: n)
                outcome.values["random_validation_\(n)"] = pick.accuracy
                outcome.values["random_test_\(n)"] = try run.test(pick.policy, "\(label) best of \(n)")
                outcome.policies["random_\(n)"] = try compactPolicyJSON(pick.policy)
            }
            return outcome
        }
    }
}

// MARK: - Aging evolution

/// Regularized (aging) evolution, Real et al. 2019, measuring every candidate: a population of the first `population`
/// policies of random search's pool; each step samples `sampleSize` members, mutates the best of them (one or two
/// variables, one level each), measures the child, adds it and removes the oldest member. A child outside the band
/// below the budget, or already measured, is mutated again (8 tries), then walked into the band; failing that, a new
/// random policy in band is drawn. The pick for N is the best by validation of the first N measured.
struct AgingEvolution: QualityMethod {
    let counts: [Int]
    let population: Int
    let sampleSize: Int
    var name: String { "evolution" }
    func tag(_ options: Options) -> String { stableHash(options.settingsTag + "|p\(population)|s\(sampleSize)") }

    func run(_ run: SeedRun) throws -> [MethodOutcome] {
        try run.budgets.map { budget -> MethodOutcome in
            let label = run.label(name, budget)
            let limit = budget * run.reference
            let band = (qualityBand.lowerBound * limit)...(qualityBand.upperBound * limit)
            let total = counts.last!
            var rng = SplitMix64(seed: SplitMix64.derive(run.seed, 0x45_564F_4C00 &+ UInt64((budget * 1e4).rounded())))
            var history = [(levels: [Int], policy: ResolvedPolicy, accuracy: Double)]()
            for p in try RandomSearch.pool(run, budget: budget, count: population) {
                let a = try run.validation(p, "\(label) \(history.count + 1)/\(total)")
                history.append((try run.encoding.levels(of: p), p, a))
            }
            var members = Array(history.indices)
            var seen = Set(history.map(\.levels))
            let sampler = try PolicySampler(encoding: run.encoding, complexity: run.complexity, band: qualityBand)
            while history.count < total {
                let contestants = rng.permutation(members.count).prefix(sampleSize).map { members[$0] }
                let parent = contestants.max { history[$0].accuracy < history[$1].accuracy }!
                var child: [Int]?
                var last = history[parent].levels
                for _ in 0..<8 {
                    last = mutate(history[parent].levels, run.encoding, &rng)
                    if band.contains(run.cost(last)) && !seen.contains(last) {
                        child = last
                        break
                    }
                }
                if child == nil, let repaired = repair(last, into: band, run, &rng), !seen.contains(repaired) {
                    child = repaired
                }
                let policy: ResolvedPolicy
                if let child {
                    policy = run.encoding.policy(levels: child)
                } else {
                    let excluded = Set(history.map(\.policy))
                    guard let fresh = try sampler.randomPolicies(count: 1, near: [limit], seed: rng.next(), exclude: excluded).first
                    else { break }
                    policy = fresh
                }
                let levels = try run.encoding.levels(of: policy)
                let a = try run.validation(policy, "\(label) \(history.count + 1)/\(total)")
                seen.insert(levels)
                history.append((levels, policy, a))
                members.append(history.count - 1)
                members.removeFirst()
            }
            let trajectory = history.map { (policy: $0.policy, accuracy: $0.accuracy) }
            var outcome = MethodOutcome(budget: budget)
            for n in counts where n <= trajectory.count {
                let pick = SeedRun.best(trajectory, count: n)
                outcome.values["evolution_validation_\(n)"] = pick.accuracy
                outcome.values["evolution_test_\(n)"] = try run.test(pick.policy, "\(label) best of \(n)")
                outcome.policies["evolution_\(n)"] = try compactPolicyJSON(pick.policy)
            }
            return outcome
        }
    }

    /// One or two distinct variables moved one level, up or down (the other way at the ends of their range).
    func mutate(_ levels: [Int], _ encoding: PolicyEncoding, _ rng: inout SplitMix64) -> [Int] {
        var child = levels
        let count = min(levels.count, 1 + rng.nextInt(below: 2))
        for v in rng.permutation(levels.count).prefix(count) {
            let top = encoding.variables[v].topLevel
            guard top > 0 else { continue }
            var step = rng.nextInt(below: 2) == 0 ? -1 : 1
            if child[v] + step < 0 || child[v] + step > top { step = -step }
            child[v] += step
        }
        return child
    }

    /// Random one-level steps down while above the band, up (without overshooting it) while below; nil when stuck.
    func repair(_ start: [Int], into band: ClosedRange<Double>, _ run: SeedRun, _ rng: inout SplitMix64) -> [Int]? {
        var levels = start
        for _ in 0..<(4 * run.encoding.levelCounts.reduce(0, +)) {
            let c = run.cost(levels)
            if band.contains(c) { return levels }
            if c > band.upperBound {
                let lowerable = levels.indices.filter { levels[$0] > 0 }
                guard !lowerable.isEmpty else { return nil }
                levels[lowerable[rng.nextInt(below: lowerable.count)]] -= 1
            } else {
                var raisable = levels.indices.filter { levels[$0] < run.encoding.variables[$0].topLevel }
                rng.shuffle(&raisable)
                guard let v = raisable.first(where: { v in
                    var raised = levels
                    raised[v] += 1
                    return run.cost(raised) <= band.upperBound
                }) else { return nil }
                levels[v] += 1
            }
        }
        return nil
    }
}

// MARK: - Sensitivity allocation (zero search)

/// HAWQ-V3-style zero search: the per-layer sensitivity probes (no fine-tuning; the same probes, settings and seed a
/// campaign measures, so they are shared with the campaigns' through the measurement log), a greedy allocation of
/// bits and pruning under each budget (`SensitivityAllocation`), and one measurement of it on validation and test.
struct SensitivityBaseline: QualityMethod {
    let probeImages: Int
    var name: String { "sensitivity" }
    func tag(_ options: Options) -> String { stableHash(options.settingsTag + "|probes\(probeImages)") }

    func run(_ run: SeedRun) throws -> [MethodOutcome] {
        let probeSettings = SensitivityTable.probeSettings(from: run.settings, images: probeImages)
        let probes = SensitivityTable.probes(for: run.encoding)
        var accuracies = [SensitivityProbe: Double]()
        for (i, probe) in probes.enumerated() {
            accuracies[probe] = try run.measurer.accuracy(
                model: run.model, policy: run.encoding.policy(levels: probe.levels(in: run.encoding)), settings: probeSettings,
                label: "\(run.model) seed \(run.seed) sensitivity probe \(i + 1)/\(probes.count)")
        }
        let table = try SensitivityTable(encoding: run.encoding, accuracies: accuracies)
        return try run.budgets.map { budget -> MethodOutcome in
            let label = run.label(name, budget)
            let allocation = try SensitivityAllocation(table: table, encoding: run.encoding, complexity: run.complexity,
                                                       budget: budget * run.reference)
            var outcome = MethodOutcome(budget: budget)
            outcome.values["sensitivity_validation"] = try run.validation(allocation.policy, label)
            outcome.values["sensitivity_test"] = try run.test(allocation.policy, label)
            outcome.values["sensitivity_predicted_drop"] = allocation.predictedDrop
            outcome.values["sensitivity_cost_fraction"] = allocation.cost / run.reference
            outcome.values["sensitivity_probes"] = Double(probes.count)
            outcome.policies["sensitivity"] = try compactPolicyJSON(allocation.policy)
            return outcome
        }
    }
}

// MARK: - Seer campaigns

/// One Seer campaign per budget and size N: the library's default `CampaignConfig` except the measurement settings
/// (the bench's, with the run's seed) and the sampling sizes, scaled from the defaults by one rule so that N counts
/// every fine-tuned validation measurement of the campaign:
///
///     initial = N / 2, noise_repeats = default (2), rounds = 2, refine = 1,
///     per_round = (N - initial - noise_repeats - refine - 1) / 2      (the 1: the pick's own validation)
///
/// (N = 16: 8 + 2 + 2 x 2 + 1 + 1; N = 32: 16 + 2 + 2 x 6 + 1 + 1; N = 64: 32 + 2 + 2 x 14 + 1 + 1). The per-layer
/// sensitivity probes the campaign measures first (no fine-tuning, a fixed batch) are not counted. One budget per
/// campaign, so that a campaign and the baselines spend the same number of measurements on a budget.
///
/// The campaign runs through `CampaignRunner` with a backend that measures through the bench's log (`CachedBackend`),
/// in its own store under OUT/campaigns (named by a hash of its config, so a changed config starts afresh and an
/// unchanged one resumes). Reported per budget: the campaign's reported choice (validation, test; a campaign reports a
/// measured sample instead of its optimizer's pick when that sample measured better on validation), and of the
/// optimizer's own pick: its validation minus the best sample measured within the budget, and |predicted - measured|.
struct SeerCampaigns: QualityMethod {
    let counts: [Int]
    let label: String
    /// Overrides the default config's `optimizer.pessimism`.
    let pessimism: Double?
    /// Overrides the default config's `predictor.hidden`.
    let hidden: Int?
    /// Overrides the default config's `predictor.features`.
    let features: String?
    var name: String { "seer" }

    /// The tag covers the library's default campaign config and any override, so results of other settings are kept
    /// apart.
    func tag(_ options: Options) -> String {
        let defaults = CampaignConfig(name: "x", model: "x", budgets: [])
        return stableHash(options.settingsTag + "|" + ((try? canonicalJSON(defaults)) ?? "")
                          + (pessimism.map { "|pessimism\($0)" } ?? "") + (hidden.map { "|hidden\($0)" } ?? "")
                          + (features.map { "|features-\($0)" } ?? ""))
    }

    static func sampling(_ n: Int) -> SamplingConfig {
        var s = SamplingConfig()
        s.initial = n / 2
        s.rounds = 2
        s.refine = 1
        s.perRound = max(1, (n - s.initial - s.noiseRepeats - s.refine - 1) / 2)
        return s
    }

    func config(_ run: SeedRun, budget: Double, n: Int) -> CampaignConfig {
        var config = CampaignConfig(name: "sq-\(run.model)-s\(run.seed)-b\(Int((budget * 1e4).rounded()))-n\(n)",
                                    model: run.model, budgets: [Budget(value: budget, isFraction: true)])
        config.measurement = run.settings
        config.seed = run.seed
        config.sampling = Self.sampling(n)
        if let pessimism { config.optimizer.pessimism = pessimism }
        if let hidden { config.predictor.hidden = hidden }
        if let features { config.predictor.features = features }
        return config
    }

    func run(_ run: SeedRun) throws -> [MethodOutcome] {
        try run.budgets.map { budget -> MethodOutcome in
            var outcome = MethodOutcome(budget: budget)
            var gaps = [Double](), errors = [Double]()
            for n in counts {
                let config = config(run, budget: budget, n: n)
                try config.validate()
                let configJSON = try canonicalJSON(config)
                let dir = run.directory.appendingPathComponent("campaigns", isDirectory: true)
                    .appendingPathComponent("\(config.name)-\(stableHash(configJSON + "|" + label).prefix(10))", isDirectory: true)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let store = try SeerStore(path: dir.appendingPathComponent("seer.sqlite").path)
                let prefix = run.label("seer-\(n)", budget)
                let backend = CachedBackend(measurer: run.measurer, label: prefix)
                let runner = try CampaignRunner(config: config, store: store, backend: backend,
                                                resultsDirectory: dir.appendingPathComponent("results", isDirectory: true),
                                                showProgress: false, log: { run.measurer.progress("\(prefix): \($0)") })
                try runner.run()
                guard let chosen = try CampaignStore.chosen(config.name, in: store).first else {
                    throw CampaignError.failed("\(config.name): no chosen policy after the run")
                }
                let chosenPolicy = try resolve(chosen.policy, run)
                outcome.values["seer_validation_\(n)"] = chosen.validationAccuracy
                if let measured = chosen.testAccuracy {
                    outcome.values["seer_test_\(n)"] = try run.test(chosenPolicy, prefix, withRunSeed: measured)
                }
                outcome.policies["seer_\(n)"] = try compactPolicyJSON(chosenPolicy)

                let finals = try CampaignStore.measurements(config.name, purpose: .final, in: store)
                let samples = try CampaignStore.measurements(config.name, purpose: .sample, in: store)
                    .filter { $0.accuracy != nil && $0.split == "validation" }
                let within = try samples.filter {
                    run.cost(try run.encoding.levels(of: try resolve($0.policy, run))) <= chosen.budgetValue * (1 + 1e-9)
                }
                let measuredValidation = samples.count + finals.filter { $0.split == "validation" && $0.accuracy != nil }.count
                    + (try CampaignStore.measurements(config.name, purpose: .noise, in: store)).filter { $0.accuracy != nil }.count
                outcome.values["seer_measurements_\(n)"] = Double(measuredValidation)
                guard let pickRow = finals.first(where: { $0.jobID == "\(config.name):final:\(chosen.budget):validation" }),
                      let pickAccuracy = pickRow.accuracy else {
                    run.measurer.progress("\(prefix): no validation row of the optimizer's pick; pick metrics left out")
                    continue
                }
                let pick = try resolve(pickRow.policy, run)
                let predicted: Double
                if pickRow.policy == chosen.policy {
                    predicted = chosen.predicted
                } else {
                    // The choice was replaced by a measured sample; the pick's prediction comes from the final predictor.
                    guard let snapshot = try CampaignStore.latestSnapshot(config.name, in: store) else {
                        throw CampaignError.failed("\(config.name): no predictor snapshot")
                    }
                    predicted = try EnsemblePredictor.load(json: Data(snapshot.predictor.utf8))
                        .predict(try run.encoding.features(of: pick)).mean
                }
                outcome.values["seer_pick_validation_\(n)"] = pickAccuracy
                outcome.values["seer_pick_predicted_\(n)"] = predicted
                outcome.values["seer_replaced_\(n)"] = pickRow.policy == chosen.policy ? 0 : 1
                outcome.values["pick_abs_error_\(n)"] = abs(predicted - pickAccuracy)
                errors.append(abs(predicted - pickAccuracy))
                if let best = within.compactMap(\.accuracy).max() {
                    outcome.values["best_sample_validation_\(n)"] = best
                    outcome.values["pick_minus_best_sample_\(n)"] = pickAccuracy - best
                    gaps.append(pickAccuracy - best)
                }
            }
            // Per seed, the mean over campaign sizes.
            if !gaps.isEmpty { outcome.values["pick_minus_best_sample"] = gaps.reduce(0, +) / Double(gaps.count) }
            if !errors.isEmpty { outcome.values["pick_abs_error"] = errors.reduce(0, +) / Double(errors.count) }
            return outcome
        }
    }

    func resolve(_ json: String, _ run: SeedRun) throws -> ResolvedPolicy {
        try Policy.decode(json: Data(json.utf8)).resolve(for: run.base)
    }
}

/// A campaign backend that measures through the bench's measurement log, with the request's own settings (so probes,
/// noise repeats and test measurements are keyed apart), on the whole test split for test requests like every method.
final class CachedBackend: MeasurementBackend {
    let measurer: Measurer
    let label: String

    init(measurer: Measurer, label: String) {
        self.measurer = measurer
        self.label = label
    }

    func measure(_ requests: [MeasureRequest], record: @escaping (String, MeasureOutcome) throws -> Void) throws {
        for r in requests {
            let outcome: MeasureOutcome
            do {
                let policy = try r.policy.resolve(for: try measurer.base(r.model))
                outcome = .done(MeasuredValues(accuracy: try measurer.accuracy(model: r.model, policy: policy, settings: r.settings,
                                                                              label: "\(label) \(r.id)")))
            } catch {
                outcome = .failed("\(error)")
            }
            try record(r.id, outcome)
        }
    }
}

// MARK: - Measurements, persisted

/// Measures policies in this process and keeps every result in the measurement log, keyed by model, policy, settings
/// (split, seed, images, steps...), so that a rerun measures nothing twice.
final class Measurer {
    let data: Dataset
    let log: MeasurementLog
    let prefix: String
    private var bases: [String: Model] = [:]
    private(set) var fresh = 0
    private(set) var reused = 0

    init(log: MeasurementLog, prefix: String) throws {
        data = try FashionMNIST.load()
        self.log = log
        self.prefix = prefix
    }

    func base(_ model: String) throws -> Model {
        if let b = bases[model] { return b }
        let b = try ModelStore.load(model)
        bases[model] = b
        return b
    }

    func accuracy(model: String, policy: ResolvedPolicy, settings: EvaluationSettings, label: String) throws -> Double {
        var s = settings
        if s.split == .test { s.evaluationLimit = nil }
        let key = MeasurementLog.key(model: model, policy: try compactPolicyJSON(policy), settings: try canonicalJSON(s))
        if let known = log.value(key) {
            reused += 1
            return known
        }
        let start = Date()
        let accuracy = try PolicyEvaluation.run(base: try base(model), policy: policy, data: data, settings: s).accuracy
        let seconds = Date().timeIntervalSince(start)
        try log.append(key: key, accuracy: accuracy, seconds: seconds)
        fresh += 1
        progress(String(format: "%@: %@ %.2f%% (%.1f s; %d measured here, %d from the log)", label, s.split.rawValue,
                        accuracy, seconds, fresh, reused))
        return accuracy
    }

    func progress(_ line: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        FileHandle.standardError.write(Data("\(prefix) \(stamp) \(line)\n".utf8))
    }
}

/// Append-only JSON lines, one per finished measurement: OUT/measurements.SHARD.jsonl written by this process, every
/// OUT/measurements*.jsonl read at start. A line cut short by a kill is skipped (that measurement is redone).
final class MeasurementLog {
    private var values: [String: Double] = [:]
    private let handle: FileHandle

    static func key(model: String, policy: String, settings: String) -> String { "\(model)\n\(policy)\n\(settings)" }

    init(directory: URL, shard: String) throws {
        for line in try readJSONLines(directory: directory, prefix: "measurements") {
            if let key = line["key"] as? String, let a = jsonDouble(line["accuracy"]) { values[key] = a }
        }
        handle = try openForAppend(directory.appendingPathComponent("measurements.\(shard).jsonl"))
    }

    func value(_ key: String) -> Double? { values[key] }

    func append(key: String, accuracy: Double, seconds: Double) throws {
        let line: [String: Any] = ["key": key, "accuracy": accuracy, "seconds": seconds,
                                   "at": ISO8601DateFormatter().string(from: Date())]
        try writeJSONLine(line, to: handle)
        values[key] = accuracy
    }
}

/// One method's results for one (model, seed, budget).
struct ResultRecord {
    let method: String
    let tag: String
    let model: String
    let seed: UInt64
    let budget: Double
    let values: [String: Double]
    let policies: [String: String]
    let cpu: String
    /// When it finished, ISO 8601 in UTC (so that the strings sort as the times do); "" in logs from before it was kept.
    let at: String

    var json: [String: Any] {
        ["method": method, "tag": tag, "model": model, "seed": seed, "budget": budget, "values": values,
         "policies": policies, "cpu": cpu, "at": at]
    }

    init(method: String, tag: String, model: String, seed: UInt64, budget: Double, values: [String: Double],
         policies: [String: String], cpu: String, at: String = ISO8601DateFormatter().string(from: Date())) {
        self.method = method
        self.tag = tag
        self.model = model
        self.seed = seed
        self.budget = budget
        self.values = values
        self.policies = policies
        self.cpu = cpu
        self.at = at
    }

    init?(json: [String: Any]) {
        guard let method = json["method"] as? String, let tag = json["tag"] as? String, let model = json["model"] as? String,
              let seed = jsonDouble(json["seed"]).map({ UInt64($0) }), let budget = jsonDouble(json["budget"]),
              let raw = json["values"] as? [String: Any] else { return nil }
        self.init(method: method, tag: tag, model: model, seed: seed, budget: budget, values: raw.compactMapValues(jsonDouble),
                  policies: json["policies"] as? [String: String] ?? [:], cpu: json["cpu"] as? String ?? "",
                  at: json["at"] as? String ?? "")
    }
}

/// OUT/results.SHARD.jsonl: a line per finished (method, model, seed, budget); every OUT/results*.jsonl is read back.
final class ResultLog {
    let directory: URL
    let shard: String
    private var handle: FileHandle?

    init(directory: URL, shard: String) {
        self.directory = directory
        self.shard = shard
    }

    func append(_ record: ResultRecord) throws {
        if handle == nil { handle = try openForAppend(directory.appendingPathComponent("results.\(shard).jsonl")) }
        try writeJSONLine(record.json, to: handle!)
    }

    func readAll() throws -> [ResultRecord] {
        try readJSONLines(directory: directory, prefix: "results").compactMap(ResultRecord.init(json:))
    }
}

func openForAppend(_ url: URL) throws -> FileHandle {
    if !FileManager.default.fileExists(atPath: url.path) {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CampaignError.failed("cannot create \(url.path)")
        }
    }
    let handle = try FileHandle(forUpdating: url)
    let end = try handle.seekToEnd()
    if end > 0 {
        // A line cut short by a kill: start on a fresh line.
        try handle.seek(toOffset: end - 1)
        if handle.readData(ofLength: 1) != Data("\n".utf8) { handle.write(Data("\n".utf8)) }
        try handle.seekToEnd()
    }
    return handle
}

func writeJSONLine(_ object: [String: Any], to handle: FileHandle) throws {
    var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    data.append(contentsOf: Array("\n".utf8))
    handle.write(data)
    try handle.synchronize()
}

/// Every parsable line of DIRECTORY/PREFIX*.jsonl, files in name order.
func readJSONLines(directory: URL, prefix: String) throws -> [[String: Any]] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    var lines = [[String: Any]]()
    for name in names.sorted() where name.hasPrefix(prefix) && name.hasSuffix(".jsonl") {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        for line in text.split(separator: "\n") {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { lines.append(object) }
        }
    }
    return lines
}

// MARK: - Report

/// The JSON: per model and budget, mean and sd over seeds of every metric, with the per-seed values.
struct Report {
    let plan: [PlanEntry]
    let options: Options

    /// Latest record per (method, model, seed, budget) among those of the current tags, by finishing time: shards are
    /// read in file-name order, so a rerun's record (more baseline counts, say) may come before the one it extends.
    let latest: [String: ResultRecord]

    init(plan: [PlanEntry], options: Options, records: [ResultRecord]) {
        self.plan = plan
        self.options = options
        let tags = Dictionary(uniqueKeysWithValues: options.methods.map { ($0.name, $0.tag(options)) })
        var latest = [String: ResultRecord]()
        for r in records where tags[r.method] == r.tag {
            let key = Self.key(r.method, r.model, r.seed, r.budget)
            if let kept = latest[key], kept.at > r.at { continue }
            latest[key] = r
        }
        self.latest = latest
    }

    static func key(_ method: String, _ model: String, _ seed: UInt64, _ budget: Double) -> String {
        "\(method)|\(model)|\(seed)|\(Int((budget * 1e4).rounded()))"
    }

    func json() throws -> Data {
        var rows = [[String: Any]]()
        var missing = [String]()
        var cpus = Set<String>()
        for entry in plan {
            for budget in entry.budgets {
                var perSeed = [String: [String: Double]]()
                var policies = [String: [String: String]]()
                for seed in entry.seeds {
                    var values = [String: Double]()
                    for method in options.methods {
                        guard let r = latest[Self.key(method.name, entry.model, seed, budget)] else {
                            missing.append("\(entry.model) seed \(seed) \(percent(budget)) \(method.name)")
                            continue
                        }
                        values.merge(r.values) { $1 }
                        policies["\(seed)", default: [:]].merge(r.policies) { $1 }
                        cpus.insert(r.cpu)
                    }
                    if !values.isEmpty { perSeed["\(seed)"] = values }
                }
                var row: [String: Any] = ["model": entry.model, "budget": percent(budget), "budget_fraction": budget,
                                          "seeds": entry.seeds.map { Int($0) }, "per_seed": perSeed, "policies": policies]
                let metrics = Set(perSeed.values.flatMap(\.keys)).sorted()
                for metric in metrics {
                    let xs = entry.seeds.compactMap { perSeed["\($0)"]?[metric] }
                    row[metric] = summary(xs)
                }
                rows.append(row)
            }
        }
        let seer = Dictionary(uniqueKeysWithValues: options.seerCounts.map { n -> (String, Any) in
            let s = SeerCampaigns.sampling(n)
            return ("\(n)", ["initial": s.initial, "noise_repeats": s.noiseRepeats, "rounds": s.rounds, "per_round": s.perRound,
                             "refine": s.refine, "sensitivity_images": s.sensitivityImages])
        })
        let settingsObject = try JSONSerialization.jsonObject(with: Data(canonicalJSON(options.settings).utf8))
        let defaults = try JSONSerialization.jsonObject(with: Data(canonicalJSON(CampaignConfig(name: "x", model: "x", budgets: [])).utf8))
        let result: [String: Any] = [
            "bench": "search-quality",
            "cpu": ["model": HostCPU.modelName, "isa": HostCPU.isa],
            "cpus_in_results": cpus.sorted(),
            "settings": [
                "measurement": settingsObject, "test_evaluation_limit": NSNull(), "test_seeds": options.testSeeds,
                "probe_images": options.probeImages,
                "seer_counts": options.seerCounts, "baseline_counts": options.baselineCounts,
                "band": [qualityBand.lowerBound, qualityBand.upperBound],
                "evolution": ["population": options.population, "sample_size": options.sampleSize],
                "seer_sampling": seer, "campaign_defaults": defaults, "label": options.label,
                "methods": options.methods.map(\.name),
            ] as [String: Any],
            "results": rows,
            "missing": missing,
        ]
        return try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// Mean and sample standard deviation (nil below two values).
    func summary(_ xs: [Double]) -> [String: Any] {
        guard !xs.isEmpty else { return ["n": 0] }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let sd = xs.count > 1 ? (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1)).squareRoot() : nil
        return ["mean": mean, "sd": sd.map { $0 as Any } ?? NSNull(), "n": xs.count]
    }
}

// MARK: - Helpers

/// Compact JSON with sorted keys of an Encodable value.
func canonicalJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// The policy's JSON (every layer listed), compact with sorted keys.
func compactPolicyJSON(_ policy: ResolvedPolicy) throws -> String {
    let object = try JSONSerialization.jsonObject(with: try policy.policy().jsonData())
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
                  as: UTF8.self)
}

/// A number read back by JSONSerialization (NSNumber, Double or Int, whichever the platform hands back).
func jsonDouble(_ value: Any?) -> Double? {
    switch value {
    case let d as Double: return d
    case let i as Int: return Double(i)
    case let n as NSNumber: return n.doubleValue
    default: return nil
    }
}

/// FNV-1a, 64 bits, as 16 hex digits: stable across processes (unlike `Hasher`).
func stableHash(_ text: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        h ^= UInt64(byte)
        h = h &* 0x0000_0100_0000_01b3
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// Seeds written like `0-4` or `0,2,3` (ranges and single seeds, comma-separated); `option` names the option in errors.
func parseSeedList(_ text: String, option: String) throws -> [UInt64] {
    var seeds = [UInt64]()
    for item in text.split(separator: ",") {
        let bounds = item.split(separator: "-").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !bounds.isEmpty, bounds.count <= 2, let lo = bounds.first!, let hi = bounds.last!, lo <= hi else {
            throw ValidationError("\(option): seeds are like 0-4 or 0,2,3, got '\(item)'")
        }
        seeds += Array(lo...hi)
    }
    return seeds
}
