import CSeerKernels
import Foundation

/// The host as benchmarks report it: CPU model name, widest FMA vector ISA, load while they ran.
enum HostCPU {
    static var modelName: String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        return "unknown"
    }

    static var isa: String { String(cString: seer_best_vector_isa()) }

    static var description: String { "\(modelName) (\(isa))" }

    /// The 1-minute load average (the machine is shared: figures taken under load say so).
    static var loadAverage: Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return -1 }
        return Double(text.split(separator: " ").first ?? "") ?? -1
    }

    /// One thread's FMA peak on `isa` ("avx512", "avx2"), measured now: the best of 40 loops of about 10 ms (on a
    /// 3 GHz core), 0 where the CPU lacks the ISA.
    static func fmaPeakGFLOPS(_ isa: String) -> Double { seer_fma_peak_gflops(isa, 2_000_000, 40) }
}
