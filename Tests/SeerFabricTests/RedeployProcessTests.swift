import Foundation
import SeerCompression
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import XCTest
@testable import SeerCoordinator
import SeerWire

/// Battery change -> PROFILE -> DEPLOY -> swap, with `seer-coordinator serve` and `seer-agent run` as real processes
/// over CURVE, and the manual `redeploy` command against the same database.
final class RedeployProcessTests: FabricTestCase {
    /// A store holding a campaign (in `phase`) with two prepared resnet8 profiles for device key "cpu" (8/8 and 4/4, not
    /// fine-tuned).
    func preparedStore(phase: CampaignPhase = .done) throws -> String {
        let db = fabric.path("seer.sqlite")
        let store = try SeerStore(path: db)
        let config = try CampaignConfig.parse(yaml: """
            name: fleet
            model: resnet8
            budgets: ["20%"]
            devices: [cpu]
            profiles:
              cpu: {performance: "bitops=100%", saver: "bitops=30%"}
            """)
        let now = Date()
        try CampaignStore.save(CampaignRecord(id: "fleet", config: String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
                                              phase: phase, detail: "", createdAt: now, updatedAt: now), in: store)
        let base = try ModelStore.load("resnet8")
        let data = try FashionMNIST.load()
        for (profile, bits, accuracy) in [("performance", "8/8", 90.0), ("saver", "4/4", nil)] as [(String, String, Double?)] {
            let policy = try Policy(bits: bits).resolve(for: base)
            var settings = EvaluationSettings()
            settings.finetuneSteps = 0
            settings.calibrationImages = 64
            let model = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings).model
            let file = fabric.directory.appendingPathComponent("\(profile).safetensors")
            try CompressedModelFile.save(model, policy: policy, to: file)
            let bytes = [UInt8](try Data(contentsOf: file))
            try DeploymentStore.savePrepared(PreparedModelRecord(
                campaignID: "fleet", deviceKey: "cpu", profile: profile, budget: "bitops=\(bits)", budgetValue: 1,
                policy: String(decoding: try policy.policy().jsonData(), as: UTF8.self), complexity: 1, predicted: 90,
                validationAccuracy: accuracy, weightsPath: file.path, sha256: SHA256.hex(SHA256.hash(bytes)),
                sizeBytes: bytes.count, createdAt: now), in: store)
        }
        return db
    }

    /// `seer-coordinator serve` on `db` over CURVE, allowing agent-keys; its endpoint once it listens.
    func serve(_ db: String) throws -> String {
        try fabric.keys("coordinator")
        let agentKeys = try fabric.keys("agent-keys")
        try agentKeys.publicKey.write(toFile: fabric.path("allowed.txt"), atomically: true, encoding: .utf8)
        let endpointFile = fabric.path("endpoint")
        try fabric.launch("coordinator", product: "seer-coordinator", [
            "serve", "--db", db, "--bind", "tcp://127.0.0.1:0", "--endpoint-file", endpointFile,
            "--keys", fabric.path("coordinator"), "--allow", fabric.path("allowed.txt"), "--heartbeat-ms", "200"])
        XCTAssertTrue(fabric.waitUntil(20) { FileManager.default.fileExists(atPath: endpointFile) }, fabric.diagnostics)
        return try String(contentsOfFile: endpointFile, encoding: .utf8)
    }

    /// Agent phone-1 (device key cpu, null executor) reading its battery from `battery`, deploying into `deployDir`.
    func startPhone(endpoint: String, battery: String, deployDir: String) throws {
        try fabric.agent("phone-1", deviceKey: "cpu", endpoint: endpoint, keys: "agent-keys", serverKey: "coordinator",
                         executor: ["--executor", "null", "--deploy-dir", deployDir, "--profiles", "performance@60,saver",
                                    "--battery-file", battery, "--battery-interval-ms", "50"])
    }

    func currentRelease(_ deployDir: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: deployDir + "/current")
    }

    func manifestProfile(_ deployDir: String) -> String? {
        guard let data = FileManager.default.contents(atPath: deployDir + "/current/manifest.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["profile"] as? String
    }

    func testARequestNoCoordinatorPicksUpIsWithdrawn() throws {
        let db = try preparedStore()
        let redeploy = try fabric.launch("redeploy", product: "seer-coordinator", [
            "redeploy", "--db", db, "--device", "phone-1", "--profile", "saver", "--wait-s", "0.3"])
        redeploy.waitUntilExit()
        XCTAssertEqual(redeploy.terminationStatus, 2, fabric.log(of: "redeploy"))
        let row = try XCTUnwrap(try DeploymentStore.deployments(in: try SeerStore(path: db)).first)
        XCTAssertEqual(row.state, "failed")
        XCTAssertEqual(row.code, "timeout")
        XCTAssertEqual(try DeploymentStore.requested(in: try SeerStore(path: db)).count, 0, "nothing left for a later serve")
    }

    func testAnAgentUpBeforeAnyCampaignGetsItsModelOnceOneIsDone() throws {
        let db = fabric.path("seer.sqlite")
        _ = try SeerStore(path: db)
        let endpoint = try serve(db)
        let battery = fabric.path("battery.txt")
        try "capacity=80\nstatus=discharging\n".write(toFile: battery, atomically: true, encoding: .utf8)
        let deployDir = fabric.path("deploy")
        try startPhone(endpoint: endpoint, battery: battery, deployDir: deployDir)
        func rows() -> [DeploymentRecord] {
            ((try? DeploymentStore.deployments(agentID: "phone-1", in: try SeerStore(path: db))) ?? []).reversed()
        }
        // No campaign has a model for it yet: recorded as skipped, saying why, and nothing installed.
        XCTAssertTrue(fabric.waitUntil(60) { rows().first?.state == "skipped" }, fabric.diagnostics)
        XCTAssertTrue(rows().first?.message?.contains("no model yet") == true, rows().first?.message ?? "")
        XCTAssertNil(manifestProfile(deployDir))

        // A campaign with profiles for its key finishes (its models prepared, then done, as a campaign ends): the waiting
        // agent gets its profile's model without a new PROFILE.
        _ = try preparedStore(phase: .optimizing)
        try CampaignStore.setPhase("fleet", .done, detail: "results in /nowhere", in: try SeerStore(path: db))
        XCTAssertTrue(fabric.waitUntil(60) { manifestProfile(deployDir) == "performance" }, fabric.diagnostics)
        XCTAssertTrue(fabric.waitUntil(30) { rows().count == 2 && rows()[1].state == "ok" }, fabric.diagnostics)
        XCTAssertEqual(rows().map(\.trigger), ["battery", "battery"])
        XCTAssertEqual(rows().map(\.profile), ["performance", "performance"])
    }

    func testBatteryChangeRedeploysThePreparedModelAndRedeployWorksByHand() throws {
        let db = try preparedStore()
        let endpoint = try serve(db)

        let battery = fabric.path("battery.txt")
        try "capacity=80\nstatus=discharging\n".write(toFile: battery, atomically: true, encoding: .utf8)
        let deployDir = fabric.path("deploy")
        try startPhone(endpoint: endpoint, battery: battery, deployDir: deployDir)

        // The first reading reports "performance": its prepared model is installed.
        XCTAssertTrue(fabric.waitUntil(60) { manifestProfile(deployDir) == "performance" }, fabric.diagnostics)
        let first = currentRelease(deployDir)

        // The battery drops below the threshold: the saver model replaces it; the performance one stays for rollback.
        try "capacity=31\nstatus=discharging\n".write(toFile: battery, atomically: true, encoding: .utf8)
        XCTAssertTrue(fabric.waitUntil(60) { manifestProfile(deployDir) == "saver" }, fabric.diagnostics)
        XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: deployDir + "/previous"), first)

        // By hand, as an operator would.
        let redeploy = try fabric.launch("redeploy", product: "seer-coordinator", [
            "redeploy", "--db", db, "--device", "phone-1", "--profile", "performance", "--wait-s", "60", "--json"])
        redeploy.waitUntilExit()
        XCTAssertEqual(redeploy.terminationStatus, 0, fabric.log(of: "redeploy") + fabric.diagnostics)
        XCTAssertEqual(manifestProfile(deployDir), "performance")
        // An unknown profile fails with a message that names it, and changes nothing.
        let unknown = try fabric.launch("unknown", product: "seer-coordinator", [
            "redeploy", "--db", db, "--device", "phone-1", "--profile", "turbo", "--wait-s", "30"])
        unknown.waitUntilExit()
        XCTAssertEqual(unknown.terminationStatus, 1, fabric.log(of: "unknown"))
        XCTAssertTrue(fabric.log(of: "unknown").contains("no profile 'turbo'"), fabric.log(of: "unknown"))
        XCTAssertEqual(manifestProfile(deployDir), "performance")

        // The agent restarts at 80%: it re-announces "performance", whose model is already in place: nothing is sent.
        try "capacity=80\nstatus=discharging\n".write(toFile: battery, atomically: true, encoding: .utf8)
        let before = currentRelease(deployDir)
        for (name, process, _) in fabric.processes where name == "phone-1" { process.terminate(); process.waitUntilExit() }
        try startPhone(endpoint: endpoint, battery: battery, deployDir: deployDir)
        XCTAssertTrue(fabric.waitUntil(30) {
            (try? DeploymentStore.deployments(agentID: "phone-1", in: try SeerStore(path: db)).first?.state) == "skipped"
        }, fabric.diagnostics)
        XCTAssertEqual(currentRelease(deployDir), before)

        // Every deployment is on record with its trigger, outcome and timings.
        let rows = try DeploymentStore.deployments(agentID: "phone-1", in: try SeerStore(path: db)).reversed()
        XCTAssertEqual(rows.map(\.trigger), ["battery", "battery", "manual", "manual", "battery"])
        XCTAssertEqual(rows.map(\.state), ["ok", "ok", "ok", "failed", "skipped"])
        XCTAssertEqual(rows.map(\.profile), ["performance", "saver", "performance", "turbo", "performance"])
        XCTAssertEqual(rows.first?.capacityPercent, 80)
        for row in rows.prefix(3) {
            XCTAssertEqual(row.source, "prepared")
            XCTAssertNotNil(row.totalMs)
            let timings = try JSONDecoder().decode([String: Double].self, from: Data((row.timings ?? "{}").utf8))
            XCTAssertNotNil(timings["validate"], "\(row.id): \(row.timings ?? "")")
        }
    }
}
