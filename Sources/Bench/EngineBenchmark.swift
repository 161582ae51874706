import ArgumentParser
import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerModels
import SeerTensor
import SeerTraining

/// FMA and sgemm peaks, resnet20 forward and training throughput (and their fractions of the FMA peak measured in the
/// same run), images/s by batch and threads, peak memory. `SEER_CONV_BACKEND` picks the convolution backend.
struct EngineBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "engine")

    @Option(help: "Timed repetitions per measurement (the median is reported).") var repeats = 5
    @Option(help: "Model to time.") var model = "resnet20"

    func run() throws {
        var result: [String: Any] = ["model": model]
        Threads.set(1)
        result["sgemm_gflops"] = sgemmGFLOPS()
        result["openblas_core"] = blasCoreName
        result["inference_convolution_kernel"] = inferenceConvolutionKernel
        result["micro_batch"] = ProcessInfo.processInfo.environment["SEER_MICRO_BATCH"] ?? "unset"
        result["cpu"] = HostCPU.modelName
        result["isa"] = HostCPU.isa
        result["dnnl_max_cpu_isa"] = ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"] ?? "unset"
        result["onednn_brgemm"] = OneDNNBrgemm.isAllowed
        result["winograd"] = WinogradConvolution.current.rawValue
        result["load_average_1min_start"] = HostCPU.loadAverage
        // The peak of the ISA the convolutions run on: AVX2's where DNNL_MAX_CPU_ISA caps oneDNN there.
        let cappedToAVX2 = ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"]?.uppercased() == "AVX2"
            && inferenceConvolutionKernel == "onednn"
        let peakISA = cappedToAVX2 ? "avx2" : HostCPU.isa
        let fmaPeak = HostCPU.fmaPeakGFLOPS(peakISA)
        result["fma_peak_gflops"] = fmaPeak
        result["fma_peak_isa"] = peakISA
        for isa in ["avx512", "avx2"] { result["fma_peak_gflops_\(isa)"] = HostCPU.fmaPeakGFLOPS(isa) }
        let net = try ModelZoo.make(model, seed: 0)
        // MACs of one image, counted by the compression module (an unpruned 8/8 policy leaves the shapes as they are).
        let macs = Double(try Complexity.compute(model: net, policy: try Policy(bits: "8/8").resolve(for: net)).macs)
        result["macs_per_image"] = macs
        // Inference runs the graph with batch norm folded into the convolutions as the float program latency timing
        // compiles it to (on oneDNN, `BlockedFloatInference`); `forward_layerwise_*`: `Graph.forward`, layer by layer.
        let folded = net.graph.foldingBatchNorm()
        let program = InferenceArithmetic.float.compile(folded)
        for threads in [1, 2] {
            Threads.set(threads)
            for batch in [1, 128] {
                let x = randomBatch(batch, net.inputShape)
                let seconds = median(repeats) { _ = program.forward(x) }
                result["forward_images_per_s_b\(batch)_t\(threads)"] = Double(batch) / seconds
                if threads == 1 && batch == 128 {
                    result["forward_gflops"] = 2 * macs * Double(batch) / seconds / 1e9
                    let layerwise = median(repeats) { _ = folded.forward(x, training: false) }
                    result["forward_layerwise_gflops"] = 2 * macs * Double(batch) / layerwise / 1e9
                }
            }
            let x = randomBatch(128, net.inputShape)
            let labels = (0..<128).map { $0 % net.classes }
            let seconds = median(max(3, repeats / 2)) {
                net.graph.zeroGrad()
                let logits = net.graph.forward(x, training: true)
                let (_, d) = softmaxCrossEntropy(logits: logits, labels: labels)
                net.graph.backward(d)
            }
            result["train_images_per_s_b128_t\(threads)"] = 128 / seconds
            if threads == 1 { result["train_gflops"] = 3 * 2 * macs * 128 / seconds / 1e9 }
        }
        Threads.set(1)
        let sg = result["sgemm_gflops"] as! Double
        result["forward_fraction_of_sgemm"] = (result["forward_gflops"] as! Double) / sg
        result["train_fraction_of_sgemm"] = (result["train_gflops"] as! Double) / sg
        if fmaPeak > 0 {
            result["forward_fraction_of_fma_peak"] = (result["forward_gflops"] as! Double) / fmaPeak
            result["train_fraction_of_fma_peak"] = (result["train_gflops"] as! Double) / fmaPeak
        }
        result["load_average_1min_end"] = HostCPU.loadAverage
        result["peak_memory_mb"] = peakResidentMegabytes()
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(data: json, encoding: .utf8)!)
    }

    func sgemmGFLOPS() -> Double {
        let n = 1024
        let a = [Float](repeating: 1.0 / 1024, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        let seconds = median(repeats) {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        sgemm(m: n, n: n, k: n, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
                    }
                }
            }
        }
        return 2 * Double(n * n * n) / seconds / 1e9
    }
}

func randomBatch(_ batch: Int, _ shape: [Int]) -> Tensor {
    var rng = SeededGenerator(seed: 7)
    return Tensor.randomNormal(shape: [batch] + shape, std: 1, using: &rng)
}

/// Median wall time of `repeats` runs after one warm-up.
func median(_ repeats: Int, _ body: () -> Void) -> Double {
    body()
    var times = [Double]()
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return kb / 1024
    }
    return 0
}
