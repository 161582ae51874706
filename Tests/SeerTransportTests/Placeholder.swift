import XCTest
@testable import SeerTransport

final class SeerTransportTestsPlaceholder: XCTestCase {
    func testLinks() {}
}
