import Foundation
import XCTest
@testable import SeerPredictor

final class PolicyTableTests: XCTestCase {
    func testParsesBitsTable() throws {
        let csv = """
            prune0,prune1,bits0,bits1,accuracy
            0.25,0.5,2,4,86.06
            0.75,0.25,5,3,87.18
            """
        let table = try PolicyTable(csv: csv)
        XCTAssertEqual(table.featureNames, ["prune0", "prune1", "bits0", "bits1"])
        XCTAssertEqual(table.schema.columns.map(\.kind), [.prune, .prune, .bits, .bits])
        XCTAssertEqual(table.schema.columns.map(\.layer), [0, 1, 0, 1])
        XCTAssertEqual(table.schema.layers, [0, 1])
        XCTAssertEqual(table.features, [[0.25, 0.5, 2, 4], [0.75, 0.25, 5, 3]])
        XCTAssertEqual(table.targets, [86.06, 87.18])
        XCTAssertEqual(table.rowCount, 2)
    }

    func testParsesWbitsAbitsTableWithMissingColumnsPerLayer() throws {
        // Layer 0 has no prune column, layer 2 only weight bits; CRLF line ends, blank lines, spaces around cells.
        let csv = "wbits0,abits0,prune1,wbits1,abits1,prune2,wbits2,accuracy\r\n"
            + "8,8,0.5,4,6,0.2,3,71.5\r\n\r\n"
            + " 4 , 2 ,0,2,2,0.4,8, 65.25 \r\n"
        let table = try PolicyTable(csv: csv)
        XCTAssertEqual(table.schema.columns.map(\.kind), [.wbits, .abits, .prune, .wbits, .abits, .prune, .wbits])
        XCTAssertEqual(table.schema.layers, [0, 1, 2])
        XCTAssertNil(table.schema.index(layer: 0, kind: .prune))
        XCTAssertEqual(table.schema.index(layer: 2, kind: .wbits), 6)
        XCTAssertEqual(table.features[1], [4, 2, 0, 2, 2, 0.4, 8])
        XCTAssertEqual(table.targets, [71.5, 65.25])
    }

    func testAccuracyColumnNeedNotBeLast() throws {
        let table = try PolicyTable(csv: "accuracy,bits3\n90,4\n80,2\n")
        XCTAssertEqual(table.featureNames, ["bits3"])
        XCTAssertEqual(table.features, [[4], [2]])
        XCTAssertEqual(table.targets, [90, 80])
    }

    func testCSVRoundTrip() throws {
        let table = try PolicyTable(csv: "prune0,wbits0,abits0,accuracy\n0.5,4,8,70.125\n0.25,2,3,60\n")
        let again = try PolicyTable(csv: table.csvString())
        XCTAssertEqual(again.features, table.features)
        XCTAssertEqual(again.targets, table.targets)
        XCTAssertEqual(again.schema, table.schema)
    }

    private func assertError(_ csv: String, _ expected: PolicyTableError, mentions words: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PolicyTable(csv: csv), file: file, line: line) { error in
            XCTAssertEqual(error as? PolicyTableError, expected, file: file, line: line)
            let message = "\(error)"
            for word in words {
                XCTAssertTrue(message.contains(word), "'\(message)' should mention '\(word)'", file: file, line: line)
            }
        }
    }

    func testErrorsNameRowAndColumn() {
        assertError("prune0,bitz0,accuracy\n0.5,4,80\n", .unknownColumn(name: "bitz0", column: 2),
                    mentions: ["bitz0", "column 2"])
        assertError("prune0,bits,accuracy\n0.5,4,80\n", .unknownColumn(name: "bits", column: 2), mentions: ["'bits'"])
        assertError("prune0,bits01,accuracy\n0.5,4,80\n", .unknownColumn(name: "bits01", column: 2), mentions: ["bits01"])
        assertError("prune0,bits0\n0.5,4\n", .missingAccuracyColumn, mentions: ["accuracy"])
        assertError("prune0,bits0,accuracy\n0.5,4,80\n0.25,3\n", .raggedRow(line: 3, expected: 3, found: 2),
                    mentions: ["line 3", "expected 3", "found 2"])
        assertError("prune0,bits0,accuracy\n\n0.5,4,80,1\n", .raggedRow(line: 3, expected: 3, found: 4),
                    mentions: ["line 3"])
        assertError("prune0,bits0,accuracy\n0.5,4,80\n0.25,four,81\n", .nonNumeric(line: 3, column: "bits0", value: "four"),
                    mentions: ["line 3", "bits0", "four"])
        assertError("prune0,bits0,accuracy\n0.5,4,\n", .nonNumeric(line: 2, column: "accuracy", value: ""),
                    mentions: ["line 2", "accuracy"])
        assertError("prune0,bits0,accuracy\n0.5,nan,80\n", .nonNumeric(line: 2, column: "bits0", value: "nan"),
                    mentions: ["bits0"])
        assertError("prune0,bits0,prune0,accuracy\n0.5,4,0.5,80\n", .duplicateColumn(name: "prune0", column: 3),
                    mentions: ["prune0", "column 3"])
        assertError("bits1,wbits1,accuracy\n4,4,80\n", .conflictingBitColumns(layer: 1), mentions: ["bits1", "wbits1"])
        assertError("prune0,bits0,accuracy\n", .noRows, mentions: ["no data rows"])
        assertError("  \n\n", .emptyInput, mentions: ["empty"])
        assertError("accuracy\n80\n", .noPolicyColumns, mentions: ["policy columns"])
    }

    func testReadsResNet20Table() throws {
        let table = try PolicyTable(contentsOf: try resnet20URL())
        XCTAssertEqual(table.rowCount, 400)
        XCTAssertEqual(table.columnCount, 36)
        XCTAssertEqual(table.schema.columns.filter { $0.kind == .prune }.count, 18)
        XCTAssertEqual(table.schema.columns.filter { $0.kind == .bits }.count, 18)
        XCTAssertEqual(table.targets.min()!, 82.5, accuracy: 0.1)
        XCTAssertEqual(table.targets.max()!, 88.8, accuracy: 0.1)
    }

    func testUnreadableFile() {
        XCTAssertThrowsError(try PolicyTable(contentsOf: URL(fileURLWithPath: "/nonexistent/policies.csv"))) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/policies.csv"))
        }
    }
}

/// The measured ResNet-20 table, vendored under data/ at the package root.
func resnet20URL() throws -> URL {
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let url = packageRoot.appendingPathComponent("data/resnet20_cifar10.csv").standardizedFileURL
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw MissingPrerequisite("\(url.path) not found")
    }
    return url
}

/// `make test` sets up everything the tests need, so a missing piece is a failure, not a skip.
struct MissingPrerequisite: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
