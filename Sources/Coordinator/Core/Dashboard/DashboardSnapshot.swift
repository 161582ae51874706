import Foundation

/// What the coordinator's live view shows, as plain values: the fleet, the campaigns, the jobs and the deployments.
/// `DashboardSource` builds it from the store and the broker; the web view serves it as JSON and renders it.
public struct DashboardSnapshot: Codable, Sendable {
    public var generatedAt: Date
    public var agents: [Agent]
    /// Jobs in the store by state (every state listed, zeros included).
    public var jobsByState: [String: Int]
    /// The most recently changed jobs, newest first.
    public var recentJobs: [Job]
    public var campaigns: [Campaign]
    /// The most recent deployments, newest first.
    public var deployments: [Deployment]

    public struct Agent: Codable, Sendable, Equatable {
        public var id: String
        public var deviceKey: String
        public var executor: String
        public var hardware: String
        /// Milliseconds since the broker last heard from it.
        public var heartbeatAgeMs: Int64
        public var currentJob: String?
        public var jobsDone: Int
        public var failuresInARow: Int
        /// Milliseconds of quarantine left, while it is benched for failing jobs in a row.
        public var quarantineLeftMs: Int64?
        /// The profile of its last successful deployment (its battery state as it reported it), if any.
        public var profile: String?
    }

    public struct Job: Codable, Sendable, Equatable {
        public var id: String
        public var deviceKey: String
        public var kind: String
        public var state: String
        public var attempts: Int
        public var agent: String?
        public var error: String?
        public var owner: String?
        public var updatedAt: Date
    }

    public struct Campaign: Codable, Sendable {
        public var id: String
        public var model: String
        public var metric: String
        public var phase: String
        public var detail: String
        public var updatedAt: Date
        /// Highest sampling round with a finished measurement.
        public var round: Int?
        /// Planned measurements of the campaign's network (samples and final verifications), finished ones, failed ones.
        public var planned: Int
        public var measured: Int
        public var failed: Int
        public var budgets: [Budget]
        /// The newest predictor's quality on the round it had not seen (`roundQuality`), when one was measured.
        public var predictorRound: Int?
        public var predictorMeanAbsoluteError: Double?
        public var predictorKendallTau: Double?
        /// Measured samples: the metric's value (nil where the agent reported none) and validation accuracy.
        public var points: [Point]
        /// Why budgets or predictor quality are missing, when the view could not compute them.
        public var viewError: String?
    }

    public struct Budget: Codable, Sendable, Equatable {
        /// As the config writes it ("20%").
        public var budget: String
        /// In the metric's unit; nil while the cost model is unknown (a latency budget before its table is profiled).
        public var value: Double?
        /// Best validation accuracy measured within it so far.
        public var bestMeasured: Double?
        /// The campaign's reported policy for it, once verified.
        public var chosenValidation: Double?
        public var chosenTest: Double?
        public var chosenPredicted: Double?
    }

    public struct Point: Codable, Sendable, Equatable {
        public var round: Int
        public var complexity: Double?
        public var accuracy: Double
    }

    public struct Deployment: Codable, Sendable, Equatable {
        public var id: String
        public var agent: String
        public var deviceKey: String?
        public var profile: String
        public var trigger: String
        public var state: String
        public var source: String?
        public var campaign: String?
        /// From the request (a PROFILE, or the CLI) to DEPLOYED, once deployed.
        public var totalMs: Double?
        /// The agent's message (why it failed, or what it validated).
        public var message: String?
        public var updatedAt: Date
    }
}
