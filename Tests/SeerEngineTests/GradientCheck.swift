import XCTest
import SeerTensor
@testable import SeerEngine

/// Central finite differences against a layer's backward, on loss = sum(forward(x) * R) for a fixed random R.
///
/// Tolerances: float32 forward passes with step 1e-2 leave about 1e-4 of rounding noise in a difference
/// quotient of O(1) losses, so |numeric - analytic| <= atol + rtol * |numeric| with atol 2e-3, rtol 2e-2.
struct GradientCheck {
    var step: Float = 1e-2
    var atol: Float = 2e-3
    var rtol: Float = 2e-2
    var samplesPerTensor = 48

    func check(_ layer: Layer, inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededGenerator(seed: 99)
        let y0 = layer.forward(inputs, training: true)
        let projection = Tensor.randomNormal(shape: y0.shape, std: 1, using: &rng)
        for p in layer.parameters { p.zeroGrad() }
        let inputGrads = layer.backward(projection)

        func loss(_ ins: [Tensor]) -> Float {
            let y = layer.forward(ins, training: true)
            var s: Double = 0
            for i in 0..<y.count { s += Double(y.data[i] * projection.data[i]) }
            return Float(s)
        }
        func compare(_ numeric: Float, _ analytic: Float, _ what: String) {
            XCTAssertLessThanOrEqual(abs(numeric - analytic), atol + rtol * abs(numeric),
                                     "\(layer.name) \(what): numeric \(numeric) vs analytic \(analytic)", file: file, line: line)
        }
        for (k, x) in inputs.enumerated() {
            for i in sampleIndices(x.count, &rng) {
                var plus = inputs, minus = inputs
                plus[k].data[i] += step
                minus[k].data[i] -= step
                compare((loss(plus) - loss(minus)) / (2 * step), inputGrads[k].data[i], "d input\(k)[\(i)]")
            }
        }
        for p in layer.parameters {
            let analytic = p.grad
            for i in sampleIndices(p.value.count, &rng) {
                let v = p.value.data[i]
                p.value.data[i] = v + step
                let lp = loss(inputs)
                p.value.data[i] = v - step
                let lm = loss(inputs)
                p.value.data[i] = v
                compare((lp - lm) / (2 * step), analytic.data[i], "d \(p.name)[\(i)]")
            }
        }
    }

    private func sampleIndices(_ n: Int, _ rng: inout SeededGenerator) -> [Int] {
        if n <= samplesPerTensor { return Array(0..<n) }
        return (0..<samplesPerTensor).map { _ in rng.nextInt(below: n) }
    }
}

/// Random values kept at least `margin` away from zero (and from 6), so that ReLU and max-pool kinks
/// do not sit inside a finite-difference step.
func awayFromKinks(shape: [Int], seed: UInt64, margin: Float = 0.05) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    var t = Tensor.randomNormal(shape: shape, std: 2, using: &rng)
    for i in 0..<t.count {
        if abs(t.data[i]) < margin { t.data[i] = t.data[i] < 0 ? -margin - 0.1 : margin + 0.1 }
        if abs(t.data[i] - 6) < margin { t.data[i] = 6.5 }
    }
    return t
}
