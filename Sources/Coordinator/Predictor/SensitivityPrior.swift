// Prior knowledge of how much each policy column costs in accuracy on its own, as predictor features.
import Foundation

/// Per raw policy column, the accuracy lost when that column alone moves to a value (a piecewise-linear curve over
/// the column's base value: the prune ratio, or log2 of the bit-width), from per-layer sensitivities measured without
/// fine-tuning. The predictor reads it as a feature: the summed curves of every column (the additive untuned drop), so
/// ridge learns how untuned drops translate into fine-tuned accuracy from the few measured policies, while the curves
/// carry which layer and which level is a cliff, something tens of random policies cannot pin down per layer.
public struct SensitivityPrior: Codable, Hashable, Sendable {
    /// What a column sets; the prior's features sum the curves of each kind separately.
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        case prune, weightBits = "weight_bits", activationBits = "activation_bits"
    }

    /// A piecewise-linear function through (knots[i], values[i]), knots ascending; constant beyond the end knots.
    public struct Curve: Codable, Hashable, Sendable {
        public let knots: [Double]
        public let values: [Double]

        public init(knots: [Double], values: [Double]) {
            precondition(!knots.isEmpty && knots.count == values.count, "a curve needs as many values as knots")
            precondition(zip(knots, knots.dropFirst()).allSatisfy { $0 < $1 }, "curve knots must ascend")
            self.knots = knots
            self.values = values
        }

        /// The segment holding `u` (clamped to the end segments) and the position in it, 0...1.
        private func segment(_ u: Double) -> (index: Int, t: Double, inside: Bool) {
            guard knots.count > 1 else { return (0, 0, false) }
            if u <= knots[0] { return (0, 0, false) }
            if u >= knots[knots.count - 1] { return (knots.count - 2, 1, false) }
            var i = 0
            while u > knots[i + 1] { i += 1 }
            return (i, (u - knots[i]) / (knots[i + 1] - knots[i]), true)
        }

        public func value(_ u: Double) -> Double {
            guard knots.count > 1 else { return values[0] }
            let (i, t, _) = segment(u)
            return values[i] + t * (values[i + 1] - values[i])
        }

        /// d value / d u: the segment's slope inside the knots, 0 beyond them.
        public func slope(_ u: Double) -> Double {
            guard knots.count > 1 else { return 0 }
            let (i, _, inside) = segment(u)
            return inside ? (values[i + 1] - values[i]) / (knots[i + 1] - knots[i]) : 0
        }
    }

    /// Per raw column: its curve, nil for a column without one (it adds nothing).
    public let curves: [Curve?]
    /// Per raw column: what it sets.
    public let kinds: [Kind]

    public init(curves: [Curve?], kinds: [Kind]) {
        precondition(curves.count == kinds.count, "one kind per column")
        self.curves = curves
        self.kinds = kinds
    }

    /// The kinds that some column has, in `Kind.allCases` order: one feature each.
    public var presentKinds: [Kind] { Kind.allCases.filter { k in zip(curves, kinds).contains { $0 != nil && $1 == k } } }

    /// The summed curves of `kind`'s columns at base values `u`.
    public func sum(_ kind: Kind, base u: [Double]) -> Double {
        var s = 0.0
        for j in curves.indices where kinds[j] == kind { if let c = curves[j] { s += c.value(u[j]) } }
        return s
    }

    /// Adds `d` x d sum(kind) / d u to `gu`.
    public func pullback(_ kind: Kind, base u: [Double], _ d: Double, into gu: inout [Double]) {
        for j in curves.indices where kinds[j] == kind { if let c = curves[j] { gu[j] += d * c.slope(u[j]) } }
    }
}
