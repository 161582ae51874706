import SeerCompression
import SeerModels
import SeerPredictor

/// The search variables of a model and a search space, and the maps between a policy, the predictor's feature row,
/// level indices and the continuous relaxation.
///
/// Variables: one prune ratio per prunable tied channel group (`ChannelGroups`; a group keeps the channels of its
/// most conservative member, so separate ratios per member would only add directions that change nothing) and a
/// `wbits` and an `abits` per searchable layer. Fixed groups have no prune variable.
///
/// Feature rows follow `schema`: per searchable layer i (topological order, stem excluded) `prune<i>` (only for layers
/// whose prune is not fixed), `wbits<i>`, `abits<i>`. A prune column carries its group's ratio, so policies that keep
/// the same channels encode the same; every policy the search produces has one ratio per group anyway.
///
/// The relaxation holds one value per variable in [lowerBound, upperBound] of its levels; rounding picks the nearest
/// allowed value per variable.
public struct PolicyEncoding: Sendable {
    /// Zoo name of the model.
    public let model: String
    /// The space the variables' levels come from.
    public let space: SearchSpace
    /// Searchable layers (every compressible layer but the stem) in topological order; layer i owns columns `*<i>`.
    public let layers: [LayerChoices]
    /// Prune variables (one per prunable group, placed at its first member) and wbits/abits per layer, in layer order.
    public let variables: [SearchVariable]
    /// The predictor's column layout.
    public let schema: PolicySchema
    /// Every compressible layer name in topological order, the stem included: the entries of a resolved policy.
    let compressibleNames: [String]
    /// Per variable: the schema columns it sets.
    let columnsOfVariable: [[Int]]
    /// Per searchable layer: its group's prune variable (nil when its prune is fixed), its wbits and abits variables.
    let pruneVariableOfLayer: [Int?]
    let wbitsVariableOfLayer: [Int]
    let abitsVariableOfLayer: [Int]

    /// The encoding of `model`'s searchable layers under `space`.
    public init(model: Model, space: SearchSpace = .default) {
        let choices = space.choices(for: model)
        let position = Dictionary(uniqueKeysWithValues: choices.enumerated().map { ($1.layer, $0) })
        let groups = ChannelGroups(graph: model.graph)
        // Members of each prunable group among the searchable layers, keyed by the first member's position.
        var membersByFirst: [Int: [Int]] = [:]
        for group in groups.groups where group.isPrunable {
            let members = group.ratioLayers.compactMap { position[$0] }.sorted()
            if let first = members.first { membersByFirst[first] = members }
        }

        var variables: [SearchVariable] = []
        var pruneOf = [Int?](repeating: nil, count: choices.count)
        var wbitsOf = [Int](repeating: 0, count: choices.count)
        var abitsOf = [Int](repeating: 0, count: choices.count)
        for (i, layer) in choices.enumerated() {
            if let members = membersByFirst[i] {
                let tied = members.count > 1 ? " (+\(members.count - 1) tied)" : ""
                for m in members { pruneOf[m] = variables.count }
                variables.append(SearchVariable(kind: .prune, layers: members, name: "\(layer.layer).prune\(tied)",
                                                levels: space.prune.sorted(by: >)))
            }
            wbitsOf[i] = variables.count
            variables.append(SearchVariable(kind: .wbits, layers: [i], name: "\(layer.layer).wbits",
                                            levels: space.wbits.sorted().map(Double.init)))
            abitsOf[i] = variables.count
            variables.append(SearchVariable(kind: .abits, layers: [i], name: "\(layer.layer).abits",
                                            levels: space.abits.sorted().map(Double.init)))
        }

        var columns: [PolicyColumn] = []
        var columnsOf = [[Int]](repeating: [], count: variables.count)
        for i in choices.indices {
            if let p = pruneOf[i] {
                columnsOf[p].append(columns.count)
                columns.append(PolicyColumn(layer: i, kind: .prune))
            }
            columnsOf[wbitsOf[i]].append(columns.count)
            columns.append(PolicyColumn(layer: i, kind: .wbits))
            columnsOf[abitsOf[i]].append(columns.count)
            columns.append(PolicyColumn(layer: i, kind: .abits))
        }

        self.model = model.name
        self.space = space
        layers = choices
        self.variables = variables
        // Column names are distinct by construction (one layer index per searchable layer).
        schema = try! PolicySchema(columns: columns)
        compressibleNames = model.compressibleLayers.map(\.name)
        columnsOfVariable = columnsOf
        pruneVariableOfLayer = pruneOf
        wbitsVariableOfLayer = wbitsOf
        abitsVariableOfLayer = abitsOf
    }

