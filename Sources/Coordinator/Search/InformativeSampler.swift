import SeerCompression
import SeerPredictor

/// A policy chosen for measurement by an acquisition function.
public struct InformativePolicy: Sendable {
    public let policy: ResolvedPolicy
    /// The policy as level indices of the encoding's variables.
    public let levels: [Int]
    /// Predicted accuracy (ensemble mean).
    public let predictedMean: Double
    /// Ensemble spread at the policy.
    public let std: Double
    /// What the sampler maximizes (see the acquisition).
    public let score: Double
    /// The policy's cost in the complexity model's unit.
    public let complexity: Double
}

/// Informative sampling by evolution: searches the discrete space near the budgets of interest for the policies an
/// acquisition function (`Acquisition`) scores highest, so that measuring them helps most.
///
/// Only policies whose cost is within `band` x some budget take part. The population evolves by mutation and uniform
/// crossover of the best-scored quarter; children outside the band are walked into it. Every policy scored along the
/// way is a candidate; the result is the top `count` distinct ones not in `exclude`, each at least
/// `minimumDistance` level steps (L1 over the variables' levels) from every excluded policy and from those taken before
/// it, so a round does not spend several measurements on variations of one policy. Deterministic for a seed.
public struct InformativeSampler: Sendable {
    /// Knobs of the sampler.
    public struct Settings: Hashable, Sendable {
        /// Individuals per generation.
        public var population: Int
        /// Generations.
        public var iterations: Int
        /// Costs allowed, as fractions of any budget.
        public var band: ClosedRange<Double>
        /// Chance that a mutant redraws each variable.
        public var mutationProbability: Double
        /// Fewest level steps (L1) between a returned policy and any excluded or earlier returned one; 1 only
        /// forbids repeats.
        public var minimumDistance: Int
        public var seed: UInt64

        /// Settings with the given knobs.
        public init(population: Int = 48, iterations: Int = 15, band: ClosedRange<Double> = 0.7...1.0,
                    mutationProbability: Double = 0.1, minimumDistance: Int = 1, seed: UInt64 = 0) {
            self.population = population
            self.iterations = iterations
            self.band = band
            self.mutationProbability = mutationProbability
            self.minimumDistance = minimumDistance
            self.seed = seed
        }
    }

    public let settings: Settings
    /// What the search maximizes.
    public let acquisition: any Acquisition

    /// A sampler with `settings` that maximizes `acquisition` (default: SeerNet's uncertainty).
    public init(settings: Settings = Settings(), acquisition: any Acquisition = UncertaintyAcquisition()) {
        self.settings = settings
        self.acquisition = acquisition
    }

    /// The `count` best-scored distinct policies in band around `budgets` that are not in `exclude` and keep the
    /// minimum distance, best first. `seeds` (level vectors, e.g. the best policies measured so far) join the first
    /// generation, so the search also explores around them rather than only from random policies.
    public func sample<P: PerformancePredictor, C: ComplexityModel>(
        _ problem: SearchProblem<P, C>, budgets: [Double], count: Int, exclude: Set<ResolvedPolicy> = [],
        seeds: [[Int]] = []
    ) throws -> [InformativePolicy] {
        let encoding = problem.encoding
        let sampler = try PolicySampler(encoding: encoding, complexity: problem.complexity, band: settings.band)
        let targets = try sampler.reachableBudgets(budgets)
        let excluded = Set(exclude.compactMap { try? encoding.levels(of: $0) })
        var rng = SplitMix64(seed: settings.seed)
        let size = max(2, settings.population)
        let parentCount = max(1, size / 4)
        var means: [[Int]: (mean: Double, std: Double)] = [:]
        var scored: [[Int]: InformativePolicy] = [:]

        func prediction(_ levels: [Int]) -> (mean: Double, std: Double) {
            if let known = means[levels] { return known }
            let p = problem.predict(levels: levels)
            means[levels] = p
            return p
        }
        let view = AcquisitionView(predict: prediction, extrapolation: problem.extrapolation(levels:),
                                   scale: problem.predictor.targetScale)
        func score(_ levels: [Int]) -> Double {
            if let known = scored[levels] { return known.score }
            let here = prediction(levels)
            let value = acquisition.score(levels, view)
            scored[levels] = InformativePolicy(policy: encoding.policy(levels: levels), levels: levels,
                                               predictedMean: here.mean, std: here.std, score: value,
                                               complexity: sampler.cost(levels))
            return value
        }
        func ranked(_ population: [[Int]]) -> [[Int]] {
            population.map { (levels: $0, score: score($0)) }
                .sorted { $0.score != $1.score ? $0.score > $1.score : $0.levels.lexicographicallyPrecedes($1.levels) }
                .map(\.levels)
        }
        func inBand(_ child: [Int]) -> [Int]? {
            sampler.moveIntoBand(child, targets: targets, rng: &rng)
        }

        let seeded = seeds.filter { $0.count == encoding.variables.count }.compactMap(inBand).prefix(size / 2)
        var population = Array(seeded)
        population += try sampler.randomLevels(count: size - population.count, near: targets, rng: &rng,
                                               exclude: Set(population))
        for _ in 0..<settings.iterations where !population.isEmpty {
            let parents = Array(ranked(population).prefix(parentCount))
            var next = parents
            var attempts = 0
            while next.count < size && attempts < 10 * size {
                attempts += 1
                var child: [Int]
                if next.count % 2 == 0 {
                    child = parents[rng.nextInt(below: parents.count)]
                    for v in child.indices where rng.nextUniform() < settings.mutationProbability {
                        child[v] = rng.nextInt(below: encoding.variables[v].levels.count)
                    }
                } else {
                    let a = parents[rng.nextInt(below: parents.count)], b = parents[rng.nextInt(below: parents.count)]
                    child = a.indices.map { rng.nextUniform() < 0.5 ? a[$0] : b[$0] }
                }
                if let placed = inBand(child) { next.append(placed) }
            }
            population = next
        }
        _ = ranked(population)

        let ranked = scored.values.filter { !excluded.contains($0.levels) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.levels.lexicographicallyPrecedes($1.levels) }
        var taken: [InformativePolicy] = []
        var near = Array(excluded)
        for candidate in ranked where taken.count < count {
            guard near.allSatisfy({ levelDistance($0, candidate.levels) >= settings.minimumDistance }) else { continue }
            taken.append(candidate)
            near.append(candidate.levels)
        }
        return taken
    }
}

/// Level steps between two policies of one encoding: the L1 distance of their level vectors.
func levelDistance(_ a: [Int], _ b: [Int]) -> Int { zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) } }
