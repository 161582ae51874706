import SeerCompression
import SeerPredictor

/// Seeded random policies over an encoding's discrete space, restricted to a band around budgets of interest: a cost
/// within [band.lowerBound x b, band.upperBound x b] for any budget b.
///
/// Draws are uniform over the space (each variable's level uniform), kept when in band; after `rejectionTries`
/// misses for one policy, the last draw is walked into the nearest budget's band instead (random fields lowered one
/// level while above it, raised while below), so tight bands far from the space's centre still fill.
public struct PolicySampler<Cost: ComplexityModel>: Sendable {
    public let encoding: PolicyEncoding
    public let complexity: Cost
    /// Costs allowed, as fractions of any budget.
    public let band: ClosedRange<Double>
    /// Uniform draws per policy before falling back to a random walk into the band.
    public let rejectionTries: Int

    /// A sampler over `encoding` with costs from `complexity`; the band must be positive and finite.
    public init(encoding: PolicyEncoding, complexity: Cost, band: ClosedRange<Double> = 0.7...1.0,
                rejectionTries: Int = 100) throws {
        guard band.lowerBound > 0, band.lowerBound.isFinite, band.upperBound.isFinite else {
            throw SearchError.invalidBand(lower: band.lowerBound, upper: band.upperBound)
        }
        self.encoding = encoding
        self.complexity = complexity
        self.band = band
        self.rejectionTries = max(1, rejectionTries)
    }

    /// `count` distinct random policies in band around `budgets`, none of them in `exclude` (fewer only when the
    /// band holds fewer). Deterministic for a seed.
    public func randomPolicies(count: Int, near budgets: [Double], seed: UInt64,
                               exclude: Set<ResolvedPolicy> = []) throws -> [ResolvedPolicy] {
        var rng = SplitMix64(seed: seed)
        let excluded = Set(exclude.compactMap { try? encoding.levels(of: $0) })
        return try randomLevels(count: count, near: budgets, rng: &rng, exclude: excluded).map(encoding.policy(levels:))
    }

    /// Like `randomPolicies`, as level vectors.
    func randomLevels(count: Int, near budgets: [Double], rng: inout SplitMix64,
                      exclude: Set<[Int]> = []) throws -> [[Int]] {
        let targets = try reachableBudgets(budgets)
        var seen = exclude
        var out: [[Int]] = []
        var failures = 0
        while out.count < count && failures < 20 * max(count, 10) {
            var candidate: [Int]?
            var last = uniformLevels(&rng)
            for attempt in 0..<rejectionTries {
                if attempt > 0 { last = uniformLevels(&rng) }
                if inBand(cost(last), targets), !seen.contains(last) {
                    candidate = last
                    break
                }
            }
            if candidate == nil, let moved = moveIntoBand(last, targets: targets, rng: &rng), !seen.contains(moved) {
                candidate = moved
            }
            guard let accepted = candidate else {
                failures += 1
                continue
            }
            seen.insert(accepted)
            out.append(accepted)
        }
        return out
    }

    /// Each variable at a uniformly drawn level.
    func uniformLevels(_ rng: inout SplitMix64) -> [Int] {
        encoding.variables.map { rng.nextInt(below: $0.levels.count) }
    }

    func cost(_ levels: [Int]) -> Double { complexity.value(encoding.relaxation(levels: levels)) }

    /// Whether `cost` lies in the band of any budget.
    func inBand(_ cost: Double, _ budgets: [Double]) -> Bool {
        budgets.contains { cost >= band.lowerBound * $0 && cost <= band.upperBound * $0 }
    }

    /// The budgets whose band some policy of the space reaches; throws when there are none.
    func reachableBudgets(_ budgets: [Double]) throws -> [Double] {
        guard !budgets.isEmpty else { throw SearchError.noBudgets }
        if let bad = budgets.first(where: { !($0 > 0 && $0.isFinite) }) {
            throw SearchError.invalidBudget(metric: complexity.metric, budget: bad)
        }
        let minimum = cost(encoding.minimumLevels), maximum = cost(encoding.maximumLevels)
        let reachable = budgets.filter { band.lowerBound * $0 <= maximum && band.upperBound * $0 >= minimum }
        guard !reachable.isEmpty else {
            throw SearchError.bandUnreachable(metric: complexity.metric, budgets: budgets, lower: band.lowerBound,
                                              upper: band.upperBound, minimum: minimum, maximum: maximum)
        }
        return reachable
    }

    /// A random walk from `levels` into the band of the budget nearest to its cost (by ratio); nil when stuck.
    func moveIntoBand(_ start: [Int], targets: [Double], rng: inout SplitMix64) -> [Int]? {
        var levels = start
        var c = cost(levels)
        if inBand(c, targets) { return levels }
        func distance(_ b: Double) -> Double {
            c > band.upperBound * b ? c / (band.upperBound * b) : (band.lowerBound * b) / c
        }
        let target = targets.min { distance($0) < distance($1) }!
        let (lower, upper) = (band.lowerBound * target, band.upperBound * target)
        let n = levels.count
        for _ in 0..<(4 * encoding.levelCounts.reduce(0, +)) {
            if c > upper {
                let lowerable = (0..<n).filter { levels[$0] > 0 }
                guard !lowerable.isEmpty else { return nil }
                levels[lowerable[rng.nextInt(below: lowerable.count)]] -= 1
            } else if c < lower {
                // Raise a random field whose raise does not overshoot the band.
                var raisable = (0..<n).filter { levels[$0] < encoding.variables[$0].topLevel }
                rng.shuffle(&raisable)
                guard let v = raisable.first(where: { v in
                    var raised = levels
                    raised[v] += 1
                    return cost(raised) <= upper
                }) else { return nil }
                levels[v] += 1
            } else {
                return levels
            }
            c = cost(levels)
        }
        return nil
    }
}
