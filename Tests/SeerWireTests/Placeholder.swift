import XCTest
@testable import SeerWire

final class SeerWireTestsPlaceholder: XCTestCase {
    func testLinks() {}
}
