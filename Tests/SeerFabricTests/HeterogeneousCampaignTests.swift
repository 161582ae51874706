import Foundation
import XCTest
import SeerAgent
import SeerCoordinator
import SeerData
import SeerMeasurement
import SeerTransport
import SeerWire

/// Issue 15: a campaign whose latency budget is on a runtime device key, measured by a builtin training agent
/// (`seer-agent`, compress jobs) and the Python onnxruntime agent (`agents/python`, artifact and profile jobs),
/// over CURVE with key files in the documented format.
final class HeterogeneousCampaignTests: FabricTestCase {
    /// SEER_PYTHON (make test sets it), else the package's .venv; a missing interpreter fails the test.
    func python() throws -> URL {
        if let configured = ProcessInfo.processInfo.environment["SEER_PYTHON"], !configured.isEmpty {
            return URL(fileURLWithPath: configured)
        }
        let venv = Fabric.packageRoot.appendingPathComponent(".venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: venv.path) else {
            throw FabricError("SEER_PYTHON is unset and \(venv.path) does not exist: run scripts/setup.sh")
        }
        return venv
    }

    func testBuiltinTrainerAndOnnxruntimeAgentMeetALatencyBudgetOnTheRuntimeKey() throws {
        let coordinator = try fabric.keys("coordinator")
        let trainerKeys = try fabric.keys("trainer-keys")
        let runtimeKeys = try fabric.keys("ort-keys")
        // Protocol timing (1 s heartbeats): the runtime agent uses the documented constants, not a test's.
        let broker = try fabric.broker(security: .curve(serverKeys: coordinator,
                                                        allowedAgentKeys: [trainerKeys.publicKey, runtimeKeys.publicKey]),
                                       heartbeatMs: 1000)
        defer { broker.stop() }
        try fabric.agent("trainer-1", deviceKey: "cpu-x86", endpoint: broker.endpoint, keys: "trainer-keys",
                         serverKey: "coordinator", heartbeatMs: 1000, executor: ["--executor", "builtin"])
        try fabric.launch("ort-1", executable: try python(),
                          ["-m", "seer_runtime_agent", "run", "--coordinator", broker.endpoint, "--key", "ort-cpu",
                           "--id", "ort-1", "--provider", "cpu", "--threads", "1", "--cache", fabric.path("ort-cache"),
                           "--keys", fabric.path("ort-keys"), "--server-key", fabric.path("coordinator") + "/public.key",
                           "--deploy-dir", fabric.path("ort-deploy")],
                          environment: ["PYTHONPATH": Fabric.packageRoot.appendingPathComponent("agents/python").path])
        XCTAssertTrue(fabric.waitUntil(120) { broker.agents().count == 2 }, fabric.diagnostics)
        let runtime = try XCTUnwrap(broker.agents().first { $0.agentID == "ort-1" })
        XCTAssertEqual(runtime.executor, .runtime)

        let config = try CampaignConfig.parse(yaml: """
            name: hetero
            model: resnet8
            metric: latency
            latency_device: ort-cpu
            devices: [ort-cpu]
            runtime_devices: [ort-cpu]
            training_device: cpu-x86
            budgets: ["90%"]
            measurement: {finetune_steps: 8, batch_size: 32, evaluation_limit: 600, calibration_images: 32,
                          latency: {repeat: 7, min_repeat_ms: 20}}
            sampling: {initial: 4, rounds: 0, refine: 0, sensitivity_images: 0, noise_repeats: 0}
            predictor: {members: 3, hidden: 0}
            profiles:
              ort-cpu: {fast: "latency=90%"}
            """)
        let store = try SeerStore(path: fabric.path("seer.sqlite"))
        let lines = LockedLines()
        let runner = try CampaignRunner(config: config, store: store, backend: BrokerMeasurementBackend(broker: broker),
                                        resultsDirectory: URL(fileURLWithPath: fabric.path("results")), showProgress: false,
                                        log: { lines.append($0) })
        try runner.run()

        // The table came from the runtime agent's kernels.
        let tableJSON = try XCTUnwrap(try store.database.read { db in
            try String.fetchOne(db, sql: "SELECT \"table\" FROM latency_table WHERE campaign_id = 'hetero' AND device_key = 'ort-cpu'")
        })
        XCTAssertEqual(try LayerLatencyTable.decode(from: Data(tableJSON.utf8)).executor, "runtime")

        // Every measurement on the runtime key went through an artifact: engine and device accuracy agree.
        let rows = try CampaignStore.measurements("hetero", in: store)
        XCTAssertTrue(rows.allSatisfy { $0.error == nil }, rows.compactMap(\.error).joined(separator: "\n") + fabric.diagnostics)
        let artifacts = try ArtifactStore.measurements(prefix: "hetero:", in: store)
        XCTAssertEqual(Set(artifacts.map(\.jobID)), Set(rows.map(\.jobID)))
        for a in artifacts {
            XCTAssertEqual(a.trainingAgent, "trainer-1")
            XCTAssertEqual(a.runtimeAgent, "ort-1")
            let device = try XCTUnwrap(a.deviceAccuracy, a.jobID)
            XCTAssertLessThanOrEqual(abs(device - a.engineAccuracy), 0.3,
                                     "\(a.jobID): engine \(a.engineAccuracy)% vs onnxruntime \(device)%")
            let artifact = try XCTUnwrap(try ArtifactStore.artifact(a.sha256, in: store))
            XCTAssertEqual(artifact.data.count, artifact.sizeBytes)
        }

        // The chosen policy's latency was measured on the runtime key and predicted by the latency model. How close the
        // two are is a timing figure (the table is profiled minutes before the pick is measured, under whatever else
        // the machine runs), so bench/runtime-latency-model measures it; the test checks the behaviour and logs both.
        let chosen = try XCTUnwrap(try CampaignStore.chosen("hetero", in: store).first)
        let final = try XCTUnwrap(rows.first { $0.jobID == "hetero:final:\(chosen.budget):validation" }
                                  ?? rows.first { $0.jobID == "hetero:final:\(chosen.budget):measured-best:test" })
        let measured = try XCTUnwrap(final.latencyMs)
        // For the record (make test's log): what the model predicted and the agents measured.
        print(String(format: "heterogeneous campaign: chosen policy %.3f ms measured on ort-cpu, %.3f ms predicted (%+.1f%%); "
                     + "engine - onnxruntime accuracy per measurement: %@ points", measured, chosen.complexity,
                     (measured / chosen.complexity - 1) * 100,
                     artifacts.map { String(format: "%+.2f", $0.engineAccuracy - ($0.deviceAccuracy ?? .nan)) }.joined(separator: " ")))
        print(lines.lines.filter { $0.contains("latency") || $0.contains("budget") }.joined(separator: "\n"))
        XCTAssertTrue(measured.isFinite && measured > 0, "measured latency \(measured) ms")
        XCTAssertTrue(chosen.complexity.isFinite && chosen.complexity > 0, "predicted latency \(chosen.complexity) ms")
        XCTAssertLessThanOrEqual(chosen.complexity, chosen.budgetValue * (1 + 1e-9))

        // The profile's model is the artifact the runtime agent measured, byte for byte, held to its engine accuracy;
        // deployed, the runtime agent installs exactly it.
        let prepared = try XCTUnwrap(try DeploymentStore.prepared(campaign: "hetero", deviceKey: "ort-cpu", profile: "fast", in: store))
        XCTAssertEqual(prepared.weightsFormat, ArtifactReference.onnxQDQ)
        // The same artifact is also measured on the test split (another accuracy): the validation measurement is the one.
        let validationJobs = Set(rows.filter { $0.split == "validation" }.map(\.jobID))
        let measuredArtifact = try XCTUnwrap(artifacts.first { $0.sha256 == prepared.sha256 && validationJobs.contains($0.jobID) },
                                             "prepared \(prepared.sha256 ?? "nil")")
        XCTAssertEqual(prepared.weightsValidationAccuracy, measuredArtifact.engineAccuracy)
        let plan = try DeploymentPlanner(store: store, campaign: "hetero").plan(deployID: "probe", deviceKey: "ort-cpu", profile: "fast")
        XCTAssertEqual(plan.body.weights.format, ArtifactReference.onnxQDQ)
        XCTAssertNil(plan.body.finetune)
        let service = DeploymentService(broker: broker, store: store, campaign: "hetero")
        let request = try DeploymentStore.insert(DeploymentRecord(
            id: "", agentID: "ort-1", profile: "fast", trigger: "manual", state: "requested", campaignID: "hetero",
            requestedAt: Date()), in: store)
        XCTAssertTrue(fabric.waitUntil(120) {
            try? service.poll(timeout: 0.05)
            return (try? DeploymentStore.deployment(request.id, in: store))??.isFinished == true
        }, fabric.diagnostics)
        let deployed = try XCTUnwrap(try DeploymentStore.deployment(request.id, in: store))
        XCTAssertEqual(deployed.state, "ok", "\(deployed.code ?? "") \(deployed.message ?? "")" + fabric.diagnostics)
        let installed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fabric.path("ort-deploy/current.onnx"))))
        XCTAssertEqual(SHA256.hex(SHA256.hash(installed)), prepared.sha256)
    }
}
