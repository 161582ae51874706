// Ranking and error metrics for predicted vs measured accuracy.
import Foundation

public enum Metrics {
    /// Kendall's tau-b between two equally long sequences, with ties handled as in tau-b:
    /// (concordant - discordant) / sqrt((n0 - n1)(n0 - n2)), n1/n2 = pairs tied in x/y. NaN when either side is constant
    /// or there are fewer than two values.
    public static func kendallTau(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "kendallTau: sequences of different lengths")
        let n = x.count
        guard n >= 2 else { return .nan }
        var concordant = 0, discordant = 0, tiedX = 0, tiedY = 0
        for i in 0..<(n - 1) {
            for j in (i + 1)..<n {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 && dy == 0 {
                    tiedX += 1; tiedY += 1
                } else if dx == 0 {
                    tiedX += 1
                } else if dy == 0 {
                    tiedY += 1
                } else if (dx > 0) == (dy > 0) {
                    concordant += 1
                } else {
                    discordant += 1
                }
            }
        }
        let n0 = Double(n * (n - 1) / 2)
        let denominator = ((n0 - Double(tiedX)) * (n0 - Double(tiedY))).squareRoot()
        guard denominator > 0 else { return .nan }
        return Double(concordant - discordant) / denominator
    }

    /// Ranks 1...n, ties get the average of the ranks they span.
    public static func averageRanks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var ranks = [Double](repeating: 0, count: x.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && x[order[end + 1]] == x[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for k in start...end { ranks[order[k]] = rank }
            start = end + 1
        }
        return ranks
    }

    /// Pearson correlation; NaN when either side is constant.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "pearson: sequences of different lengths")
        guard x.count >= 2 else { return .nan }
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else { return .nan }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Spearman's rho: Pearson correlation of average ranks (ties handled).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        pearson(averageRanks(x), averageRanks(y))
    }

    /// Root mean squared error.
    public static func rmse(_ predicted: [Double], _ actual: [Double]) -> Double {
        precondition(predicted.count == actual.count, "rmse: sequences of different lengths")
        guard !predicted.isEmpty else { return .nan }
        var s = 0.0
        for (p, a) in zip(predicted, actual) { s += (p - a) * (p - a) }
        return (s / Double(predicted.count)).squareRoot()
    }
}
