import XCTest
@testable import SeerAgent
import SeerWire

/// The null and command executors, run in-process (the command executor still spawns real programs).
final class ExecutorTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// An executable shell script with `body`.
    func script(_ name: String, _ body: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try ("#!/bin/sh\n" + body + "\n").write(to: url, atomically: true, encoding: .utf8)
        chmod(url.path, 0o755)
        return url.path
    }

    static func job(kind: JobKind = .measure, totalMs: Int = 10_000, options: [String: JSONValue]? = nil) -> JobBody {
        JobBody(jobID: "job-1", deviceKey: "cpu-x86", kind: kind,
                payload: JobPayload(model: "lenet5-fashion", policy: ["bits": [8]], timeouts: JobTimeouts(totalMs: totalMs),
                                    options: options))
    }

    func run(_ path: String, totalMs: Int = 10_000) -> Result<ResultPayload, ExecutorError> {
        do {
            let executor = try CommandExecutor(argv: [path])
            return .success(try executor.run(Self.job(totalMs: totalMs), cancel: nil))
        } catch {
            return .failure(error)
        }
    }

    func failure(_ result: Result<ResultPayload, ExecutorError>, file: StaticString = #filePath, line: UInt = #line) -> ExecutorError? {
        if case let .failure(error) = result { return error }
        XCTFail("expected a failure, got \(result)", file: file, line: line)
        return nil
    }

    func testCommandGetsTheJobOnStdinAndItsResultIsDecoded() throws {
        // Echo the job id back through the result's timings keys, proving stdin carried the JOB.
        let path = try script("ok.sh", """
            input=$(cat)
            case "$input" in *'"job_id":"job-1"'*) ;; *) echo "no job on stdin" >&2; exit 9;; esac
            echo '{"accuracy": 0.875, "timings_ms": {"total": 12.5}}'
            """)
        let result = try run(path).get()
        XCTAssertEqual(result.accuracy, 0.875)
        XCTAssertEqual(result.timingsMs["total"], 12.5)
    }

    func testHangingCommandTimesOutAndItsProcessGroupIsKilled() throws {
        let marker = directory.appendingPathComponent("survivor").path
        let path = try script("hang.sh", "(sleep 3; touch \(marker)) &\nsleep 30")
        let start = Date()
        let error = failure(run(path, totalMs: 400))
        XCTAssertEqual(error?.code, .timeout)
        XCTAssertTrue(error?.message.contains("400 ms") ?? false, error?.message ?? "")
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        sleep(4)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a grandchild survived the timeout")
    }

    func testCrashingCommandReportsItsSignal() throws {
        let path = try script("crash.sh", "cat >/dev/null\necho 'about to crash' >&2\nkill -SEGV $$")
        let error = failure(run(path))
        XCTAssertEqual(error?.code, .runtimeError)
        XCTAssertTrue(error?.message.contains("signal 11 (SIGSEGV)") ?? false, error?.message ?? "")
        XCTAssertTrue(error?.message.contains("about to crash") ?? false, error?.message ?? "")
    }

    func testGarbageOutputIsAClearError() throws {
        let path = try script("garbage.sh", "printf 'hello \\001 world'")
        let error = failure(run(path))
        XCTAssertEqual(error?.code, .runtimeError)
        let message = error?.message ?? ""
        XCTAssertTrue(message.contains("not a JSON object"), message)
        XCTAssertTrue(message.contains("\"hello \\x01 world\""), message)
    }

    func testNonZeroExitAndWrongShapesAreClearErrors() throws {
        let exit3 = failure(run(try script("exit.sh", "echo 'partial' ; echo 'disk full' >&2; exit 3")))
        XCTAssertTrue(exit3?.message.contains("exited with status 3") ?? false, exit3?.message ?? "")
        XCTAssertTrue(exit3?.message.contains("disk full") ?? false, exit3?.message ?? "")
        XCTAssertTrue(exit3?.message.contains("partial") ?? false, exit3?.message ?? "")

        let empty = failure(run(try script("empty.sh", "true")))
        XCTAssertTrue(empty?.message.contains("printed nothing") ?? false, empty?.message ?? "")

        let shape = failure(run(try script("shape.sh", "echo '{\"accuracy\": \"high\", \"timings_ms\": {}}'")))
        XCTAssertTrue(shape?.message.contains("not a result") ?? false, shape?.message ?? "")
        XCTAssertTrue(shape?.message.contains("accuracy") ?? false, shape?.message ?? "")

        let array = failure(run(try script("array.sh", "echo '[1, 2]'")))
        XCTAssertTrue(array?.message.contains("not a JSON object") ?? false, array?.message ?? "")
    }

    func testCommandCanReportATVMStyleError() throws {
        let path = try script("policy.sh", "echo '{\"error\": {\"code\": \"bad_policy\", \"message\": \"no 3-bit kernel\"}}'; exit 1")
        XCTAssertEqual(failure(run(path)), ExecutorError(.badPolicy, "no 3-bit kernel"))
        let invalid = try script("invalid.sh", "echo '{\"error\": {\"code\": \"busy\", \"message\": \"x\"}}'")
        XCTAssertEqual(failure(run(invalid))?.code, .runtimeError)
    }

    func testCommandThatIgnoresStdinAndHugeOutput() throws {
        // Does not read a (large) stdin, floods stdout: neither blocks nor exhausts memory.
        let path = try script("flood.sh", "head -c 3000000 /dev/zero | tr '\\0' 'x'")
        let executor = try CommandExecutor(argv: [path])
        let big = JobBody(jobID: "big", deviceKey: "k", kind: .measure,
                          payload: JobPayload(model: "m", policy: ["blob": .string(String(repeating: "p", count: 500_000))]))
        XCTAssertThrowsError(try executor.run(big, cancel: nil)) { error in
            let message = (error as? ExecutorError)?.message ?? ""
            XCTAssertTrue(message.contains("more than"), message)
        }
    }

    func testCancellationKillsTheCommand() throws {
        let path = try script("slow.sh", "sleep 30")
        let executor = try CommandExecutor(argv: [path])
        let flag = CancellationFlag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { flag.cancel() }
        let start = Date()
        XCTAssertThrowsError(try executor.run(Self.job(), cancel: flag))
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testMissingProgramIsRefusedUpFront() {
        XCTAssertThrowsError(try CommandExecutor(argv: ["/nonexistent/prog"])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/prog"), "\(error)")
        }
        XCTAssertThrowsError(try CommandExecutor(argv: []))
    }

    func testNullExecutorAnswersAtOnceOrAfterSleepMs() throws {
        let executor = NullExecutor()
        XCTAssertEqual(executor.capabilities, ["null"])
        XCTAssertEqual(executor.kind, .null, "READY announces executor null (revision 2), not builtin")
        // Far apart on purpose: a loaded machine may delay the quick answer, but not by the half second slept.
        let quick = try executor.run(Self.job(kind: .null), cancel: nil)
        let slept = try executor.run(Self.job(kind: .null, options: ["sleep_ms": 500]), cancel: nil)
        XCTAssertGreaterThanOrEqual(slept.timingsMs["total"] ?? 0, 500)
        XCTAssertLessThan(quick.timingsMs["total"] ?? .infinity, slept.timingsMs["total"] ?? 0)
        XCTAssertThrowsError(try executor.run(Self.job(kind: .measure), cancel: nil)) { error in
            XCTAssertEqual((error as? ExecutorError)?.code, .unsupported)
        }
        XCTAssertThrowsError(try executor.run(Self.job(kind: .null, options: ["sleep_ms": "long"]), cancel: nil)) { error in
            XCTAssertEqual((error as? ExecutorError)?.code, .badPolicy)
        }
        XCTAssertThrowsError(try executor.run(Self.job(kind: .null, totalMs: 50, options: ["sleep_ms": 5_000]), cancel: nil)) { error in
            XCTAssertEqual((error as? ExecutorError)?.code, .timeout)
        }
    }

    func testRegistryBuildsExecutorsByNameAndTakesNewKinds() throws {
        let registry = ExecutorRegistry.standard()
        XCTAssertEqual(registry.names, ["builtin", "command", "null", "sim-bismo", "sim-bitfusion"])
        XCTAssertTrue(try registry.make("null", settings: ExecutorSettings(deviceKey: "k")) is NullExecutor)
        XCTAssertTrue(try registry.make("builtin", settings: ExecutorSettings(deviceKey: "k")) is BuiltinExecutor)
        XCTAssertThrowsError(try registry.make("command", settings: ExecutorSettings(deviceKey: "k")))
        XCTAssertThrowsError(try registry.make("tpu-sim", settings: ExecutorSettings(deviceKey: "k")))
        registry.register("tpu-sim") { _ in NullExecutor() }
        XCTAssertNotNil(try registry.make("tpu-sim", settings: ExecutorSettings(deviceKey: "k")))
    }
}
