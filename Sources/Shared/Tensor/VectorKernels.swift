/// Explicitly vectorized elementwise loops: the compiler leaves data-dependent selects as branches,
/// which mispredict on activations whose signs are random.
public enum VectorKernels {
    public typealias Vector = SIMD8<Float>

    /// out[i] = min(max(x[i], 0), hi).
    @inlinable
    public static func clamp(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int, hi: Float) {
        let zero = Vector(repeating: 0), top = Vector(repeating: hi)
        var i = 0
        while i + Vector.scalarCount <= n {
            var v = UnsafeRawPointer(x + i).loadUnaligned(as: Vector.self)
            // `replacing` lowers to blends; `clamped` goes through an outlined generic `pointwiseMax`.
            v.replace(with: zero, where: v .< zero)
            v.replace(with: top, where: v .> top)
            UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: Vector.self)
            i += Vector.scalarCount
        }
        while i < n { out[i] = min(max(x[i], 0), hi); i += 1 }
    }

    /// out[i] = (0 < y[i] < hi) ? g[i] : 0: the gradient of a clamp, from its output.
    @inlinable
    public static func clampGradient(_ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                     count n: Int, hi: Float) {
        let zero = Vector(repeating: 0), top = Vector(repeating: hi)
        var i = 0
        while i + Vector.scalarCount <= n {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: Vector.self)
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: Vector.self)
            let r = zero.replacing(with: gv, where: (yv .> zero) .& (yv .< top))
            UnsafeMutableRawPointer(out + i).storeBytes(of: r, as: Vector.self)
            i += Vector.scalarCount
        }
        while i < n { out[i] = (y[i] > 0 && y[i] < hi) ? g[i] : 0; i += 1 }
    }
}
