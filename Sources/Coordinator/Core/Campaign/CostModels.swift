import Foundation
import GRDB
import SeerCompression
import SeerMeasurement
import SeerModels
import SeerSearch

/// A device's per-layer latency table, profiled once per campaign and device key.
public struct LatencyTableRecord: Codable, FetchableRecord, PersistableRecord, Sendable {
    public static let databaseTableName = "latency_table"
    public var campaignID: String
    public var deviceKey: String
    /// `LayerLatencyTable` JSON.
    public var table: String
    public var createdAt: Date

    enum CodingKeys: String, CodingKey { case campaignID = "campaign_id", deviceKey = "device_key", table, createdAt = "created_at" }
}

/// The cost model behind a budget: a closed form for BitOPs, MACs and size, or for latency the device's latency model
/// (its per-layer table, profiled on an agent of the device key, calibrated on the campaign's measured latencies).
public enum CostModels {
    /// Latency schema step, appended after the deployment tables. Frozen.
    public static let migrations: [StoreMigration] = [
        StoreMigration("latency-v1-table") { db in
            try db.create(table: "latency_table") { t in
                t.column("campaign_id", .text).notNull()
                t.column("device_key", .text).notNull()
                t.column("table", .jsonText).notNull()
                t.column("created_at", .datetime).notNull()
                t.primaryKey(["campaign_id", "device_key"])
            }
        },
    ]

    /// Fewest measured latencies a calibration is fitted on; below it the table's own overhead stands.
    public static let minimumCalibrationSamples = 4
    /// Calibration scales accepted: the table times the same kernels the measurements run, so a fit outside this
    /// says the measurements are noise (or of another load), not that the table is off by that much.
    public static let plausibleScales = 0.5...2.0

    /// The cost model of `metric` and its value for the uncompressed 8/8 model (the reference of "%" budgets).
    ///
    /// For latency, `deviceKey` names the device; its table comes from the store, or is profiled through `backend`
    /// (and saved) when the store has none and a backend is given.
    public static func make(metric: BudgetMetric, config: CampaignConfig, base: Model, encoding: PolicyEncoding,
                            deviceKey: String?, store: SeerStore, backend: MeasurementBackend?,
                            log: (String) -> Void = { _ in }) throws
        -> (model: AnyComplexityModel, reference: Double) {
        let eight = try Policy(bits: "8/8").resolve(for: base)
        switch metric {
        case .bitops, .macs, .size:
            let closed = try LayerwiseComplexity(model: base, encoding: encoding, metric: metric.searchMetric)
            let report = try SeerCompression.Complexity.compute(model: base, policy: eight)
            return (AnyComplexityModel(closed), Double(metric.value(of: report)))
        case .latency, .energy:
            guard let deviceKey else { throw CampaignError.config("a \(metric.rawValue) budget needs a device key") }
            var table = try latencyTable(campaign: config.name, deviceKey: deviceKey, model: config.checkpoint ?? config.model,
                                         store: store, backend: backend)
            if let reference = table.referenceMs, table.overheadMs > reference / 2 {
                // The overhead is the one end-to-end timing minus the layers; more than half the whole means that timing
                // was disturbed (a loaded CI machine timed it 60x too slow), and it would dwarf every layer's effect.
                log(String(format: "latency table of %@: overhead %.3g ms is more than half its end-to-end %.3g ms, so that "
                           + "timing was disturbed; using no overhead until calibration learns the offset",
                           deviceKey, table.overheadMs, reference))
                table.overheadMs = 0
            }
            let energy = metric == .energy
            if energy && table.entries.contains(where: { $0.mj == nil }) {
                throw CampaignError.config("device key \(deviceKey) runs \(table.executor), which models no energy; energy "
                    + "budgets need a simulated accelerator (sim-bitfusion, sim-bismo)")
            }
            var model = try LatencyModel(model: base, encoding: encoding, lookup: energy ? table.energyTable : table,
                                         unit: energy ? "mJ" : "ms")
            let samples = try measuredSamples(of: metric, campaign: config.name, deviceKey: deviceKey, base: base,
                                              space: config.space, store: store)
            if samples.count >= minimumCalibrationSamples {
                // Noisy latencies over a narrow range can fit any line; a fit far from the table's own scale (or one
                // that fails) would bend the barrier more than it corrects, so the table then stands as profiled.
                do {
                    let calibrated = try model.calibrated(on: samples)
                    if plausibleScales.contains(calibrated.calibration.scale) {
                        model = calibrated
                    } else {
                        log(String(format: "latency calibration on %d measurements fitted scale %.3f (outside %.1f...%.1f); "
                                   + "keeping the profiled table", samples.count, calibrated.calibration.scale,
                                   plausibleScales.lowerBound, plausibleScales.upperBound))
                    }
                } catch {
                    log("latency calibration on \(samples.count) measurements failed (\(error)); keeping the profiled table")
                }
            }
            // "%" budgets are fractions of the unpruned 8/8 model's latency (energy) as the model itself predicts it, so
            // that a budget is always measured by the same yardstick as the policies: the table's one end-to-end
            // timing (`reference_ms`) can catch a load spike, and the calibration corrects the model, not it.
            let reference = try model.predict(eight)
            return (AnyComplexityModel(model), reference)
        }
    }

