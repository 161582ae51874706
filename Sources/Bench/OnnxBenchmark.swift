import ArgumentParser
import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerExport
import SeerMeasurement
import SeerModels
import SeerTensor

/// The engine's inference against onnxruntime on the same exported model: one thread each, batch 1 and 64.
///
/// For `--model` at 8/8 unpruned and under `--policy` (compressed, no fine-tuning: timing does not depend on it),
/// the engine runs the batch-norm-folded fake-quantized graph (float math with quantize/dequantize passes) and
/// onnxruntime runs the ONNX export of the same network (CPU execution provider, intra_op_num_threads = 1,
/// sequential, all graph optimizations). Both are timed like `LatencyTimer` (warm-up, `number` raised until a repeat
/// lasts `--min-repeat-ms`, `--repeats` repeats, median per-run time); the two sides alternate in `--rounds` rounds and
/// each figure is the median over rounds, so that load drifting on a shared machine hits both alike.
/// The engine's int8 path (`QuantizedInference`: u8 x s8 -> s32 convolutions in oneDNN where the bit-widths and the
/// CPU allow) is timed on the same graphs (`engine_int8_ms_bN`), against the float path (`int8_speedup_bN` = engine_ms /
/// engine_int8_ms) and against onnxruntime's int8 QLinearConv export (`int8_ratio_bN` = engine_int8_ms /
/// onnxruntime_int8_ms; <= 1.0: the engine is at least as fast).
/// Like with like in float: the pruned architecture with no quantizers at all, as the engine's float inference
/// program runs it (`engine_float_ms_bN`, `InferenceArithmetic.float`: on oneDNN, activations stay in oneDNN's layouts
/// between layers) and as onnxruntime runs its plain float32 export (`ort_float_ms_bN`); `float_ratio_bN` =
/// engine_float_ms / ort_float_ms (the 8/8 case is the unpruned float network; `compressed_` keys the pruned one).
/// `engine_float_layerwise_ms_bN` times `Graph.forward` on the same graph (plain NCHW between layers), side by side.
/// Also reported: the engine with the weights quantized once up front (`engine_prequantized_ms_bN`,
/// `prequantized_ratio_bN`; `Conv2D` caches its quantized weights per weight version, so the two should agree),
/// and onnxruntime on an export with the bias as the layers' third input (`biasAsAdd = false`), which lets it
/// use int8 QLinearConv kernels for the 8-bit layers: faster, but no longer the engine's function.
struct OnnxBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "onnx",
                                                    abstract: "Engine vs onnxruntime latency on the same exported model.")

    @Option(help: "Zoo model (its checkpoint when one is found, random weights otherwise).") var model = "resnet20"
    @Option(help: "The compressed policy W/A[/PRUNE] timed next to 8/8.") var policy = "4/4/0.5"
    @Option(help: "Timed repeats per measurement (median).") var repeats = 5
    @Option(help: "Each repeat lasts at least this long.") var minRepeatMs = 100.0
    @Option(help: "Rounds alternating engine and onnxruntime (median over rounds).") var rounds = 3
    @Option(help: "Python with onnxruntime (default: $SEER_PYTHON, else .venv/bin/python).") var python: String?
    @Option(help: "Directory with the Fashion-MNIST IDX files.") var data = FashionMNIST.defaultDirectory

    static let batches = [1, 64]

    /// Times onnxruntime sessions on request: one JSON line in ({"onnx", "images", "shape", ...}), one line out.
    static let server = #"""
        import json, math, sys, time
        import numpy as np, onnxruntime as ort
        sessions = {}
        def measure(run, number, repeats, min_repeat_ms):
            run()
            def timed(n):
                start = time.perf_counter_ns()
                for _ in range(n): run()
                return (time.perf_counter_ns() - start) / 1e9
            while True:
                t = timed(number)
                if t * 1000 >= min_repeat_ms or number >= 1 << 20: break
                scale = min_repeat_ms / (t * 1000) if t > 0 else 2
                number = max(number * 2, int(math.ceil(number * scale * 1.1)))
            per_run = sorted(timed(number) * 1000 / number for _ in range(repeats))
            n = len(per_run)
            return per_run[n // 2] if n % 2 else (per_run[n // 2 - 1] + per_run[n // 2]) / 2
        print(json.dumps({"version": ort.__version__}), flush=True)
        for line in sys.stdin:
            r = json.loads(line)
            if r["onnx"] not in sessions:
                o = ort.SessionOptions()
                o.intra_op_num_threads = 1
                o.inter_op_num_threads = 1
                o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                sessions[r["onnx"]] = ort.InferenceSession(r["onnx"], o, providers=["CPUExecutionProvider"])
            s = sessions[r["onnx"]]
            x = np.fromfile(r["images"], dtype="<f4").reshape(r["shape"])
            feed = {s.get_inputs()[0].name: x}
            logits = s.run(None, feed)[0]
            ms = measure(lambda: s.run(None, feed), 1, r["repeats"], r["min_repeat_ms"])
            print(json.dumps({"median_ms": ms, "argmax": logits.argmax(axis=1).tolist()}), flush=True)
        """#

    func run() throws {
        Threads.set(1)
        let base: Model
        let trained = ModelStore.checkpoint(for: model) != nil
        base = trained ? try ModelStore.load(model) : try ModelZoo.make(model, seed: 0)
        let dataset = try FashionMNIST.load(directory: data)
        var settings = EvaluationSettings()
        settings.finetuneSteps = 0

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seer-bench-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // Inputs: the first validation images, normalized for the engine and as [0, 1] pixels for the ONNX graph.
        var inputs = [Int: (engine: Tensor, raw: URL)]()
        for batch in Self.batches {
            var rng = SeededGenerator(seed: 0)
            let (x, _) = try dataset.batch(split: .validation, indices: 0..<batch, augment: nil, rng: &rng)
            let raw = (0..<batch).flatMap { dataset.rawImage(.validation, position: $0) }
            let url = dir.appendingPathComponent("images-b\(batch).f32")
            try raw.withUnsafeBytes { Data($0) }.write(to: url)
            inputs[batch] = (x, url)
        }

        struct Case {
            let key: String, graph: Graph, prequantized: Graph, quantized: QuantizedInference, onnx: URL, int8: URL?
            /// The same pruned architecture with no quantizers at all: as the float inference program runs it, as
            /// `Graph.forward` runs it (layer by layer, plain NCHW between layers), and its plain float32 ONNX export.
            let float: InferenceProgram, floatLayerwise: Graph, floatOnnx: URL
        }
        var cases = [Case]()
        for (key, bits) in [("", "8/8"), ("compressed_", policy)] {
            let resolved = try Policy(bits: bits).resolve(for: base)
            let compressed = try PolicyEvaluation.compress(base: base, policy: resolved, data: dataset, settings: settings).model
            let onnx = dir.appendingPathComponent("\(key)model.onnx")
            try OnnxExport.export(model: compressed, to: onnx)
            let pruned = ChannelPruning.prune(base, policy: resolved)
            let floatOnnx = dir.appendingPathComponent("\(key)float.onnx")
            try OnnxExport.export(model: pruned, to: floatOnnx)
            var int8: URL?
            if key.isEmpty {
                let url = dir.appendingPathComponent("int8.onnx")
                try OnnxExport.serialize(compressed, options: OnnxExport.Options(biasAsAdd: false)).write(to: url)
                int8 = url
            }
            // The same function with the weights quantized once instead of in every forward pass.
            let prequantized = compressed.graph.foldingBatchNorm()
            for layer in prequantized.layers {
                if let c = layer as? Conv2D, c.weightQuantizer != nil {
                    c.weight.value = c.effectiveWeight
                    c.weightQuantizer = nil
                }
                if let l = layer as? Linear, l.weightQuantizer != nil {
                    l.weight.value = l.effectiveWeight
                    l.weightQuantizer = nil
                }
            }
            let folded = compressed.graph.foldingBatchNorm()
            cases.append(Case(key: key, graph: folded, prequantized: prequantized, quantized: QuantizedInference(folded),
                              onnx: onnx, int8: int8, float: InferenceArithmetic.float.compile(pruned.graph.foldingBatchNorm()),
                              floatLayerwise: pruned.graph.foldingBatchNorm(), floatOnnx: floatOnnx))
        }

        let server = try OnnxRuntimeServer(python: python ?? Self.defaultPython(), script: Self.server)
        defer { server.stop() }
        var samples = [String: [Double]]()
        var agreement = [String: Double]()
        let latency = LatencySettings(number: 1, repeats: repeats, minRepeatMs: minRepeatMs, batch: 1)
        for _ in 0..<rounds {
            for c in cases {
                for batch in Self.batches {
                    let (x, raw) = inputs[batch]!
                    let engineLogits = c.graph.forward(x, training: false)
                    let engine = LatencyTimer.measure(latency) { _ = c.graph.forward(x, training: false) }
                    samples["\(c.key)engine_ms_b\(batch)", default: []].append(engine.medianMs)
                    let pre = LatencyTimer.measure(latency) { _ = c.prequantized.forward(x, training: false) }
                    samples["\(c.key)engine_prequantized_ms_b\(batch)", default: []].append(pre.medianMs)
                    let int8Logits = c.quantized.forward(x)
                    let int8 = LatencyTimer.measure(latency) { _ = c.quantized.forward(x) }
                    samples["\(c.key)engine_int8_ms_b\(batch)", default: []].append(int8.medianMs)
                    agreement["\(c.key)int8_float_argmax_agreement_b\(batch)"] =
                        Double(zip(argmax(int8Logits, batch), argmax(engineLogits, batch)).filter { $0 == $1 }.count) / Double(batch)
                    let request: [String: Any] = ["onnx": c.onnx.path, "images": raw.path, "shape": [batch] + base.inputShape,
                                                  "repeats": repeats, "min_repeat_ms": minRepeatMs]
                    let reply = try server.ask(request)
                    samples["\(c.key)onnxruntime_ms_b\(batch)", default: []].append(reply["median_ms"] as? Double ?? .nan)
                    let predicted = reply["argmax"] as? [Int] ?? []
                    let engineArgmax = argmax(engineLogits, batch)
                    agreement["\(c.key)argmax_agreement_b\(batch)"] = Double(zip(predicted, engineArgmax).filter { $0 == $1 }.count)
                        / Double(batch)
                    let floatLogits = c.float.forward(x)
                    let floatEngine = LatencyTimer.measure(latency) { _ = c.float.forward(x) }
                    samples["\(c.key)engine_float_ms_b\(batch)", default: []].append(floatEngine.medianMs)
                    let layerwise = LatencyTimer.measure(latency) { _ = c.floatLayerwise.forward(x, training: false) }
                    samples["\(c.key)engine_float_layerwise_ms_b\(batch)", default: []].append(layerwise.medianMs)
                    var f = request
                    f["onnx"] = c.floatOnnx.path
                    let floatReply = try server.ask(f)
                    samples["\(c.key)ort_float_ms_b\(batch)", default: []].append(floatReply["median_ms"] as? Double ?? .nan)
                    agreement["\(c.key)float_argmax_agreement_b\(batch)"] = Double(zip(floatReply["argmax"] as? [Int] ?? [],
                        argmax(floatLogits, batch)).filter { $0 == $1 }.count) / Double(batch)
                    if let int8 = c.int8 {
                        var q = request
                        q["onnx"] = int8.path
                        let r = try server.ask(q)
                        samples["onnxruntime_int8_ms_b\(batch)", default: []].append(r["median_ms"] as? Double ?? .nan)
                    }
                }
            }
        }

        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        func rounded(_ v: Double) -> Double { (v * 10_000).rounded() / 10_000 }
        var result: [String: Any] = ["model": model, "policy": "8/8", "compressed_policy": policy, "threads": 1,
                                     "cpu": HostCPU.modelName, "isa": HostCPU.isa,
                                     "dnnl_max_cpu_isa": ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"] ?? "unset",
                                     "onednn_int8_isa": QuantizedInference.effectiveISA,
                                     "onednn_brgemm": OneDNNBrgemm.isAllowed, "winograd": WinogradConvolution.current.rawValue,
                                     "int8_layers": cases[0].quantized.integerLayers.count,
                                     "float_layers": cases[0].quantized.floatLayers.map { "\($0.name): \($0.reason)" },
                                     "compressed_int8_layers": cases[1].quantized.integerLayers.count,
                                     "inference_convolution_kernel": inferenceConvolutionKernel, "trained_checkpoint": trained, "rounds": rounds, "repeats": repeats,
                                     "min_repeat_ms": minRepeatMs, "onnxruntime_version": server.version]
        for (key, values) in samples { result[key] = rounded(median(values)) }
        for (key, value) in agreement { result[key] = value }
        for c in cases {
            for batch in Self.batches {
                let e = median(samples["\(c.key)engine_ms_b\(batch)"]!), o = median(samples["\(c.key)onnxruntime_ms_b\(batch)"]!)
                result["\(c.key)ratio_b\(batch)"] = rounded(e / o)
                result["\(c.key)prequantized_ratio_b\(batch)"] = rounded(median(samples["\(c.key)engine_prequantized_ms_b\(batch)"]!) / o)
                result["\(c.key)int8_speedup_b\(batch)"] = rounded(e / median(samples["\(c.key)engine_int8_ms_b\(batch)"]!))
                result["\(c.key)float_ratio_b\(batch)"] = rounded(median(samples["\(c.key)engine_float_ms_b\(batch)"]!)
                                                                / median(samples["\(c.key)ort_float_ms_b\(batch)"]!))
            }
        }
        for batch in Self.batches {
            result["int8_ratio_b\(batch)"] = rounded(median(samples["engine_int8_ms_b\(batch)"]!)
                                                     / median(samples["onnxruntime_int8_ms_b\(batch)"]!))
        }
        // Where the engine's time goes at batch 64 (8/8), by layer type: milliseconds per forward pass.
        var byType = [String: Double]()
        let graph = cases[0].graph, x = inputs[64]!.engine
        for pass in 0...3 {
            var values = [Graph.NodeID: Tensor]()
            for id in graph.topologicalOrder {
                let node = graph.nodes[id]
                let ins = node.inputs.map { $0 == Graph.input ? x : values[$0]! }
                let t0 = DispatchTime.now().uptimeNanoseconds
                values[id] = node.layer.forward(ins, training: false)
                let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                if pass > 0 { byType[String(describing: type(of: node.layer)), default: 0] += ms / 3 }
            }
        }
        result["engine_ms_b64_by_layer"] = byType.mapValues(rounded)
        if let load = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) {
            result["load_average_1m"] = Double(load.split(separator: " ").first ?? "") ?? 0
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(data: json, encoding: .utf8)!)
    }

    /// The top-1 class of each of the `batch` rows of `logits`.
    func argmax(_ logits: Tensor, _ batch: Int) -> [Int] {
        let classes = logits.count / batch
        return (0..<batch).map { i in
            let row = Array(logits.data[(i * classes)..<((i + 1) * classes)])
            return row.firstIndex(of: row.max()!)!
        }
    }

    static func defaultPython() -> String {
        if let p = ProcessInfo.processInfo.environment["SEER_PYTHON"], !p.isEmpty { return p }
        return FileManager.default.currentDirectoryPath + "/.venv/bin/python"
    }
}

/// A Python child answering one JSON line per request line.
final class OnnxRuntimeServer {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var buffer = Data()
    private(set) var version = ""

    init(python: String, script: String) throws {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ValidationError("no Python at \(python): set SEER_PYTHON or --python (it needs numpy and onnxruntime), "
                                  + "or run scripts/setup.sh")
        }
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        version = try readLine()["version"] as? String ?? ""
    }

    func ask(_ request: [String: Any]) throws -> [String: Any] {
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: request) + Data([0x0A]))
        return try readLine()
    }

    private func readLine() throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer = Data(buffer[(newline + 1)...])
                guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw ValidationError("onnxruntime helper printed a non-object: \(String(decoding: line, as: UTF8.self))")
                }
                return object
            }
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw ValidationError("the onnxruntime helper exited (see its stderr above)") }
            buffer.append(chunk)
        }
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
