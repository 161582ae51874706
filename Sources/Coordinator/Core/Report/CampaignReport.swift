import Foundation

/// Everything the report shows, as plain values (the runner fills it from the store).
public struct CampaignSummary: Codable, Sendable {
    public struct Point: Codable, Sendable {
        public var round: Int
        public var complexity: Double
        public var accuracy: Double
        /// The prediction made before the point was measured (the previous round's predictor), if any.
        public var predicted: Double?
    }

    /// Where a reported policy came from.
    public enum ChoiceSource: String, Codable, Sendable {
        /// The optimizer's own pick, verified by measurement.
        case optimizer
        /// An earlier pick of the optimizer, measured in a refinement round, which measured above its final pick.
        case refinement
        /// A random or informative sample the campaign had measured within the budget, which measured above the
        /// optimizer's picks.
        case measured
    }

    /// A pick that measured below a sample within its budget, and the fresh measurements that decided between them.
    public struct Contest: Codable, Sendable, Equatable {
        /// The sample's job id.
        public var rival: String
        /// The mean of the pick's first validation measurement and its recheck.
        public var pickValidation: Double
        /// The mean of the sample's two fresh measurements (its first one where none succeeded).
        public var rivalValidation: Double
        /// How far above the pick's mean the sample's had to be to replace it: what the campaign's measurement noise
        /// explains (`ContestDecision`); 0 without a noise estimate. Absent in summaries written before it existed.
        public var margin: Double?
        /// The sd of one measurement the margin follows from: pooled over the noise repeats and the contests' pairs,
        /// so it can differ from `measurement_noise` (the repeats alone); absent without an estimate.
        public var noise: Double?

        enum CodingKeys: String, CodingKey {
            case rival, margin, noise, pickValidation = "pick_validation", rivalValidation = "rival_validation"
        }
    }

    public struct Choice: Codable, Sendable {
        public var budget: String
        public var budgetValue: Double
        public var policyFile: String
        public var complexity: Double
        public var predicted: Double
        public var predictedStd: Double
        public var validationAccuracy: Double?
        public var testAccuracy: Double?
        public var optimizeMs: Double
        public var source: ChoiceSource
        /// The best validation accuracy among the random round-0 policies within the budget (not the sensitivity
        /// allocations measured beside them): what search by random sampling alone would have reported.
        public var bestRandomValidation: Double?
        /// The contest the pick went through, if it measured below a sample (nil: it did not).
        public var contest: Contest?

        enum CodingKeys: String, CodingKey {
            case budget, complexity, predicted, source, contest
            case budgetValue = "budget_value", policyFile = "policy_file", predictedStd = "predicted_std"
            case validationAccuracy = "validation_accuracy", testAccuracy = "test_accuracy", optimizeMs = "optimize_ms"
            case bestRandomValidation = "best_random_validation"
        }
    }

    public struct Round: Codable, Sendable {
        public var round: Int
        public var measured: Int
        /// Kendall tau of the previous predictor on this round's new measurements (nil for round 0).
        public var kendallTau: Double?
        /// Mean |predicted - measured| on this round's new measurements.
        public var meanAbsoluteError: Double?
        /// Best measured accuracy under each budget after this round.
        public var bestUnderBudget: [String: Double]

        enum CodingKeys: String, CodingKey {
            case round, measured, kendallTau = "kendall_tau", meanAbsoluteError = "mean_absolute_error"
            case bestUnderBudget = "best_under_budget"
        }
    }

    public var campaign: String
    public var model: String
    public var metric: String
    public var referenceComplexity: Double
    public var baseAccuracy: Double?
    public var measurements: [Point]
    public var choices: [Choice]
    public var rounds: [Round]
    public var seconds: Double
    /// Standard deviation of one measurement from the noise repeats (points), when the campaign made them.
    public var measurementNoise: Double?
    /// Per-layer sensitivity probes measured for the predictor's prior (0: none).
    public var sensitivityProbes: Int
    /// How many budgets report a random or informative sample instead of one of the optimizer's picks.
    public var fallbacks: Int { choices.filter { $0.source == .measured }.count }

