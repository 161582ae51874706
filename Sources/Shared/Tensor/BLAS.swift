import CBLAS

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, with op(A) m x k and op(B) k x n.
///
/// The one door to `cblas_sgemm`, so leading dimensions are derived in one place.
@inlinable
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>) {
    if m == 0 || n == 0 { return }
    let lda = transA ? m : k
    let ldb = transB ? k : n
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(n))
}

/// The kernel family OpenBLAS picked for this CPU at load time (e.g. "Haswell": 256-bit AVX2 kernels).
public var blasCoreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
