import Foundation
import SeerWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs an external program per job: the JOB as JSON on stdin, the result as JSON on stdout.
///
/// The program gets the whole JOB body (`job_id`, `device_key`, `kind`, `payload`) as one JSON
/// object followed by a newline, and must print one JSON object on stdout and exit 0:
/// - a RESULT payload, e.g. `{"accuracy": 0.91, "timings_ms": {"total": 812}}`, or
/// - a failure, `{"error": {"code": "bad_policy", "message": "layer 3 has no 2-bit kernel"}}`
///   with code `bad_policy`, `out_of_memory`, `timeout`, `runtime_error` or `unsupported`.
///
/// It runs in its own process group, killed as a whole (SIGKILL) when `timeouts.total_ms` passes or
/// the agent cancels, so a hung program and whatever it started cannot outlive the job. A crash,
/// non-zero exit, hang, or unreadable output becomes a `runtime_error` (or `timeout`) that says what
/// happened: exit status or signal, the first bytes of the bad output, the tail of stderr.
/// The argv comes only from the agent's command line, never from the coordinator's JOB.
public final class CommandExecutor: Executor {
    public let kind = ExecutorKind.command
    /// Program and arguments; the program is looked up in PATH unless it contains a "/".
    public let argv: [String]
    /// Most stdout accepted (a RESULT larger than this could not be sent anyway).
    public let maxOutputBytes = SeerProtocol.maxMessageBytes
    /// How much of stderr is kept for error messages (the end, where the reason usually is).
    public let stderrTailBytes = 2_048

    /// An executor running `argv` per job.
    public init(argv: [String]) throws(ExecutorError) {
        guard let program = argv.first, !program.isEmpty else {
            throw .runtimeError("the command executor needs a program (--command PROG)")
        }
        if program.contains("/") {
            guard access(program, X_OK) == 0 else {
                throw .runtimeError("command \(program) is not an executable file: \(String(cString: strerror(errno)))")
            }
        }
        self.argv = argv
        // A program that exits without reading its stdin must not kill the agent with SIGPIPE on our write.
        signal(SIGPIPE, SIG_IGN)
    }

    /// An executor for `settings.command`.
    public convenience init(settings: ExecutorSettings) throws {
        try self.init(argv: settings.command)
    }

    public func run(_ job: JobBody, cancel: CancellationFlag?) throws(ExecutorError) -> ResultPayload {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let input: [UInt8]
        do {
            input = Array(try encoder.encode(job)) + [0x0A]
        } catch {
            throw .runtimeError("cannot encode job \(job.jobID) for the command: \(error)")
        }
        let child = try ChildProcess.run(argv: argv, input: input, timeoutMs: job.payload.timeouts.totalMs,
                                         cancel: cancel, maxOutputBytes: maxOutputBytes, stderrTailBytes: stderrTailBytes)
        return try interpret(child, timeoutMs: job.payload.timeouts.totalMs)
    }

