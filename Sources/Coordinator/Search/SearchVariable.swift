/// One decision of the search: a tied channel group's prune ratio, or one layer's weight or activation bit-width.
///
/// Levels are ordered from the most compressed value (level 0) to the least, so "one level down" always means
/// "cheaper" whatever the field: bit-widths ascend, prune ratios descend.
public struct SearchVariable: Hashable, Sendable {
    /// Which field the variable sets.
    public enum Kind: String, Hashable, Sendable {
        case prune, wbits, abits
    }

    public let kind: Kind
    /// Indices into `PolicyEncoding.layers` this variable sets: every ratio layer of a group for `prune`, one layer
    /// for a bit-width.
    public let layers: [Int]
    /// Readable name: `<layer>.wbits`, `<layer>.abits`, `<first layer>.prune`, with `(+n tied)` for groups.
    public let name: String
    /// Allowed values, most compressed first.
    public let levels: [Double]

    /// The largest level index.
    public var topLevel: Int { levels.count - 1 }
    /// The smallest allowed value (the relaxation's lower bound).
    public var lowerBound: Double { min(levels[0], levels[topLevel]) }
    /// The largest allowed value (the relaxation's upper bound).
    public var upperBound: Double { max(levels[0], levels[topLevel]) }
    /// Value at the least compressed level minus value at the most compressed one (negative for prune ratios).
    public var span: Double { levels[topLevel] - levels[0] }

    /// The level whose value is nearest to `value`; ties go to the more compressed level.
    public func nearestLevel(to value: Double) -> Int {
        var best = 0
        var bestDistance = abs(levels[0] - value)
        for level in 1..<levels.count {
            let distance = abs(levels[level] - value)
            if distance < bestDistance { (best, bestDistance) = (level, distance) }
        }
        return best
    }
}
