import Foundation
import SeerMeasurement
import SeerWire

/// A job failure with its TVM-style ERROR code: bad_policy, out_of_memory, timeout, runtime_error (or unsupported).
public struct ExecutorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The ERROR code the agent reports.
    public var code: ErrorCode
    /// What went wrong, for people.
    public var message: String

    /// An error with `code` and `message`.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The policy cannot be applied to the model; the coordinator fails the job without retrying.
    public static func badPolicy(_ message: String) -> ExecutorError { ExecutorError(.badPolicy, message) }
    /// The device ran out of memory; retried elsewhere.
    public static func outOfMemory(_ message: String) -> ExecutorError { ExecutorError(.outOfMemory, message) }
    /// The job exceeded its deadline; retried elsewhere.
    public static func timeout(_ message: String) -> ExecutorError { ExecutorError(.timeout, message) }
    /// Any other failure; retried elsewhere.
    public static func runtimeError(_ message: String) -> ExecutorError { ExecutorError(.runtimeError, message) }
    /// This executor cannot run the job's kind.
    public static func unsupported(_ message: String) -> ExecutorError { ExecutorError(.unsupported, message) }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Set by the agent when it gives up on a job (deadline, coordinator lost, shutdown); executors poll it.
///
/// Polling is not enough for what a job started outside the agent (the `command` executor's process group): an
/// agent told to stop exits right after cancelling, before a job thread polls again. So an executor can also
/// start such a thing with `start(_:onCancel:)`, whose handler `cancel()` runs itself before it returns.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var handlers: [Int: () -> Void] = [:]
    private var nextHandle = 0

    /// A flag that is not set.
    public init() {}

    /// Asks the job to stop as soon as it can; runs the registered `onCancel` handlers before returning.
    public func cancel() {
        lock.lock()
        defer { lock.unlock() }
        guard !cancelled else { return }
        cancelled = true
        // Under the lock, so a `start` either finished registering (its handler runs here) or sees the flag set.
        for handle in handlers.keys.sorted() { handlers[handle]!() }
        handlers.removeAll()
    }

    /// Runs `start` unless the flag is set, atomically with `cancel()`: if it is cancelled later, `onCancel` runs
    /// once, on the cancelling thread, before `cancel()` returns. nil (and `start` not run) if already cancelled;
    /// otherwise `start`'s value and the handle that `detach(_:when:)` takes. `onCancel` runs under the flag's lock
    /// and must not touch the flag.
    public func start<T>(_ start: () throws -> T, onCancel: @escaping () -> Void) rethrows -> (value: T, handle: Int)? {
        lock.lock()
        defer { lock.unlock() }
        guard !cancelled else { return nil }
        let value = try start()
        nextHandle += 1
        handlers[nextHandle] = onCancel
        return (value, nextHandle)
    }

    /// Runs `body` where `cancel()` cannot run handlers; drops the handler `handle` if `body` returns true. So the
    /// step that makes a handler meaningless (reaping the process it would kill) and its removal are one.
    @discardableResult
    public func detach(_ handle: Int, when body: () -> Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard body() else { return false }
        handlers[handle] = nil
        return true
    }

    /// Whether `cancel()` was called.
    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }
}

/// Runs jobs on this device. One job at a time, on the agent's job thread (never its socket thread).
///
/// Implementations must be safe to call from that one thread and should return (or throw
/// `.timeout`) by `job.payload.timeouts.totalMs`; the agent reports a timeout itself shortly after
/// that deadline if the executor does not, and from then on ignores what it returns.
public protocol Executor: AnyObject {
    /// The executor kind announced in READY.
    var kind: ExecutorKind { get }
    /// Job kinds and features announced in READY ("measure", "profile", "null", ...); JOBs of other kinds are refused as unsupported.
    var capabilities: [String] { get }
    /// Runs `job` and returns its measurements, or throws the reason it failed.
    func run(_ job: JobBody, cancel: CancellationFlag?) throws(ExecutorError) -> ResultPayload
    /// Whether `job` takes microseconds (a null job without `sleep_ms`): the agent then runs it on its
    /// socket thread, skipping two thread hand-offs, since it cannot delay a heartbeat.
    func isInstant(_ job: JobBody) -> Bool
}

extension Executor {
    /// Default: every job kind.
    public var capabilities: [String] { JobKind.allCases.map(\.rawValue) }
    /// Default: no job is instant; everything runs on the job thread.
    public func isInstant(_ job: JobBody) -> Bool { false }
}

/// What an executor factory may use from the agent's command line.
public struct ExecutorSettings: Sendable {
    /// Device class the agent serves.
    public var deviceKey: String
    /// `--command`: the program (and its arguments) for the command executor.
    public var command: [String]
    /// `--executor-option key=value` pairs, for executors that need more.
    public var options: [String: String]

    /// Memberwise initializer.
    public init(deviceKey: String, command: [String] = [], options: [String: String] = [:]) {
        self.deviceKey = deviceKey
        self.command = command
        self.options = options
    }
}

/// Executors by name (`seer-agent run --executor NAME`); registering another kind is one call.
///
/// ```swift
/// ExecutorRegistry.shared.register("builtin") { settings in try BuiltinExecutor(settings: settings) }
/// ```
/// Names registered in `standard()` are available to every agent; add new kinds there.
public final class ExecutorRegistry: @unchecked Sendable {
    /// Builds an executor from the agent's settings; throws a message naming what is wrong.
    public typealias Factory = (ExecutorSettings) throws -> any Executor

    private let lock = NSLock()
    private var factories: [String: Factory] = [:]

    /// An empty registry.
    public init() {}

    /// The registry the CLI uses.
    public static let shared = ExecutorRegistry.standard()

    /// A registry with the executors that ship with Seer.
    public static func standard() -> ExecutorRegistry {
        let registry = ExecutorRegistry()
        registry.register("null") { _ in NullExecutor() }
        registry.register("command") { settings in try CommandExecutor(settings: settings) }
        registry.register("builtin") { settings in BuiltinExecutor(settings: settings) }
        for name in ["sim-bitfusion", "sim-bismo"] {
            registry.register(name) { settings in
                BuiltinExecutor(settings: settings, kind: ExecutorKind(rawValue: name)!, costModel: AcceleratorModels.named(name))
            }
        }
        return registry
    }

    /// Adds (or replaces) the executor `name`.
    public func register(_ name: String, factory: @escaping Factory) {
        lock.lock()
        factories[name] = factory
        lock.unlock()
    }

    /// Registered names, sorted.
    public var names: [String] {
        lock.lock()
        defer { lock.unlock() }
        return factories.keys.sorted()
    }

    /// Builds executor `name`.
    public func make(_ name: String, settings: ExecutorSettings) throws -> any Executor {
        lock.lock()
        let factory = factories[name]
        lock.unlock()
        guard let factory else {
            throw ExecutorError.unsupported("unknown executor \"\(name)\"; known: \(names.joined(separator: ", "))")
        }
        return try factory(settings)
    }
}
