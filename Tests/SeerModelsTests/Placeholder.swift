import XCTest
@testable import SeerModels

final class SeerModelsTestsPlaceholder: XCTestCase {
    func testLinks() {}
}
