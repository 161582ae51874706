import XCTest
@testable import SeerCompression

final class CompressionPlaceholder: XCTestCase {
    func testLinks() {}
}
