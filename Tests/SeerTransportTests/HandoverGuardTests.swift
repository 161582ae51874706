import CZeroMQ
import XCTest
@testable import SeerTransport

/// Issue 12: ZMQ_ROUTER_HANDOVER with ZMTP heartbeats makes libzmq 4.3 abort the process when a routing id is
/// taken over; the wrapper refuses to set up that pair, in either order, naming both options.
final class HandoverGuardTests: XCTestCase {
    func testHandoverAndHeartbeatsAreRefusedTogetherInEitherOrder() throws {
        let context = try ZMQContext()
        let heartbeatFirst = try context.socket(.router)
        try heartbeatFirst.setHeartbeat(intervalMilliseconds: 1000, timeToLiveMilliseconds: 3000, timeoutMilliseconds: 3000)
        XCTAssertThrowsError(try heartbeatFirst.setRouterHandover(true)) { error in
            XCTAssertEqual((error as? ZMQError)?.errno, EINVAL)
            XCTAssertTrue("\(error)".contains("ZMQ_ROUTER_HANDOVER") && "\(error)".contains("ZMQ_HEARTBEAT_IVL"), "\(error)")
        }
        XCTAssertThrowsError(try heartbeatFirst.setOption(ZMQ_ROUTER_HANDOVER, int: 1, name: "ZMQ_ROUTER_HANDOVER"))
        try heartbeatFirst.setRouterHandover(false)  // off is always fine

        let handoverFirst = try context.socket(.router)
        try handoverFirst.setRouterHandover(true)
        XCTAssertThrowsError(try handoverFirst.setHeartbeat(intervalMilliseconds: 1000, timeToLiveMilliseconds: 3000,
                                                            timeoutMilliseconds: 3000))
        XCTAssertEqual(try handoverFirst.intOption(ZMQ_HEARTBEAT_IVL), 0, "nothing was set")
        try handoverFirst.setRouterHandover(false)
        try handoverFirst.setHeartbeat(intervalMilliseconds: 1000, timeToLiveMilliseconds: 3000, timeoutMilliseconds: 3000)
        XCTAssertEqual(try handoverFirst.intOption(ZMQ_HEARTBEAT_IVL), 1000)
    }
}
