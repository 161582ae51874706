import SeerCompression
import SeerPredictor

/// A policy chosen for measurement because the predictor is unsure about it.
public struct InformativePolicy: Sendable {
    public let policy: ResolvedPolicy
    /// The policy as level indices of the encoding's variables.
    public let levels: [Int]
    /// Predicted accuracy (ensemble mean).
    public let predictedMean: Double
    /// Ensemble spread at the policy.
    public let std: Double
    /// Mean absolute change of the prediction when one field steps one level down (cheaper).
    public let sensitivity: Double
    /// stdWeight x std + sensitivityWeight x sensitivity: what the sampler maximizes.
    public let score: Double
    /// The policy's cost in the complexity model's unit.
    public let complexity: Double
}

/// Informative sampling by evolution (SeerNet's uncertainty-based sampling): searches the discrete space, near the
/// budgets of interest, for the policies whose predictions are least certain, so measuring them teaches the predictor
/// most.
///
/// Uncertainty = `stdWeight` x ensemble spread + `sensitivityWeight` x counterfactual sensitivity, the mean absolute
/// change of the predicted accuracy when one field (a layer's wbits or abits, or a group's prune ratio) steps one
/// level down, over the fields that can. Only policies whose cost is within `band` x some budget take part. The
/// population evolves by mutation and uniform crossover of the most uncertain quarter; children outside the band are
/// walked into it. Every policy scored along the way is a candidate; the result is the top `count` distinct ones not in
/// `exclude`. Cost: each new policy needs 1 + (number of variables) predictions. Deterministic for a seed.
public struct InformativeSampler: Sendable {
    /// Knobs of the sampler.
    public struct Settings: Hashable, Sendable {
        /// Individuals per generation.
        public var population: Int
        /// Generations.
        public var iterations: Int
        /// Weight of the ensemble spread in the score.
        public var stdWeight: Double
        /// Weight of the counterfactual sensitivity in the score.
        public var sensitivityWeight: Double
        /// Costs allowed, as fractions of any budget.
        public var band: ClosedRange<Double>
        /// Chance that a mutant redraws each variable.
        public var mutationProbability: Double
        public var seed: UInt64

        /// Settings with the given knobs.
        public init(population: Int = 48, iterations: Int = 15, stdWeight: Double = 1, sensitivityWeight: Double = 1,
                    band: ClosedRange<Double> = 0.7...1.0, mutationProbability: Double = 0.1, seed: UInt64 = 0) {
            self.population = population
            self.iterations = iterations
            self.stdWeight = stdWeight
            self.sensitivityWeight = sensitivityWeight
            self.band = band
            self.mutationProbability = mutationProbability
            self.seed = seed
        }
    }

    public let settings: Settings

    /// A sampler with `settings`.
    public init(settings: Settings = Settings()) { self.settings = settings }

    /// The `count` most uncertain distinct policies in band around `budgets` that are not in `exclude`, most
    /// uncertain first.
    public func sample<P: PerformancePredictor, C: ComplexityModel>(
        _ problem: SearchProblem<P, C>, budgets: [Double], count: Int, exclude: Set<ResolvedPolicy> = []
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
        func score(_ levels: [Int]) -> Double {
            if let known = scored[levels] { return known.score }
            let here = prediction(levels)
            var total = 0.0, fields = 0
            for v in levels.indices where levels[v] > 0 {
                var lowered = levels
                lowered[v] -= 1
                total += abs(here.mean - prediction(lowered).mean)
                fields += 1
            }
            let sensitivity = fields > 0 ? total / Double(fields) : 0
            let value = settings.stdWeight * here.std + settings.sensitivityWeight * sensitivity
            scored[levels] = InformativePolicy(policy: encoding.policy(levels: levels), levels: levels,
                                               predictedMean: here.mean, std: here.std, sensitivity: sensitivity,
                                               score: value, complexity: sampler.cost(levels))
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

        var population = try sampler.randomLevels(count: size, near: targets, rng: &rng)
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

        return scored.values.filter { !excluded.contains($0.levels) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.levels.lexicographicallyPrecedes($1.levels) }
            .prefix(max(0, count)).map { $0 }
    }
}