    /// Number of levels per variable.
    public var levelCounts: [Int] { variables.map(\.levels.count) }
    /// Every variable at its most compressed value: the cheapest policy of the space.
    public var minimumLevels: [Int] { [Int](repeating: 0, count: variables.count) }
    /// Every variable at its least compressed value.
    public var maximumLevels: [Int] { variables.map(\.topLevel) }
    /// The relaxation's lower bounds, per variable.
    public var lowerBounds: [Double] { variables.map(\.lowerBound) }
    /// The relaxation's upper bounds, per variable.
    public var upperBounds: [Double] { variables.map(\.upperBound) }

    /// The prune variable of searchable layer `layer`, nil when its prune is fixed.
    public func pruneVariable(ofLayer layer: Int) -> Int? { pruneVariableOfLayer[layer] }
    /// The wbits and abits variables of searchable layer `layer`.
    public func bitVariables(ofLayer layer: Int) -> (wbits: Int, abits: Int) {
        (wbitsVariableOfLayer[layer], abitsVariableOfLayer[layer])
    }

    // MARK: Levels and the relaxation

    /// The value of every variable at `levels`.
    public func relaxation(levels: [Int]) -> [Double] {
        precondition(levels.count == variables.count, "expected \(variables.count) levels, got \(levels.count)")
        return variables.indices.map { variables[$0].levels[levels[$0]] }
    }

    /// The nearest allowed value per variable (ties to the more compressed one).
    public func nearestLevels(relaxation x: [Double]) -> [Int] {
        precondition(x.count == variables.count, "expected \(variables.count) values, got \(x.count)")
        return variables.indices.map { variables[$0].nearestLevel(to: x[$0]) }
    }

    /// Every variable clamped into its box.
    public func clamped(_ x: [Double]) -> [Double] {
        variables.indices.map { min(max(x[$0], variables[$0].lowerBound), variables[$0].upperBound) }
    }

    // MARK: Feature rows

    /// The predictor's feature row at a point of the relaxation (or at levels, via `relaxation(levels:)`).
    public func features(relaxation x: [Double]) -> [Double] {
        precondition(x.count == variables.count, "expected \(variables.count) values, got \(x.count)")
        var row = [Double](repeating: 0, count: schema.columns.count)
        for v in variables.indices {
            for column in columnsOfVariable[v] { row[column] = x[v] }
        }
        return row
    }

    /// The predictor's feature row of a discrete point.
    public func features(levels: [Int]) -> [Double] {
        precondition(levels.count == variables.count, "expected \(variables.count) levels, got \(levels.count)")
        var row = [Double](repeating: 0, count: schema.columns.count)
        for v in variables.indices {
            let value = variables[v].levels[levels[v]]
            for column in columnsOfVariable[v] { row[column] = value }
        }
        return row
    }

    /// Chain rule through the encoding: d/d variable = sum of d/d column over the columns the variable sets.
    public func relaxationGradient(featureGradient g: [Double]) -> [Double] {
        precondition(g.count == schema.columns.count, "expected \(schema.columns.count) values, got \(g.count)")
        return columnsOfVariable.map { columns in columns.reduce(0) { $0 + g[$1] } }
    }

    // MARK: Policies

    /// The policy at `levels`: the stem at 8/8 bits unpruned, every ratio layer of a group at the group's ratio.
    public func policy(levels: [Int]) -> ResolvedPolicy {
        let x = relaxation(levels: levels)
        var searchable = 0
        let entries = compressibleNames.map { name -> ResolvedPolicy.Entry in
            guard name != compressibleNames.first else { return ResolvedPolicy.Entry(layer: name, policy: Policy.stemPolicy) }
            defer { searchable += 1 }
            let i = searchable
            return ResolvedPolicy.Entry(layer: name, policy: LayerPolicy(
                wbits: Int(x[wbitsVariableOfLayer[i]]), abits: Int(x[abitsVariableOfLayer[i]]),
                prune: pruneVariableOfLayer[i].map { x[$0] } ?? 0))
        }
        do {
            return try ResolvedPolicy(model: model, entries: entries)
        } catch {
            // Levels index a validated SearchSpace, so every value is in range and every layer listed once.
            preconditionFailure("policy from levels rejected: \(error)")
        }
    }

