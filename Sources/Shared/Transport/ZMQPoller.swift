import CZeroMQ

/// Readiness conditions for `zmqPoll` / `ZMQPoller`.
public struct ZMQPollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    /// At least one whole message can be received without blocking.
    public static let pollIn = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// At least one message can be sent without blocking.
    public static let pollOut = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition (only meaningful for plain file descriptors).
    public static let pollErr = ZMQPollEvents(rawValue: Int16(ZMQ_POLLERR))
}

/// One socket to watch in `zmqPoll`, with the events asked for and, afterwards, those that occurred.
public struct ZMQPollItem {
    /// The socket watched.
    public let socket: ZMQSocket
    /// Events to wait for.
    public var events: ZMQPollEvents
    /// Events that occurred in the last poll.
    public var revents: ZMQPollEvents = []

    /// Watches `socket` for `events` (default: readable).
    public init(_ socket: ZMQSocket, events: ZMQPollEvents = .pollIn) {
        self.socket = socket
        self.events = events
    }

    /// Whether the last poll found the socket readable.
    public var isReadable: Bool { revents.contains(.pollIn) }
}

/// Waits up to `timeoutMilliseconds` (-1 forever, 0 just check) for any item's events; fills `revents`, returns how many fired.
///
/// Throws EINTR (`isInterrupted`) on a signal and ETERM when the context shuts down, so a loop can stop.
@discardableResult
public func zmqPoll(_ items: inout [ZMQPollItem], timeoutMilliseconds: Int) throws -> Int {
    var raw = try items.map { item in
        zmq_pollitem_t(socket: try item.socket.liveHandle("zmq_poll"), fd: 0, events: item.events.rawValue, revents: 0)
    }
    let count = zmq_poll(&raw, Int32(raw.count), timeoutMilliseconds)
    guard count >= 0 else { throw ZMQError.last("zmq_poll") }
    for index in items.indices {
        items[index].revents = ZMQPollEvents(rawValue: raw[index].revents)
    }
    return Int(count)
}

/// A reusable set of sockets to poll; the loop that owns it is the only user of those sockets.
public final class ZMQPoller {
    /// The registered sockets with their events and the results of the last poll.
    public private(set) var items: [ZMQPollItem] = []

    /// An empty poller.
    public init() {}

    /// Watches `socket` for `events`; registering it again replaces its events.
    public func register(_ socket: ZMQSocket, events: ZMQPollEvents = .pollIn) {
        if let index = items.firstIndex(where: { $0.socket === socket }) {
            items[index].events = events
        } else {
            items.append(ZMQPollItem(socket, events: events))
        }
    }

    /// Stops watching `socket`.
    public func unregister(_ socket: ZMQSocket) {
        items.removeAll { $0.socket === socket }
    }

    /// Polls all registered sockets (see `zmqPoll`); returns the number that fired.
    @discardableResult
    public func poll(timeoutMilliseconds: Int) throws -> Int {
        try zmqPoll(&items, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Whether `socket` was readable in the last poll.
    public func isReadable(_ socket: ZMQSocket) -> Bool {
        items.first { $0.socket === socket }?.isReadable ?? false
    }

    /// Whether `socket` was writable in the last poll.
    public func isWritable(_ socket: ZMQSocket) -> Bool {
        items.first { $0.socket === socket }?.revents.contains(.pollOut) ?? false
    }
}
