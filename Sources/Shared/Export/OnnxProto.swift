import Foundation

/// The subset of ONNX's protobuf messages (onnx.proto, IR version 8) the exporter writes, with their encoders.
///
/// Field numbers follow onnx.proto exactly; only the fields used are modelled:
///
/// | message | fields written |
/// | --- | --- |
/// | ModelProto | ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7, opset_import 8, metadata_props 14 |
/// | OperatorSetIdProto | domain 1, version 2 |
/// | GraphProto | node 1, name 2, initializer 5, doc_string 10, input 11, output 12 |
/// | NodeProto | input 1, output 2, name 3, op_type 4, attribute 5 |
/// | AttributeProto | name 1, f 2, i 3, s 4, ints 8, type 20 |
/// | TensorProto | dims 1, data_type 2, name 8, raw_data 9 |
/// | ValueInfoProto | name 1, type 2 |
/// | TypeProto | tensor_type 1; TypeProto.Tensor: elem_type 1, shape 2 |
/// | TensorShapeProto | dim 1; Dimension: dim_value 1, dim_param 2 |
/// | StringStringEntryProto | key 1, value 2 |
public enum Onnx {
    /// TensorProto.DataType values.
    public enum DataType: Int, Sendable {
        case float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7
    }

    /// A constant tensor (an initializer); values little-endian in `rawData`.
    public struct TensorProto: Equatable, Sendable {
        public var name: String
        public var dims: [Int]
        public var dataType: DataType
        public var rawData: [UInt8]

        public init(name: String, dims: [Int], dataType: DataType, rawData: [UInt8]) {
            self.name = name
            self.dims = dims
            self.dataType = dataType
            self.rawData = rawData
        }

        /// float32 values.
        public static func float(_ name: String, dims: [Int], _ values: [Float]) -> TensorProto {
            precondition(dims.reduce(1, *) == values.count, "\(name): dims \(dims) do not hold \(values.count) values")
            var raw = [UInt8]()
            raw.reserveCapacity(4 * values.count)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
            return TensorProto(name: name, dims: dims, dataType: .float, rawData: raw)
        }

        /// int8 values.
        public static func int8(_ name: String, dims: [Int], _ values: [Int8]) -> TensorProto {
            precondition(dims.reduce(1, *) == values.count, "\(name): dims \(dims) do not hold \(values.count) values")
            return TensorProto(name: name, dims: dims, dataType: .int8, rawData: values.map { UInt8(bitPattern: $0) })
        }

        /// uint8 values.
        public static func uint8(_ name: String, dims: [Int], _ values: [UInt8]) -> TensorProto {
            precondition(dims.reduce(1, *) == values.count, "\(name): dims \(dims) do not hold \(values.count) values")
            return TensorProto(name: name, dims: dims, dataType: .uint8, rawData: values)
        }