    /// The nearest discrete policy to a point of the relaxation.
    public func policy(relaxation x: [Double]) -> ResolvedPolicy { policy(levels: nearestLevels(relaxation: x)) }

    /// The levels of `policy`; a group's level is that of its smallest member ratio (the one that decides its
    /// channels). Throws when the policy is for another model or holds a value outside the space.
    public func levels(of policy: ResolvedPolicy) throws -> [Int] {
        let rows = try searchableEntries(of: policy)
        var levels = [Int](repeating: -1, count: variables.count)
        for (i, entry) in rows.enumerated() {
            let field = { (key: String) in "layers.\(entry.layer).\(key)" }
            levels[wbitsVariableOfLayer[i]] = try level(Double(entry.policy.wbits), of: wbitsVariableOfLayer[i], field: field("wbits"))
            levels[abitsVariableOfLayer[i]] = try level(Double(entry.policy.abits), of: abitsVariableOfLayer[i], field: field("abits"))
            if let p = pruneVariableOfLayer[i] {
                let l = try level(entry.policy.prune, of: p, field: field("prune"))
                // Levels descend in ratio, so the smallest ratio is the highest level.
                levels[p] = max(levels[p], l)
            } else if entry.policy.prune != 0 {
                throw SearchError.outsideSpace(field: field("prune"), value: formatValue(entry.policy.prune), allowed: ["0"])
            }
        }
        return levels
    }

    /// The feature row of `policy`, prune columns at their group's smallest ratio. Values need not be in the space
    /// (e.g. a policy measured under another space); only the layers must match.
    public func features(of policy: ResolvedPolicy) throws -> [Double] {
        let rows = try searchableEntries(of: policy)
        var x = [Double](repeating: .infinity, count: variables.count)
        for (i, entry) in rows.enumerated() {
            x[wbitsVariableOfLayer[i]] = Double(entry.policy.wbits)
            x[abitsVariableOfLayer[i]] = Double(entry.policy.abits)
            if let p = pruneVariableOfLayer[i] { x[p] = min(x[p], entry.policy.prune) }
        }
        return features(relaxation: x)
    }

    /// The policy a feature row encodes; values must be allowed ones, and a group's columns resolve to their smallest
    /// ratio.
    public func policy(features row: [Double]) throws -> ResolvedPolicy {
        guard row.count == schema.columns.count else {
            throw SearchError.lengthMismatch(what: "feature row", expected: schema.columns.count, got: row.count)
        }
        var levels = [Int](repeating: -1, count: variables.count)
        for v in variables.indices {
            for column in columnsOfVariable[v] {
                let l = try level(row[column], of: v, field: schema.columns[column].name)
                levels[v] = max(levels[v], l)
            }
        }
        return policy(levels: levels)
    }

    /// The policy's entries for the searchable layers, after checking model, layer names and the stem.
    private func searchableEntries(of policy: ResolvedPolicy) throws -> [ResolvedPolicy.Entry] {
        guard policy.model == model else {
            throw SearchError.policyMismatch(expected: model, reason: "it is a policy for \(policy.model)")
        }
        guard policy.layerNames == compressibleNames else {
            throw SearchError.policyMismatch(expected: model, reason: "its layers are not \(model)'s compressible layers "
                                             + "in topological order")
        }
        if let name = policy.stemLayer, let stem = policy[name], stem != Policy.stemPolicy {
            throw SearchError.outsideSpace(field: "layers.\(name)", value: stem.description, allowed: ["8/8/0"])
        }
        return Array(policy.entries.dropFirst())
    }

    /// The level of `value` for variable `v`, within 1e-9 (decimal text of binary ratios).
    private func level(_ value: Double, of v: Int, field: String) throws -> Int {
        let levels = variables[v].levels
        guard let l = levels.firstIndex(where: { abs($0 - value) <= 1e-9 }) else {
            throw SearchError.outsideSpace(field: field, value: formatValue(value), allowed: levels.sorted().map(formatValue))
        }
        return l
    }
}
