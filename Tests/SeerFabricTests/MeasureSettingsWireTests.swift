import Foundation
import XCTest
@testable import SeerAgent
import SeerCompression
@testable import SeerCoordinator
import SeerData
import SeerMeasurement
import SeerWire

/// Issue 12: a measure job's settings are one Codable type (`EvaluationSettings`) on both ends, so every field the
/// coordinator measures with reaches the agent, and a field one end does not know is refused by name.
final class MeasureSettingsWireTests: XCTestCase {
    /// Settings with every field away from its default, so that a dropped field shows.
    static func unusualSettings() -> EvaluationSettings {
        var s = EvaluationSettings()
        s.finetuneSteps = 7
        s.batchSize = 64
        s.learningRate = 0.02
        s.weightDecay = 1e-3
        s.calibrationImages = 100
        s.split = .test
        s.evaluationLimit = 500
        s.seed = 42
        s.latency = SeerMeasurement.LatencySettings(number: 2, repeats: 3, minRepeatMs: 12.5, batch: 4)
        s.datasetSHA256 = String(repeating: "ab", count: 32)
        s.normalization = Normalization(mean: [0.5, 0.4, 0.3], std: [0.2])
        s.validationCount = 300
        s.cropPadding = 4
        return s
    }

    static func request(_ settings: EvaluationSettings) throws -> MeasureRequest {
        MeasureRequest(id: "wire-1", deviceKey: "cpu-x86", model: "resnet8", policy: try Policy(bits: "4/4/0.25"),
                       settings: settings)
    }

    /// The coordinator's JOB as frames on the wire, and what the agent's socket loop decodes from them.
    static func overTheWire(_ payload: JobPayload) throws -> JobBody {
        let frames = try WireCodec.encode(.job(JobBody(jobID: "wire-1", deviceKey: "cpu-x86", kind: .measure, payload: payload)))
        guard case let .job(body) = try WireCodec.decode(frames) else { throw FabricError("not a JOB") }
        return body
    }

