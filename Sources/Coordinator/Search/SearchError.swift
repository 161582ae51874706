import Foundation

/// Why a search, an encoding or a sampler request was rejected; every case names the numbers involved.
public enum SearchError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// Even the most compressed policy of the space costs more than the budget.
    case budgetBelowMinimum(metric: String, budget: Double, minimum: Double)
    /// A budget that is zero, negative or not finite.
    case invalidBudget(metric: String, budget: Double)
    /// A sampler asked for policies near no budget at all.
    case noBudgets
    /// A band that is not a positive range, e.g. 1.0...0.7 or 0...1.
    case invalidBand(lower: Double, upper: Double)
    /// No policy of the space reaches the band around any budget.
    case bandUnreachable(metric: String, budgets: [Double], lower: Double, upper: Double, minimum: Double, maximum: Double)
    /// A policy for another model, or with other layers than the encoding's.
    case policyMismatch(expected: String, reason: String)
    /// A policy value the encoding's search space does not allow.
    case outsideSpace(field: String, value: String, allowed: [String])
    /// A predictor fitted on other columns than the encoding's schema.
    case schemaMismatch(model: String, expected: [String], got: [String])
    /// A feature row or relaxation vector of the wrong length.
    case lengthMismatch(what: String, expected: Int, got: Int)
    /// A sensitivity table built without one of its probes.
    case missingSensitivity(probe: String)

    public var description: String {
        switch self {
        case let .budgetBelowMinimum(metric, budget, minimum):
            return "\(metric) budget \(formatCount(budget)) is below the smallest reachable \(metric) "
                + "\(formatCount(minimum)) (every field at its most compressed value); raise the budget to at least "
                + formatCount(minimum)
        case let .invalidBudget(metric, budget):
            return "\(metric) budget \(budget) must be a positive finite number"
        case .noBudgets:
            return "no budgets given: sampling near budgets needs at least one"
        case let .invalidBand(lower, upper):
            return "budget band \(lower)...\(upper) must satisfy 0 < lower <= upper"
        case let .bandUnreachable(metric, budgets, lower, upper, minimum, maximum):
            return "no policy reaches \(lower)...\(upper) x any \(metric) budget "
                + "(\(budgets.map(formatCount).joined(separator: ", "))): the space spans \(formatCount(minimum)) to "
                + formatCount(maximum)
        case let .policyMismatch(expected, reason):
            return "policy does not fit the encoding of \(expected): \(reason)"
        case let .outsideSpace(field, value, allowed):
            return "\(field): \(value) is not in the search space; allowed: \(allowed.joined(separator: ", "))"
        case let .schemaMismatch(model, expected, got):
            let first = zip(expected, got).enumerated().first { $0.element.0 != $0.element.1 }
            let detail = first.map { "column \($0.offset + 1) is '\($0.element.1)', expected '\($0.element.0)'" }
                ?? "\(got.count) columns, expected \(expected.count)"
            return "predictor does not read \(model)'s policy encoding: \(detail)"
        case let .lengthMismatch(what, expected, got):
            return "\(what) has \(got) values; expected \(expected)"
        case let .missingSensitivity(probe):
            return "sensitivity table: no measured accuracy for the probe \(probe)"
        }
    }

    public var errorDescription: String? { description }
}

/// 1234567 -> "1.23M (1234567)": readable and still exact enough to compare.
func formatCount(_ value: Double) -> String {
    let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
    let exact = value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.6g", value)
    guard let (scale, suffix) = units.first(where: { abs(value) >= $0.0 }) else { return exact }
    return String(format: "%.3g", value / scale) + suffix + " (\(exact))"
}

/// A ratio or bit-width as policy files write it: `0.25`, `4`.
func formatValue(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
