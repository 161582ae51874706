@testable import SeerWire

/// One or more valid messages of every type, optional fields both present and absent.
enum Samples {
    static let device = DeviceDescriptor(cores: 8, memoryBytes: 16 << 30, os: "Debian 12", arch: "x86_64",
                                         hardware: "ThinkPad T14", software: ["swift": "6.3.1", "libzmq": "4.3.4"])
    static let policy: [String: JSONValue] = ["bits": [8, 4, 4, 8], "prune": [0.0, 0.25, 0.5, 0.0], "name": "p-17",
                                              "nested": ["ok": true, "none": nil, "one": 1, "zero": 0, "neg": -2.5e-3]]
    static let sha = String(repeating: "ab", count: 32)

    static let byType: [MessageType: [Message]] = [
        .ready: [
            .ready(ReadyBody(agentID: "agent-1", deviceKey: "cpu-x86", executor: .builtin, device: device,
                             capabilities: ["measure", "profile", "null", "deploy"])),
            .ready(ReadyBody(agentID: "bismo-é", deviceKey: "sim-bismo", executor: .simBismo,
                             device: DeviceDescriptor(cores: 1, memoryBytes: 0, os: "Linux"), capabilities: [])),
        ],
        .heartbeat: [.heartbeat(HeartbeatBody()), .heartbeat(HeartbeatBody(jobID: "job-42"))],
        .job: [
            .job(JobBody(jobID: "job-42", deviceKey: "cpu-x86", kind: .measure,
                         payload: JobPayload(model: "lenet5-fashion", policy: policy, finetuneSteps: 200, split: "validation",
                                             seed: 7, latency: LatencySettings(number: 10, repeat: 5, warmup: 2),
                                             timeouts: JobTimeouts(totalMs: 600_000, finetuneMs: 300_000, measureMs: 60_000),
                                             options: ["argv": ["run.sh", "--fast"]]))),
            .job(JobBody(jobID: "j", deviceKey: "cpu-arm", kind: .null, payload: JobPayload(model: "none", policy: [:]))),
            .job(JobBody(jobID: "p", deviceKey: "sim-bitfusion", kind: .profile, payload: JobPayload(model: "vgg", policy: policy))),
            .job(JobBody(jobID: "c", deviceKey: "cpu-x86", kind: .compress, payload: JobPayload(model: "resnet8", policy: policy))),
            .job(JobBody(jobID: "a", deviceKey: "ort-cuda", kind: .artifact, payload: JobPayload(
                model: "resnet8", policy: policy,
                artifact: ArtifactReference(sha256: String(repeating: "ab", count: 32), sizeBytes: 4, data: "dGVzdA==")))),
            .job(JobBody(jobID: "a2", deviceKey: "ort-cuda", kind: .artifact, payload: JobPayload(
                model: "resnet8", policy: policy,
                artifact: ArtifactReference(sha256: String(repeating: "cd", count: 32), sizeBytes: 9, uri: "file:///srv/a.onnx")))),
        ],
        .result: [
            .result(ResultBody(jobID: "job-42", agentID: "agent-1", payload: ResultPayload(
                accuracy: 0.8875,
                latency: LatencyStats(medianMs: 1.25, meanMs: 1.3, minMs: 1.1, maxMs: 1.9, stdMs: 0.05, number: 10, repeat: 5),
                complexity: Complexity(macs: 2_300_000, bitops: 73_600_000, params: 61_706, sizeBytes: 123_412),
                timingsMs: ["finetune": 812.5, "evaluate": 120, "measure": 95.25, "total": 1100],
                energy: Energy(joules: 0.004, averageWatts: 3.2)))),
            .result(ResultBody(jobID: "j", agentID: "a", payload: ResultPayload())),
            .result(ResultBody(jobID: "c", agentID: "a", payload: ResultPayload(
                accuracy: 0.9, artifact: ArtifactReference(sha256: String(repeating: "ab", count: 32), sizeBytes: 4, data: "dGVzdA==")))),
            .result(ResultBody(jobID: "p", agentID: "a", payload: ResultPayload(
                timingsMs: ["total": 900], layerTable: ["model": "resnet8", "entries": [["layer": "conv1", "ms": 0.125]]]))),
        ],
        .error: [
            .error(ErrorBody(jobID: "job-42", code: .outOfMemory, message: "allocation of 2 GiB failed")),
            .error(ErrorBody(code: .malformed, message: "")),
        ],
        .disconnect: [.disconnect(DisconnectBody(reason: "agent shutting down"))],
        .profile: [.profile(ProfileBody(agentID: "agent-1", deviceKey: "cpu-arm", profile: "powersave",
                                        capacityPercent: 17.5, status: .discharging))],
        .deploy: [
            .deploy(DeployBody(deployID: "dep-3", deviceKey: "cpu-arm", profile: "powersave", model: "lenet5-fashion",
                               policy: policy, weights: WeightsReference(uri: "file:///srv/seer/dep-3.bin", sha256: sha, sizeBytes: 123_412))),
            .deploy(DeployBody(deployID: "dep-4", deviceKey: "cpu-arm", profile: "performance", model: "lenet5-fashion",
                               policy: [:], weights: WeightsReference(sha256: sha, sizeBytes: 5), inlineWeights: [0, 1, 2, 255, 7])),
            .deploy(DeployBody(deployID: "dep-5", deviceKey: "cpu-arm", profile: "p", model: "m",
                               policy: [:], weights: WeightsReference(sha256: sha, sizeBytes: 0), inlineWeights: [])),
            .deploy(DeployBody(deployID: "dep-6", deviceKey: "cpu-arm", profile: "saver", model: "resnet8",
                               policy: policy, weights: WeightsReference(sha256: sha, sizeBytes: 2), inlineWeights: [9, 8],
                               validation: DeployValidation(images: 256, minAccuracy: 0.8),
                               finetune: DeployFinetune(steps: 40, seed: 7, options: ["batch_size": 64]))),
            .deploy(DeployBody(deployID: "dep-7", deviceKey: "cpu-arm", profile: "saver", model: "net.onnx",
                               policy: policy, weights: WeightsReference(sha256: sha, sizeBytes: 2), inlineWeights: [9, 8],
                               validation: DeployValidation(images: 64, minAccuracy: 0.5, datasetSHA256: sha,
                                                            normalization: DataNormalization(mean: [0.5, 0.4, 0.3], std: [0.25]),
                                                            validationCount: 150))),
            .deploy(DeployBody(deployID: "dep-8", deviceKey: "ort-cuda", profile: "fast", model: "resnet8",
                               policy: policy, weights: WeightsReference(sha256: sha, sizeBytes: 2, format: "onnx-qdq/1"),
                               inlineWeights: [9, 8], validation: DeployValidation(images: 256, minAccuracy: 0.85))),
        ],
        .deployed: [
            .deployed(DeployedBody(deployID: "dep-3", agentID: "agent-1", status: .ok, timingsMs: ["fetch": 120, "verify": 8, "load": 40])),
            .deployed(DeployedBody(deployID: "dep-4", agentID: "agent-1", status: .failed, code: .badPolicy, message: "bits out of range")),
        ],
    ]

    static var all: [Message] { MessageType.allCases.flatMap { byType[$0] ?? [] } }
}
