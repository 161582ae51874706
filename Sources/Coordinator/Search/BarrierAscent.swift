import Foundation
import SeerPredictor

/// One start of `PolicyOptimizer`'s continuous phase: Adam ascent on f(x(u)) + mu log(1 - C(x(u)) / budget) in
/// box-normalized coordinates, one step at a time so the optimizer can stop poor starts half way.
struct BarrierAscent {
    /// Box-normalized point (0 = most compressed), its relaxation and cost; always strictly within the budget.
    private(set) var u: [Double]
    private(set) var x: [Double]
    private(set) var cost: Double
    private(set) var stepsTaken = 0
    let steps: Int
    private var m: [Double], s: [Double]
    private let spans: [Double]

    init<P, C>(start: [Double], steps: Int, oracle: Oracle<P, C>) {
        u = start
        x = oracle.encoding.point(normalized: start)
        cost = oracle.problem.complexity.value(x)
        self.steps = steps
        m = [Double](repeating: 0, count: start.count)
        s = m
        spans = oracle.encoding.variables.map(\.span)
    }

    /// One projected Adam step. The schedules follow `stepsTaken / (steps - 1)`: the slack the barrier aims at
    /// shrinks geometrically from `slackStart` to `slackEnd`, the step size linearly to a tenth.
    mutating func step<P, C>(_ oracle: inout Oracle<P, C>, settings: PolicyOptimizer.Settings) {
        let complexity = oracle.problem.complexity
        let budget = oracle.budget
        let n = u.count
        let (beta1, beta2, epsilon) = (0.9, 0.999, 1e-8)
        let progress = steps > 1 ? Double(stepsTaken) / Double(steps - 1) : 1
        let slack = settings.slackStart * pow(settings.slackEnd / settings.slackStart, progress)
        let rate = settings.learningRate * (1 - 0.9 * progress)
        stepsTaken += 1

        let gx = oracle.objectiveGradient(relaxation: x)
        let cx = complexity.gradient(x)
        var gf = [Double](repeating: 0, count: n), gc = [Double](repeating: 0, count: n)
        var dot = 0.0, normF = 0.0, normC = 0.0
        for v in 0..<n {
            gf[v] = gx[v] * spans[v]
            gc[v] = cx[v] * spans[v] / budget
            dot += gf[v] * gc[v]
            normF += gf[v] * gf[v]
            normC += gc[v] * gc[v]
        }
        // The budget's marginal value (KKT multiplier) estimated by projecting grad f onto grad C; the barrier pull
        // mu / (1 - C/budget) matches it where the slack is `slack`. Scaling mu this way makes the schedule
        // independent of the predictor's and the cost's units.
        let multiplier = normC > 0 ? (dot > 0 ? dot / normC : (normF / normC).squareRoot()) : 0
        let barrier = slack * multiplier / max(1 - cost / budget, 1e-12)
        let correction1 = 1 - pow(beta1, Double(stepsTaken)), correction2 = 1 - pow(beta2, Double(stepsTaken))
        var trial = u
        for v in 0..<n where spans[v] != 0 {
            let d = gf[v] - barrier * gc[v]
            m[v] = beta1 * m[v] + (1 - beta1) * d
            s[v] = beta2 * s[v] + (1 - beta2) * d * d
            let step = rate * (m[v] / correction1) / ((s[v] / correction2).squareRoot() + epsilon)
            trial[v] = min(max(u[v] + step, 0), 1)
        }
        // Stay strictly inside the budget, where the barrier is defined: halve the step until it is.
        for _ in 0..<30 {
            let xt = oracle.encoding.point(normalized: trial)
            let ct = complexity.value(xt)
            if ct < budget {
                (u, x, cost) = (trial, xt, ct)
                return
            }
            for v in 0..<n { trial[v] = (u[v] + trial[v]) / 2 }
        }
    }
}

extension PolicyEncoding {
    /// The relaxation at box-normalized `u`: 0 is each variable's most compressed value, 1 its least.
    func point(normalized u: [Double]) -> [Double] {
        var x = [Double](repeating: 0, count: u.count)
        for (v, variable) in variables.enumerated() { x[v] = variable.levels[0] + u[v] * variable.span }
        return x
    }
}
