#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// A one-line progress bar on stderr, redrawn in place on a terminal and printed every few seconds otherwise.
public final class ProgressBar {
    private let title: String
    private let total: Int
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var lastDrawn = -1
    private let interactive = isatty(STDERR_FILENO) != 0
    private let enabled: Bool

    public init(title: String, total: Int, enabled: Bool = true) {
        self.title = title
        self.total = max(1, total)
        self.enabled = enabled
    }

    /// Shows `done` of `total` with a free-form status such as the running loss.
    public func update(_ done: Int, status: String = "") {
        guard enabled else { return }
        let now = Date()
        let minimumGap = interactive ? 0.1 : 5.0
        guard (done >= total && lastDrawn < total) || now.timeIntervalSince(lastDraw) >= minimumGap else { return }
        lastDraw = now
        lastDrawn = done
        let fraction = Double(min(done, total)) / Double(total)
        let width = 24, filled = Int(fraction * Double(width))
        let elapsed = now.timeIntervalSince(start)
        let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\(title) [\(bar)] \(Int(fraction * 100))% \(status) \(Self.clock(elapsed)) eta \(Self.clock(eta))"
        FileHandle.standardError.write(((interactive ? "\r\u{1B}[K" : "") + line + (interactive ? "" : "\n")).data(using: .utf8)!)
    }

    /// Ends the line.
    public func finish(status: String = "") {
        guard enabled else { return }
        if lastDrawn < total || !status.isEmpty {
            lastDraw = .distantPast
            lastDrawn = -1
            update(total, status: status)
        }
        if interactive { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, (s / 60) % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
