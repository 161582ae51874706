// Measured compression policies: a CSV table of per-layer policy columns and an accuracy column.
import Foundation

/// What a policy column holds for its layer.
public enum PolicyColumnKind: String, Codable, Sendable, CaseIterable {
    /// Fraction of the layer's output channels pruned (0 ... 1).
    case prune
    /// Bit-width of the layer's weights.
    case wbits
    /// Bit-width of the layer's activations.
    case abits
    /// One bit-width for weights and activations alike.
    case bits

    /// Whether the column is a bit-width (as opposed to a pruning ratio).
    public var isBitWidth: Bool { self != .prune }
}

/// One policy column: `prune<i>`, `wbits<i>`, `abits<i>` or `bits<i>`.
public struct PolicyColumn: Codable, Hashable, Sendable {
    public let name: String
    public let layer: Int
    public let kind: PolicyColumnKind

    public init(layer: Int, kind: PolicyColumnKind) {
        self.name = "\(kind.rawValue)\(layer)"
        self.layer = layer
        self.kind = kind
    }

    /// Parses a column name such as `prune3` or `bits17`; nil when the name is not a policy column.
    public init?(name: String) {
        // Longest prefixes first: "wbits"/"abits" before "bits".
        for kind in [PolicyColumnKind.prune, .wbits, .abits, .bits] where name.hasPrefix(kind.rawValue) {
            let digits = name.dropFirst(kind.rawValue.count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  digits.count == 1 || digits.first != "0", let layer = Int(digits) else { return nil }
            self.init(layer: layer, kind: kind)
            return
        }
        return nil
    }
}

/// The layout of a policy table's feature columns, in column order.
public struct PolicySchema: Codable, Hashable, Sendable {
    public let columns: [PolicyColumn]

    /// Validates the column set: no duplicates, and `bits<i>` never together with `wbits<i>`/`abits<i>`.
    public init(columns: [PolicyColumn]) throws {
        var seen = Set<String>()
        for (index, column) in columns.enumerated() {
            guard seen.insert(column.name).inserted else {
                throw PolicyTableError.duplicateColumn(name: column.name, column: index + 1)
            }
        }
        for column in columns where column.kind == .wbits || column.kind == .abits {
            if seen.contains(PolicyColumn(layer: column.layer, kind: .bits).name) {
                throw PolicyTableError.conflictingBitColumns(layer: column.layer)
            }
        }
        self.columns = columns
    }

    public var names: [String] { columns.map(\.name) }
    /// Distinct layer indices, ascending.
    public var layers: [Int] { Array(Set(columns.map(\.layer))).sorted() }

