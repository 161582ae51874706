import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import SeerCoordinator
import SeerWeb
import SeerWire

/// The live web view: snapshots built from a store and the broker's agents, the Prometheus text, and the HTTP
/// server answering the page, the JSON API and /metrics on a free loopback port.
final class WebViewTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A store with a resnet8 campaign in round 1 (two measured samples, one failed, one planned) and three jobs.
    func populatedStore() throws -> SeerStore {
        let store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
        let config = try CampaignConfig.parse(yaml: """
            name: live
            model: resnet8
            budgets: ["20%", "30%"]
            devices: [cpu]
            """)
        let now = Date()
        try CampaignStore.save(CampaignRecord(id: "live", config: String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
                                              phase: .sampling, detail: "round 1 of 2", createdAt: now, updatedAt: now), in: store)
        func row(_ i: Int, round: Int, accuracy: Double?, bitops: Int?, error: String? = nil) -> MeasurementRecord {
            var r = MeasurementRecord(jobID: "live:r\(round):\(i)", campaignID: "live", purpose: .sample, round: round,
                                      position: i, policy: #"{"default":{"wbits":8,"abits":8}}"#, deviceKey: "cpu",
                                      split: "validation", createdAt: now)
            r.accuracy = accuracy
            r.bitops = bitops
            r.error = error
            return r
        }
        try CampaignStore.plan([row(0, round: 0, accuracy: 91.5, bitops: 1_000), row(1, round: 1, accuracy: 88.25, bitops: 3_000),
                                row(2, round: 1, accuracy: nil, bitops: nil, error: "out of memory"),
                                row(3, round: 1, accuracy: nil, bitops: nil)], in: store)
        let payload = JobPayload(model: "null", policy: [:], timeouts: JobTimeouts(totalMs: 1_000))
        try store.apply([
            .jobSubmitted(JobSubmission(id: "j1", deviceKey: "cpu", kind: .null, payload: payload, maxAttempts: 3)),
            .jobSubmitted(JobSubmission(id: "j2", deviceKey: "cpu", kind: .null, payload: payload, maxAttempts: 3)),
            .jobSubmitted(JobSubmission(id: "j3", deviceKey: "gpu", kind: .null, payload: payload, maxAttempts: 1)),
            .jobFailed(id: "j3", attempts: 1, code: .runtimeError, message: "no CUDA"),
        ], at: now)
        // a0's battery went performance -> saver; a later balanced model was refused.
        for (i, (profile, state)) in [("performance", "ok"), ("saver", "ok"), ("balanced", "failed")].enumerated() {
            var d = try DeploymentStore.insert(DeploymentRecord(id: "", agentID: "a0", profile: profile, trigger: "battery",
                                                                state: "requested", requestedAt: now), in: store)
            d.state = state
            d.finishedAt = now.addingTimeInterval(Double(i + 1))
            try DeploymentStore.update(d, in: store)
        }
        return store
    }

    func agent(_ id: String, key: String, job: String? = nil, quarantinedUntil: Int64? = nil) -> AgentSnapshot {
        AgentSnapshot(agentID: id, routingID: Array(id.utf8), deviceKey: key, executor: .builtin, publicKey: nil,
                      device: DeviceDescriptor(cores: 2, memoryBytes: 1 << 30, os: "Debian 12", arch: "x86_64", hardware: nil,
                                               software: [:]),
                      capabilities: [], currentJob: job, blocked: false, jobsDone: 4, busyMs: 10, registeredAtMs: 0,
                      lastHeardMs: 9_000, failuresInARow: quarantinedUntil == nil ? 0 : 3, quarantinedUntilMs: quarantinedUntil)
    }

    func source(_ store: SeerStore) -> DashboardSource {
        let agents = [agent("a0", key: "cpu", job: "j1"), agent("a1", key: "cpu", quarantinedUntil: 15_000), agent("g0", key: "gpu")]
        return DashboardSource(store: store, agents: { agents }, clockMs: { 10_000 })
    }

    func testSnapshotShowsFleetCampaignsAndJobs() throws {
        let snapshot = try source(try populatedStore()).snapshot()
        XCTAssertEqual(snapshot.agents.map(\.id), ["a0", "a1", "g0"])
        XCTAssertEqual(snapshot.agents[0].heartbeatAgeMs, 1_000)
        XCTAssertEqual(snapshot.agents[0].currentJob, "j1")
        XCTAssertEqual(snapshot.agents[1].quarantineLeftMs, 5_000)
        XCTAssertNil(snapshot.agents[2].quarantineLeftMs)
        XCTAssertEqual(snapshot.agents.map(\.profile), ["saver", nil, nil])
        XCTAssertEqual(snapshot.deployments.map(\.state).sorted(), ["failed", "ok", "ok"])
        XCTAssertEqual(snapshot.jobsByState["queued"], 2)
        XCTAssertEqual(snapshot.jobsByState["failed"], 1)
        XCTAssertEqual(snapshot.jobsByState["done"], 0)
        XCTAssertEqual(Set(snapshot.recentJobs.map(\.id)), ["j1", "j2", "j3"])
        XCTAssertEqual(snapshot.recentJobs.first { $0.id == "j3" }?.error, "no CUDA")

        let campaign = try XCTUnwrap(snapshot.campaigns.first)
        XCTAssertEqual(campaign.id, "live")
        XCTAssertEqual(campaign.phase, "sampling")
        XCTAssertEqual(campaign.metric, "bitops")
        XCTAssertEqual(campaign.round, 1)
        XCTAssertEqual(campaign.planned, 4)
        XCTAssertEqual(campaign.measured, 2)
        XCTAssertEqual(campaign.failed, 1)
        XCTAssertEqual(campaign.points.map(\.accuracy), [91.5, 88.25])
        XCTAssertEqual(campaign.budgets.map(\.budget), ["20%", "30%"])
        // resnet8's 8/8 BitOPs are far above both samples' made-up costs, so each is within both budgets.
        let values = campaign.budgets.compactMap(\.value)
        XCTAssertEqual(values.count, 2)
        XCTAssertEqual(values[1] / values[0], 1.5, accuracy: 1e-9)
        XCTAssertEqual(campaign.budgets.map(\.bestMeasured), [91.5, 91.5])
        XCTAssertNil(campaign.viewError)
    }

    func testPrometheusTextCountsAndEscapes() throws {
        var metrics = try source(try populatedStore()).metrics()
        metrics.jobSeconds = [0.05, 2, 400]
        let text = PrometheusText.render(metrics)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in ["seer_jobs{state=\"queued\"} 2", "seer_jobs{state=\"failed\"} 1", "seer_agents{device_key=\"cpu\"} 2",
                         "seer_agents_busy{device_key=\"cpu\"} 1", "seer_agents_quarantined{device_key=\"cpu\"} 1",
                         "seer_agents{device_key=\"gpu\"} 1", "seer_campaigns{phase=\"sampling\"} 1",
                         "seer_job_duration_seconds_bucket{le=\"0.1\"} 1", "seer_job_duration_seconds_bucket{le=\"5\"} 2",
                         "seer_job_duration_seconds_bucket{le=\"300\"} 2", "seer_job_duration_seconds_bucket{le=\"+Inf\"} 3",
                         "seer_job_duration_seconds_count 3", "# TYPE seer_job_duration_seconds histogram"] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in\n\(text)")
        }
        XCTAssertEqual(PrometheusText.escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd")
    }

    func testServerAnswersPageAPIAndMetrics() throws {
        let web = try WebView.start(host: "127.0.0.1", port: 0, source: source(try populatedStore()), log: { _ in })
        defer { web.stop() }
        XCTAssertGreaterThan(web.port, 0)
        let base = "http://127.0.0.1:\(web.port)"

        let (page, pageType) = try get(base + "/")
        XCTAssertTrue(pageType.hasPrefix("text/html"), pageType)
        XCTAssertTrue(String(decoding: page, as: UTF8.self).contains("/api/dashboard"))

        let (json, jsonType) = try get(base + "/api/dashboard")
        XCTAssertEqual(jsonType, "application/json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let campaigns = try XCTUnwrap(object["campaigns"] as? [[String: Any]])
        XCTAssertEqual(campaigns.first?["id"] as? String, "live")
        XCTAssertEqual(campaigns.first?["measured"] as? Int, 2)
        XCTAssertEqual((object["agents"] as? [[String: Any]])?.first?["device_key"] as? String, "cpu")

        let (metrics, metricsType) = try get(base + "/metrics")
        XCTAssertTrue(metricsType.hasPrefix("text/plain; version=0.0.4"), metricsType)
        XCTAssertTrue(String(decoding: metrics, as: UTF8.self).contains("seer_jobs{state=\"queued\"} 2"))
    }

    func testAddressParsing() throws {
        let address = try WebAddress(parsing: "127.0.0.1:8080")
        XCTAssertEqual(address.host, "127.0.0.1")
        XCTAssertEqual(address.port, 8080)
        XCTAssertEqual(try WebAddress(parsing: "localhost:0").port, 0)
        for bad in ["8080", ":8080", "host:", "host:99999", "host:http"] {
            XCTAssertThrowsError(try WebAddress(parsing: bad), bad)
        }
    }

    /// GET `url`: body and Content-Type; fails the test on a non-200 status.
    func get(_ url: String) throws -> (Data, String) {
        let done = expectation(description: url)
        let outcome = Outcome()
        URLSession.shared.dataTask(with: URL(string: url)!) { data, response, error in
            outcome.value = (data, response, error)
            done.fulfill()
        }.resume()
        wait(for: [done], timeout: 60)
        if let error = outcome.value.2 { throw error }
        let http = try XCTUnwrap(outcome.value.1 as? HTTPURLResponse)
        XCTAssertEqual(http.statusCode, 200, url)
        return (outcome.value.0 ?? Data(), http.value(forHTTPHeaderField: "Content-Type") ?? "")
    }

    /// A request's answer, written by URLSession's queue before the expectation is fulfilled and read after the wait.
    final class Outcome: @unchecked Sendable {
        var value: (Data?, URLResponse?, Error?) = (nil, nil, nil)
    }
}
