import XCTest
@testable import SeerCoordinator

final class SeerCLITestsPlaceholder: XCTestCase {
    func testLinks() {}
}
