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
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    /// A flag that is not set.
    public init() {}

    /// Asks the job to stop as soon as it can.
    public func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
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
