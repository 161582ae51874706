import CBLAS

/// Row-major GEMM with explicit leading dimensions: C = alpha * A * B + beta * C, A m x k (row stride lda),
/// B k x n (row stride ldb), C m x n (row stride ldc). For operands that are windows into larger arrays, such as
/// a convolution's input planes read at a tap's offset.
@inlinable
public func sgemm(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    precondition(lda >= k && ldb >= n && ldc >= n, "sgemm: leading dimension below the row length")
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                b, Int32(ldb), beta, c, Int32(ldc))
}