    enum CodingKeys: String, CodingKey {
        case campaign, model, metric, measurements, choices, rounds, seconds, fallbacks
        case referenceComplexity = "reference_complexity", baseAccuracy = "base_accuracy"
        case measurementNoise = "measurement_noise", sensitivityProbes = "sensitivity_probes"
    }

    public init(campaign: String, model: String, metric: String, referenceComplexity: Double, baseAccuracy: Double?,
                measurements: [Point], choices: [Choice], rounds: [Round], seconds: Double, measurementNoise: Double?,
                sensitivityProbes: Int) {
        self.campaign = campaign
        self.model = model
        self.metric = metric
        self.referenceComplexity = referenceComplexity
        self.baseAccuracy = baseAccuracy
        self.measurements = measurements
        self.choices = choices
        self.rounds = rounds
        self.seconds = seconds
        self.measurementNoise = measurementNoise
        self.sensitivityProbes = sensitivityProbes
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(campaign: try c.decode(String.self, forKey: .campaign), model: try c.decode(String.self, forKey: .model),
                  metric: try c.decode(String.self, forKey: .metric),
                  referenceComplexity: try c.decode(Double.self, forKey: .referenceComplexity),
                  baseAccuracy: try c.decodeIfPresent(Double.self, forKey: .baseAccuracy),
                  measurements: try c.decode([Point].self, forKey: .measurements),
                  choices: try c.decode([Choice].self, forKey: .choices), rounds: try c.decode([Round].self, forKey: .rounds),
                  seconds: try c.decode(Double.self, forKey: .seconds),
                  measurementNoise: try c.decodeIfPresent(Double.self, forKey: .measurementNoise),
                  sensitivityProbes: try c.decodeIfPresent(Int.self, forKey: .sensitivityProbes) ?? 0)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(campaign, forKey: .campaign)
        try c.encode(model, forKey: .model)
        try c.encode(metric, forKey: .metric)
        try c.encode(referenceComplexity, forKey: .referenceComplexity)
        try c.encodeIfPresent(baseAccuracy, forKey: .baseAccuracy)
        try c.encode(measurements, forKey: .measurements)
        try c.encode(choices, forKey: .choices)
        try c.encode(rounds, forKey: .rounds)
        try c.encode(seconds, forKey: .seconds)
        try c.encodeIfPresent(measurementNoise, forKey: .measurementNoise)
        try c.encode(sensitivityProbes, forKey: .sensitivityProbes)
        try c.encode(fallbacks, forKey: .fallbacks)
    }

    /// Measured points no other point beats on both complexity (lower) and accuracy (higher), by complexity.
    public var paretoFront: [Point] {
        var front = [Point]()
        for p in measurements.sorted(by: { $0.complexity < $1.complexity || ($0.complexity == $1.complexity && $0.accuracy > $1.accuracy) })
        where front.last.map({ p.accuracy > $0.accuracy }) ?? true {
            front.append(p)
        }
        return front
    }
}

