import Foundation

/// The parts of ONNX's messages (onnx/onnx.proto) the importer reads, decoded from the wire format.
/// Field numbers are the schema's; everything else in a file is skipped.
public enum OnnxFile {
    public struct Model {
        public var irVersion: Int64 = 0
        public var producerName = ""
        /// Operator set versions by domain ("" is the default ONNX domain).
        public var opsets: [String: Int64] = [:]
        public var graph = Graph()
        public var metadata: [String: String] = [:]
    }

    public struct Graph {
        public var name = ""
        public var nodes: [Node] = []
        public var initializers: [TensorData] = []
        public var inputs: [ValueInfo] = []
        public var outputs: [ValueInfo] = []
    }

    public struct Node {
        public var name = ""
        public var opType = ""
        public var domain = ""
        public var inputs: [String] = []
        public var outputs: [String] = []
        public var attributes: [String: Attribute] = [:]
    }

    public enum Attribute {
        case float(Float)
        case int(Int64)
        case string(String)
        case tensor(TensorData)
        case floats([Float])
        case ints([Int64])
        /// Graphs, strings lists and the other kinds no supported operator takes.
        case other(type: Int64)
    }

    /// A tensor's type, shape and values: float32 and integer types are read; others fail on use.
    public struct TensorData {
        public enum DataType: Int64 {
            case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9
            case float16 = 10, double = 11, uint32 = 12, uint64 = 13
        }

        public var name = ""
        public var dims: [Int64] = []
        public var dataType: Int64 = 0
        public var floatData: [Float] = []
        public var int32Data: [Int64] = []
        public var int64Data: [Int64] = []
        public var doubleData: [Double] = []
        public var rawData: ArraySlice<UInt8>?
        /// `location`, `offset`, `length` of data stored beside the model (`data_location` EXTERNAL).
        public var externalData: [String: String] = [:]
        public var isExternal = false

        public var elementCount: Int { dims.reduce(1) { $0 * Int($1) } }
    }

    public struct ValueInfo {
        public var name = ""
        public var elementType: Int64 = 0
        /// Per dimension: a size, or nil where the dimension is symbolic (`dim_param`) or unknown.
        public var shape: [Int?]?
    }
}

extension OnnxFile.Model {
    /// Decodes a serialized ModelProto.
    public init(bytes: [UInt8]) throws {
        var r = ProtoReader(bytes[...], context: "ModelProto")
        while let (field, value) = try r.next() {
            switch field {
            case 1: irVersion = try r.int(value, "ir_version")
            case 2: producerName = try r.string(value, "producer_name")
            case 7: graph = try OnnxFile.Graph(try r.message(value, "graph"))
            case 8:
                var m = try r.message(value, "opset_import")
                var domain = "", version: Int64 = 0
                while let (f, v) = try m.next() {
                    if f == 1 { domain = try m.string(v, "domain") }
                    if f == 2 { version = try m.int(v, "version") }
                }
                opsets[domain == "ai.onnx" ? "" : domain] = version
            case 14:
                let (key, text) = try stringEntry(try r.message(value, "metadata_props"))
                metadata[key] = text
            default: break
            }
        }
    }
}

extension OnnxFile.Graph {
    init(_ reader: ProtoReader) throws {
        var r = reader
        while let (field, value) = try r.next() {
            switch field {
            case 1: nodes.append(try OnnxFile.Node(try r.message(value, "node[\(nodes.count)]")))
            case 2: name = try r.string(value, "name")
            case 5: initializers.append(try OnnxFile.TensorData(try r.message(value, "initializer[\(initializers.count)]")))
            case 11: inputs.append(try OnnxFile.ValueInfo(try r.message(value, "input")))
            case 12: outputs.append(try OnnxFile.ValueInfo(try r.message(value, "output")))
            case 15: throw r.fail("sparse initializers are not supported")
            default: break
            }
        }
    }
}

