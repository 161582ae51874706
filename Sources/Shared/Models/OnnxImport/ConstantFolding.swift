import Foundation

/// Shape arithmetic folded to constants at import: `Shape` of the image's tensor, and the integer and float
/// operators that only ever see constants in an exported classifier (`x.view(x.size(0), -1)` in PyTorch becomes
/// Shape -> Gather -> Unsqueeze -> Concat -> Reshape; `F.pad` computes its pads with ConstantOfShape, Concat, Reshape,
/// a reversing Slice and Transpose). The batch dimension travels as `batchDimension`.
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
        case "ConstantOfShape":
            let dims = try first.intValues("\(op.label) shape").map(Int.init)
            guard dims.allSatisfy({ $0 >= 0 }) else { throw op.unsupported("shape \(dims) has a negative or batch dimension") }
            let count = dims.reduce(1, *)
            guard case .tensor(let t)? = op.node.attributes["value"] else {
                return Constant(dims: dims, ints: nil, floats: [Float](repeating: 0, count: count))
            }
            let value = try constant(t)
            if let v = value.ints?.first { return Constant(dims: dims, ints: [Int64](repeating: v, count: count), floats: nil) }
            let v = try value.floatValues("\(op.label) value").first ?? 0
            return Constant(dims: dims, ints: nil, floats: [Float](repeating: v, count: count))
        case "Slice": return try sliceConstant(op, first, inputs)
        case "Transpose":
            let rank = first.dims.count
            let perm = try op.ints("perm")?.map(Int.init) ?? Array((0..<rank).reversed())
            guard perm.sorted() == Array(0..<rank) else { throw op.unsupported("perm \(perm) is no permutation of \(rank) axes") }
            let dims = perm.map { first.dims[$0] }, source = Self.strides(first.dims)
            var picked: [Int] = []
            Self.forEachIndex(dims) { o in picked.append(o.indices.reduce(0) { $0 + o[$1] * source[perm[$1]] }) }
            return first.picking(picked, dims: dims)
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

    /// ONNX Slice of a constant: any axes and steps.
    private func sliceConstant(_ op: NodeContext, _ data: Constant, _ inputs: [Constant?]) throws -> Constant {
        var ranges = data.dims.map { Array(0..<$0) }
        for axis in try SliceSpec(op, inputs, rank: data.dims.count).axes {
            ranges[axis.axis] = axis.indices(size: data.dims[axis.axis])
        }
        let dims = ranges.map(\.count), source = Self.strides(data.dims)
        var picked: [Int] = []
        Self.forEachIndex(dims) { o in picked.append(o.indices.reduce(0) { $0 + ranges[$1][o[$1]] * source[$1] }) }
        return data.picking(picked, dims: dims)
    }

    /// Row-major strides of `dims`.
    static func strides(_ dims: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: dims.count)
        for i in stride(from: dims.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * dims[i + 1] }
        return strides
    }

    /// Calls `body` with every index of `dims` in row-major order.
    static func forEachIndex(_ dims: [Int], _ body: ([Int]) -> Void) {
        if dims.contains(0) { return }
        var index = [Int](repeating: 0, count: dims.count)
        while true {
            body(index)
            var axis = dims.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < dims[axis] { break }
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { return }
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

extension OnnxImporter.Constant {
    /// The elements at flat `positions`, as a constant of `dims`.
    func picking(_ positions: [Int], dims: [Int]) -> OnnxImporter.Constant {
        OnnxImporter.Constant(dims: dims, ints: ints.map { v in positions.map { v[$0] } },
                              floats: floats.map { v in positions.map { v[$0] } })
    }
}

/// An ONNX Slice's starts, ends, axes and steps: inputs from opset 10 on, attributes (no steps) before.
struct SliceSpec {
    struct Axis {
        let axis: Int
        let start: Int64, end: Int64, step: Int64

        /// The indices the slice keeps along an axis of `size`, with ONNX's clamping of starts and ends.
        func indices(size: Int) -> [Int] {
            let n = Int64(size)
            func normalized(_ v: Int64) -> Int64 { v < 0 ? v + n : v }
            let from: Int64, to: Int64
            if step > 0 {
                from = min(max(normalized(start), 0), n)
                to = min(max(normalized(end), 0), n)
            } else {
                from = min(max(normalized(start), 0), n - 1)
                to = min(max(normalized(end), -1), n - 1)
            }
            return Swift.stride(from: from, to: to, by: Int(step)).map { Int($0) }
        }
    }

    let axes: [Axis]

    init(_ op: NodeContext, _ inputs: [OnnxImporter.Constant?], rank: Int) throws {
        let starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?
        if op.opset >= 10 {
            func input(_ i: Int, _ what: String) throws -> [Int64]? {
                guard inputs.count > i, let c = inputs[i] else { return nil }
                return try c.intValues("\(op.label) \(what)")
            }
            guard let s = try input(1, "starts"), let e = try input(2, "ends") else {
                throw op.unsupported("starts and ends must be constants")
            }
            (starts, ends, axes, steps) = (s, e, try input(3, "axes"), try input(4, "steps"))
        } else {
            guard let s = try op.ints("starts"), let e = try op.ints("ends") else { throw op.unsupported("has no starts or ends") }
            (starts, ends, axes, steps) = (s, e, try op.ints("axes"), nil)
        }
        let axisList = axes ?? (0..<Int64(starts.count)).map { $0 }
        let stepList = steps ?? [Int64](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axisList.count == starts.count, stepList.count == starts.count else {
            throw op.unsupported("starts, ends, axes and steps differ in length")
        }
        var seen = Set<Int>()
        self.axes = try starts.indices.map { i in
            let a = Int(axisList[i] < 0 ? axisList[i] + Int64(rank) : axisList[i])
            guard a >= 0, a < rank, seen.insert(a).inserted else {
                throw op.unsupported("axis \(axisList[i]) outside rank \(rank) or repeated")
            }
            guard stepList[i] != 0 else { throw op.unsupported("step 0 on axis \(a)") }
            return Axis(axis: a, start: starts[i], end: ends[i], step: stepList[i])
        }
    }
}
