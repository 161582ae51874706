import SeerCompression
import SeerPredictor

/// What every search here works on: the encoding, the accuracy predictor over its feature rows and a cost.
public struct SearchProblem<Predictor: PerformancePredictor, Cost: ComplexityModel>: Sendable {
    public let encoding: PolicyEncoding
    /// Predicts accuracy from the encoding's feature rows.
    public let predictor: Predictor
    /// The cost budgets are stated in.
    public let complexity: Cost

    /// Throws when the predictor was built for another column layout than the encoding's schema.
    public init(encoding: PolicyEncoding, predictor: Predictor, complexity: Cost) throws {
        // Only the schema-carrying predictors can be checked; others are trusted to read the encoding's rows.
        let schema = (predictor as? EnsemblePredictor)?.schema ?? (predictor as? RidgePredictor)?.schema
        if let schema, schema != encoding.schema {
            throw SearchError.schemaMismatch(model: encoding.model, expected: encoding.schema.names, got: schema.names)
        }
        self.encoding = encoding
        self.predictor = predictor
        self.complexity = complexity
    }

    /// Predicted accuracy (mean, ensemble spread) of a discrete point.
    public func predict(levels: [Int]) -> (mean: Double, std: Double) {
        predictor.predict(encoding.features(levels: levels))
    }

    /// The predictor's extrapolation error at a discrete point (see `DataSupport`).
    public func extrapolation(levels: [Int]) -> Double { predictor.extrapolation(encoding.features(levels: levels)) }

    /// The cost of a discrete point.
    public func cost(levels: [Int]) -> Double { complexity.value(encoding.relaxation(levels: levels)) }

    /// The cost of the most compressed policy: no budget below it can be met.
    public var minimumCost: Double { cost(levels: encoding.minimumLevels) }
    /// The cost of the least compressed policy.
    public var maximumCost: Double { cost(levels: encoding.maximumLevels) }

    /// Throws unless `budget` is positive and at least the minimum cost, naming both numbers.
    public func checkBudget(_ budget: Double) throws {
        guard budget.isFinite, budget > 0 else { throw SearchError.invalidBudget(metric: complexity.metric, budget: budget) }
        let minimum = minimumCost
        guard minimum <= budget else {
            throw SearchError.budgetBelowMinimum(metric: complexity.metric, budget: budget, minimum: minimum)
        }
    }
}

/// The outcome of a search under one budget.
public struct SearchResult: Sendable {
    public let policy: ResolvedPolicy
    /// The policy as level indices of the encoding's variables.
    public let levels: [Int]
    /// Predicted accuracy and the ensemble's spread.
    public let predictedMean: Double
    /// The ensemble's spread at the policy.
    public let predictedStd: Double
    /// The predictor's extrapolation error at the policy: how far it lies from the policies the predictor was fitted on.
    public let extrapolation: Double
    /// The policy's cost in the complexity model's unit; never above `budget`.
    public let complexity: Double
    /// The budget searched under.
    public let budget: Double
    /// Wall time of the search.
    public let seconds: Double
    /// Predictor calls made (predictions plus gradients).
    public let predictorCalls: Int
}

/// A duration in seconds.
func seconds(_ duration: Duration) -> Double {
    let (s, attoseconds) = duration.components
    return Double(s) + Double(attoseconds) * 1e-18
}
