import CBLAS
import Dispatch
#if canImport(Glibc)
/// malloc.h is not part of the Glibc module; this is its one declaration we need.
@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

/// How many threads the engine uses: OpenBLAS's pool and the engine's own loops (GCD) alike; oneDNN primitives run
/// single-threaded on the GCD threads, one batch chunk each, so no OpenMP team ever competes with them.
public enum Threads {
    nonisolated(unsafe) private static var current = 1

    /// The configured thread count.
    public static var count: Int { current }

    /// Sets both OpenBLAS's and the engine's thread count.
    public static func set(_ n: Int) {
        precondition(n >= 1, "thread count must be at least 1")
        current = n
        openblas_set_num_threads(Int32(n))
        keepLargeAllocationsOnHeap()
    }

    /// glibc serves large allocations with fresh mmaps (the threshold cannot be raised past 32 MiB), so every
    /// training step would page-fault its im2col buffers and activations in anew, and the kernel's page
    /// clearing would dominate; serving everything from the never-trimmed heap lets freed blocks be reused.
    private static func keepLargeAllocationsOnHeap() {
        #if canImport(Glibc)
        let mmapMax: Int32 = -4, trimThreshold: Int32 = -1  // M_MMAP_MAX, M_TRIM_THRESHOLD (malloc.h)
        _ = glibcMallopt(mmapMax, 0)
        _ = glibcMallopt(trimThreshold, Int32.max)
        #endif
    }

    /// Below this many elements of work a loop stays on the calling thread: waking a second thread costs
    /// more than it saves on small tensors (batch-1 inference).
    public static let minimumParallelWork = 1 << 15

    /// Runs `body(range)` over 0..<n split into contiguous chunks, one per configured thread;
    /// `work` (total elements touched) keeps small loops serial.
    @inlinable
    public static func parallelFor(_ n: Int, work: Int = .max, _ body: (Range<Int>) -> Void) {
        let t = work < minimumParallelWork ? 1 : min(count, n)
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
