import XCTest
@testable import SeerPredictor

final class SeerPredictorTestsPlaceholder: XCTestCase {
    func testLinks() {}
}
