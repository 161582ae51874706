import Foundation

/// What `/metrics` reports: counts only, read with a handful of queries per scrape (no campaign views, predictors or
/// per-agent lookups, which the dashboard's snapshot needs and a scraper polling every few seconds should not pay for).
public struct MetricsSnapshot: Sendable, Equatable {
    public struct Agent: Sendable, Equatable {
        public var deviceKey: String
        public var busy: Bool
        public var quarantined: Bool

        public init(deviceKey: String, busy: Bool, quarantined: Bool) {
            self.deviceKey = deviceKey
            self.busy = busy
            self.quarantined = quarantined
        }
    }

    public var jobsByState: [String: Int]
    public var agents: [Agent]
    public var campaignsByPhase: [String: Int]
    /// Every finished job's time from submission to its end, in seconds.
    public var jobSeconds: [Double]

    public init(jobsByState: [String: Int], agents: [Agent], campaignsByPhase: [String: Int], jobSeconds: [Double]) {
        self.jobsByState = jobsByState
        self.agents = agents
        self.campaignsByPhase = campaignsByPhase
        self.jobSeconds = jobSeconds
    }
}

/// The coordinator's `/metrics` in the Prometheus text exposition format (version 0.0.4): jobs by state, agents by
/// device key (and how many are busy or quarantined), campaigns by phase, and a histogram of finished jobs' times
/// from submission to end.
public enum PrometheusText {
    /// Upper bounds (seconds) of the job duration histogram's buckets.
    public static let durationBuckets: [Double] = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1_800]

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ metrics: MetricsSnapshot) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
            let text = labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
            out += "\(name)\(text) \(format(value))\n"
        }

        family("seer_jobs", "gauge", "Jobs in the coordinator's database by state.")
        for (state, n) in metrics.jobsByState.sorted(by: { $0.key < $1.key }) { sample("seer_jobs", [("state", state)], Double(n)) }

        let keys = Dictionary(grouping: metrics.agents, by: \.deviceKey).sorted { $0.key < $1.key }
        family("seer_agents", "gauge", "Registered agents by device key.")
        for (key, agents) in keys { sample("seer_agents", [("device_key", key)], Double(agents.count)) }
        family("seer_agents_busy", "gauge", "Agents running a job, by device key.")
        for (key, agents) in keys {
            sample("seer_agents_busy", [("device_key", key)], Double(agents.filter(\.busy).count))
        }
        family("seer_agents_quarantined", "gauge", "Agents benched for failing jobs in a row, by device key.")
        for (key, agents) in keys {
            sample("seer_agents_quarantined", [("device_key", key)], Double(agents.filter(\.quarantined).count))
        }

        family("seer_campaigns", "gauge", "Campaigns by phase.")
        for (phase, n) in metrics.campaignsByPhase.sorted(by: { $0.key < $1.key }) {
            sample("seer_campaigns", [("phase", phase)], Double(n))
        }

        let jobSeconds = metrics.jobSeconds
        family("seer_job_duration_seconds", "histogram", "Finished jobs' time from submission to end (queueing included).")
        for bound in durationBuckets {
            sample("seer_job_duration_seconds_bucket", [("le", format(bound))], Double(jobSeconds.filter { $0 <= bound }.count))
        }
        sample("seer_job_duration_seconds_bucket", [("le", "+Inf")], Double(jobSeconds.count))
        sample("seer_job_duration_seconds_sum", [], jobSeconds.reduce(0, +))
        sample("seer_job_duration_seconds_count", [], Double(jobSeconds.count))
        return out
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
