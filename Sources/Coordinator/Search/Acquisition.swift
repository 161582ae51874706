import Foundation
import SeerPredictor

/// What an acquisition function may ask about a candidate: the predictor's mean and ensemble spread at any levels
/// (memoized by the sampler), and its extrapolation error (`DataSupport`).
public struct AcquisitionView {
    public let predict: ([Int]) -> (mean: Double, std: Double)
    public let extrapolation: ([Int]) -> Double
    /// Where the predictor's belief is normal (`PerformancePredictor.targetScale`).
    public let scale: TargetScale

    public init(predict: @escaping ([Int]) -> (mean: Double, std: Double), extrapolation: @escaping ([Int]) -> Double,
                scale: TargetScale = .accuracy) {
        self.predict = predict
        self.extrapolation = extrapolation
        self.scale = scale
    }
}

/// How informative sampling values measuring a policy; the sampler measures the highest scores first.
public protocol Acquisition: Sendable {
    func score(_ levels: [Int], _ view: AcquisitionView) -> Double
}

/// SeerNet's uncertainty: `stdWeight` x ensemble spread + `sensitivityWeight` x counterfactual sensitivity, the mean
/// absolute change of the prediction when one field (a layer's wbits or abits, or a group's prune ratio) steps one
/// level down, over the fields that can. It teaches the predictor where it is least sure, wherever that is, including
/// regions whose policies are plainly poor.
public struct UncertaintyAcquisition: Acquisition {
    public var stdWeight: Double
    public var sensitivityWeight: Double

    public init(stdWeight: Double = 1, sensitivityWeight: Double = 1) {
        self.stdWeight = stdWeight
        self.sensitivityWeight = sensitivityWeight
    }

    /// The counterfactual sensitivity alone.
    public static func sensitivity(_ levels: [Int], _ view: AcquisitionView) -> Double {
        let here = view.predict(levels).mean
        var total = 0.0, fields = 0
        for v in levels.indices where levels[v] > 0 {
            var lowered = levels
            lowered[v] -= 1
            total += abs(here - view.predict(lowered).mean)
            fields += 1
        }
        return fields > 0 ? total / Double(fields) : 0
    }

    public func score(_ levels: [Int], _ view: AcquisitionView) -> Double {
        let spread = stdWeight == 0 ? 0 : stdWeight * view.predict(levels).std
        return spread + (sensitivityWeight == 0 ? 0 : sensitivityWeight * Self.sensitivity(levels, view))
    }
}

/// Expected improvement over the best accuracy measured within one budget (`incumbent`), under a normal belief with
/// the predictor's mean and a standard deviation that combines the ensemble spread and the extrapolation error. A policy scores high only if it could beat what the budget already has: measuring it can change
/// which policy wins that budget. Policies the data shows to be poor score near zero whatever their uncertainty, and
/// a policy whose prediction rests on extrapolation alone is worth a measurement only in proportion to how far that
/// extrapolation could carry it past the incumbent.
public struct ExpectedImprovement: Acquisition {
    /// The best accuracy measured so far within the budget sampled for (points).
    public var incumbent: Double

    public init(incumbent: Double) { self.incumbent = incumbent }

    /// E[max(0, Y - incumbent)] for Y ~ N(mean, sigma^2).
    public static func expectedImprovement(mean: Double, sigma: Double, incumbent: Double) -> Double {
        guard sigma > 1e-12 else { return max(0, mean - incumbent) }
        let z = (mean - incumbent) / sigma
        let pdf = exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()
        let cdf = 0.5 * erfc(-z / 2.0.squareRoot())
        return (mean - incumbent) * cdf + sigma * pdf
    }

    /// E[max(0, A - incumbent)] for accuracy A = 100 - exp(-T), T ~ N(mean, sigma^2) on the log-error scale: with
    /// E = 100 - incumbent and X = exp(-T) lognormal, E[(E - X)+] = E Phi(d) - exp(-mean + sigma^2 / 2) Phi(d - sigma),
    /// d = (log E + mean) / sigma (a put's price). Bounded by E: a policy cannot gain more than the incumbent's error
    /// rate, however uncertain, where a normal belief in accuracy points would promise tens of points to a poor one.
    public static func expectedImprovement(logErrorMean mean: Double, sigma: Double, incumbent: Double) -> Double {
        let e = max(100 - incumbent, TargetScale.minimumErrorRate)
        guard sigma > 1e-12 else { return max(0, e - exp(-mean)) }
        let d = (log(e) + mean) / sigma
        func cdf(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }
        return max(0, e * cdf(d) - exp(-mean + sigma * sigma / 2) * cdf(d - sigma))
    }

    public func score(_ levels: [Int], _ view: AcquisitionView) -> Double {
        let p = view.predict(levels)
        let e = view.extrapolation(levels)
        let sigma = (p.std * p.std + e * e).squareRoot()
        switch view.scale {
        case .accuracy:
            return Self.expectedImprovement(mean: p.mean, sigma: sigma, incumbent: incumbent)
        case .logError:
            // Spread and extrapolation error come in accuracy points at the prediction: back to the target scale there.
            let mean = view.scale.target(p.mean)
            return Self.expectedImprovement(logErrorMean: mean, sigma: sigma / view.scale.slope(mean), incumbent: incumbent)
        }
    }
}
