// Ridge regression on standardized features, with the penalty chosen by exact leave-one-out error.
import Foundation

/// Row-major dense matrix of Doubles (small helper; no BLAS).
struct Matrix: Codable, Sendable {
    var rows: Int
    var cols: Int
    var data: [Double]

    init(rows: Int, cols: Int, data: [Double]) {
        precondition(data.count == rows * cols)
        self.rows = rows; self.cols = cols; self.data = data
    }

    init(_ array: [[Double]]) {
        rows = array.count
        cols = array.first?.count ?? 0
        data = array.flatMap { $0 }
    }

    subscript(r: Int, c: Int) -> Double {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }

    func row(_ r: Int) -> ArraySlice<Double> { data[(r * cols)..<((r + 1) * cols)] }
}

/// Per-column mean and standard deviation; constant columns get a standard deviation of 1.
struct Standardizer: Codable, Hashable, Sendable {
    var mean: [Double]
    var std: [Double]

    init(mean: [Double], std: [Double]) { self.mean = mean; self.std = std }

    init(fitting m: Matrix) {
        var mean = [Double](repeating: 0, count: m.cols)
        var sq = [Double](repeating: 0, count: m.cols)
        for r in 0..<m.rows {
            for c in 0..<m.cols { mean[c] += m.data[r * m.cols + c] }
        }
        let n = Double(max(m.rows, 1))
        for c in 0..<m.cols { mean[c] /= n }
        for r in 0..<m.rows {
            for c in 0..<m.cols {
                let d = m.data[r * m.cols + c] - mean[c]
                sq[c] += d * d
            }
        }
        self.mean = mean
        self.std = sq.map { s in
            let sd = (s / n).squareRoot()
            return sd > 1e-12 ? sd : 1
        }
    }

    func apply(_ x: [Double]) -> [Double] {
        var z = x
        for c in z.indices { z[c] = (x[c] - mean[c]) / std[c] }
        return z
    }

    func apply(_ m: Matrix) -> Matrix {
        var out = m
        for r in 0..<m.rows {
            for c in 0..<m.cols { out.data[r * m.cols + c] = (m.data[r * m.cols + c] - mean[c]) / std[c] }
        }
        return out
    }
}

enum LinearAlgebra {
    /// In-place Cholesky factorization of a symmetric positive definite n x n matrix (lower triangle); false if not SPD.
    static func cholesky(_ a: inout [Double], n: Int) -> Bool {
        a.withUnsafeMutableBufferPointer { a in
            for j in 0..<n {
                var d = a[j * n + j]
                for k in 0..<j { d -= a[j * n + k] * a[j * n + k] }
                guard d > 0 else { return false }
                let ljj = d.squareRoot()
                a[j * n + j] = ljj
                for i in (j + 1)..<max(j + 1, n) {
                    var s = a[i * n + j]
                    for k in 0..<j { s -= a[i * n + k] * a[j * n + k] }
                    a[i * n + j] = s / ljj
                }
            }
            return true
        }
    }

    /// Solves L y = b in place (L lower triangular from `cholesky`).
    static func forward(_ l: [Double], n: Int, _ b: inout [Double]) {
        for i in 0..<n {
            var s = b[i]
            for k in 0..<i { s -= l[i * n + k] * b[k] }
            b[i] = s / l[i * n + i]
        }
    }

    /// Solves L^T x = y in place.
    static func backward(_ l: [Double], n: Int, _ b: inout [Double]) {
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = b[i]
            for k in (i + 1)..<max(i + 1, n) { s -= l[k * n + i] * b[k] }
            b[i] = s / l[i * n + i]
        }
    }

    /// X^T X (p x p) of the rows `rows` of X, centered by `center`.
    static func gram(_ x: Matrix, rows: [Int], center: [Double]) -> [Double] {
        let p = x.cols
        var g = [Double](repeating: 0, count: p * p)
        var buf = [Double](repeating: 0, count: p)
        x.data.withUnsafeBufferPointer { xd in
            g.withUnsafeMutableBufferPointer { g in
                for r in rows {
                    for c in 0..<p { buf[c] = xd[r * p + c] - center[c] }
                    for i in 0..<p {
                        let bi = buf[i]
                        if bi == 0 { continue }
                        for j in 0...i { g[i * p + j] += bi * buf[j] }
                    }
                }
                for i in 0..<p { for j in 0..<i { g[j * p + i] = g[i * p + j] } }
            }
        }
        return g
    }
}

