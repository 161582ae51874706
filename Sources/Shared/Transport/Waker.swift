import Foundation

/// Wakes a poll loop from other threads: an inproc PAIR pipe whose reading end the loop polls.
///
/// Work itself travels in the owner's locked queue; the pipe only carries "look at your queue".
/// The writing end is used under `lock` (a full memory barrier, as libzmq requires when a socket
/// changes threads), and at most one wake-up byte is in flight, so the pipe can never fill up.
public final class Waker: @unchecked Sendable {
    /// The end the loop polls for `.pollIn`; only the loop touches it.
    public let receiver: ZMQSocket
    private let sender: ZMQSocket
    private let lock = NSLock()
    private var pending = false

    public init(context: ZMQContext) throws {
        let endpoint = "inproc://seer-waker-\(UUID().uuidString)"
        receiver = try context.socket(.pair)
        try receiver.bind(endpoint)
        sender = try context.socket(.pair)
        try sender.connect(endpoint)
    }

    /// Makes the next (or current) poll return; cheap when a wake-up is already pending.
    public func wake() {
        lock.lock()
        defer { lock.unlock() }
        guard !pending else { return }
        pending = true
        _ = try? sender.send([[1]], flags: .dontWait)
    }

    /// Called by the loop before it reads its queue, so wake-ups after this point are not lost.
    public func drain() {
        lock.lock()
        pending = false
        lock.unlock()
        while (try? receiver.receive(flags: .dontWait)) != nil {}
    }

    /// Closes both ends (loop thread, at exit).
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        sender.close()
        receiver.close()
    }
}
