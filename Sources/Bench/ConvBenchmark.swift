import ArgumentParser
import Foundation
import SeerEngine
import SeerTensor

/// resnet20's convolutions at 28x28 input, one at a time, on every convolution backend this CPU runs (the same
/// layer, `convolutionAlgorithm` switched): inference, and a training step (forward, backward-data,
/// backward-weights), one thread, GFLOP/s by multiply-adds of the convolution itself (x 3 for the training step).
struct ConvBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv")

    @Option(help: "Images per pass.") var batch = 64
    @Option(help: "Timed repetitions (median reported; the backends alternate).") var repeats = 9

    func run() throws {
        Threads.set(1)
        let shapes: [(name: String, cin: Int, cout: Int, size: Int, kernel: Int, stride: Int)] = [
            ("stage1_3x3", 16, 16, 28, 3, 1), ("stage2_3x3", 32, 32, 14, 3, 1), ("stage3_3x3", 64, 64, 7, 3, 1),
            ("stage2_down_3x3_s2", 16, 32, 28, 3, 2), ("stage2_shortcut_1x1_s2", 16, 32, 28, 1, 2),
        ]
        let algorithms = ConvolutionAlgorithm.available
        var result: [String: Any] = ["batch": batch, "threads": 1, "default_backend": inferenceConvolutionKernel,
                                     "backends": algorithms.map(\.rawValue), "cpu": HostCPU.description,
                                     "dnnl_max_cpu_isa": ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"] ?? "unset",
                                     "onednn_brgemm": OneDNNBrgemm.isAllowed, "winograd": WinogradConvolution.current.rawValue,
                                     "load_average_1min": HostCPU.loadAverage]
        var rng = SeededGenerator(seed: 3)
        var totals: [ConvolutionAlgorithm: (forward: Double, train: Double)] = [:]
        for s in shapes {
            let conv = Conv2D(name: s.name, inChannels: s.cin, outChannels: s.cout, kernel: s.kernel, stride: s.stride,
                              padding: s.kernel / 2, bias: true, rng: &rng)
            let x = Tensor.randomNormal(shape: [batch, s.cin, s.size, s.size], std: 1, using: &rng)
            let out = (s.size + 2 * (s.kernel / 2) - s.kernel) / s.stride + 1
            let dy = Tensor.randomNormal(shape: [batch, s.cout, out, out], std: 1, using: &rng)
            let flops = 2.0 * Double(batch * s.cout * out * out * s.cin * s.kernel * s.kernel)
            var forward: [ConvolutionAlgorithm: [Double]] = [:], train: [ConvolutionAlgorithm: [Double]] = [:]
            for _ in 0..<max(1, repeats) {
                for algorithm in algorithms {
                    conv.convolutionAlgorithm = algorithm
                    forward[algorithm, default: []].append(median(1) { _ = conv.forward([x], training: false) })
                    train[algorithm, default: []].append(median(1) {
                        conv.weight.zeroGrad()
                        _ = conv.forward([x], training: true)
                        _ = conv.backward(dy)
                    })
                }
            }
            var row: [String: Any] = [:]
            for algorithm in algorithms {
                conv.convolutionAlgorithm = algorithm
                let f = forward[algorithm]!.sorted()[repeats / 2], t = train[algorithm]!.sorted()[repeats / 2]
                row[algorithm.rawValue] = ["forward_gflops": flops / f / 1e9, "train_gflops": 3 * flops / t / 1e9,
                                           "forward_ms": f * 1e3, "train_ms": t * 1e3,
                                           "implementation": conv.implementation(inputShape: x.shape)]
                totals[algorithm, default: (0, 0)].forward += f
                totals[algorithm, default: (0, 0)].train += t
            }
            result[s.name] = row
        }
        // Over all five shapes: which backend takes the least time, forward and training step.
        result["total_forward_ms"] = Dictionary(uniqueKeysWithValues: totals.map { ($0.key.rawValue, $0.value.forward * 1e3) })
        result["total_train_ms"] = Dictionary(uniqueKeysWithValues: totals.map { ($0.key.rawValue, $0.value.train * 1e3) })
        result["fastest_forward"] = totals.min { $0.value.forward < $1.value.forward }!.key.rawValue
        result["fastest_train"] = totals.min { $0.value.train < $1.value.train }!.key.rawValue
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }
}
