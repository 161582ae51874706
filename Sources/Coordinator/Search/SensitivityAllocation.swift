import SeerCompression

/// A zero-search allocation of bit-widths and prune ratios under a budget from a `SensitivityTable`, in the style of
/// HAWQ-V3 (greedy on the table's additive drop instead of an integer program).
///
/// Starting from every variable at its top level (least compressed), it repeatedly takes the one-level step down, of
/// any variable, with the smallest increase of `SensitivityTable.additiveDrop` per unit of cost saved, until the cost
/// is within the budget. Steps that save no cost are taken only when no step saves any (never with a monotone cost).
/// Ties go to the step that saves more cost, then to the lower variable index, so the result is deterministic.
///
/// The greedy descent can overshoot the budget by its last step; a second pass then raises variables back one level at
/// a time, each time the raise with the largest decrease of the additive drop per unit of cost added that still fits,
/// until no raise both fits and lowers the drop.
public struct SensitivityAllocation: Sendable {
    /// Level index per variable of the encoding.
    public let levels: [Int]
    /// The policy at `levels`.
    public let policy: ResolvedPolicy
    /// Its cost under the complexity model the allocation used.
    public let cost: Double
    /// The table's additive estimate of the accuracy it loses, in points.
    public let predictedDrop: Double
    /// One-level steps down taken, then raises taken back.
    public let stepsDown: Int
    public let stepsUp: Int

    /// The allocation for `budget` (in the units of `complexity`); throws `SearchError.budgetBelowMinimum` when even
    /// the cheapest policy of the space costs more, `SearchError.invalidBudget` for a budget that is not positive and
    /// finite, `SearchError.lengthMismatch` for a table of another encoding.
    public init<Cost: ComplexityModel>(table: SensitivityTable, encoding: PolicyEncoding, complexity: Cost,
                                       budget: Double) throws {
        guard budget > 0, budget.isFinite else { throw SearchError.invalidBudget(metric: complexity.metric, budget: budget) }
        guard table.drops.count == encoding.variables.count else {
            throw SearchError.lengthMismatch(what: "sensitivity table", expected: encoding.variables.count, got: table.drops.count)
        }
        for (v, row) in table.drops.enumerated() where row.count != encoding.variables[v].levels.count {
            throw SearchError.lengthMismatch(what: "sensitivity table row of \(encoding.variables[v].name)",
                                             expected: encoding.variables[v].levels.count, got: row.count)
        }
        let cost = { (levels: [Int]) -> Double in complexity.value(encoding.relaxation(levels: levels)) }
        let minimum = cost(encoding.minimumLevels)
        guard minimum <= budget else {
            throw SearchError.budgetBelowMinimum(metric: complexity.metric, budget: budget, minimum: minimum)
        }

        var levels = encoding.maximumLevels
        var current = cost(levels)
        var down = 0
        while current > budget {
            // (variable, drop increase, cost saved) of the best step down.
            var best: (v: Int, ratio: Double, saved: Double)?
            var fallback: (v: Int, increase: Double)?
            for v in levels.indices where levels[v] > 0 {
                let increase = table.drops[v][levels[v] - 1] - table.drops[v][levels[v]]
                var lowered = levels
                lowered[v] -= 1
                let saved = current - cost(lowered)
                guard saved > 0 else {
                    if fallback == nil || increase < fallback!.increase { fallback = (v, increase) }
                    continue
                }
                let ratio = increase / saved
                if best == nil || ratio < best!.ratio || (ratio == best!.ratio && saved > best!.saved) {
                    best = (v, ratio, saved)
                }
            }
            // Unreachable while some variable is above level 0 and the minimum fits, but keeps the loop finite.
            guard let v = best?.v ?? fallback?.v else { break }
            levels[v] -= 1
            current = cost(levels)
            down += 1
        }

        var up = 0
        while true {
            var best: (v: Int, ratio: Double, added: Double)?
            for v in levels.indices where levels[v] < encoding.variables[v].topLevel {
                let decrease = table.drops[v][levels[v]] - table.drops[v][levels[v] + 1]
                guard decrease > 0 else { continue }
                var raised = levels
                raised[v] += 1
                let c = cost(raised)
                guard c <= budget else { continue }
                let added = max(c - current, 1e-12 * max(1, abs(current)))
                let ratio = decrease / added
                if best == nil || ratio > best!.ratio || (ratio == best!.ratio && added < best!.added) {
                    best = (v, ratio, added)
                }
            }
            // Every raise lowers the additive drop strictly, so this ends.
            guard let v = best?.v else { break }
            levels[v] += 1
            current = cost(levels)
            up += 1
        }

        self.levels = levels
        policy = encoding.policy(levels: levels)
        self.cost = current
        predictedDrop = table.additiveDrop(levels: levels)
        stepsDown = down
        stepsUp = up
    }
}