    private func interpret(_ child: ChildProcess.Outcome, timeoutMs: Int) throws(ExecutorError) -> ResultPayload {
        let program = argv[0]
        let stderrNote = child.stderrTail.isEmpty ? "" : "; stderr ends: \(Self.printable(child.stderrTail, limit: 400))"
        if child.timedOut {
            throw .timeout("command \(program) did not finish within total_ms \(timeoutMs) ms; its process group was killed\(stderrNote)")
        }
        if child.cancelled {
            throw .runtimeError("command \(program) was cancelled; its process group was killed")
        }
        let text = child.stdout
        let trimmed = Array(text.drop { Self.isSpace($0) }.reversed().drop { Self.isSpace($0) }.reversed())
        let object = child.stdoutTruncated ? nil
            : (try? JSONSerialization.jsonObject(with: Data(trimmed))) as? [String: Any]
        // A reported failure wins over the exit status: the program said what went wrong.
        if let failure = object?["error"] as? [String: Any] {
            let message = failure["message"] as? String ?? "(no message)"
            let codes: [ErrorCode] = [.badPolicy, .outOfMemory, .timeout, .runtimeError, .unsupported]
            guard let raw = failure["code"] as? String, let code = ErrorCode(rawValue: raw), codes.contains(code) else {
                throw .runtimeError("command \(program) reported an error with an invalid code "
                                    + "\(Self.printable(Array("\(failure["code"] ?? "null")".utf8), limit: 40)): \(message)")
            }
            throw ExecutorError(code, String(message.prefix(4_000)))
        }
        switch child.status {
        case .exited(0): break
        case let .exited(status):
            throw .runtimeError("command \(program) exited with status \(status)\(stderrNote)\(Self.outputNote(text))")
        case let .signaled(signal):
            throw .runtimeError("command \(program) was killed by signal \(signal) (\(Self.signalName(signal)))\(stderrNote)\(Self.outputNote(text))")
        }
        if child.stdoutTruncated {
            throw .runtimeError("command \(program) printed more than \(maxOutputBytes) bytes on stdout; output begins: "
                                + Self.printable(text, limit: 200))
        }
        guard !trimmed.isEmpty else {
            throw .runtimeError("command \(program) exited 0 but printed nothing on stdout (expected a result JSON object)\(stderrNote)")
        }
        guard object != nil else {
            throw .runtimeError("command \(program) printed something that is not a JSON object; output begins: "
                                + Self.printable(text, limit: 200))
        }
        do {
            return try JSONDecoder().decode(ResultPayload.self, from: Data(trimmed))
        } catch {
            throw .runtimeError("command \(program) printed a JSON object that is not a result (\(Self.describe(error))); output begins: "
                                + Self.printable(text, limit: 200))
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    private static func outputNote(_ stdout: [UInt8]) -> String {
        stdout.isEmpty ? "" : "; stdout begins: \(printable(stdout, limit: 200))"
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): return "missing \"\(key.stringValue)\""
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
             let DecodingError.dataCorrupted(context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "bad value at \"\(path)\""
        default: return "\(error)"
        }
    }

    /// Bytes as quoted printable ASCII, never raw control bytes in an error message.
    static func printable(_ bytes: [UInt8], limit: Int) -> String {
        var text = ""
        for byte in bytes.prefix(limit) {
            switch byte {
            case 0x0A: text += "\\n"
            case 0x09: text += "\\t"
            case 0x22: text += "\\\""
            case 0x20...0x7E: text.append(Character(UnicodeScalar(byte)))
            default: text += String(format: "\\x%02x", byte)
            }
        }
        return "\"" + text + (bytes.count > limit ? "...\" (\(bytes.count) bytes)" : "\"")
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
                                      SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
                                      SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM",
                                      SIGTERM: "SIGTERM", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ"]
        return names[signal] ?? "signal \(signal)"
    }
}

/// One child process with piped stdin/stdout/stderr, a deadline and a kill switch for its process group.
enum ChildProcess {
    enum Status: Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    struct Outcome {
        var status: Status
        var stdout: [UInt8]
        var stdoutTruncated: Bool
        var stderrTail: [UInt8]
        var timedOut: Bool
        var cancelled: Bool
    }

