import Foundation
import XCTest
@testable import SeerCoordinator
import SeerModels
import SeerWire

/// Issue 12: `seer-coordinator serve` is the database's one coordinator. A second coordinator on its database is
/// refused before it touches anything; campaigns are submitted to it, run on its agents, and are carried on by the
/// next serve after it is killed.
final class CoordinatorServiceTests: FabricTestCase {
    /// Starts `serve --plain` on `database`; returns it and its endpoint once it listens.
    func serve(_ name: String, database: String = "seer.sqlite") throws -> (Process, String) {
        let endpointFile = fabric.path("\(name).endpoint")
        let process = try fabric.launch(name, product: "seer-coordinator",
                                        ["serve", "--plain", "--bind", "tcp://127.0.0.1:0", "--db", fabric.path(database),
                                         "--endpoint-file", endpointFile, "--heartbeat-ms", "200"])
        var endpoint: String?
        fabric.waitUntil(60) {
            endpoint = try? String(contentsOfFile: endpointFile, encoding: .utf8)
            return endpoint != nil || !process.isRunning
        }
        guard let endpoint else { throw FabricError("serve did not start:\n\(fabric.diagnostics)") }
        return (process, endpoint)
    }

    /// A campaign config measuring 4 policies and the pick, quickly (no fine-tuning, 32 images).
    func tinyConfig(_ name: String) throws -> String {
        let checkpoint = fabric.path("resnet8.safetensors")
        if !FileManager.default.fileExists(atPath: checkpoint) {
            try Checkpoint.save(try ModelZoo.make("resnet8", seed: 5), to: URL(fileURLWithPath: checkpoint))
        }
        let config = fabric.path("\(name).yaml")
        try """
            name: \(name)
            model: resnet8
            checkpoint: \(checkpoint)
            budgets: ["30%"]
            devices: [cpu-x86]
            measurement: {finetune_steps: 0, batch_size: 16, evaluation_limit: 32, calibration_images: 16,
                          latency: {repeat: 1, min_repeat_ms: 0}}
            sampling: {initial: 4, rounds: 0, per_round: 1, refine: 0, sensitivity_images: 0, noise_repeats: 0}
            predictor: {members: 2, hidden: 0}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    func testASecondCoordinatorOnTheDatabaseIsRefusedNamingTheFileAndTheHolderAndTouchesNothing() throws {
        let (first, _) = try serve("first")
        // A job the first coordinator has on an agent, as its database says.
        let store = try SeerStore(path: fabric.path("seer.sqlite"))
        let job = JobSubmission(id: "running-job", deviceKey: "k", kind: .null,
                                payload: JobPayload(model: "null", policy: [:], timeouts: JobTimeouts(totalMs: 60_000)),
                                maxAttempts: 3)
        try store.apply([.jobSubmitted(job), .jobDispatched(id: "running-job", agentID: "a1", attempts: 1)])

        let second = try fabric.launch("second", product: "seer-coordinator",
                                       ["serve", "--plain", "--bind", "tcp://127.0.0.1:0", "--db", fabric.path("seer.sqlite")])
        second.waitUntilExit()
        XCTAssertNotEqual(second.terminationStatus, 0, fabric.diagnostics)
        let output = fabric.log(of: "second")
        XCTAssertTrue(output.contains("database \(fabric.path("seer.sqlite")) is owned by another coordinator"), output)
        XCTAssertTrue(output.contains("seer-coordinator serve (pid \(first.processIdentifier)"), output)
        XCTAssertFalse(output.contains("restored"), output)
        let row = try XCTUnwrap(try store.job("running-job"))
        XCTAssertEqual(row.state, .running, "the refused coordinator did not requeue the owner's running job")
        XCTAssertEqual(row.attempts, 1)
        XCTAssertEqual(CoordinatorLock.currentHolder(of: fabric.path("seer.sqlite"))?.pid, first.processIdentifier)

        // kill -9 releases the lock with the process: the next serve starts at once and takes the job back.
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let (next, _) = try serve("next")
        XCTAssertTrue(next.isRunning)
        XCTAssertTrue(fabric.waitUntil(30) { (try? store.job("running-job"))??.state == .queued }, fabric.diagnostics)
    }

    func testACampaignSubmittedToServeRunsOnItsAgentsAndTheClientFollowsIt() throws {
        let (_, endpoint) = try serve("serve")
        try fabric.agent("m1", deviceKey: "cpu-x86", endpoint: endpoint, keys: nil, serverKey: nil,
                         executor: ["--executor", "builtin"])
        let config = try tinyConfig("served")
        let client = try fabric.launch("client", product: "seer-coordinator",
                                       ["campaign", "run", "--config", config, "--db", fabric.path("seer.sqlite"),
                                        "--results", fabric.path("results")])
        client.waitUntilExit()
        let output = fabric.log(of: "client")
        XCTAssertEqual(client.terminationStatus, 0, fabric.diagnostics)
        XCTAssertTrue(output.contains("submitted to seer-coordinator serve"), output)
        XCTAssertTrue(output.contains("[served] done"), output)
        XCTAssertFalse(output.contains("broker listening"), "the client started no broker of its own: \(output)")
        let store = try SeerStore(path: fabric.path("seer.sqlite"), access: .readOnly)
        XCTAssertEqual(try CampaignStore.campaign("served", in: store)?.phase, .done)
        let rows = try CampaignStore.measurements("served", in: store)
        XCTAssertTrue(rows.allSatisfy { $0.agentID == "m1" }, "\(rows.map(\.agentID))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: fabric.path("results/report.html")))
        // Every job ran once, owned by the campaign.
        let jobs = try store.jobs()
        XCTAssertEqual(jobs.count, rows.count)
        XCTAssertTrue(jobs.allSatisfy { $0.state == .done && $0.attempts == 1 && $0.owner == "served" })
    }

    func testAStoppedCampaignWithdrawsItsQueuedJobsAndResumeFinishesItOnTheAgentsThatCameSince() throws {
        // No agent yet: the campaign's jobs wait in the queue.
        let (_, endpoint) = try serve("serve")
        let database = fabric.path("seer.sqlite")
        let config = try tinyConfig("stoppable")
        let follower = try fabric.launch("follower", product: "seer-coordinator",
                                         ["campaign", "run", "--config", config, "--db", database])
        let store = try SeerStore(path: database, access: .readOnly)
        XCTAssertTrue(fabric.waitUntil(60) { (try? store.unfinishedJobs().count) == 4 }, fabric.diagnostics)

        let stop = try fabric.launch("stop", product: "seer-coordinator", ["campaign", "stop", "--campaign", "stoppable", "--db", database])
        stop.waitUntilExit()
        XCTAssertEqual(stop.terminationStatus, 0, fabric.diagnostics)
        XCTAssertTrue(fabric.log(of: "stop").contains("stoppable: stopped"), fabric.log(of: "stop"))
        follower.waitUntilExit()
        XCTAssertNotEqual(follower.terminationStatus, 0, "the follower reports the stop: \(fabric.log(of: "follower"))")
        XCTAssertTrue(fabric.log(of: "follower").contains("was stopped"), fabric.log(of: "follower"))
        XCTAssertEqual(try CampaignStore.campaign("stoppable", in: store)?.phase, .stopped)
        // Withdrawn by the broker as the campaign stopped.
        let withdrawn = fabric.waitUntil(30) {
            let jobs = (try? store.jobs()) ?? []
            return jobs.count == 4 && jobs.allSatisfy { $0.state == .failed && ($0.lastError ?? "").contains("cancelled") }
        }
        XCTAssertTrue(withdrawn, "\(((try? store.jobs()) ?? []).map { "\($0.state) \($0.lastError ?? "")" })")
        // A stop for a campaign that is not running is refused, naming its state.
        let again = try fabric.launch("stop-again", product: "seer-coordinator",
                                      ["campaign", "stop", "--campaign", "stoppable", "--db", database])
        again.waitUntilExit()
        XCTAssertNotEqual(again.terminationStatus, 0)
        XCTAssertTrue(fabric.log(of: "stop-again").contains("is not running (it is stopped)"), fabric.log(of: "stop-again"))

        // An agent arrives; resume runs the withdrawn jobs again and finishes the campaign.
        try fabric.agent("m1", deviceKey: "cpu-x86", endpoint: endpoint, keys: nil, serverKey: nil,
                         executor: ["--executor", "builtin"])
        let resume = try fabric.launch("resume", product: "seer-coordinator",
                                       ["campaign", "resume", "--campaign", "stoppable", "--db", database])
        resume.waitUntilExit()
        XCTAssertEqual(resume.terminationStatus, 0, fabric.diagnostics)
        XCTAssertEqual(try CampaignStore.campaign("stoppable", in: store)?.phase, .done)
        let samples = try CampaignStore.measurements("stoppable", purpose: .sample, in: store)
        XCTAssertEqual(samples.count, 4)
        XCTAssertTrue(samples.allSatisfy { $0.accuracy != nil && $0.agentID == "m1" })
        XCTAssertTrue(try store.jobs().allSatisfy { $0.state == .done })
    }

    func testAServeKilledMidCampaignIsCarriedOnByTheNextServe() throws {
        let database = fabric.path("seer.sqlite")
        let (first, _) = try serve("first")
        let follower = try fabric.launch("follower", product: "seer-coordinator",
                                         ["campaign", "run", "--config", try tinyConfig("survivor"), "--db", database])
        let store = try SeerStore(path: database, access: .readOnly)
        XCTAssertTrue(fabric.waitUntil(60) { (try? store.unfinishedJobs().count) == 4 }, fabric.diagnostics)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        kill(follower.processIdentifier, SIGKILL)
        follower.waitUntilExit()
        XCTAssertEqual(try CampaignStore.campaign("survivor", in: store)?.phase, .sampling)

        let (_, endpoint) = try serve("second")
        try fabric.agent("m1", deviceKey: "cpu-x86", endpoint: endpoint, keys: nil, serverKey: nil,
                         executor: ["--executor", "builtin"])
        XCTAssertTrue(fabric.waitUntil(300) { (try? CampaignStore.campaign("survivor", in: store))??.phase == .done },
                      fabric.diagnostics)
        XCTAssertTrue(fabric.log(of: "second").contains("campaign survivor was sampling when the coordinator stopped: carrying on"),
                      fabric.log(of: "second"))
        // Each planned job ran once.
        XCTAssertTrue(try store.jobs().allSatisfy { $0.state == .done && $0.attempts == 1 })
    }
}