    /// The stored table of (campaign, device key), or a fresh one profiled through `backend`.
    static func latencyTable(campaign: String, deviceKey: String, model: String, store: SeerStore,
                             backend: MeasurementBackend?) throws -> LayerLatencyTable {
        if let record = try store.database.read({ db in
            try LatencyTableRecord.fetchOne(db, key: ["campaign_id": campaign, "device_key": deviceKey])
        }) {
            return try LayerLatencyTable.decode(from: Data(record.table.utf8))
        }
        guard let backend else {
            throw CampaignError.notFound("campaign '\(campaign)' has no latency table for device key \(deviceKey); "
                + "a campaign with a latency budget on that key profiles one")
        }
        let table = try backend.profileLayers(id: "\(campaign):latency-table:\(deviceKey)", deviceKey: deviceKey, model: model)
        let record = LatencyTableRecord(campaignID: campaign, deviceKey: deviceKey,
                                        table: String(decoding: try table.jsonData(), as: UTF8.self), createdAt: Date())
        try store.database.write { db in try record.save(db) }
        return table
    }

    /// The campaign's successful measurements on `deviceKey` that carry a latency (ms) or an energy (mJ).
    static func measuredSamples(of metric: BudgetMetric, campaign: String, deviceKey: String, base: Model, space: SearchSpace,
                                store: SeerStore) throws -> [LatencySample] {
        try CampaignStore.measurements(campaign, in: store)
            // Probes are timed once, without repeats: not a latency to calibrate on.
            .filter { $0.deviceKey == deviceKey && $0.accuracy != nil && $0.purpose != .sensitivity }
            .compactMap { row in
                guard let value = metric == .energy ? row.energyJ.map({ $0 * 1000 }) : row.latencyMs else { return nil }
                return LatencySample(policy: try Policy.decode(json: Data(row.policy.utf8)).resolve(for: base, space: space),
                                     measuredMs: value)
            }
    }
}

extension LayerLatencyTable {
    /// The table with each entry's energy in place of its latency (millijoules; no overhead: a sum over layers), so
    /// the latency model's interpolation serves energy budgets unchanged.
    public var energyTable: LayerLatencyTable {
        var table = self
        table.overheadMs = 0
        table.referenceMs = nil
        table.entries = entries.map { entry in
            var copy = entry
            copy.ms = entry.mj ?? 0
            return copy
        }
        return table
    }
}

extension BudgetMetric {
    /// The closed form the search optimizes for this metric (latency has none: see `CostModels`).
    var searchMetric: SeerSearch.ComplexityMetric {
        switch self {
        case .bitops: return .bitops
        case .macs: return .macs
        case .size, .latency, .energy: return .sizeBytes
        }
    }

    /// This metric's value in a complexity report (latency is not in one; BitOPs stand in for plots).
    func value(of report: ComplexityReport) -> Int {
        switch self {
        case .bitops, .latency, .energy: return report.bitops
        case .macs: return report.macs
        case .size: return report.sizeBytes
        }
    }
}