    private static func nowMs() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000) }

    private static func makePipe() throws(ExecutorError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .runtimeError("cannot create a pipe: \(String(cString: strerror(errno)))") }
        // Not inherited by other children (or by the job's own children beyond fds 0-2).
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    private static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    static func run(argv: [String], input: [UInt8], timeoutMs: Int, cancel: CancellationFlag?,
                    maxOutputBytes: Int, stderrTailBytes: Int) throws(ExecutorError) -> Outcome {
        let stdinPipe = try makePipe()
        let stdoutPipe: (read: Int32, write: Int32)
        let stderrPipe: (read: Int32, write: Int32)
        do {
            stdoutPipe = try makePipe()
        } catch {
            close(stdinPipe.read); close(stdinPipe.write)
            throw error
        }
        do {
            stderrPipe = try makePipe()
        } catch {
            close(stdinPipe.read); close(stdinPipe.write); close(stdoutPipe.read); close(stdoutPipe.write)
            throw error
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe.read, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe.write, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe.write, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (so the whole tree can be killed), default signal handling, nothing blocked:
        // the agent ignores SIGPIPE and handles SIGTERM itself, and ignored signals survive exec.
        posix_spawnattr_setpgroup(&attributes, 0)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArguments.append(nil)
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawn = { posix_spawnp(&pid, argv[0], &actions, &attributes, cArguments, environ) }
        // Started through the flag, so a cancel (the agent stopping on SIGINT/SIGTERM, which exits right after
        // cancelling) kills the group itself before it returns: no job thread has to notice in time. A job
        // cancelled before it started never starts.
        var cancelHandle: Int?
        var rc: Int32
        if let cancel {
            if let started = cancel.start(spawn, onCancel: { if pid > 0 { kill(-pid, SIGKILL) } }) {
                rc = started.value
                cancelHandle = started.handle
            } else {
                rc = ECANCELED
            }
        } else {
            rc = spawn()
        }
        close(stdinPipe.read)
        close(stdoutPipe.write)
        close(stderrPipe.write)
        if rc == ECANCELED && pid == 0 {
            close(stdinPipe.write); close(stdoutPipe.read); close(stderrPipe.read)
            return Outcome(status: .signaled(SIGKILL), stdout: [], stdoutTruncated: false, stderrTail: [],
                           timedOut: false, cancelled: true)
        }
        guard rc == 0 else {
            close(stdinPipe.write); close(stdoutPipe.read); close(stderrPipe.read)
            throw .runtimeError("cannot start command \(argv[0]): \(String(cString: strerror(rc)))")
        }
        /// Runs `body` (a reap) so that the cancel handler is dropped in the same step when it returns true: after the
        /// reap the group id may be reused by an unrelated process, which a later cancel must never signal.
        func detachingCancel(when body: () -> Bool) -> Bool {
            guard let cancel, let cancelHandle else { return body() }
            return cancel.detach(cancelHandle, when: body)
        }

        var stdinFD: Int32 = stdinPipe.write, stdoutFD: Int32 = stdoutPipe.read, stderrFD: Int32 = stderrPipe.read
        for fd in [stdinFD, stdoutFD, stderrFD] { setNonBlocking(fd) }
        var written = 0
        var outcome = Outcome(status: .exited(0), stdout: [], stdoutTruncated: false, stderrTail: [],
                              timedOut: false, cancelled: false)
        let deadline = nowMs() + Int64(max(timeoutMs, 1))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var killed = false

        func closeFD(_ fd: inout Int32) {
            if fd >= 0 { close(fd); fd = -1 }
        }
        func killGroup() {
            kill(-pid, SIGKILL)
            killed = true
        }
        if input.isEmpty { closeFD(&stdinFD) }

        // Until the child closes stdout and stderr (normally: exits), or the deadline / cancellation.
        while stdoutFD >= 0 || stderrFD >= 0 {
            if cancel?.isCancelled == true { outcome.cancelled = true; killGroup(); break }
            let remaining = deadline - nowMs()
            if remaining <= 0 { outcome.timedOut = true; killGroup(); break }
            var fds: [pollfd] = []
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if stdoutFD >= 0 { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if stderrFD >= 0 { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 50)))
            if ready < 0 && errno != EINTR { break }
            for item in fds where item.revents != 0 {
                if item.fd == stdinFD {
                    let n = input.withUnsafeBytes { raw in
                        write(stdinFD, raw.baseAddress! + written, min(input.count - written, 65_536))
                    }
                    if n > 0 {
                        written += n
                        if written >= input.count { closeFD(&stdinFD) }
                    } else if n < 0 && errno != EAGAIN && errno != EINTR {
                        closeFD(&stdinFD)  // EPIPE: the program does not read its input; its output decides
                    }
                } else {
                    let isStdout = item.fd == stdoutFD
                    let n = read(item.fd, &buffer, buffer.count)
                    if n > 0 {
                        if isStdout {
                            if outcome.stdout.count + n > maxOutputBytes {
                                outcome.stdoutTruncated = true
                                outcome.stdout += buffer[0..<max(0, maxOutputBytes - outcome.stdout.count)]
                            } else if !outcome.stdoutTruncated {
                                outcome.stdout += buffer[0..<n]
                            }
                        } else {
                            outcome.stderrTail += buffer[0..<n]
                            if outcome.stderrTail.count > stderrTailBytes {
                                outcome.stderrTail.removeFirst(outcome.stderrTail.count - stderrTailBytes)
                            }
                        }
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        if isStdout { closeFD(&stdoutFD) } else { closeFD(&stderrFD) }
                    }
                }
            }
        }
        closeFD(&stdinFD)
        closeFD(&stdoutFD)
        closeFD(&stderrFD)

        // Reap it; a program that closed its output but keeps running still has the deadline.
        var status: Int32 = 0
        while true {
            if killed {
                // The group has had its SIGKILL, so a cancel has nothing left to do: drop the handler, then block in
                // the reap outside the flag's lock (a cancel must never wait for it).
                _ = detachingCancel { true }
                let reaped = waitpid(pid, &status, 0)
                if reaped == pid { break }
                if reaped < 0 && errno != EINTR { status = 0; break }
                continue
            }
            var reaped: pid_t = 0
            var failed = false
            _ = detachingCancel {
                reaped = waitpid(pid, &status, WNOHANG)
                failed = reaped < 0 && errno != EINTR
                return reaped == pid || failed
            }
            if reaped == pid { break }
            if failed { status = 0; break }
            if cancel?.isCancelled == true { outcome.cancelled = true; killGroup(); continue }
            if nowMs() >= deadline { outcome.timedOut = true; killGroup(); continue }
            usleep(2_000)
        }
        // The wait-status macros are not imported into Swift: low 7 bits = terminating signal, else exit code in bits 8-15.
        let signal = status & 0x7F
        outcome.status = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
        return outcome
    }
}
