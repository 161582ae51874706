import Foundation
import SeerCompression
import SeerData
import SeerExport
import SeerMeasurement
import SeerModels
import SeerPredictor
import SeerSearch
import SeerTraining
import SeerWire

/// The campaign's last step: a deployable model for every power profile of every device key.
///
/// Per profile: the optimizer picks the policy for the profile's budget against the final predictor; an agent of the
/// device key measures it (validation split, the campaign's measurement settings and seed); then the weights a redeploy
/// sends as they are: on a builtin key a compressed-model file the coordinator fine-tunes with the same settings and
/// seed and evaluates on the same images, on a runtime key the very artifact its agent measured. A policy already
/// measured on that device key is not measured again.
extension CampaignRunner {
    func prepareProfiles(_ predictor: EnsemblePredictor) throws {
        let profiles = config.profileList
        guard !profiles.isEmpty else { return }
        let done = Set(try DeploymentStore.prepared(campaign: id, in: store).filter(\.isReady).map { "\($0.deviceKey)/\($0.profile)" })
        let pending = profiles.filter { !done.contains("\($0.deviceKey)/\($0.profile)") }
        guard !pending.isEmpty else { return }

        // 1. Policies, saved before anything is measured so a resumed campaign prepares the same ones.
        let chosen = try CampaignStore.chosen(id, in: store)
        var records: [PreparedModelRecord] = []
        for entry in pending {
            if let saved = try DeploymentStore.prepared(campaign: id, deviceKey: entry.deviceKey, profile: entry.profile, in: store) {
                records.append(saved)
                continue
            }
            let result = try ReOptimization.optimize(campaign: config, predictor: predictor, base: base, encoding: encoding,
                                                     for: entry.budget, deviceKey: entry.deviceKey, store: store, backend: backend)
            let value = result.budget
            var record = PreparedModelRecord(
                campaignID: id, deviceKey: entry.deviceKey, profile: entry.profile, budget: entry.budget.description,
                budgetValue: value, policy: String(decoding: try result.policy.policy().jsonData(), as: UTF8.self),
                complexity: result.complexity, predicted: result.predictedMean, createdAt: Date())
            // A profile with one of the campaign's own budgets gets the campaign's verified choice for it (which may be a
            // measured policy that beat the optimizer's pick), not a second, unverified optimization.
            if entry.budget.metric == config.metric, entry.deviceKey == config.devices[0],
               let same = chosen.first(where: { abs($0.budgetValue - value) <= 1e-9 * max(value, 1) }) {
                record.policy = same.policy
                record.complexity = same.complexity
                record.predicted = same.predicted
            }
            try DeploymentStore.savePrepared(record, in: store)
            log(String(format: "[%@] profile %@/%@ (%@): predicted %.2f%%", id, entry.deviceKey, entry.profile,
                       entry.budget.description, result.predictedMean))
            records.append(record)
        }

        // 2. Measurements on the profiles' device keys (validation split), reusing any of the same policy.
        let finished = try CampaignStore.measurements(id, in: store)
            .filter { $0.measuresCampaignNetwork && $0.accuracy != nil && $0.split == "validation" }
        let now = Date()
        var rows: [MeasurementRecord] = []
        for (i, record) in records.enumerated()
        where !finished.contains(where: { $0.policy == record.policy && $0.deviceKey == record.deviceKey }) {
            rows.append(MeasurementRecord(jobID: profileJobID(record), campaignID: id, purpose: .final, round: 0,
                                          position: 1000 + i, policy: record.policy, deviceKey: record.deviceKey,
                                          split: "validation", createdAt: now))
        }
        try CampaignStore.plan(rows, in: store)
        let planned = try CampaignStore.measurements(id, purpose: .final, in: store).filter { row in rows.contains { $0.jobID == row.jobID } }
        try measure(planned, title: "profile models")
        let measured = try CampaignStore.measurements(id, in: store)
            .filter { $0.measuresCampaignNetwork && $0.accuracy != nil && $0.split == "validation" }

        // 3. The weights to deploy, each with the validation accuracy of those very weights.
        let folder = resultsDirectory.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Loaded once for all builtin keys' profiles: as read (compression prepares it itself) and as measured.
        var data: (raw: Dataset, prepared: Dataset)?
        for var record in records {
            let match = measured.first { $0.policy == record.policy && $0.deviceKey == record.deviceKey }
            record.validationAccuracy = match?.accuracy
            record.latencyMs = match?.latencyMs
            let started = Date()
            if config.runtimeDevices.contains(record.deviceKey) {
                try prepareArtifact(&record, measuredBy: match, in: folder)
            } else {
                if data == nil {
                    let raw = try config.data.load(imageShape: base.inputShape)
                    data = (raw, try config.measurement.prepare(raw))
                }
                try prepareCompressedModel(&record, data: data!.raw, prepared: data!.prepared, in: folder)
            }
            try DeploymentStore.savePrepared(record, in: store)
            log(String(format: "[%@] prepared %@/%@: validation %@ on the agent, %@ for the deployed weights, %d bytes (%@), in %.1f s",
                       id, record.deviceKey, record.profile,
                       record.validationAccuracy.map { String(format: "%.2f%%", $0) } ?? "not measured",
                       record.weightsValidationAccuracy.map { String(format: "%.2f%%", $0) } ?? "not measured",
                       record.sizeBytes ?? 0, record.weightsFormat, Date().timeIntervalSince(started)))
        }
    }