/// The campaign report: an HTML page with SVG plots and tables.
public enum CampaignReport {
    public static func html(_ s: CampaignSummary) -> String {
        let unit = ["latency": "ms", "energy": "mJ"][s.metric] ?? s.metric
        var accuracyPlot = SVGPlot(title: "Accuracy vs \(s.metric)", xLabel: unit, yLabel: "validation accuracy (%)")
        accuracyPlot.series.append(.init(name: "measured", points: s.measurements.map { ($0.complexity, $0.accuracy) },
                                         color: "#4477aa"))
        accuracyPlot.series.append(.init(name: "Pareto front", points: s.paretoFront.map { ($0.complexity, $0.accuracy) },
                                         color: "#228833", line: true, marker: false))
        accuracyPlot.series.append(.init(name: "chosen (measured)", points: s.choices.compactMap { c in
            c.validationAccuracy.map { (c.complexity, $0) } }, color: "#ee6677", radius: 6))
        accuracyPlot.verticals = s.choices.map { ($0.budgetValue, "budget \($0.budget)") }

        var predictedPlot = SVGPlot(title: "Measured vs predicted accuracy", xLabel: "predicted (%)", yLabel: "measured (%)")
        predictedPlot.diagonal = true
        predictedPlot.series.append(.init(name: "sampled (predicted before measuring)",
                                          points: s.measurements.compactMap { p in p.predicted.map { ($0, p.accuracy) } },
                                          color: "#4477aa"))
        predictedPlot.series.append(.init(name: "chosen policies", points: s.choices.compactMap { c in
            c.validationAccuracy.map { (c.predicted, $0) } }, color: "#ee6677", radius: 6))

        var progressPlot = SVGPlot(title: "Progress over rounds", xLabel: "round", yLabel: "best measured accuracy (%)")
        let palette = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377"]
        for (i, budget) in Set(s.rounds.flatMap { $0.bestUnderBudget.keys }).sorted().enumerated() {
            progressPlot.series.append(.init(name: "under \(budget)", points: s.rounds.compactMap { r in
                r.bestUnderBudget[budget].map { (Double(r.round), $0) } }, color: palette[i % palette.count], line: true))
        }

        var rows = ""
        for c in s.choices {
            rows += "<tr><td>\(escape(c.budget))</td><td>\(SVGPlot.label(c.complexity))</td>"
            rows += "<td>\(fmt(c.predicted)) ± \(fmt(c.predictedStd))</td><td>\(c.validationAccuracy.map(fmt) ?? "–")</td>"
            rows += "<td>\(c.testAccuracy.map(fmt) ?? "–")</td><td>\(c.source.rawValue)</td>"
            rows += "<td>\(c.contest.map(contestCell) ?? "–")</td>"
            rows += "<td>\(c.bestRandomValidation.map(fmt) ?? "–")</td><td>\(fmt(c.optimizeMs))</td>"
            rows += "<td><a href=\"\(escape(c.policyFile))\">\(escape(c.policyFile))</a></td></tr>\n"
        }
        var roundRows = ""
        for r in s.rounds {
            roundRows += "<tr><td>\(r.round)</td><td>\(r.measured)</td><td>\(r.kendallTau.map(fmt) ?? "–")</td>"
            roundRows += "<td>\(r.meanAbsoluteError.map(fmt) ?? "–")</td></tr>\n"
        }
        return """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Seer campaign \(escape(s.campaign))</title>
        <style>body{font-family:sans-serif;max-width:1340px;margin:24px auto;color:#222}
        table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
        .plots{display:flex;flex-wrap:wrap;gap:16px}</style></head><body>
        <h1>Campaign \(escape(s.campaign))</h1>
        <p>Model <b>\(escape(s.model))</b>, complexity metric <b>\(escape(s.metric))</b> (uncompressed 8/8 model:
        \(SVGPlot.label(s.referenceComplexity)))\(s.baseAccuracy.map { ", float base validation accuracy \(fmt($0))%" } ?? "").
        \(s.measurements.count) policies measured in \(s.rounds.count) rounds\(s.sensitivityProbes > 0
            ? ", after \(s.sensitivityProbes) per-layer sensitivity probes" : ""); \(fmt(s.seconds)) s in all.
        \(s.measurementNoise.map { "Measurement noise (sd of one measurement, from repeats with another seed): \(fmt($0)) points." } ?? "")
        \(s.fallbacks) of \(s.choices.count) budgets report a sampled policy instead of one of the optimizer's picks.</p>
        <h2>Chosen policies</h2>
        <table><tr><th>budget</th><th>\(escape(unit))</th><th>predicted (%)</th><th>validation (%)</th><th>test (%)</th>
        <th>source</th><th>contest (the pick's mean against a sample's; the margin the noise explains)</th><th>best random (validation, %)</th>
        <th>optimize (ms)</th><th>policy</th></tr>
        \(rows)</table>
        <div class="plots">
        \(accuracyPlot.render())
        \(predictedPlot.render())
        \(progressPlot.render())
        </div>
        <h2>Rounds</h2>
        <table><tr><th>round</th><th>measured</th><th>Kendall tau (prior predictor)</th><th>mean |error| (points)</th></tr>
        \(roundRows)</table>
        </body></html>
        """
    }

    static func fmt(_ x: Double) -> String { String(format: "%.2f", x) }

    static func contestCell(_ c: CampaignSummary.Contest) -> String {
        "\(fmt(c.pickValidation)) against \(escape(c.rival)) \(fmt(c.rivalValidation))"
            + (c.margin.map { "; margin \(fmt($0))" } ?? "") + (c.noise.map { " (noise sd \(fmt($0)))" } ?? "")
    }
}
