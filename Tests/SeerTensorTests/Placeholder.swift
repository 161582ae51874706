import XCTest
@testable import SeerTensor

final class SeerTensorTestsPlaceholder: XCTestCase {
    func testLinks() {}
}
