import Foundation
import Hummingbird
import Logging
import NIOCore
import SeerCoordinator

/// The coordinator's live web view (`serve --http HOST:PORT`): the page, the JSON API behind it and `/metrics`.
///
///   GET /               the page (`DashboardPage`): fleet, campaigns with their plots, jobs, deployments; it polls
///                       the API every two seconds
///   GET /api/dashboard  `DashboardSnapshot` as JSON (snake_case keys, ISO 8601 dates)
///   GET /metrics        `PrometheusText`
///
/// Read-only: it changes nothing, so it needs no authentication beyond its bind address (loopback by default).
public final class WebView: @unchecked Sendable {
    /// The bound port (the real one when 0 was asked for).
    public let port: Int
    public let host: String
    private let task: Task<Void, Error>

    /// Starts serving `source` on `host:port` (port 0 picks a free one); returns once the socket listens.
    public static func start(host: String, port: Int, source: DashboardSource,
                             log: @escaping @Sendable (String) -> Void) throws -> WebView {
        let bound = BoundPort()
        let app = Application(router: router(source), configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { channel in bound.set(channel.localAddress?.port) },
                              logger: Logger(label: "seer-web", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task {
            do {
                try await app.run()
                bound.set(nil)
            } catch {
                bound.fail(error)
                throw error
            }
        }
        guard let actual = try bound.wait(seconds: 60) else {
            task.cancel()
            throw WebViewError.notListening("\(host):\(port)", nil)
        }
        log("web view on http://\(host):\(actual)/")
        return WebView(port: actual, host: host, task: task)
    }

    private init(port: Int, host: String, task: Task<Void, Error>) {
        self.port = port
        self.host = host
        self.task = task
    }

    /// Stops serving.
    public func stop() { task.cancel() }

    static func router(_ source: DashboardSource) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        router.get("/api/dashboard") { _, _ in
            let body = try Self.encoder.encode(try source.snapshot())
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/metrics") { _, _ in
            let text = PrometheusText.render(try source.metrics())
            return Response(status: .ok, headers: [.contentType: PrometheusText.contentType],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys]
        return e
    }()
}

public enum WebViewError: Error, CustomStringConvertible {
    case notListening(String, String?)
    case badAddress(String)

    public var description: String {
        switch self {
        case .notListening(let address, let reason):
            return "the web view could not listen on \(address)" + (reason.map { ": \($0)" } ?? "")
        case .badAddress(let text): return "--http: '\(text)' is not HOST:PORT (e.g. 127.0.0.1:8080)"
        }
    }
}

/// HOST:PORT as `--http` takes it.
public struct WebAddress: Equatable, Sendable {
    public var host: String
    public var port: Int

    public init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65_535).contains(port), colon > text.startIndex else { throw WebViewError.badAddress(text) }
        host = String(text[..<colon])
        self.port = port
    }
}

/// The port the server reports once listening, handed from its event loop to the thread that started it.
private final class BoundPort: @unchecked Sendable {
    private let condition = NSCondition()
    private var port: Int?
    private var error: Error?
    private var reported = false

    /// The first report wins: the server's start, or its end without one.
    func set(_ port: Int?) {
        condition.lock()
        if !reported { self.port = port; reported = true }
        condition.broadcast()
        condition.unlock()
    }

    func fail(_ error: Error) {
        condition.lock()
        if !reported { self.error = error; reported = true }
        condition.broadcast()
        condition.unlock()
    }

    /// The port once listening; nil if it did not report in time; throws why it could not start.
    func wait(seconds: Double) throws -> Int? {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while !reported && condition.wait(until: deadline) {}
        if let error { throw WebViewError.notListening("the web view's address", "\(error)") }
        return port
    }
}
