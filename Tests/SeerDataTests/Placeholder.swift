import XCTest
@testable import SeerData

final class SeerDataTestsPlaceholder: XCTestCase {
    func testLinks() {}
}