    /// A builtin key's model: the coordinator fine-tunes the policy with the measurement's settings and seed, as the
    /// agent did, and evaluates the result on the measurement's validation images, so that the accuracy a deployment is
    /// held to is that of the weights it sends (the agent's own fine-tune may differ by its convolution backend's
    /// summation order).
    private func prepareCompressedModel(_ record: inout PreparedModelRecord, data: Dataset, prepared: Dataset,
                                        in folder: URL) throws {
        let policy = try resolve(record.policy)
        var settings = config.measurement
        settings.seed = config.seed
        let (model, _) = try PolicyEvaluation.compress(base: base, policy: policy, data: data, settings: settings)
        let images = min(settings.evaluationLimit ?? Int.max, prepared.count(.validation))
        record.weightsValidationAccuracy = try evaluateAccuracy(model, data: prepared, split: .validation, limit: images)
        let file = folder.appendingPathComponent("\(safeFileName(record.deviceKey))-\(safeFileName(record.profile)).safetensors")
        try CompressedModelFile.save(model, policy: policy, to: file, metadata: [
            "campaign": id, "device_key": record.deviceKey, "profile": record.profile,
            "finetune_steps": String(settings.finetuneSteps), "seed": String(settings.seed),
        ])
        let bytes = [UInt8](try Data(contentsOf: file))
        record.weightsPath = file.path
        record.sha256 = SHA256.hex(SHA256.hash(bytes))
        record.sizeBytes = bytes.count
        record.weightsFormat = WeightsReference.compressedModelFormat
    }

    /// A runtime key's model: the artifact its agent measured, byte for byte (the training agent's network, whose
    /// engine accuracy is the campaign's measurement).
    private func prepareArtifact(_ record: inout PreparedModelRecord, measuredBy row: MeasurementRecord?, in folder: URL) throws {
        guard let row, let measurement = try ArtifactStore.measurement(jobID: row.jobID, in: store),
              let artifact = try ArtifactStore.artifact(measurement.sha256, in: store) else {
            throw CampaignError.failed("no measured artifact for profile \(record.deviceKey)/\(record.profile) on runtime key "
                                       + "\(record.deviceKey): its measurement failed or predates artifacts")
        }
        let file = folder.appendingPathComponent("\(safeFileName(record.deviceKey))-\(safeFileName(record.profile)).onnx")
        try artifact.data.write(to: file, options: .atomic)
        record.weightsPath = file.path
        record.sha256 = artifact.sha256
        record.sizeBytes = artifact.sizeBytes
        record.weightsFormat = artifact.format
        record.weightsValidationAccuracy = measurement.engineAccuracy
    }

    func profileJobID(_ record: PreparedModelRecord) -> String {
        "\(id):profile:\(record.deviceKey):\(record.profile)"
    }
}

/// A device key or profile name as a file name: ids may hold any printable character, file names not '/'.
func safeFileName(_ text: String) -> String {
    String(text.unicodeScalars.map { $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) ? Character($0) : "_" })
}
