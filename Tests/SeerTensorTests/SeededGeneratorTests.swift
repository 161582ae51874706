import XCTest
@testable import SeerTensor

final class SeededGeneratorTests: XCTestCase {
    func testSameSeedSameStreamOtherSeedOtherStream() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
        let xs = (0..<16).map { _ in a.next() }
        XCTAssertEqual(xs, (0..<16).map { _ in b.next() })
        XCTAssertNotEqual(xs, (0..<16).map { _ in c.next() })
    }

    func testUniformAndNormalMoments() {
        var rng = SeededGenerator(seed: 1)
        let u = (0..<20_000).map { _ in Double(rng.nextUnitFloat()) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / Double(u.count), 0.5, accuracy: 0.01)
        let n = (0..<20_000).map { _ in Double(rng.nextNormal()) }
        let mean = n.reduce(0, +) / Double(n.count)
        let variance = n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }

    func testShuffleIsAPermutationAndDeterministic() {
        var a = SeededGenerator(seed: 3), b = SeededGenerator(seed: 3)
        var x = Array(0..<100), y = Array(0..<100)
        a.shuffle(&x)
        b.shuffle(&y)
        XCTAssertEqual(x, y)
        XCTAssertNotEqual(x, Array(0..<100))
        XCTAssertEqual(x.sorted(), Array(0..<100))
    }
}

final class KernelTests: XCTestCase {
    func testSgemmTransposesAgainstNaiveProduct() {
        var rng = SeededGenerator(seed: 4)
        let m = 5, n = 7, k = 3
        let a = Tensor.randomNormal(shape: [m, k], std: 1, using: &rng), b = Tensor.randomNormal(shape: [k, n], std: 1, using: &rng)
        var naive = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { naive[i * n + j] += a.data[i * k + p] * b.data[p * n + j] } } }
        // A and B given transposed must give the same product.
        var at = [Float](repeating: 0, count: m * k), bt = [Float](repeating: 0, count: k * n)
        for i in 0..<m { for p in 0..<k { at[p * m + i] = a.data[i * k + p] } }
        for p in 0..<k { for j in 0..<n { bt[j * k + p] = b.data[p * n + j] } }
        var c = [Float](repeating: 0, count: m * n)
        at.withUnsafeBufferPointer { ap in
            bt.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    sgemm(transA: true, transB: true, m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
                }
            }
        }
        for i in 0..<(m * n) { XCTAssertEqual(c[i], naive[i], accuracy: 1e-4) }
    }

    func testVectorKernelsMatchScalarDefinitions() {
        let x: [Float] = (0..<37).map { Float($0) * 0.37 - 5 }
        var clamped = [Float](repeating: 0, count: x.count), quantized = clamped
        x.withUnsafeBufferPointer { xp in
            clamped.withUnsafeMutableBufferPointer { VectorKernels.clamp(xp.baseAddress!, $0.baseAddress!, count: x.count, hi: 6) }
            quantized.withUnsafeMutableBufferPointer {
                VectorKernels.fakeQuantize(xp.baseAddress!, $0.baseAddress!, count: x.count, lo: -2, hi: 2, inv: 7 / 2, scale: 2 / 7)
            }
        }
        for i in 0..<x.count {
            XCTAssertEqual(clamped[i], min(max(x[i], 0), 6))
            let expected = (min(max(x[i], -2), 2) * 3.5).rounded(.toNearestOrEven) / 3.5
            XCTAssertEqual(quantized[i], expected, accuracy: 1e-6)
        }
    }
}