extension OnnxFile.Node {
    init(_ reader: ProtoReader) throws {
        var r = reader
        while let (field, value) = try r.next() {
            switch field {
            case 1: inputs.append(try r.string(value, "input"))
            case 2: outputs.append(try r.string(value, "output"))
            case 3: name = try r.string(value, "name")
            case 4: opType = try r.string(value, "op_type")
            case 7: domain = try r.string(value, "domain")
            case 5:
                let (key, attribute) = try Self.attribute(try r.message(value, "attribute"))
                attributes[key] = attribute
            default: break
            }
        }
        if domain == "ai.onnx" { domain = "" }
    }

    private static func attribute(_ reader: ProtoReader) throws -> (String, OnnxFile.Attribute) {
        var r = reader
        var name = "", type: Int64 = 0
        var f: Float = 0, i: Int64 = 0, s = "", t: OnnxFile.TensorData?, floats: [Float] = [], ints: [Int64] = []
        while let (field, value) = try r.next() {
            switch field {
            case 1: name = try r.string(value, "name")
            case 20: type = try r.int(value, "type")
            case 2: f = try r.float(value, "f")
            case 3: i = try r.int(value, "i")
            case 4: s = (try? r.string(value, "s")) ?? ""
            case 5: t = try OnnxFile.TensorData(try r.message(value, "t"))
            case 7: floats += try r.floats(value, "floats")
            case 8: ints += try r.ints(value, "ints")
            default: break
            }
        }
        switch type {
        case 1: return (name, .float(f))
        case 2: return (name, .int(i))
        case 3: return (name, .string(s))
        case 4:
            guard let t else { throw r.fail("attribute \(name) of type TENSOR has no tensor") }
            return (name, .tensor(t))
        case 6: return (name, .floats(floats))
        case 7: return (name, .ints(ints))
        default: return (name, .other(type: type))
        }
    }
}

extension OnnxFile.TensorData {
    init(_ reader: ProtoReader) throws {
        var r = reader
        while let (field, value) = try r.next() {
            switch field {
            case 1: dims += try r.ints(value, "dims")
            case 2: dataType = try r.int(value, "data_type")
            case 4: floatData += try r.floats(value, "float_data")
            case 5: int32Data += try r.ints(value, "int32_data")
            case 7: int64Data += try r.ints(value, "int64_data")
            case 8: name = try r.string(value, "name")
            case 9:
                guard case .bytes(let b) = value else { throw r.fail("raw_data is not bytes") }
                rawData = b
            case 10: doubleData += try r.doubles(value, "double_data")
            case 13:
                let (key, text) = try stringEntry(try r.message(value, "external_data"))
                externalData[key] = text
            case 14: isExternal = try r.int(value, "data_location") == 1
            case 3: throw r.fail("segmented tensors are not supported")
            default: break
            }
        }
    }
}

extension OnnxFile.ValueInfo {
    init(_ reader: ProtoReader) throws {
        var r = reader
        while let (field, value) = try r.next() {
            switch field {
            case 1: name = try r.string(value, "name")
            case 2:
                var type = try r.message(value, "type")
                while let (tf, tv) = try type.next() {
                    guard tf == 1 else { continue }  // tensor_type; other types fail on use
                    var tensor = try type.message(tv, "tensor_type")
                    while let (f, v) = try tensor.next() {
                        if f == 1 { elementType = try tensor.int(v, "elem_type") }
                        if f == 2 {
                            var dims: [Int?] = []
                            var shape = try tensor.message(v, "shape")
                            while let (df, dv) = try shape.next() {
                                guard df == 1 else { continue }
                                var dim = try shape.message(dv, "dim")
                                var size: Int?
                                while let (f, v) = try dim.next() { if f == 1 { size = Int(try dim.int(v, "dim_value")) } }
                                dims.append(size)
                            }
                            self.shape = dims
                        }
                    }
                }
            default: break
            }
        }
    }
}

private func stringEntry(_ reader: ProtoReader) throws -> (String, String) {
    var r = reader
    var key = "", value = ""
    while let (f, v) = try r.next() {
        if f == 1 { key = try r.string(v, "key") }
        if f == 2 { value = try r.string(v, "value") }
    }
    return (key, value)
}
