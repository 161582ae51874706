import Foundation

/// Who holds a database's coordinator lock: written into the lock file by the holder.
public struct CoordinatorLockHolder: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The holder's process id.
    public var pid: Int32
    /// What it is running: "serve", "campaign run", ...
    public var command: String
    /// Its host name.
    public var host: String
    /// When it took the lock.
    public var since: Date

    /// This process, running `command`.
    public static func current(command: String) -> CoordinatorLockHolder {
        CoordinatorLockHolder(pid: getpid(), command: command, host: ProcessInfo.processInfo.hostName, since: Date())
    }

    /// Whether the holder is a `serve`, which takes campaigns submitted to it.
    public var isService: Bool { command == "serve" }

    public var description: String {
        let time = ISO8601DateFormatter().string(from: since)
        return "seer-coordinator \(command) (pid \(pid) on \(host), since \(time))"
    }
}

/// Why the coordinator lock could not be taken.
public enum CoordinatorLockError: Error, Equatable, CustomStringConvertible {
    /// Another coordinator process owns the database at `path`; `holder` is what it wrote (nil if unreadable yet).
    case held(path: String, lockFile: String, holder: CoordinatorLockHolder?)
    /// The lock file could not be opened or locked.
    case unusable(lockFile: String, reason: String)

    public var description: String {
        switch self {
        case let .held(path, lockFile, holder):
            return "database \(path) is owned by another coordinator: "
                + (holder.map { "\($0)" } ?? "a process that has not said who it is yet")
                + " holds \(lockFile). Submit campaigns to a running `serve` with `campaign run`, or use another --db"
        case let .unusable(lockFile, reason):
            return "cannot take the coordinator lock \(lockFile): \(reason)"
        }
    }
}

/// The exclusive right to run a coordinator (broker, campaigns) on one database.
///
/// Two coordinators on one database both restore and dispatch its unfinished jobs: each job runs twice and the job
/// and measurement tables disagree. So every command that dispatches jobs takes this lock first, before it opens the
/// store. It is an advisory `flock` on `<database>.lock`, which the kernel releases when the holder exits in any way
/// (kill -9 included), so a stale lock file never blocks anyone: only a live holder does. The holder writes who it
/// is into the file, for the refusal message.
public final class CoordinatorLock {
    /// The database path it guards.
    public let path: String
    /// The lock file, next to the database.
    public let lockFile: String
    private var descriptor: Int32

    /// The lock file of the database at `path`.
    public static func lockFile(for path: String) -> String { path + ".lock" }

    /// Takes the lock of the database at `path` for `command`, or throws `.held` naming the holder.
    public init(database path: String, command: String) throws {
        self.path = path
        lockFile = Self.lockFile(for: path)
        descriptor = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CoordinatorLockError.unusable(lockFile: lockFile, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            guard code == EWOULDBLOCK else {
                throw CoordinatorLockError.unusable(lockFile: lockFile, reason: String(cString: strerror(code)))
            }
            throw CoordinatorLockError.held(path: path, lockFile: lockFile, holder: Self.holder(of: path))
        }
        let data = (try? JSONEncoder.lockHolder.encode(CoordinatorLockHolder.current(command: command))) ?? Data()
        _ = ftruncate(descriptor, 0)
        let written = data.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == data.count else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw CoordinatorLockError.unusable(lockFile: lockFile, reason: "writing the holder: \(reason)")
        }
    }

    deinit { release() }

    /// Gives the lock up (also done when the process exits).
    public func release() {
        guard descriptor >= 0 else { return }
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    /// Who holds the lock of the database at `path` right now; nil when nobody does.
    public static func currentHolder(of path: String) -> CoordinatorLockHolder? {
        let file = lockFile(for: path)
        let probe = open(file, O_RDONLY | O_CLOEXEC)
        guard probe >= 0 else { return nil }
        defer { close(probe) }
        // A shared lock is refused exactly while someone holds the exclusive one.
        if flock(probe, LOCK_SH | LOCK_NB) == 0 {
            _ = flock(probe, LOCK_UN)
            return nil
        }
        return holder(of: path) ?? CoordinatorLockHolder(pid: 0, command: "unknown", host: "", since: Date())
    }

    /// What the lock file says (the last holder's words; current only while it is held).
    private static func holder(of path: String) -> CoordinatorLockHolder? {
        guard let data = FileManager.default.contents(atPath: lockFile(for: path)), !data.isEmpty else { return nil }
        return try? JSONDecoder.lockHolder.decode(CoordinatorLockHolder.self, from: data)
    }
}

extension JSONEncoder {
    static var lockHolder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys]
        return e
    }
}

extension JSONDecoder {
    static var lockHolder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
