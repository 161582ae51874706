import Foundation

/// The measurements of a contest between a pick and a sample that measured above it (`verifyChosen`), each a noise
/// row with a seed of its own: the pick is measured once more, the sample twice.
enum Recheck: CaseIterable {
    case pick, sample, sampleAgain

    /// The first noise round that holds rechecks (round 0 holds the noise repeats).
    static let firstRound = 1
    /// The noise repeats' seed offset; rechecks take the next ones, so a policy is never measured twice with one seed.
    static let noiseRepeatSeedOffset = 1

    var round: Int { self == .sampleAgain ? 2 : 1 }
    var seedOffset: Int { Self.noiseRepeatSeedOffset + round }
    var isPick: Bool { self == .pick }

    /// The measurements a contest counts: the pick's first measurement with its recheck, and the sample's fresh
    /// measurements that succeeded (without one there is no unbiased contest, and the sample's first stands).
    static func counted(pickFirst: Double, pick: Double?, sample: [Double?], sampleFirst: Double)
        -> (pick: [Double], sample: [Double]) {
        let fresh = sample.compactMap { $0 }
        return ([pickFirst] + [pick].compactMap { $0 }, fresh.isEmpty ? [sampleFirst] : fresh)
    }

    func jobID(campaign: String, budget: String) -> String {
        switch self {
        case .pick: return "\(campaign):recheck:\(budget):pick"
        case .sample: return "\(campaign):recheck:\(budget):sample"
        case .sampleAgain: return "\(campaign):recheck:\(budget):sample-again"
        }
    }
}

/// How a contest is decided: the sample replaces the optimizer's pick only when its mean is above the pick's by more
/// than the measurement noise explains.
///
/// With a point or more of noise per measurement and two measurements each, a difference of a few tenths is what two
/// equally good policies show half the time; replacing the pick on it would report a coin flip as a finding (and
/// would make the fallback fire on every budget where the optimizer lands beside a strong sample, as it does beside
/// the sensitivity allocation). So the pick, the policy the predictor chose before any of these measurements, is the
/// null hypothesis, and the sample must beat it in a one-sided test at 5%: mean difference > 1.645 x noise x
/// sqrt(1/n_pick + 1/n_sample). The noise is the campaign's own estimate, pooled over every pair of measurements of one
/// policy with different seeds (`MeasurementNoise`). Without an estimate the higher mean wins, as a plain comparison.
struct ContestDecision: Equatable {
    /// One-sided 5% quantile of the standard normal.
    static let z = 1.645

    /// The pick's mean over its counted measurements.
    let pick: Double
    /// The sample's mean over its counted measurements.
    let sample: Double
    /// How far above the pick's mean the sample's must be to replace it; 0 without a noise estimate.
    let margin: Double

    init(pick: [Double], sample: [Double], noise: Double?) {
        precondition(!pick.isEmpty && !sample.isEmpty, "a contest needs a measurement of each side")
        self.pick = pick.reduce(0, +) / Double(pick.count)
        self.sample = sample.reduce(0, +) / Double(sample.count)
        margin = noise.map { Self.z * $0 * (1 / Double(pick.count) + 1 / Double(sample.count)).squareRoot() } ?? 0
    }

    /// Whether the sample is reported instead of the pick.
    var sampleWins: Bool { sample - pick > margin }
    /// The validation accuracy reported for the winner: its mean.
    var winner: Double { sampleWins ? sample : pick }
}

/// The standard deviation of one measurement, from pairs of measurements of one policy with different seeds:
/// sqrt(mean squared difference / 2); nil without a pair.
enum MeasurementNoise {
    static func standardDeviation(pairs: [(Double, Double)]) -> Double? {
        guard !pairs.isEmpty else { return nil }
        return (pairs.reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / (2 * Double(pairs.count))).squareRoot()
    }
}
