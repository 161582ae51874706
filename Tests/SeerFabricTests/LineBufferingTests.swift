import Foundation
import XCTest

/// `seer-coordinator` and `seer-agent` write stdout a line at a time into a pipe too (stdio would buffer it in blocks
/// and write it at exit), so progress shows as it happens. Both checks follow from the order of the programs' own
/// steps, not from how long anything takes.
final class LineBufferingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("seer-lines-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testCoordinatorStdoutLineReachesASharedPipeBeforeItsLaterStderrLine() throws {
        // With no agent, `serve --null-jobs` prints its JSON summary on stdout and then logs on stderr (unbuffered) that
        // the job did not succeed. Both go into one pipe: a line-buffered summary arrives first; a block-buffered one
        // only at exit, after the log line.
        let process = Process()
        process.executableURL = try Fabric.binDirectory().appendingPathComponent("seer-coordinator")
        process.arguments = ["serve", "--plain", "--bind", "tcp://127.0.0.1:*", "--db", directory.appendingPathComponent("seer.sqlite").path,
                             "--null-jobs", "1", "--key", "cpu", "--wait-agents", "0", "--timeout-s", "0.001"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 1, output)
        let lines = output.split(separator: "\n")
        let summary = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("{") }, output)
        let failure = try XCTUnwrap(lines.firstIndex { $0.hasSuffix("1 of 1 null jobs did not succeed") }, output)
        XCTAssertLessThan(summary, failure, output)
    }

    /// The write end of a FIFO, opened on another thread because opening blocks until a reader opens it.
    final class FIFOWriter: @unchecked Sendable {
        private let lock = NSLock()
        private var fd: Int32 = -1
        var descriptor: Int32 { lock.lock(); defer { lock.unlock() }; return fd }
        func openWriteEnd(_ path: String, then done: @escaping @Sendable () -> Void) {
            Thread {
                let opened = open(path, O_WRONLY)
                self.lock.lock()
                self.fd = opened
                self.lock.unlock()
                done()
            }.start()
        }
    }

    func testAgentStdoutLineReachesAPipeWhileItStillRuns() throws {
        // `battery --watch` prints "watching ..." and then opens the battery file to read it. The battery file is a
        // FIFO: opening its write end returns only once the agent has opened the read end, which it does after
        // printing; it then waits for data that never comes. Killed there, the agent leaves in the pipe what it wrote,
        // and loses what stdio still held back.
        let fifo = directory.appendingPathComponent("battery").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let process = Process()
        process.executableURL = try Fabric.binDirectory().appendingPathComponent("seer-agent")
        process.arguments = ["battery", "--watch", "--battery-file", fifo]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let reached = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in reached.signal() }  // so that an agent dying early cannot hang the test
        try process.run()
        let writer = FIFOWriter()
        writer.openWriteEnd(fifo) { reached.signal() }
        reached.wait()
        let running = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        if writer.descriptor < 0 {
            // The agent died before opening the FIFO: open its read end ourselves so that the writer thread finishes.
            let reader = open(fifo, O_RDONLY | O_NONBLOCK)
            reached.wait()
            close(reader)
        }
        close(writer.descriptor)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(running, "seer-agent exited before it opened the battery file: \(output)")
        XCTAssertTrue(output.hasPrefix("watching battery file \(fifo) every "), "got '\(output)'")
    }
}