    /// Index of the column of `kind` for `layer`, if the table has one.
    public func index(layer: Int, kind: PolicyColumnKind) -> Int? {
        columns.firstIndex { $0.layer == layer && $0.kind == kind }
    }
}

/// Why a policy table could not be read. Row numbers are 1-based line numbers of the CSV text (the header is line 1).
public enum PolicyTableError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case emptyInput
    case missingAccuracyColumn
    case duplicateColumn(name: String, column: Int)
    case unknownColumn(name: String, column: Int)
    case conflictingBitColumns(layer: Int)
    case noPolicyColumns
    case noRows
    case raggedRow(line: Int, expected: Int, found: Int)
    case nonNumeric(line: Int, column: String, value: String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .emptyInput:
            return "policy table is empty (no header line)"
        case .missingAccuracyColumn:
            return "policy table has no 'accuracy' column"
        case let .duplicateColumn(name, column):
            return "column \(column) '\(name)': duplicate column name"
        case let .unknownColumn(name, column):
            return "column \(column) '\(name)': unknown column name (expected prune<i>, wbits<i>, abits<i>, bits<i> or accuracy)"
        case let .conflictingBitColumns(layer):
            return "layer \(layer): 'bits\(layer)' cannot be combined with 'wbits\(layer)'/'abits\(layer)'"
        case .noPolicyColumns:
            return "policy table has no policy columns (prune<i>, wbits<i>, abits<i>, bits<i>)"
        case .noRows:
            return "policy table has a header but no data rows"
        case let .raggedRow(line, expected, found):
            return "line \(line): expected \(expected) cells, found \(found)"
        case let .nonNumeric(line, column, value):
            return "line \(line), column '\(column)': '\(value)' is not a finite number"
        case let .unreadable(path, reason):
            return "cannot read policy table \(path): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// A table of measured compression policies: raw policy columns (features) and accuracy in percent (targets).
public struct PolicyTable: Codable, Sendable {
    public let schema: PolicySchema
    /// One row per policy, one value per schema column.
    public let features: [[Double]]
    /// Accuracy in percent, one per row.
    public let targets: [Double]

    public var featureNames: [String] { schema.names }
    public var rowCount: Int { targets.count }
    public var columnCount: Int { schema.columns.count }

    /// Builds a table from values already in memory (e.g. a synthetic table).
    public init(schema: PolicySchema, features: [[Double]], targets: [Double]) {
        precondition(features.count == targets.count, "one target per row")
        precondition(features.allSatisfy { $0.count == schema.columns.count }, "one value per column")
        self.schema = schema
        self.features = features
        self.targets = targets
    }

    /// Reads a CSV file.
    public init(contentsOf url: URL) throws {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw PolicyTableError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(csv: text)
    }

    /// Parses CSV text: a header line, then one line per policy. Blank lines are skipped; cells are trimmed.
    public init(csv text: String) throws {
        // Split on \n, \r\n and \r alike.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        var numbered: [(line: Int, text: Substring)] = []
        for (i, line) in lines.enumerated() where !line.allSatisfy({ $0.isWhitespace }) {
            numbered.append((i + 1, line))
        }
        guard let header = numbered.first else { throw PolicyTableError.emptyInput }
        let names = PolicyTable.cells(header.text)

        var columns: [PolicyColumn] = []
        var columnSlots: [Int] = []      // CSV cell index of each policy column
        var accuracySlot: Int?
        for (slot, name) in names.enumerated() {
            if name.lowercased() == "accuracy" {
                if accuracySlot != nil { throw PolicyTableError.duplicateColumn(name: name, column: slot + 1) }
                accuracySlot = slot
            } else if let column = PolicyColumn(name: name) {
                columns.append(column)
                columnSlots.append(slot)
            } else {
                throw PolicyTableError.unknownColumn(name: name, column: slot + 1)
            }
        }
        let schema = try PolicySchema(columns: columns)
        guard let accuracySlot else { throw PolicyTableError.missingAccuracyColumn }
        guard !columns.isEmpty else { throw PolicyTableError.noPolicyColumns }

        var features: [[Double]] = []
        var targets: [Double] = []
        features.reserveCapacity(numbered.count - 1)
        targets.reserveCapacity(numbered.count - 1)
        for (lineNumber, line) in numbered.dropFirst() {
            let cells = PolicyTable.cells(line)
            guard cells.count == names.count else {
                throw PolicyTableError.raggedRow(line: lineNumber, expected: names.count, found: cells.count)
            }
            func number(_ slot: Int) throws -> Double {
                guard let value = Double(cells[slot]), value.isFinite else {
                    throw PolicyTableError.nonNumeric(line: lineNumber, column: names[slot], value: cells[slot])
                }
                return value
            }
            features.append(try columnSlots.map(number))
            targets.append(try number(accuracySlot))
        }
        guard !targets.isEmpty else { throw PolicyTableError.noRows }
        self.init(schema: schema, features: features, targets: targets)
    }

    private static func cells(_ line: Substring) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map { cell in
            var s = cell.trimmingCharacters(in: .whitespaces)
            if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") { s = String(s.dropFirst().dropLast()) }
            return s
        }
    }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> PolicyTable {
        PolicyTable(schema: schema, features: indices.map { features[$0] }, targets: indices.map { targets[$0] })
    }

    /// The table as CSV text (policy columns, then `accuracy`).
    public func csvString() -> String {
        var out = (featureNames + ["accuracy"]).joined(separator: ",") + "\n"
        for (row, target) in zip(features, targets) {
            out += (row.map { PolicyTable.format($0) } + [String(format: "%.4f", target)]).joined(separator: ",") + "\n"
        }
        return out
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
