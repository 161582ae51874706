import Foundation
import SeerCoordinator

/// A plain-TCP broker on a loopback port over a store in a fresh temporary directory: what a benchmark that runs real
/// agents against the coordinator needs. `stop()` stops the broker, then removes the directory.
final class ScratchBroker {
    let directory: URL
    let store: SeerStore
    let broker: Broker

    init(prefix: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            store = try SeerStore(path: directory.appendingPathComponent("seer.sqlite").path)
            broker = try Broker(store: store, options: BrokerOptions(endpoint: "tcp://127.0.0.1:*", security: .plain))
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        broker.start()
    }

    func stop() {
        broker.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
