import XCTest
@testable import SeerPredictor

final class MLPTests: XCTestCase {
    /// The MLP alone learns a smooth nonlinear function of 3 inputs; early stopping keeps the best epoch.
    func testLearnsNonlinearFunction() {
        var rng = SplitMix64(seed: 1)
        let n = 400, d = 3
        var x: [Double] = [], y: [Double] = []
        for _ in 0..<n {
            let row = (0..<d).map { _ in rng.nextUniform() * 4 - 2 }
            x += row
            y.append(sin(row[0]) + 0.5 * row[1] * row[1] - 0.3 * row[0] * row[2])
        }
        let mean = y.reduce(0, +) / Double(n)
        let variance = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        var mlp = MLP(inputs: d, hidden: 16, rng: &rng)
        let train = Array(0..<300), validation = Array(300..<n)
        mlp.train(x: x, y: y, train: train, validation: validation,
                  settings: MLPTraining(learningRate: 1e-2, weightDecay: 1e-4, maxEpochs: 400, patience: 50), rng: &rng)
        let mse = validation.reduce(0.0) { s, r in
            let p = mlp.predict(Array(x[(r * d)..<((r + 1) * d)]))
            return s + (p - y[r]) * (p - y[r])
        } / Double(validation.count)
        XCTAssertGreaterThan(mlp.bestEpoch, 10)
        XCTAssertLessThan(mse, 0.05 * variance, "validation MSE \(mse) vs variance \(variance)")
    }
}