    /// The JOB frames with `edit` applied to the body's `payload` JSON object (what another sender could send).
    static func editedOnTheWire(_ payload: JobPayload, _ edit: (inout [String: Any]) -> Void) throws -> JobBody {
        var frames = try WireCodec.encode(.job(JobBody(jobID: "wire-1", deviceKey: "cpu-x86", kind: .measure, payload: payload)))
        var body = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(frames[2])) as? [String: Any])
        var inner = try XCTUnwrap(body["payload"] as? [String: Any])
        edit(&inner)
        body["payload"] = inner
        frames[2] = Array(try JSONSerialization.data(withJSONObject: body))
        guard case let .job(decoded) = try WireCodec.decode(frames) else { throw FabricError("not a JOB") }
        return decoded
    }

    func testEverySettingArrivesAtTheAgentAsTheCoordinatorSentIt() throws {
        for settings in [Self.unusualSettings(), EvaluationSettings()] {
            let payload = try BrokerMeasurementBackend.payload(for: Self.request(settings))
            let received = try Self.overTheWire(payload)
            XCTAssertEqual(try BuiltinExecutor.settings(from: received.payload), settings)
        }
    }

    /// Protocol revision 3: a job names its data by SHA-256; an agent whose data differ refuses it, saying so.
    func testAnAgentWithOtherDataRefusesTheJob() throws {
        var settings = EvaluationSettings()
        settings.finetuneSteps = 0
        settings.evaluationLimit = 8
        settings.calibrationImages = 8
        settings.datasetSHA256 = String(repeating: "0", count: 64)
        let received = try Self.overTheWire(try BrokerMeasurementBackend.payload(for: Self.request(settings)))
        let executor = BuiltinExecutor(settings: ExecutorSettings(deviceKey: "cpu-x86"))
        XCTAssertThrowsError(try executor.run(received, cancel: nil)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(settings.datasetSHA256!) && text.contains(FashionMNIST.defaultDirectory)
                          && text.contains("differ"), text)
        }
        // The same job naming the agent's data is measured.
        settings.datasetSHA256 = try FashionMNIST.fingerprint(directory: FashionMNIST.defaultDirectory)
        let matching = try Self.overTheWire(try BrokerMeasurementBackend.payload(for: Self.request(settings)))
        XCTAssertNotNil(try executor.run(matching, cancel: nil).accuracy)
    }

    /// The campaign's `data.crop_padding` reaches the agent's fine-tuning in the job, over the agent's own data's
    /// setting, and a padding the agent's images cannot take is refused naming the setting.
    func testTheCropPaddingTheCampaignFineTunesWithIsTheOneTheAgentUses() throws {
        let data = try FashionMNIST.load()
        var settings = EvaluationSettings()
        XCTAssertEqual(try settings.prepare(data).augmentation, data.augmentation, "no setting: the data's own")
        settings.cropPadding = 5
        settings.validationCount = 1_000
        let received = try Self.overTheWire(try BrokerMeasurementBackend.payload(for: Self.request(settings)))
        let prepared = try BuiltinExecutor.settings(from: received.payload).prepare(data)
        XCTAssertEqual(prepared.augmentation.padding, 5)
        XCTAssertEqual(prepared.count(.validation), 1_000, "the validation split and the padding both apply")
        settings.cropPadding = 28
        XCTAssertThrowsError(try settings.prepare(data)) { error in
            XCTAssertTrue("\(error)".contains("settings.crop_padding") && "\(error)".contains("less than 28"), "\(error)")
        }
    }

    func testTheWeightDecayTheCoordinatorFineTunesWithIsTheOneTheAgentUses() throws {
        var settings = EvaluationSettings()
        settings.weightDecay = 0
        let received = try Self.overTheWire(try BrokerMeasurementBackend.payload(for: Self.request(settings)))
        XCTAssertEqual(try BuiltinExecutor.settings(from: received.payload).weightDecay, 0)
    }

    func testAnUnknownSettingIsRefusedByName() throws {
        let payload = try BrokerMeasurementBackend.payload(for: Self.request(Self.unusualSettings()))
        for (path, edit) in [("payload.settings", { (p: inout [String: Any]) in
                                 var s = p["settings"] as? [String: Any] ?? [:]
                                 s["momentum"] = 0.9
                                 p["settings"] = s
                             }),
                             ("payload.settings.latency", { (p: inout [String: Any]) in
                                 var s = p["settings"] as? [String: Any] ?? [:]
                                 var latency = s["latency"] as? [String: Any] ?? [:]
                                 latency["momentum"] = 0.9
                                 s["latency"] = latency
                                 p["settings"] = s
                             })] {
            let received = try Self.editedOnTheWire(payload, edit)
            XCTAssertThrowsError(try BuiltinExecutor.settings(from: received.payload), path) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("'momentum'"), text)
                XCTAssertTrue(text.contains(path), text)
            }
        }
    }

    func testSettingsThatDisagreeWithTheProtocolFieldsAreRefused() throws {
        let payload = try BrokerMeasurementBackend.payload(for: Self.request(Self.unusualSettings()))
        let edits: [(String, (inout [String: Any]) -> Void)] = [
            ("payload.seed", { $0["seed"] = 43 }),
            ("payload.finetune_steps", { $0["finetune_steps"] = 8 }),
            ("payload.split", { $0["split"] = "validation" }),
            ("payload.latency.repeat", { $0["latency"] = ["number": 2, "repeat": 9] }),
            ("payload.options.batch_size", { $0["options"] = ["batch_size": 32] }),
        ]
        for (field, edit) in edits {
            let received = try Self.editedOnTheWire(payload, edit)
            XCTAssertThrowsError(try BuiltinExecutor.settings(from: received.payload), field) { error in
                XCTAssertTrue("\(error)".contains(field), "\(error)")
            }
        }
    }

    func testAJobWithoutSettingsStillReadsTheProtocolFieldsAndOptions() throws {
        let payload = JobPayload(model: "resnet8", policy: [:], finetuneSteps: 3, split: "test", seed: 9,
                                 latency: SeerWire.LatencySettings(number: 2, repeat: 4),
                                 options: ["batch_size": 16, "learning_rate": 0.5, "evaluation_limit": 10])
        let s = try BuiltinExecutor.settings(from: try Self.overTheWire(payload).payload)
        XCTAssertEqual(s.finetuneSteps, 3)
        XCTAssertEqual(s.split, .test)
        XCTAssertEqual(s.seed, 9)
        XCTAssertEqual(s.latency.number, 2)
        XCTAssertEqual(s.latency.repeats, 4)
        XCTAssertEqual(s.batchSize, 16)
        XCTAssertEqual(s.learningRate, 0.5)
        XCTAssertEqual(s.evaluationLimit, 10)
    }

    func testASeedBeyondWhatAJSONNumberCarriesIsRefusedAtTheCoordinator() throws {
        var settings = EvaluationSettings()
        settings.seed = EvaluationSettings.maxJobSeed + 1
        XCTAssertThrowsError(try BrokerMeasurementBackend.payload(for: Self.request(settings))) { error in
            XCTAssertTrue("\(error)".contains("seed"), "\(error)")
        }
    }
}