/// A fitted linear model in some input space: `intercept + weights . z`.
struct LinearModel: Codable, Hashable, Sendable {
    var weights: [Double]
    var intercept: Double

    func predict(_ z: [Double]) -> Double {
        var s = intercept
        for (w, v) in zip(weights, z) { s += w * v }
        return s
    }

    /// Ridge regression of `y` on the rows `rows` of `x` with an unpenalized intercept.
    /// Returns nil only if the penalized Gram matrix is not positive definite (lambda <= 0 on rank-deficient data).
    static func ridge(_ x: Matrix, _ y: [Double], rows: [Int], lambda: Double) -> LinearModel? {
        let p = x.cols
        let (xm, ym) = means(x, y, rows: rows)
        var a = LinearAlgebra.gram(x, rows: rows, center: xm)
        for i in 0..<p { a[i * p + i] += lambda }
        guard LinearAlgebra.cholesky(&a, n: p) else { return nil }
        var b = [Double](repeating: 0, count: p)
        for r in rows {
            let dy = y[r] - ym
            for c in 0..<p { b[c] += (x.data[r * p + c] - xm[c]) * dy }
        }
        LinearAlgebra.forward(a, n: p, &b)
        LinearAlgebra.backward(a, n: p, &b)
        var intercept = ym
        for c in 0..<p { intercept -= b[c] * xm[c] }
        return LinearModel(weights: b, intercept: intercept)
    }

    /// Exact leave-one-out mean squared error of ridge regression (intercept included) via the hat matrix diagonal.
    static func leaveOneOutError(_ x: Matrix, _ y: [Double], rows: [Int], lambda: Double) -> Double {
        let errors = leaveOneOutSquaredErrors(x, y, rows: rows, lambda: lambda)
        return errors.reduce(0, +) / Double(max(errors.count, 1))
    }

    /// Squared leave-one-out residual of each of `rows` (infinite if the system is singular).
    static func leaveOneOutSquaredErrors(_ x: Matrix, _ y: [Double], rows: [Int], lambda: Double) -> [Double] {
        let p = x.cols
        let n = Double(rows.count)
        let (xm, ym) = means(x, y, rows: rows)
        var a = LinearAlgebra.gram(x, rows: rows, center: xm)
        for i in 0..<p { a[i * p + i] += lambda }
        guard LinearAlgebra.cholesky(&a, n: p) else { return rows.map { _ in .infinity } }
        var b = [Double](repeating: 0, count: p)
        for r in rows {
            let dy = y[r] - ym
            for c in 0..<p { b[c] += (x.data[r * p + c] - xm[c]) * dy }
        }
        LinearAlgebra.forward(a, n: p, &b)
        LinearAlgebra.backward(a, n: p, &b)
        var errors: [Double] = []
        errors.reserveCapacity(rows.count)
        var u = [Double](repeating: 0, count: p)
        for r in rows {
            var fit = ym
            for c in 0..<p {
                u[c] = x.data[r * p + c] - xm[c]
                fit += b[c] * u[c]
            }
            LinearAlgebra.forward(a, n: p, &u)
            var h = 1 / n
            for c in 0..<p { h += u[c] * u[c] }
            let e = (y[r] - fit) / max(1 - h, 1e-9)
            errors.append(e * e)
        }
        return errors
    }

    /// The lambda from `grid` with the smallest leave-one-out mean squared error, that error and the per-row
    /// squared leave-one-out errors.
    static func selectLambda(_ x: Matrix, _ y: [Double], rows: [Int], grid: [Double])
        -> (lambda: Double, error: Double, rowErrors: [Double]) {
        var best = (lambda: grid.first ?? 1, error: Double.infinity, rowErrors: [Double]())
        for lambda in grid {
            let errors = leaveOneOutSquaredErrors(x, y, rows: rows, lambda: lambda)
            let e = errors.reduce(0, +) / Double(max(errors.count, 1))
            if e < best.error { best = (lambda, e, errors) }
        }
        return best
    }

    private static func means(_ x: Matrix, _ y: [Double], rows: [Int]) -> ([Double], Double) {
        var xm = [Double](repeating: 0, count: x.cols)
        var ym = 0.0
        for r in rows {
            for c in 0..<x.cols { xm[c] += x.data[r * x.cols + c] }
            ym += y[r]
        }
        let n = Double(max(rows.count, 1))
        return (xm.map { $0 / n }, ym / n)
    }
}
