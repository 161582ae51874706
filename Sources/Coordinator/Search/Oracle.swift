import SeerPredictor

/// A search problem under one budget, counting predictor calls and remembering the objective at discrete points.
///
/// The objective is the predicted accuracy minus `pessimism` x the predictor's extrapolation error there (see
/// `DataSupport`): with pessimism 0 the predicted accuracy itself, as SeerNet maximizes it.
struct Oracle<P: PerformancePredictor, C: ComplexityModel> {
    let problem: SearchProblem<P, C>
    let budget: Double
    let pessimism: Double
    private(set) var calls = 0
    private var memo: [[Int]: Double] = [:]

    init(_ problem: SearchProblem<P, C>, budget: Double, pessimism: Double = 0) {
        self.problem = problem
        self.budget = budget
        self.pessimism = pessimism
    }

    var encoding: PolicyEncoding { problem.encoding }

    /// The objective at a discrete point, each distinct point evaluated once.
    mutating func objective(_ levels: [Int]) -> Double {
        if let known = memo[levels] { return known }
        let value = objective(row: encoding.features(levels: levels))
        memo[levels] = value
        return value
    }

    /// The objective at a point of the relaxation.
    mutating func objectiveAt(relaxation x: [Double]) -> Double { objective(row: encoding.features(relaxation: x)) }

    private mutating func objective(row: [Double]) -> Double {
        calls += 1
        let mean = problem.predictor.predict(row).mean
        return pessimism == 0 ? mean : mean - pessimism * problem.predictor.extrapolation(row)
    }

    /// d objective / d relaxation.
    mutating func objectiveGradient(relaxation x: [Double]) -> [Double] {
        calls += 1
        let row = encoding.features(relaxation: x)
        var g = problem.predictor.gradient(row)
        if pessimism != 0 {
            for (i, e) in problem.predictor.extrapolationGradient(row).enumerated() { g[i] -= pessimism * e }
        }
        return encoding.relaxationGradient(featureGradient: g)
    }

    func cost(_ levels: [Int]) -> Double { problem.cost(levels: levels) }

    /// The value change of variable `v` moving from `level` to `level + step`.
    func delta(_ v: Int, _ level: Int, _ step: Int) -> Double {
        let values = encoding.variables[v].levels
        return values[level + step] - values[level]
    }
}

/// A candidate discrete move: variables stepped one level each, with its first-order estimate and exact cost.
struct Move {
    var steps: [(variable: Int, step: Int)]
    var estimate: Double
    var cost: Double

    func applied(to levels: [Int]) -> [Int] {
        var out = levels
        for (v, s) in steps { out[v] += s }
        return out
    }
}

extension Oracle {
    /// Lowers fields one level at a time until the policy fits the budget, each time the field with the least
    /// predicted-accuracy loss per unit of cost saved: the gradient ranks all fields, the best `candidates` by that
    /// ranking are predicted exactly. Returns false when even all-minimum fields do not fit.
    mutating func repair(_ levels: inout [Int], candidates: Int) -> Bool {
        var cost = self.cost(levels)
        while cost > budget {
            let g = objectiveGradient(relaxation: encoding.relaxation(levels: levels))
            var moves: [(move: Move, saved: Double)] = []
            for v in levels.indices where levels[v] > 0 {
                var lowered = levels
                lowered[v] -= 1
                let newCost = self.cost(lowered)
                let saved = cost - newCost
                guard saved > 0 else { continue }
                let loss = -g[v] * delta(v, levels[v], -1)
                moves.append((Move(steps: [(v, -1)], estimate: loss / saved, cost: newCost), saved))
            }
            guard !moves.isEmpty else { return false }
            moves.sort { $0.move.estimate < $1.move.estimate }
            let here = objective(levels)
            var best: (move: Move, ratio: Double)?
            for (move, saved) in moves.prefix(max(1, candidates)) {
                let ratio = (here - objective(move.applied(to: levels))) / saved
                if best == nil || ratio < best!.ratio { best = (move, ratio) }
            }
            levels = best!.move.applied(to: levels)
            cost = best!.move.cost
        }
        return true
    }

    /// Greedy improvement of a feasible policy: raise one field, or lower one and raise another, whenever it stays
    /// within budget and the predictor prefers it. The gradient proposes moves; the best `candidates` by estimated
    /// gain are predicted exactly and the best real improvement is taken, until none improves or `maxMoves` is reached.
    mutating func polish(_ levels: inout [Int], candidates: Int, maxMoves: Int, pairPool: Int) {
        var current = objective(levels)
        for _ in 0..<maxMoves {
            let cost = self.cost(levels)
            let g = objectiveGradient(relaxation: encoding.relaxation(levels: levels))
            var moves: [Move] = []
            // Raises: within budget on their own, or as the second half of an exchange.
            var raises: [(v: Int, gain: Double, perCost: Double)] = []
            var lowers: [(v: Int, loss: Double, perCost: Double)] = []
            for v in levels.indices {
                if levels[v] < encoding.variables[v].topLevel {
                    var raised = levels
                    raised[v] += 1
                    let newCost = self.cost(raised)
                    let gain = g[v] * delta(v, levels[v], 1)
                    if newCost <= budget {
                        if gain > 0 { moves.append(Move(steps: [(v, 1)], estimate: gain, cost: newCost)) }
                    } else if gain > 0 {
                        raises.append((v, gain, gain / max(newCost - cost, .leastNonzeroMagnitude)))
                    }
                }
                if levels[v] > 0 {
                    var lowered = levels
                    lowered[v] -= 1
                    let saved = cost - self.cost(lowered)
                    if saved > 0 {
                        let loss = -g[v] * delta(v, levels[v], -1)
                        lowers.append((v, loss, loss / saved))
                    }
                }
            }
            raises.sort { $0.perCost > $1.perCost }
            lowers.sort { $0.perCost < $1.perCost }
            for r in raises.prefix(pairPool) {
                for l in lowers.prefix(pairPool) where l.v != r.v && r.gain - l.loss > 0 {
                    let move = Move(steps: [(l.v, -1), (r.v, 1)], estimate: r.gain - l.loss, cost: 0)
                    let newCost = self.cost(move.applied(to: levels))
                    if newCost <= budget { moves.append(Move(steps: move.steps, estimate: move.estimate, cost: newCost)) }
                }
            }
            guard !moves.isEmpty else { return }
            moves.sort { $0.estimate > $1.estimate }
            var best: (levels: [Int], mean: Double)?
            for move in moves.prefix(max(1, candidates)) {
                let next = move.applied(to: levels)
                let value = objective(next)
                if value > (best?.mean ?? current) { best = (next, value) }
            }
            guard let best, best.mean > current + 1e-12 else { return }
            (levels, current) = (best.levels, best.mean)
        }
    }
}
