// How well a ridge fit's training rows support a prediction at a new point.
import Foundation

/// The standard error of a ridge prediction from where the point lies relative to the rows it was fitted on:
/// `scale x sqrt(leverage)`, leverage = (z - m)^T (Z^T Z + lambda I)^-1 (z - m) in the standardized feature space
/// the ridge was fitted in (Z centered at m), `scale` the fit's leave-one-out RMSE. Near the training rows it is a
/// fraction of the RMSE; it grows along directions the rows do not span, which is where an optimizer that follows
/// the prediction's gradient tends to go.
public struct DataSupport: Codable, Hashable, Sendable {
    let center: [Double]
    /// Cholesky factor L (row-major, lower triangle) of the centered Gram matrix plus lambda I.
    let factor: [Double]
    /// Accuracy points per unit of sqrt(leverage).
    let scale: Double

    /// The support of a ridge fit on the rows of `z` with penalty `lambda`; nil when the system is singular.
    init?(z: Matrix, lambda: Double, scale: Double) {
        let p = z.cols, rows = Array(0..<z.rows)
        guard p > 0, !rows.isEmpty else { return nil }
        var m = [Double](repeating: 0, count: p)
        for r in rows { for c in 0..<p { m[c] += z.data[r * p + c] } }
        for c in 0..<p { m[c] /= Double(rows.count) }
        var a = LinearAlgebra.gram(z, rows: rows, center: m)
        for i in 0..<p { a[i * p + i] += lambda }
        guard LinearAlgebra.cholesky(&a, n: p) else { return nil }
        center = m
        factor = a
        self.scale = scale
    }

    /// L^-1 (z - m).
    private func whitened(_ z: [Double]) -> [Double] {
        precondition(z.count == center.count, "data support: \(z.count) features, fitted on \(center.count)")
        var w = zip(z, center).map { $0 - $1 }
        LinearAlgebra.forward(factor, n: w.count, &w)
        return w
    }

    /// Standard error (accuracy points) at the standardized feature row `z`.
    public func standardError(standardized z: [Double]) -> Double {
        scale * whitened(z).reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// d standardError / d z: scale x A^-1 (z - m) / sqrt(leverage), 0 at the center.
    public func gradient(standardized z: [Double]) -> [Double] {
        var w = whitened(z)
        let root = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard root > 0 else { return [Double](repeating: 0, count: z.count) }
        LinearAlgebra.backward(factor, n: w.count, &w)
        return w.map { scale * $0 / root }
    }
}
