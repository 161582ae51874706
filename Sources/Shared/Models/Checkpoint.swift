import Foundation
import SeerEngine
import SeerTensor

/// Saving and loading a model's parameters and buffers as safetensors, by stable layer name.
public enum Checkpoint {
    /// Writes every parameter and buffer of `model` to `url`, with the model name in the metadata.
    public static func save(_ model: Model, to url: URL, metadata: [String: String] = [:]) throws {
        var meta = metadata
        meta["model"] = model.name
        try Safetensors.write(model.graph.namedTensors, metadata: meta, to: url)
    }

    /// Loads `url` into `model`; every tensor the model has must be present with its exact shape.
    public static func load(_ model: Model, from url: URL) throws {
        let file = try Safetensors.read(from: url)
        if let saved = file.metadata["model"], !ModelReference.sameModel(saved, model.name) {
            throw ModelError.checkpoint("\(url.path) holds a '\(saved)' checkpoint, not '\(model.name)'")
        }
        for layer in model.graph.layers {
            for p in layer.parameters { p.value = try tensor(p.name, like: p.value, in: file.tensors, url: url) }
            for b in layer.buffers { b.value = try tensor(b.name, like: b.value, in: file.tensors, url: url) }
        }
    }

    private static func tensor(_ name: String, like current: Tensor, in tensors: [String: Tensor], url: URL) throws -> Tensor {
        guard let t = tensors[name] else { throw ModelError.checkpoint("\(url.path) has no tensor '\(name)'") }
        guard t.shape == current.shape else {
            throw ModelError.checkpoint("\(url.path): tensor '\(name)' has shape \(t.shape), the model needs \(current.shape)")
        }
        return t
    }
}

/// The model card written beside a checkpoint: what it is, how well it does, and how it was made.
public struct ModelCard: Codable, Equatable, Sendable {
    public var model: String
    public var testAccuracy: Double
    public var validationAccuracy: Double
    public var datasetSHA256: String
    public var command: String
    public var epochs: Double
    public var seed: UInt64
    public var parameters: Int
    public var trainingSeconds: Double
    public var created: String

    enum CodingKeys: String, CodingKey {
        case model, command, epochs, seed, parameters, created
        case testAccuracy = "test_accuracy", validationAccuracy = "validation_accuracy"
        case datasetSHA256 = "dataset_sha256", trainingSeconds = "training_seconds"
    }

    public init(model: String, testAccuracy: Double, validationAccuracy: Double, datasetSHA256: String, command: String,
                epochs: Double, seed: UInt64, parameters: Int, trainingSeconds: Double, created: String) {
        self.model = model
        self.testAccuracy = testAccuracy
        self.validationAccuracy = validationAccuracy
        self.datasetSHA256 = datasetSHA256
        self.command = command
        self.epochs = epochs
        self.seed = seed
        self.parameters = parameters
        self.trainingSeconds = trainingSeconds
        self.created = created
    }
}

/// Where zoo checkpoints live: `models/` of the working directory, `$SEER_MODELS`, or beside the checkout
/// of the running executable (so `.build/release/seer-agent` finds the committed checkpoints from anywhere).
public enum ModelStore {
    public static func directories() -> [URL] {
        var dirs = [URL]()
        if let env = ProcessInfo.processInfo.environment["SEER_MODELS"] { dirs.append(URL(fileURLWithPath: env)) }
        dirs.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models"))
        var exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            exe = exe.deletingLastPathComponent()
            dirs.append(exe.appendingPathComponent("models"))
        }
        return dirs
    }

    /// The committed checkpoint of zoo model `name`, if one can be found.
    public static func checkpoint(for name: String) -> URL? {
        directories().map { $0.appendingPathComponent(name + ".safetensors") }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// A zoo name (its committed checkpoint), an ONNX file (its own weights), or a path to a `.safetensors` file
    /// whose metadata names the model.
    public static func load(_ nameOrPath: String) throws -> Model {
        if ModelReference.isOnnx(nameOrPath) { return try ModelReference.importOnnx(nameOrPath) }
        if ModelZoo.names.contains(nameOrPath) {
            let model = try ModelZoo.make(nameOrPath)
            guard let url = checkpoint(for: nameOrPath) else {
                throw ModelError.checkpoint("no checkpoint for '\(nameOrPath)' in "
                    + directories().map(\.path).joined(separator: ", ")
                    + "; train one with `seer-coordinator train --model \(nameOrPath)`")
            }
            try Checkpoint.load(model, from: url)
            return model
        }
        let url = URL(fileURLWithPath: nameOrPath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError.checkpoint("'\(nameOrPath)' is neither a zoo model (\(ModelZoo.names.joined(separator: ", "))) nor a file")
        }
        let meta = try Safetensors.read(from: url).metadata
        guard let name = meta["model"] else {
            throw ModelError.checkpoint("\(url.path) does not name its model in the safetensors metadata ('model')")
        }
        let model = try ModelZoo.make(name)
        try Checkpoint.load(model, from: url)
        return model
    }
}