        /// int32 values.
        public static func int32(_ name: String, dims: [Int], _ values: [Int32]) -> TensorProto {
            precondition(dims.reduce(1, *) == values.count, "\(name): dims \(dims) do not hold \(values.count) values")
            var raw = [UInt8]()
            raw.reserveCapacity(4 * values.count)
            for v in values { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
            return TensorProto(name: name, dims: dims, dataType: .int32, rawData: raw)
        }

        /// int64 values.
        public static func int64(_ name: String, dims: [Int], _ values: [Int64]) -> TensorProto {
            precondition(dims.reduce(1, *) == values.count, "\(name): dims \(dims) do not hold \(values.count) values")
            var raw = [UInt8]()
            for v in values { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
            return TensorProto(name: name, dims: dims, dataType: .int64, rawData: raw)
        }

        func encoded() -> ProtoWriter {
            var w = ProtoWriter()
            w.unpackedInts(1, dims.map(Int64.init))
            w.int(2, Int64(dataType.rawValue))
            w.string(8, name)
            w.bytes(9, rawData)
            return w
        }
    }

    /// A node attribute: one of int, float, string, ints.
    public struct AttributeProto: Equatable, Sendable {
        public enum Value: Equatable, Sendable {
            case int(Int)
            case float(Float)
            case string(String)
            case ints([Int])
        }

        public var name: String
        public var value: Value

        public init(_ name: String, _ value: Value) {
            self.name = name
            self.value = value
        }

        func encoded() -> ProtoWriter {
            var w = ProtoWriter()
            w.string(1, name)
            // AttributeType: FLOAT 1, INT 2, STRING 3, INTS 7.
            switch value {
            case .float(let f):
                w.float(2, f)
                w.int(20, 1)
            case .int(let i):
                w.int(3, Int64(i))
                w.int(20, 2)
            case .string(let s):
                w.string(4, s)
                w.int(20, 3)
            case .ints(let values):
                w.unpackedInts(8, values.map(Int64.init))
                w.int(20, 7)
            }
            return w
        }
    }

    /// One operator application.
    public struct NodeProto: Equatable, Sendable {
        public var name: String
        public var opType: String
        public var inputs: [String]
        public var outputs: [String]
        public var attributes: [AttributeProto]

        public init(name: String, opType: String, inputs: [String], outputs: [String], attributes: [AttributeProto] = []) {
            self.name = name
            self.opType = opType
            self.inputs = inputs
            self.outputs = outputs
            self.attributes = attributes
        }

        func encoded() -> ProtoWriter {
            var w = ProtoWriter()
            for i in inputs { w.string(1, i) }
            for o in outputs { w.string(2, o) }
            w.string(3, name)
            w.string(4, opType)
            for a in attributes { w.message(5, a.encoded()) }
            return w
        }
    }

    /// A tensor-typed graph input or output; a dimension is a size or a symbolic name (e.g. "batch").
    public struct ValueInfoProto: Equatable, Sendable {
        public enum Dimension: Equatable, Sendable {
            case value(Int)
            case param(String)
        }

        public var name: String
        public var elementType: DataType
        public var shape: [Dimension]

        public init(name: String, elementType: DataType, shape: [Dimension]) {
            self.name = name
            self.elementType = elementType
            self.shape = shape
        }

        func encoded() -> ProtoWriter {
            var w = ProtoWriter()
            w.string(1, name)
            w.message(2) { type in               // TypeProto
                type.message(1) { tensor in      // TypeProto.Tensor
                    tensor.int(1, Int64(elementType.rawValue))
                    tensor.message(2) { shapeProto in  // TensorShapeProto
                        for d in shape {
                            shapeProto.message(1) { dim in  // TensorShapeProto.Dimension
                                switch d {
                                case .value(let v): dim.int(1, Int64(v))
                                case .param(let p): dim.string(2, p)
                                }
                            }
                        }
                    }
                }
            }
            return w
        }
    }

    public struct GraphProto: Equatable, Sendable {
        public var name: String
        public var nodes: [NodeProto] = []
        public var initializers: [TensorProto] = []
        public var inputs: [ValueInfoProto] = []
        public var outputs: [ValueInfoProto] = []
        public var docString: String = ""

        public init(name: String) { self.name = name }

        func encoded() -> ProtoWriter {
            var w = ProtoWriter()
            for n in nodes { w.message(1, n.encoded()) }
            w.string(2, name)
            for t in initializers { w.message(5, t.encoded()) }
            if !docString.isEmpty { w.string(10, docString) }
            for i in inputs { w.message(11, i.encoded()) }
            for o in outputs { w.message(12, o.encoded()) }
            return w
        }
    }

    public struct ModelProto: Equatable, Sendable {
        /// IR version 8 (2021-07-30) goes with opsets up to 15; opset 13 is what the exporter targets.
        public var irVersion = 8
        /// (domain, version); "" is the default ONNX domain.
        public var opsetImports: [(domain: String, version: Int)] = [("", 13)]
        public var producerName = "seer"
        public var producerVersion = "1"
        public var docString = ""
        public var graph: GraphProto
        /// metadata_props, written in key order so the same model always gives the same bytes.
        public var metadata: [String: String] = [:]

        public init(graph: GraphProto) { self.graph = graph }

        public static func == (a: ModelProto, b: ModelProto) -> Bool {
            a.irVersion == b.irVersion && a.opsetImports.map(\.domain) == b.opsetImports.map(\.domain)
                && a.opsetImports.map(\.version) == b.opsetImports.map(\.version) && a.producerName == b.producerName
                && a.producerVersion == b.producerVersion && a.docString == b.docString && a.graph == b.graph
                && a.metadata == b.metadata
        }

        /// The serialized ModelProto: what a `.onnx` file holds.
        public func serialized() -> Data {
            var w = ProtoWriter()
            w.int(1, Int64(irVersion))
            w.string(2, producerName)
            w.string(3, producerVersion)
            if !docString.isEmpty { w.string(6, docString) }
            w.message(7, graph.encoded())
            for (domain, version) in opsetImports {
                w.message(8) { o in
                    o.string(1, domain)
                    o.int(2, Int64(version))
                }
            }
            for key in metadata.keys.sorted() {
                w.message(14) { e in
                    e.string(1, key)
                    e.string(2, metadata[key]!)
                }
            }
            return Data(w.bytes)
        }
    }
}
