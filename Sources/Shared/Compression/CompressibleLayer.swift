import SeerEngine
import SeerModels

/// A layer a policy addresses (a Conv2D or the Linear classifier) and what its policy may choose.
public struct CompressibleLayer: Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        case conv, depthwise, linear
    }

    public let name: String
    public let kind: Kind
    /// Why the layer's own `prune` cannot change its output channels (classifier, depthwise, tied to the stem);
    /// nil when it can. Such a layer's `prune` resolves to 0 and a policy may not set it otherwise.
    public let pruneFixedReason: String?

    /// Whether this is the model's stem (`Model.stemLayerName`): it stays at 8/8 bits unpruned and is not searchable.
    public let isStem: Bool

    /// The compressible layers of `model` in topological order, the stem included.
    public static func all(in model: Model) -> [CompressibleLayer] {
        all(in: model, groups: ChannelGroups(graph: model.graph))
    }

    static func all(in model: Model, groups: ChannelGroups) -> [CompressibleLayer] {
        let stem = model.stemLayerName
        return model.compressibleLayers.map { layer in
            let kind: Kind
            if let conv = layer as? Conv2D { kind = conv.isDepthwiseConvolution ? .depthwise : .conv } else { kind = .linear }
            return CompressibleLayer(name: layer.name, kind: kind, pruneFixedReason: groups.pruneFixedReason(of: layer.name),
                                     isStem: layer.name == stem)
        }
    }
}

extension Model {
    /// Names of the layers a search chooses values for: every compressible layer but the stem, in topological order.
    public var searchableLayerNames: [String] {
        let stem = stemLayerName
        return compressibleLayers.map(\.name).filter { $0 != stem }
    }
}
