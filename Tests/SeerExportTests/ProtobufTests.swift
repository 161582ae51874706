import XCTest
@testable import SeerExport

final class ProtobufTests: XCTestCase {
    func testVarintsAndKeys() {
        var w = ProtoWriter()
        w.int(1, 150)
        XCTAssertEqual(w.bytes, [0x08, 0x96, 0x01])
        var n = ProtoWriter()
        n.int(2, -1)
        XCTAssertEqual(n.bytes, [0x10] + Array(repeating: 0xFF, count: 9) + [0x01])
        var s = ProtoWriter()
        s.string(2, "testing")
        XCTAssertEqual(s.bytes, [0x12, 0x07] + Array("testing".utf8))
        var f = ProtoWriter()
        f.float(2, 1)
        XCTAssertEqual(f.bytes, [0x15, 0x00, 0x00, 0x80, 0x3F])
    }
}
