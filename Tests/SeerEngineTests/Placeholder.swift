import XCTest
@testable import SeerEngine

final class SeerEngineTestsPlaceholder: XCTestCase {
    func testLinks() {}
}
