import Foundation

/// Shape arithmetic folded to constants at import: `Shape` of the image's tensor, and the integer and float
/// operators that only ever see constants in an exported classifier (`x.view(x.size(0), -1)` in PyTorch becomes
/// Shape -> Gather -> Unsqueeze -> Concat -> Reshape). The batch dimension travels as `batchDimension`.
extension OnnxImporter {
    /// The node's folded output, or nil when it is not a constant computation.
    mutating func fold(_ op: NodeContext) throws -> Constant? {
        let node = op.node
        switch node.opType {
        case "Constant": return try constantAttribute(op)
        case "Shape":
            guard case .runtime(let x) = try value(op, 0) else { return nil }
            var dims = [Self.batchDimension] + x.shape.map(Int64.init)
            let rank = dims.count
            func clamp(_ i: Int64) -> Int { min(rank, max(0, Int(i < 0 ? i + Int64(rank) : i))) }
            let start = clamp(try op.int("start", default: 0)), end = clamp(try op.int("end", default: Int64(rank)))
            dims = start < end ? Array(dims[start..<end]) : []
            return Constant(dims: [dims.count], ints: dims, floats: nil)
        default: break
        }
        // Anything else folds only when every input is a constant.
        var inputs: [Constant?] = []
        for i in node.inputs.indices {
            guard op.has(i) else { inputs.append(nil); continue }
            guard case .constant(let c) = try value(op, i) else { return nil }
            inputs.append(c)
        }
        guard let first = inputs.first ?? nil else { return nil }
        switch node.opType {
        case "Identity", "Dropout": return first
        case "Cast":
            switch try op.int("to", default: 1) {
            case 1, 10, 11: return Constant(dims: first.dims, ints: nil, floats: try first.floatValues("\(op.label) input"))
            case 6, 7: return Constant(dims: first.dims, ints: try first.intValues("\(op.label) input"), floats: nil)
            case let to: throw op.unsupported("cast of a constant to data type \(to)")
            }
        case "Gather":
            guard inputs.count > 1, let indexTensor = inputs[1] else { throw op.unsupported("has no indices") }
            let indices = try indexTensor.intValues("\(op.label) indices")
            guard first.dims.count == 1, try op.int("axis", default: 0) == 0, let data = first.ints ?? first.floats.map({ $0.map { Int64($0) } }) else {
                throw op.unsupported("gathers only from 1-D integer constants (shapes)")
            }
            let n = Int64(data.count)
            let picked = try indices.map { i -> Int64 in
                let j = i < 0 ? i + n : i
                guard j >= 0, j < n else { throw op.unsupported("index \(i) outside \(n) values") }
                return data[Int(j)]
            }
            return Constant(dims: indexTensor.dims, ints: picked, floats: nil)
        case "Unsqueeze", "Squeeze":
            let axes: [Int64]
            if op.opset >= 13 { axes = try inputs.count > 1 ? (inputs[1]?.intValues("\(op.label) axes") ?? []) : [] }
            else { axes = try op.ints("axes") ?? [] }
            var dims = first.dims
            if node.opType == "Unsqueeze" {
                let rank = dims.count + axes.count
                for a in axes.map({ Int($0 < 0 ? $0 + Int64(rank) : $0) }).sorted() {
                    guard a >= 0, a <= dims.count else { throw op.unsupported("axis \(a) outside rank \(rank)") }
                    dims.insert(1, at: a)
                }
            } else {
                let remove = Set(axes.map { Int($0 < 0 ? $0 + Int64(dims.count) : $0) })
                dims = dims.enumerated().filter { remove.isEmpty ? $0.element != 1 : !remove.contains($0.offset) }.map(\.element)
            }
            return Constant(dims: dims, ints: first.ints, floats: first.floats)
        case "Concat":
            let parts = inputs.compactMap { $0 }
            guard parts.allSatisfy({ $0.dims.count == 1 }) else { throw op.unsupported("concatenates only 1-D constants") }
            if parts.allSatisfy({ $0.ints != nil }) {
                let ints = parts.flatMap { $0.ints! }
                return Constant(dims: [ints.count], ints: ints, floats: nil)
            }
            let floats = try parts.flatMap { try $0.floatValues("\(op.label) input") }
            return Constant(dims: [floats.count], ints: nil, floats: floats)
        case "Reshape":
            guard let shape = inputs.count > 1 ? inputs[1] : nil else { return nil }
            let count = first.dims.reduce(1, *)
            let zeroCopies = try op.int("allowzero", default: 0) == 0
            var dims = try shape.intValues("\(op.label) shape").enumerated().map { i, d in
                d == 0 && zeroCopies && i < first.dims.count ? first.dims[i] : Int(d)
            }
            if let unknown = dims.firstIndex(of: -1) {
                let known = dims.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
                dims[unknown] = known == 0 ? 0 : count / known
            }
            guard dims.reduce(1, *) == count else { throw op.unsupported("cannot reshape \(first.dims) to \(dims)") }
            return Constant(dims: dims, ints: first.ints, floats: first.floats)
        default:
            return nil
        }
    }

    private mutating func constantAttribute(_ op: NodeContext) throws -> Constant {
        switch op.node.attributes["value"] ?? op.node.attributes["value_float"] ?? op.node.attributes["value_floats"]
            ?? op.node.attributes["value_int"] ?? op.node.attributes["value_ints"] {
        case .tensor(let t)?: return try constant(t)
        case .float(let f)?: return Constant(dims: [], ints: nil, floats: [f])
        case .floats(let f)?: return Constant(dims: [f.count], ints: nil, floats: f)
        case .int(let i)?: return Constant(dims: [], ints: [i], floats: nil)
        case .ints(let i)?: return Constant(dims: [i.count], ints: i, floats: nil)
        default: throw op.unsupported("only value, value_float(s) and value_int(s) constants are supported")
        }
    }
}
