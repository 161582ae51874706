import ArgumentParser
import Foundation
import SeerEngine
import SeerTensor

/// resnet20's convolutions at 28x28 input, one at a time, on the direct kernel and on the OpenBLAS paths (the same
/// layer, `usesDirectKernel` off): inference, one thread, GFLOP/s by multiply-adds of the convolution itself.
struct ConvBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv")

    @Option(help: "Images per forward pass.") var batch = 64
    @Option(help: "Timed repetitions (median reported; the two paths alternate).") var repeats = 9

    func run() throws {
        Threads.set(1)
        let shapes: [(name: String, cin: Int, cout: Int, size: Int, kernel: Int, stride: Int)] = [
            ("stage1_3x3", 16, 16, 28, 3, 1), ("stage2_3x3", 32, 32, 14, 3, 1), ("stage3_3x3", 64, 64, 7, 3, 1),
            ("stage2_down_3x3_s2", 16, 32, 28, 3, 2), ("stage2_shortcut_1x1_s2", 16, 32, 28, 1, 2),
        ]
        var result: [String: Any] = ["batch": batch, "threads": 1, "kernel": inferenceConvolutionKernel]
        var rng = SeededGenerator(seed: 3)
        for s in shapes {
            let conv = Conv2D(name: s.name, inChannels: s.cin, outChannels: s.cout, kernel: s.kernel, stride: s.stride,
                              padding: s.kernel / 2, bias: true, rng: &rng)
            let x = Tensor.randomNormal(shape: [batch, s.cin, s.size, s.size], std: 1, using: &rng)
            let out = (s.size + 2 * (s.kernel / 2) - s.kernel) / s.stride + 1
            let flops = 2.0 * Double(batch * s.cout * out * out * s.cin * s.kernel * s.kernel)
            let direct = inferenceConvolutionKernel == "direct-avx512"
            var times: [Bool: [Double]] = [:]
            for _ in 0..<max(1, repeats) {
                for path in direct ? [true, false] : [false] {
                    conv.usesDirectKernel = path
                    times[path, default: []].append(median(1) { _ = conv.forward([x], training: false) })
                }
            }
            func gflops(_ path: Bool) -> Double? {
                times[path].map { t in flops / t.sorted()[t.count / 2] / 1e9 }
            }
            var row: [String: Any] = ["openblas_gflops": gflops(false)!]
            if let d = gflops(true) { row["direct_gflops"] = d; row["speedup"] = d / gflops(false)! }
            result[s.name] = row
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }
}
