import CBLAS
import Dispatch

/// How many threads the engine uses: OpenBLAS's pool and the engine's own loops alike.
public enum Threads {
    nonisolated(unsafe) private static var current = 1

    /// The configured thread count.
    public static var count: Int { current }

    /// Sets both OpenBLAS's and the engine's thread count.
    public static func set(_ n: Int) {
        precondition(n >= 1, "thread count must be at least 1")
        current = n
        openblas_set_num_threads(Int32(n))
    }

    /// Runs `body(i)` for i in 0..<n, split over the configured threads in contiguous chunks.
    @inlinable
    public static func parallelFor(_ n: Int, _ body: (Range<Int>) -> Void) {
        let t = min(count, n)
        if t <= 1 {
            body(0..<n)
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: t) { chunk in
                let lo = n * chunk / t, hi = n * (chunk + 1) / t
                if lo < hi { body(lo..<hi) }
            }
        }
    }
}
