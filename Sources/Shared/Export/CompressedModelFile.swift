import Foundation
import SeerCompression
import SeerEngine
import SeerModels
import SeerTensor

/// A compressed (pruned + quantized, possibly fine-tuned) network saved as safetensors, and loaded back into the same
/// graph structure.
///
/// File layout (float32 safetensors, readable by Python's `safetensors`):
/// - every parameter and buffer of the compressed graph by its checkpoint name, as `Checkpoint` writes them: conv and
///   linear weights and biases with the pruned channels already removed, batch-norm `weight`/`bias`/`running_mean`/
///   `running_var`, and each PACT activation quantizer's clip `<layer>.aq.alpha` (shape [1]);
/// - each weight quantizer's per-output-channel clips as `<layer>.weight_clip` (shape [out]);
/// - metadata: `format` = `seer-compressed-model/1`, `model` = the zoo name, `policy` = the resolved policy as JSON
///   (`{"model": ..., "layers": [{"layer", "wbits", "abits", "prune"}, ...]}`), plus whatever the caller adds
///   (the export command records `finetune_steps` and `seed`).
///
/// Loading rebuilds the structure from the zoo architecture and the policy (channel counts and bit-widths follow from
/// the policy alone: `ChannelPruning.prune` then `PolicyQuantization.quantize`) and then replaces every tensor and clip
/// with the file's; any missing tensor, shape mismatch or tensor the structure has no place for is an error. The batch
/// norms stay unfolded, exactly as `PolicyEvaluation.compress` returns the network.
public enum CompressedModelFile {
    /// The `format` metadata value.
    public static let format = "seer-compressed-model/1"
    /// Suffix of the weight-quantizer clip tensors.
    public static let clipSuffix = ".weight_clip"

    /// Writes `model` (compressed under `policy`) to `url`, replacing it atomically.
    public static func save(_ model: Model, policy: ResolvedPolicy, to url: URL, metadata: [String: String] = [:]) throws {
        var tensors = model.graph.namedTensors
        for layer in model.graph.layers {
            if let q = quantizer(of: layer) {
                tensors.append((layer.name + clipSuffix, Tensor(shape: [q.clips.count], data: q.clips)))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var meta = metadata
        meta["format"] = format
        meta["model"] = model.name
        meta["policy"] = String(decoding: try encoder.encode(policy), as: UTF8.self)
        try Safetensors.write(tensors, metadata: meta, to: url)
    }

    /// Reads a file `save` wrote: the compressed network, its policy and the file's metadata.
    ///
    /// With `expecting`, the file's policy must equal it (the same model and per-layer values).
    public static func load(from url: URL, expecting: ResolvedPolicy? = nil) throws
        -> (model: Model, policy: ResolvedPolicy, metadata: [String: String]) {
        let file = try Safetensors.read(from: url)
        func fail(_ reason: String) -> ModelError { .checkpoint("\(url.path): \(reason)") }
        guard file.metadata["format"] == format else {
            throw fail("not a compressed-model file (metadata format is \(file.metadata["format"].map { "'\($0)'" } ?? "absent"), "
                       + "expected '\(format)'); save one with `seer-agent export --save-weights`")
        }
        guard let name = file.metadata["model"] else { throw fail("the metadata names no model") }
        guard let policyText = file.metadata["policy"] else { throw fail("the metadata holds no policy") }
        let policy: ResolvedPolicy
        do {
            policy = try JSONDecoder().decode(ResolvedPolicy.self, from: Data(policyText.utf8))
        } catch {
            throw fail("the metadata policy is invalid: \(error)")
        }
        guard policy.model == name else { throw fail("the policy is for '\(policy.model)', the file holds '\(name)'") }
        if let expected = expecting, expected != policy {
            throw fail("holds a network compressed under another policy than the one given "
                       + "(\(describeDifference(expected, policy)))")
        }
        let model = try skeleton(model: name, policy: policy)
        var used = Set<String>()
        func take(_ tensorName: String, like current: Tensor) throws -> Tensor {
            guard let t = file.tensors[tensorName] else { throw fail("has no tensor '\(tensorName)'") }
            guard t.shape == current.shape else {
                throw fail("tensor '\(tensorName)' has shape \(t.shape), the compressed \(name) needs \(current.shape)")
            }
            used.insert(tensorName)
            return t
        }
        for layer in model.graph.layers {
            for p in layer.parameters { p.value = try take(p.name, like: p.value) }
            for b in layer.buffers { b.value = try take(b.name, like: b.value) }
            if let q = quantizer(of: layer) {
                let clips = try take(layer.name + clipSuffix, like: Tensor(shape: [q.clips.count]))
                setQuantizer(of: layer, WeightQuantizer(bits: q.bits, clips: clips.data))
            }
        }
        if let extra = file.order.first(where: { !used.contains($0) }) {
            throw fail("tensor '\(extra)' has no place in \(name) compressed under its policy")
        }
        return (model, policy, file.metadata)
    }

    /// The compressed structure of zoo model `name` under `policy`, with placeholder values: pruned channel counts,
    /// weight quantizers of the policy's bit-widths, activation quantizers with their signedness.
    public static func skeleton(model name: String, policy: ResolvedPolicy) throws -> Model {
        let base = try ModelZoo.make(name)
        let expected = base.compressibleLayers.map(\.name)
        guard policy.layerNames == expected else {
            throw PolicyError.layerMismatch(model: name, reason: "the policy lists \(policy.layerNames.count) layers, "
                                            + "\(name) has the compressible layers \(expected.joined(separator: ", "))")
        }
        let pruned = ChannelPruning.prune(base, policy: policy)
        return PolicyQuantization.quantize(pruned, policy: policy, calibration: Tensor(shape: [1] + base.inputShape))
    }

    static func quantizer(of layer: Layer) -> WeightQuantizer? {
        (layer as? Conv2D)?.weightQuantizer ?? (layer as? Linear)?.weightQuantizer
    }

    static func setQuantizer(of layer: Layer, _ q: WeightQuantizer) {
        if let c = layer as? Conv2D { c.weightQuantizer = q }
        if let l = layer as? Linear { l.weightQuantizer = q }
    }

    private static func describeDifference(_ a: ResolvedPolicy, _ b: ResolvedPolicy) -> String {
        if a.model != b.model { return "model \(a.model) vs \(b.model)" }
        for (x, y) in zip(a.entries, b.entries) where x != y {
            return "\(x.layer): given \(x.policy), file \(y.policy)"
        }
        return "layer lists differ"
    }
}
