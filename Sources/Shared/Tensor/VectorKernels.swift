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

extension VectorKernels {
    /// Adding and subtracting 1.5 * 2^23 rounds a float of magnitude below 2^22 to the nearest integer, ties to
    /// even (the FPU's default mode), in two vectorizable instructions; `rounded()` is a libm call per element.
    public static let roundingMagic: Float = 12_582_912

    /// out[i] = round(clamp(x[i], lo, hi) * inv) * scale: simulated uniform quantization. `hi * inv` must stay
    /// below 2^22 (bit-widths up to 16 do).
    @inlinable
    public static func fakeQuantize(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int,
                                    lo: Float, hi: Float, inv: Float, scale: Float) {
        let vlo = Vector(repeating: lo), vhi = Vector(repeating: hi), vinv = Vector(repeating: inv)
        let vscale = Vector(repeating: scale), magic = Vector(repeating: roundingMagic)
        var i = 0
        while i + Vector.scalarCount <= n {
            var v = UnsafeRawPointer(x + i).loadUnaligned(as: Vector.self)
            v.replace(with: vlo, where: v .< vlo)
            v.replace(with: vhi, where: v .> vhi)
            let q = ((v * vinv + magic) - magic) * vscale
            UnsafeMutableRawPointer(out + i).storeBytes(of: q, as: Vector.self)
            i += Vector.scalarCount
        }
        while i < n {
            let v = min(max(x[i], lo), hi)
            out[i] = ((v * inv + roundingMagic) - roundingMagic) * scale
            i += 1
        }
    }
}
