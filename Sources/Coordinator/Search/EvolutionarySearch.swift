import Foundation
import SeerPredictor

/// The evolutionary baseline (OFA/APQ style): a population over the discrete space, fitness = predicted accuracy,
/// only feasible individuals.
///
/// Each iteration keeps the best `parentFraction` of the population, fills `mutationFraction` of it with mutants of
/// random parents (each variable redrawn uniformly with `mutationProbability`) and the rest with uniform crossovers of
/// two random parents. An infeasible child is repaired by lowering random fields one level until it fits, as is every
/// uniform draw of the initial population. Each distinct policy is predicted once. Deterministic for a seed.
public struct EvolutionarySearch: Sendable {
    /// Knobs of the evolution; the defaults are the baseline's (population 100, 500 iterations).
    public struct Settings: Hashable, Sendable {
        /// Individuals per generation.
        public var population: Int
        /// Generations.
        public var iterations: Int
        /// Share of the population kept as parents (the best ones).
        public var parentFraction: Double
        /// Share of the population made by mutation; the rest of the children come from crossover.
        public var mutationFraction: Double
        /// Chance that a mutant redraws each variable.
        public var mutationProbability: Double
        public var seed: UInt64

        /// Settings with the given knobs.
        public init(population: Int = 100, iterations: Int = 500, parentFraction: Double = 0.25,
                    mutationFraction: Double = 0.5, mutationProbability: Double = 0.1, seed: UInt64 = 0) {
            self.population = population
            self.iterations = iterations
            self.parentFraction = parentFraction
            self.mutationFraction = mutationFraction
            self.mutationProbability = mutationProbability
            self.seed = seed
        }
    }

    public let settings: Settings

    /// A search with `settings`.
    public init(settings: Settings = Settings()) { self.settings = settings }

    /// The best feasible policy found under `budget`; throws when even the cheapest policy costs more.
    public func search<P: PerformancePredictor, C: ComplexityModel>(
        _ problem: SearchProblem<P, C>, budget: Double
    ) throws -> SearchResult {
        let clock = ContinuousClock()
        let start = clock.now
        try problem.checkBudget(budget)
        var oracle = Oracle(problem, budget: budget)
        var rng = SplitMix64(seed: settings.seed)
        let variables = problem.encoding.variables
        let size = max(2, settings.population)
        let parentCount = min(size - 1, max(1, Int((settings.parentFraction * Double(size)).rounded())))
        let mutantCount = min(size - parentCount, max(0, Int((settings.mutationFraction * Double(size)).rounded())))

        func repaired(_ levels: [Int]) -> [Int] {
            var levels = levels
            while oracle.cost(levels) > budget {
                let lowerable = levels.indices.filter { levels[$0] > 0 }
                // Never empty while over budget: the all-minimum policy fits (checkBudget).
                guard !lowerable.isEmpty else { break }
                levels[lowerable[rng.nextInt(below: lowerable.count)]] -= 1
            }
            return levels
        }

        var population = (0..<size).map { _ in repaired(variables.map { rng.nextInt(below: $0.levels.count) }) }
        for _ in 0..<settings.iterations {
            let ranked = rank(population, &oracle)
            let parents = Array(ranked.prefix(parentCount))
            var next = parents
            for _ in 0..<mutantCount {
                var child = parents[rng.nextInt(below: parents.count)]
                for v in child.indices where rng.nextUniform() < settings.mutationProbability {
                    child[v] = rng.nextInt(below: variables[v].levels.count)
                }
                next.append(repaired(child))
            }
            while next.count < size {
                let a = parents[rng.nextInt(below: parents.count)], b = parents[rng.nextInt(below: parents.count)]
                next.append(repaired(a.indices.map { rng.nextUniform() < 0.5 ? a[$0] : b[$0] }))
            }
            population = next
        }
        let best = rank(population, &oracle)[0]
        let predicted = problem.predict(levels: best)
        return SearchResult(policy: problem.encoding.policy(levels: best), levels: best, predictedMean: predicted.mean,
                            predictedStd: predicted.std, extrapolation: problem.extrapolation(levels: best),
                            complexity: problem.cost(levels: best), budget: budget,
                            seconds: seconds(clock.now - start), predictorCalls: oracle.calls + 1)
    }

    /// Best first; equal predictions in lexicographic level order so the run does not depend on sort stability.
    private func rank<P, C>(_ population: [[Int]], _ oracle: inout Oracle<P, C>) -> [[Int]] {
        population.map { (levels: $0, fitness: oracle.objective($0)) }
            .sorted { $0.fitness != $1.fitness ? $0.fitness > $1.fitness : $0.levels.lexicographicallyPrecedes($1.levels) }
            .map(\.levels)
    }
}
