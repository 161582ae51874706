import Foundation
import SeerCompression
import SeerData
import SeerEngine
import SeerMeasurement
import SeerModels
import SeerTensor
import XCTest

/// The Python side of a test could not run; this fails the test rather than skipping it.
struct InteropFailure: Error, CustomStringConvertible {
    let description: String
}

enum Fixtures {
    /// The package root, from this file's path (Tests/SeerExportTests/Fixtures.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let executorScript = packageRoot.appendingPathComponent("examples/onnx_executor.py")

    /// SEER_PYTHON, else the package's .venv; a missing interpreter fails the test rather than skipping it.
    static func python() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["SEER_PYTHON"], !configured.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: configured) else {
                throw InteropFailure(description: "SEER_PYTHON=\(configured) does not name an executable")
            }
            return configured
        }
        let venv = packageRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw InteropFailure(description: "SEER_PYTHON is unset and \(venv) does not exist: set SEER_PYTHON to a "
                                 + "Python with numpy, onnx and onnxruntime, or run scripts/setup.sh")
        }
        return venv
    }

    /// Runs `python arguments...` with `stdin`, returning stdout and the exit status; stderr goes into failures.
    static func runPython(_ arguments: [String], stdin: Data? = nil) throws -> (stdout: String, status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try python())
        process.arguments = arguments
        // stderr goes to a file, so that neither pipe can fill up and block the child while stdout is read.
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("seer-export-stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        let errHandle = try FileHandle(forWritingTo: errURL)
        let out = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = errHandle
        process.standardInput = input
        try process.run()
        try errHandle.close()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = (try? Data(contentsOf: errURL)) ?? Data()
        return (String(decoding: output, as: UTF8.self), process.terminationStatus, String(decoding: errors, as: UTF8.self))
    }

    /// `python -c script args...`, failing with stderr on a non-zero exit.
    static func runScript(_ script: String, _ arguments: [String]) throws -> String {
        let (stdout, status, stderr) = try runPython(["-c", script] + arguments)
        guard status == 0 else { throw InteropFailure(description: "python exited with status \(status): \(stderr)") }
        return stdout
    }

    /// Runs the `seer-agent` built next to the test bundle (or under .build) with `arguments`.
    static func runAgent(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        var directories = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
        directories += ["release", "debug"].map { packageRoot.appendingPathComponent(".build").appendingPathComponent($0) }
        guard let binary = directories.map({ $0.appendingPathComponent("seer-agent") })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw InteropFailure(description: "seer-agent is not built next to the tests or under .build")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cachedData: Dataset?

    /// Fashion-MNIST from the Debian package, loaded once per test process.
    static func data() throws -> Dataset {
        lock.lock()
        defer { lock.unlock() }
        if let d = cachedData { return d }
        let d = try FashionMNIST.load()
        cachedData = d
        return d
    }

    /// The committed checkpoint of `name` when `ModelStore` finds one; otherwise the zoo network with random weights
    /// and randomized batch-norm statistics, so that folding is tested on more than identity normalizations.
    static func baseModel(_ name: String) throws -> (model: Model, trained: Bool) {
        if ModelStore.checkpoint(for: name) != nil { return (try ModelStore.load(name), true) }
        let model = try ModelZoo.make(name, seed: 11)
        var rng = SeededGenerator(seed: 12)
        for layer in model.graph.layers {
            guard let bn = layer as? BatchNorm2D else { continue }
            for c in 0..<bn.channels {
                bn.gamma.value.data[c] = 0.5 + rng.nextUnitFloat()
                bn.beta.value.data[c] = rng.nextUnitFloat() - 0.5
                bn.runningMean.value.data[c] = (rng.nextUnitFloat() - 0.5) * 0.2
                bn.runningVar.value.data[c] = 0.5 + rng.nextUnitFloat()
            }
        }
        return (model, false)
    }

    /// A mixed low-bit policy with pruning: 4/4 at 25% by default, some layers at 2, 3, 5 or 6 bits, 50% pruned.
    static func mixedPolicy(for model: Model) throws -> ResolvedPolicy {
        var layers = [String: PartialLayerPolicy]()
        switch model.name {
        case "resnet8":
            layers["stage1.block1.conv1"] = PartialLayerPolicy(wbits: 2, abits: 3, prune: 0.5)
            layers["stage2.block1.conv2"] = PartialLayerPolicy(wbits: 3, abits: 2, prune: nil)
            layers["stage3.block1.conv1"] = PartialLayerPolicy(wbits: 6, abits: 5, prune: 0.5)
            layers["fc"] = PartialLayerPolicy(wbits: 5, abits: 6, prune: nil)
        case "mobilenetv2-tiny":
            layers["block2.expand.conv"] = PartialLayerPolicy(wbits: 2, abits: 3, prune: 0.5)
            layers["block3.dw.conv"] = PartialLayerPolicy(wbits: 3, abits: 2, prune: nil)
            layers["block5.project.conv"] = PartialLayerPolicy(wbits: 6, abits: 5, prune: nil)
            layers["fc"] = PartialLayerPolicy(wbits: 5, abits: 6, prune: nil)
        default:
            break
        }
        return try Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: 0.25), layers: layers).resolve(for: model)
    }

    /// The first `count` validation images as float32 pixels in [0, 1] (what the ONNX graph takes) and normalized
    /// (what the engine takes), with their labels.
    static func validationImages(_ data: Dataset, count: Int) throws -> (raw: Tensor, normalized: Tensor, labels: [Int32]) {
        var rng = SeededGenerator(seed: 0)
        let (normalized, labels) = try data.batch(split: .validation, indices: 0..<count, augment: nil, rng: &rng)
        let raw = Tensor(shape: normalized.shape, data: (0..<count).flatMap { data.rawImage(.validation, position: $0) })
        return (raw, normalized, labels)
    }

    /// Little-endian float32 bytes, as numpy's `fromfile(dtype="<f4")` reads them.
    static func rawBytes(_ t: Tensor) -> Data {
        t.data.withUnsafeBytes { Data($0) }
    }

    /// Central finite differences of `loss` at about `samples` entries of every parameter of `graph`, against the
    /// gradients its last backward pass left in `grad`: within `absolute` + `relative` x |numeric|.
    static func assertParameterGradients(_ graph: Graph, samples: Int, step h: Float, absolute: Double, relative: Double,
                                         label: String, loss: () -> Double, file: StaticString = #filePath,
                                         line: UInt = #line) {
        for p in graph.parameters {
            for index in stride(from: 0, to: p.value.count, by: max(1, p.value.count / samples)) {
                let original = p.value.data[index]
                p.value.data[index] = original + h
                let plus = loss()
                p.value.data[index] = original - h
                let minus = loss()
                p.value.data[index] = original
                let numeric = (plus - minus) / Double(2 * h)
                XCTAssertEqual(Double(p.grad.data[index]), numeric, accuracy: absolute + relative * abs(numeric),
                               "\(label)\(p.name)[\(index)]", file: file, line: line)
            }
        }
    }
}
