import Foundation

/// A `LayerLatencyTable` as it travels in a RESULT (`payload.layer_table`), small enough for the 1 MiB message limit.
///
/// Entries as JSON objects cost about 70 bytes each, and an accelerator table (every keep pair at every bit pair)
/// has tens of thousands: 2.2 MB for resnet8. Packed, each layer carries its kept channel counts per keep once and
/// its entries as two base64 arrays: grid indices (4 bytes: in keep, out keep, wbits, abits; 255 for no bit-width)
/// and latencies as little-endian float32 (4 bytes; 7 significant digits, far finer than any timing). Unpacking
/// validates the result like any table.
public struct PackedLayerLatencyTable: Codable, Sendable, Equatable {
    /// Names this layout.
    public static let formatName = "seer-layer-table-packed/1"

    /// One layer's entries.
    public struct Layer: Codable, Sendable, Equatable {
        public var layer: String
        /// Kept input channels at each keep of the grid.
        public var keptIn: [Int]
        /// Kept output channels at each keep of the grid.
        public var keptOut: [Int]
        /// Base64 of 4 bytes per entry: in-keep index, out-keep index, wbits index, abits index (255: none).
        public var points: String
        /// Base64 of one little-endian float32 per entry: milliseconds.
        public var ms: String
        /// The same for millijoules, when every entry of the layer has an energy.
        public var mj: String?

        enum CodingKeys: String, CodingKey { case layer, points, ms, mj, keptIn = "kept_in", keptOut = "kept_out" }
    }

    public var format: String
    /// The table with no entries: every other field as it is.
    public var header: LayerLatencyTable
    public var layers: [Layer]

    /// Packs `table`; throws if its entries do not sit on its own grid.
    public init(_ table: LayerLatencyTable) throws {
        func index<T: Equatable>(_ value: T?, in grid: [T]?, _ field: String) throws -> UInt8 {
            guard let value else { return 255 }
            guard let i = grid?.firstIndex(of: value), i < 255 else {
                throw LayerLatencyTableError.invalid(field: field, reason: "\(value) is not on the table's grid")
            }
            return UInt8(i)
        }
        var header = table
        header.entries = []
        var layers: [Layer] = []
        for name in table.layers {
            var keptIn = [Int](repeating: 0, count: table.keeps.count)
            var keptOut = [Int](repeating: 0, count: table.keeps.count)
            var points: [UInt8] = []
            var ms: [UInt8] = []
            var mj: [UInt8] = []
            let entries = table.entries.filter { $0.layer == name }
            let hasEnergy = entries.allSatisfy { $0.mj != nil }
            for entry in entries {
                let i = try index(entry.inKeep, in: table.keeps, "\(name).in_keep")
                let o = try index(entry.outKeep, in: table.keeps, "\(name).out_keep")
                keptIn[Int(i)] = entry.keptIn
                keptOut[Int(o)] = entry.keptOut
                points += [i, o, try index(entry.wbits, in: table.wbits, "\(name).wbits"),
                           try index(entry.abits, in: table.abits, "\(name).abits")]
                withUnsafeBytes(of: Float(entry.ms).bitPattern.littleEndian) { ms += $0 }
                if hasEnergy { withUnsafeBytes(of: Float(entry.mj!).bitPattern.littleEndian) { mj += $0 } }
            }
            layers.append(Layer(layer: name, keptIn: keptIn, keptOut: keptOut,
                                points: Data(points).base64EncodedString(), ms: Data(ms).base64EncodedString(),
                                mj: hasEnergy ? Data(mj).base64EncodedString() : nil))
        }
        format = Self.formatName
        self.header = header
        self.layers = layers
    }

    /// The table, validated; errors name the layer and field.
    public func unpacked() throws -> LayerLatencyTable {
        func fail(_ field: String, _ reason: String) -> LayerLatencyTableError { .invalid(field: field, reason: reason) }
        guard format == Self.formatName else { throw fail("format", "expected \(Self.formatName), got \(format)") }
        var table = header
        table.entries = []
        for layer in layers {
            guard let points = Data(base64Encoded: layer.points).map([UInt8].init) else {
                throw fail("\(layer.layer).points", "is not base64")
            }
            guard let ms = Data(base64Encoded: layer.ms).map([UInt8].init) else { throw fail("\(layer.layer).ms", "is not base64") }
            guard points.count % 4 == 0, ms.count == points.count else {
                throw fail("\(layer.layer).ms", "holds \(ms.count / 4) latencies for \(points.count / 4) grid points")
            }
            var mj: [UInt8]?
            if let text = layer.mj {
                guard let bytes = Data(base64Encoded: text).map([UInt8].init), bytes.count == points.count else {
                    throw fail("\(layer.layer).mj", "is not base64 of one float32 per grid point")
                }
                mj = bytes
            }
            func float(_ bytes: [UInt8], _ e: Int) -> Double {
                let raw = UInt32(bytes[4 * e]) | UInt32(bytes[4 * e + 1]) << 8 | UInt32(bytes[4 * e + 2]) << 16
                    | UInt32(bytes[4 * e + 3]) << 24
                return Double(Float(bitPattern: raw))
            }
            guard layer.keptIn.count == table.keeps.count, layer.keptOut.count == table.keeps.count else {
                throw fail("\(layer.layer).kept_in", "must hold one count per keep (\(table.keeps.count))")
            }
            func bits(_ i: UInt8, _ grid: [Int]?, _ field: String) throws -> Int? {
                if i == 255 { return nil }
                guard let grid, Int(i) < grid.count else { throw fail("\(layer.layer).points", "\(field) index \(i) is off the grid") }
                return grid[Int(i)]
            }
            for e in 0..<(points.count / 4) {
                let (i, o) = (Int(points[4 * e]), Int(points[4 * e + 1]))
                guard i < table.keeps.count, o < table.keeps.count else {
                    throw fail("\(layer.layer).points", "keep index off the grid at entry \(e)")
                }
                table.entries.append(LayerLatencyTable.Entry(
                    layer: layer.layer, inKeep: table.keeps[i], outKeep: table.keeps[o], keptIn: layer.keptIn[i],
                    keptOut: layer.keptOut[o], wbits: try bits(points[4 * e + 2], table.wbits, "wbits"),
                    abits: try bits(points[4 * e + 3], table.abits, "abits"), ms: float(ms, e), mj: mj.map { float($0, e) }))
            }
        }
        try table.validate()
        return table
    }
}
