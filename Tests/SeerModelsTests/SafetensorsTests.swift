import Foundation
import SeerTensor
import XCTest
@testable import SeerModels

/// The Python side of the interop tests could not run; this fails the test rather than skipping it.
private struct InteropFailure: Error, CustomStringConvertible {
    let description: String
}

final class SafetensorsTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seer-safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private let sample: [(name: String, tensor: Tensor)] = [
        ("conv1.weight", Tensor(shape: [2, 1, 3, 3], data: (0..<18).map { Float($0) * 0.25 - 2 })),
        ("conv1.bias", Tensor(shape: [2], data: [-1.5, 3.25])),
        ("scale", Tensor(shape: [], data: [7])),
        ("empty", Tensor(shape: [0, 4], data: [])),
        ("special", Tensor(shape: [5], data: [.infinity, -.infinity, .nan, -0.0, .leastNonzeroMagnitude])),
    ]

    /// A file from raw header text and data bytes, for hand-made corrupt inputs.
    private func file(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
        let headerBytes = Array(header.utf8)
        var bytes = Data()
        withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: headerBytes)
        bytes.append(contentsOf: data)
        return bytes
    }

    private func assertDecodeFails(_ bytes: Data, mentions fragments: [String], line: UInt = #line) {
        XCTAssertThrowsError(try Safetensors.decode(bytes, path: "bad.safetensors"), line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(error is SafetensorsError, message, line: line)
            XCTAssertEqual(error.localizedDescription, message, line: line)
            for fragment in fragments + ["bad.safetensors"] {
                XCTAssertTrue(message.contains(fragment), "'\(fragment)' missing from: \(message)", line: line)
            }
        }
    }

    // MARK: Round trip

    func testRoundTripKeepsValuesShapesOrderAndMetadata() throws {
        let url = try temporaryDirectory().appendingPathComponent("model.safetensors")
        let metadata = ["arch": "lenet5", "quote\"back\\slash": "line\nbreak\ttab\u{1}", "unicode": "héllo ✓ 🎽"]
        try Safetensors.write(sample, metadata: metadata, to: url)
        let (tensors, order, readMetadata) = try Safetensors.read(from: url)
        XCTAssertEqual(order, sample.map(\.name))
        XCTAssertEqual(readMetadata, metadata)
        for (name, tensor) in sample {
            let read = try XCTUnwrap(tensors[name], name)
            XCTAssertEqual(read.shape, tensor.shape, name)
            XCTAssertEqual(read.data.map(\.bitPattern), tensor.data.map(\.bitPattern), name)
        }

        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data section must start 8-byte aligned")
        XCTAssertEqual(bytes.count, 8 + headerLength + 4 * (18 + 2 + 1 + 0 + 5))
        // Same input, same bytes: checkpoints can be compared by hash.
        let again = url.deletingLastPathComponent().appendingPathComponent("again.safetensors")
        try Safetensors.write(sample, metadata: metadata, to: again)
        XCTAssertEqual(try Data(contentsOf: again), bytes)
    }

    func testEmptyFileOfNoTensorsRoundTrips() throws {
        let url = try temporaryDirectory().appendingPathComponent("nothing.safetensors")
        try Safetensors.write([], metadata: [:], to: url)
        let read = try Safetensors.read(from: url)
        XCTAssertTrue(read.tensors.isEmpty && read.order.isEmpty && read.metadata.isEmpty)
    }

    func testWriteReplacesAtomicallyAndLeavesNoTemporaryFiles() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try Safetensors.write([("a", Tensor(shape: [1], data: [1]))], metadata: [:], to: url)
        try Safetensors.write([("b", Tensor(shape: [2], data: [2, 3]))], metadata: ["step": "2"], to: url)
        let read = try Safetensors.read(from: url)
        XCTAssertEqual(read.order, ["b"])
        XCTAssertEqual(read.metadata, ["step": "2"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ckpt.safetensors"])
    }

    func testWriteRejectsBadInputsAndLeavesExistingFileAlone() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("keep.safetensors")
        try Safetensors.write([("a", Tensor(shape: [1], data: [1]))], metadata: [:], to: url)
        let original = try Data(contentsOf: url)
        let one = Tensor(shape: [1], data: [0])
        var lying = one
        lying.shape = [3]
        let cases: [([(name: String, tensor: Tensor)], String)] = [
            ([("w", one), ("w", one)], "'w' appears twice"),
            ([("", one)], "empty name"),
            ([("__metadata__", one)], "__metadata__"),
            ([("w", lying)], "shape [3] but 1 values"),
        ]
        for (tensors, fragment) in cases {
            XCTAssertThrowsError(try Safetensors.write(tensors, metadata: [:], to: url)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: url), original)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["keep.safetensors"])
        XCTAssertThrowsError(try Safetensors.write([("w", one)], metadata: [:],
                                                   to: dir.appendingPathComponent("no/such/dir/x.safetensors")))
    }

    // MARK: Corrupt inputs

    func testCorruptInputsGiveErrorsNamingTheProblem() throws {
        let four = [UInt8](repeating: 0, count: 4)
        assertDecodeFails(Data([1, 2, 3]), mentions: ["3 bytes"])
        assertDecodeFails(file(header: "{}", declaredLength: 1000), mentions: ["header length 1000"])
        assertDecodeFails(file(header: "{\"a\": ", data: four), mentions: ["JSON"])
        assertDecodeFails(file(header: "[1, 2]"), mentions: ["JSON object"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: four),
                          mentions: ["'w'", "F16"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, data: four),
                          mentions: ["'w'", "beyond"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: four),
                          mentions: ["'w'", "shape [2]", "span 4 bytes"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: four),
                          mentions: ["'w'", "data_offsets"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: four),
                          mentions: ["'w'", "negative"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: four),
                          mentions: ["'w'.shape[0]", "1.5"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#, data: four),
                          mentions: ["'w'", "shape"])
        assertDecodeFails(file(header: #"{"__metadata__":{"k":1}}"#), mentions: ["'__metadata__'.k"])
        assertDecodeFails(
            file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                 data: [UInt8](repeating: 0, count: 12)),
            mentions: ["'b'", "overlap", "'a'"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                               data: [UInt8](repeating: 0, count: 8)),
                          mentions: ["bytes [0, 4)", "no tensor"])
        assertDecodeFails(file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                               data: [UInt8](repeating: 0, count: 8)),
                          mentions: ["bytes [4, 8)", "no tensor"])
    }

    func testTruncatedAndMutatedFilesNeverCrash() throws {
        let url = try temporaryDirectory().appendingPathComponent("m.safetensors")
        try Safetensors.write(sample, metadata: ["k": "v"], to: url)
        let valid = try Data(contentsOf: url)
        for cut in [0, 7, 8, 20, valid.count - 1] {
            XCTAssertThrowsError(try Safetensors.decode(valid.prefix(cut), path: "cut"), "cut at \(cut)")
        }
        var state: UInt64 = 1
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        for _ in 0..<500 {
            var bytes = valid
            for _ in 0..<(1 + next() % 3) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            do { _ = try Safetensors.decode(bytes, path: "fuzz") } catch { XCTAssertTrue(error is SafetensorsError, "\(error)") }
        }
    }

    func testMissingFileIsAnError() {
        XCTAssertThrowsError(try Safetensors.read(from: URL(fileURLWithPath: "/nonexistent/seer.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/seer.safetensors"), "\(error)")
        }
    }

    // MARK: Interop with Python's safetensors

    /// SEER_PYTHON, else the package's .venv; a missing interpreter fails the test rather than skipping it.
    private func python() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["SEER_PYTHON"], !configured.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: configured) else {
                throw InteropFailure(description: "SEER_PYTHON=\(configured) does not name an executable")
            }
            return configured
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let venv = packageRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw InteropFailure(description: "SEER_PYTHON is unset and \(venv) does not exist: set SEER_PYTHON to a "
                                 + "Python with safetensors and numpy, or run scripts/setup.sh")
        }
        return venv
    }

    /// Runs `python -c script arguments...` and returns its stdout, failing with stderr on a non-zero exit.
    private func runPython(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try python())
        process.arguments = ["-c", script] + arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw InteropFailure(description: "python exited with status \(process.terminationStatus): "
                                 + String(decoding: errors, as: UTF8.self))
        }
        return String(decoding: output, as: UTF8.self)
    }

    func testPythonReadsWhatSwiftWrites() throws {
        let url = try temporaryDirectory().appendingPathComponent("from-swift.safetensors")
        let finite = sample.filter { $0.name != "special" }
        try Safetensors.write(finite, metadata: ["writer": "seer"], to: url)
        let script = """
            import json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="numpy") as f:
                metadata = f.metadata()
            print(json.dumps({"metadata": metadata, "tensors": {name: {"dtype": str(t.dtype), "shape": list(t.shape),
                "values": t.reshape(-1).tolist()} for name, t in tensors.items()}}))
            """
        let output = try runPython(script, [url.path])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        XCTAssertEqual(json["metadata"] as? [String: String], ["writer": "seer"])
        let tensors = try XCTUnwrap(json["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(tensors.keys), Set(finite.map(\.name)))
        for (name, tensor) in finite {
            let entry = try XCTUnwrap(tensors[name], name)
            XCTAssertEqual(entry["dtype"] as? String, "float32", name)
            XCTAssertEqual(entry["shape"] as? [Int], tensor.shape, name)
            let values = try XCTUnwrap(entry["values"] as? [Double], name)
            XCTAssertEqual(values.map { Float($0) }, tensor.data, name)
        }
    }

    /// The committed checkpoints open in Python's safetensors with every tensor the zoo model has, at its shape.
    func testPythonReadsTheCommittedCheckpoints() throws {
        let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models")
        let script = """
            import json, sys
            from safetensors import safe_open
            with safe_open(sys.argv[1], framework="numpy") as f:
                print(json.dumps({"model": f.metadata().get("model"),
                                  "shapes": {k: list(f.get_tensor(k).shape) for k in f.keys()}}))
            """
        for name in ["resnet8", "resnet20", "mobilenetv2-tiny"] {
            let output = try runPython(script, [models.appendingPathComponent(name + ".safetensors").path])
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            XCTAssertEqual(json["model"] as? String, name)
            let shapes = try XCTUnwrap(json["shapes"] as? [String: [Int]])
            let expected = Dictionary(uniqueKeysWithValues: try ModelZoo.make(name).graph.namedTensors.map { ($0.name, $0.tensor.shape) })
            XCTAssertEqual(shapes, expected, name)
        }
    }

    func testSwiftReadsWhatPythonWrites() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("from-python.safetensors")
        let script = """
            import sys
            import numpy as np
            from safetensors.numpy import save_file
            save_file({
                "fc.weight": (np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 2.0),
                "fc.bias": np.array([1.5, -2.25, 1e-8], dtype=np.float32),
                "step": np.array(3.0, dtype=np.float32),
                "a_first_by_name": np.array([[9.0]], dtype=np.float32),
            }, sys.argv[1], metadata={"framework": "numpy", "note": "h\\u00e9llo"})
            save_file({"half": np.ones(2, dtype=np.float16)}, sys.argv[2])
            """
        let halfURL = dir.appendingPathComponent("half.safetensors")
        _ = try runPython(script, [url.path, halfURL.path])

        let (tensors, order, metadata) = try Safetensors.read(from: url)
        XCTAssertEqual(metadata, ["framework": "numpy", "note": "héllo"])
        XCTAssertEqual(Set(order), ["fc.weight", "fc.bias", "step", "a_first_by_name"])
        XCTAssertEqual(tensors["fc.weight"], Tensor(shape: [3, 4], data: (0..<12).map { Float($0) * 0.5 - 2 }))
        XCTAssertEqual(tensors["fc.bias"], Tensor(shape: [3], data: [1.5, -2.25, 1e-8]))
        XCTAssertEqual(tensors["step"], Tensor(shape: [], data: [3]))
        XCTAssertEqual(tensors["a_first_by_name"], Tensor(shape: [1, 1], data: [9]))

        XCTAssertThrowsError(try Safetensors.read(from: halfURL)) { error in
            XCTAssertTrue("\(error)".contains("F16") && "\(error)".contains("'half'"), "\(error)")
        }
    }
}
