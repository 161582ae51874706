import Foundation
import SeerCoordinator
import SeerWeb

/// The coordinator as a service, shared by `serve` and `demo`: the database's lock, its store, the one broker, the
/// campaigns submitted through the control channel (docs/SERVICE.md), redeploys, and the web view when asked for.
///
/// Built in this order so that a refused start has touched nothing: the lock before the store is opened, the store
/// before the broker restores its jobs.
final class CoordinatorService {
    let lock: CoordinatorLock
    let store: SeerStore
    let broker: Broker
    let campaigns: CampaignService
    let deployments: DeploymentService
    let web: WebView?
    private let log: @Sendable (String) -> Void

    /// Takes `database`'s lock as `command` and starts the broker (and the web view on `http`).
    ///
    /// `log` gets the service's own lines (campaign requests, campaigns' progress, redeploys); the broker logs through
    /// `options.log`.
    init(database: String, command: String = "serve", broker options: BrokerOptions, http: WebAddress? = nil,
         deployCampaign: String? = nil, resultsRoot: URL = URL(fileURLWithPath: "runs"),
         log: @escaping @Sendable (String) -> Void) throws {
        lock = try CoordinatorLock(database: database, command: command)
        do {
            store = try SeerStore(path: database)
            broker = try Broker(store: store, options: options)
        } catch {
            lock.release()
            throw error
        }
        broker.start()
        self.log = log
        if let http {
            do {
                web = try WebView.start(host: http.host, port: http.port, source: DashboardSource(store: store, broker: broker),
                                        log: log)
            } catch {
                broker.stop()
                lock.release()
                throw error
            }
        } else {
            web = nil
        }
        deployments = DeploymentService(broker: broker, store: store, campaign: deployCampaign, log: log)
        campaigns = CampaignService(broker: broker, store: store, resultsRoot: resultsRoot, log: log)
    }

    /// The web view's address, when it serves one.
    var webURL: String? { web.map { "http://\($0.host):\($0.port)/" } }

    /// Serves until `stopped()` or until the broker stops by itself (a store write failed, rethrown here): carries on
    /// with the campaigns a previous service left unfinished, answers campaign requests and redeploys. Campaigns keep
    /// their phase and queued jobs when it ends; the next service on the database carries them on.
    func serve(until stopped: () -> Bool) throws {
        defer { close() }
        try campaigns.resumeUnfinished()
        while !stopped() && broker.failure == nil {
            do { try deployments.poll(timeout: 0.05) } catch { log("deployment: \(error)") }
            do { try campaigns.poll() } catch { log("campaign requests: \(error)") }
        }
        log("stopping")
        if let failure = broker.failure { throw failure }
    }

    /// Stops the campaigns' threads, the web view and the broker, and releases the lock (once).
    func close() {
        closeOnce.lock()
        defer { closeOnce.unlock() }
        guard !closed else { return }
        closed = true
        campaigns.shutdown()
        web?.stop()
        broker.stop()
        lock.release()
    }

    private let closeOnce = NSLock()
    private var closed = false
}
