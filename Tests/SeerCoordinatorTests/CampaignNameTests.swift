import XCTest
@testable import SeerCoordinator

/// A campaign's name is an id and the folder runs/<name>: names that are no plain folder name are refused at
/// validation, with a message naming the `name` field.
final class CampaignNameTests: XCTestCase {
    func config(named name: String) -> String {
        // JSON string syntax is YAML too, so any name goes in quoted.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let quoted = String(decoding: try! encoder.encode(name), as: UTF8.self)
        return "name: \(quoted)\nmodel: resnet8\nbudgets: [\"20%\"]\n"
    }

    func testNamesThatAreNoPlainFolderNameAreRefused() {
        let refused = ["..", ".", ".hidden", "...", "a/b", "/abs", "../up", "a/../b", "", "a b", "a\\b",
                       String(repeating: "x", count: 256), String(repeating: "é", count: 128)]
        for name in refused {
            XCTAssertThrowsError(try CampaignConfig.parse(yaml: config(named: name)), "'\(name)'") { error in
                guard case let .config(message)? = error as? CampaignError else { return XCTFail("'\(name)': \(error)") }
                XCTAssertTrue(message.hasPrefix("name:"), "'\(message)' should name the name field")
            }
        }
    }

    func testPlainNamesAreAccepted() throws {
        for name in ["t", "resnet20-bitops", "v1.2", "a..b", "run_3.", "é", String(repeating: "x", count: 255)] {
            XCTAssertEqual(try CampaignConfig.parse(yaml: config(named: name)).name, name)
        }
    }
}
