import Foundation
import SeerTensor
import XCTest
@testable import SeerData

/// SEER_PYTHON (make test sets it), else the package's .venv: numpy writes the npz files and Pillow the images, so
/// the readers are checked against what users' tools write. A missing interpreter fails the test.
func python(_ script: String, _ arguments: [String] = []) throws -> String {
    var interpreter = ProcessInfo.processInfo.environment["SEER_PYTHON"] ?? ""
    if interpreter.isEmpty {
        interpreter = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".venv/bin/python").path
    }
    guard FileManager.default.isExecutableFile(atPath: interpreter) else {
        throw DataError.invalidRequest("no Python at \(interpreter): set SEER_PYTHON or run scripts/setup.sh")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: interpreter)
    process.arguments = ["-c", script] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw DataError.invalidRequest("python failed: " + String(decoding: errors, as: UTF8.self))
    }
    return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The error's message, for checks that it names the file and the problem.
func message(of body: () throws -> Any) -> String {
    do { _ = try body() } catch { return "\(error)" }
    return "no error"
}

final class NpzSourceTests: XCTestCase {
    /// Pixel (n, c, y, x) of the generated images: every position identifiable.
    static func pixel(_ n: Int, _ c: Int, _ y: Int, _ x: Int) -> Int { (n * 7 + y * 5 + x * 3 + c * 11) % 256 }

    /// Writes an npz with numpy: images [N, H, W, C] (or NCHW when `nchw`) from `pixel`, labels n % classes.
    func writeNpz(_ path: String, train: Int = 20, test: Int = 4, shape: (h: Int, w: Int, c: Int) = (5, 6, 3),
                  nchw: Bool = false, dtype: String = "uint8", compressed: Bool = false, labelShape: String = "(n,)",
                  classes: Int = 5, drop: String? = nil) throws {
        _ = try python("""
            import sys, numpy as np
            h, w, c = \(shape.h), \(shape.w), \(shape.c)
            def images(n, offset):
                i = np.arange(n).reshape(n, 1, 1, 1) + offset
                y = np.arange(h).reshape(1, h, 1, 1); x = np.arange(w).reshape(1, 1, w, 1); ch = np.arange(c).reshape(1, 1, 1, c)
                a = (i * 7 + y * 5 + x * 3 + ch * 11) % 256
                a = a.transpose(0, 3, 1, 2) if \(nchw ? "True" : "False") else a
                return a.astype("\(dtype)") / (255.0 if "\(dtype)".startswith("float") else 1)
            def labels(n, offset):
                return (np.arange(n) + offset) % \(classes)
            n = \(train); ytr = labels(n, 0).reshape\(labelShape)
            n = \(test); yte = labels(n, \(train)).reshape\(labelShape)
            arrays = dict(x_train=images(\(train), 0).astype("\(dtype)"), y_train=ytr, x_test=images(\(test), \(train)).astype("\(dtype)"), y_test=yte)
            \(drop.map { "del arrays['\($0)']" } ?? "")
            (np.savez_compressed if \(compressed ? "True" : "False") else np.savez)(sys.argv[1], **arrays)
            """, [path])
    }

    /// The crop padding of training augmentation comes from the data config (default 2) and must leave every shift
    /// inside the image's height and width.
    func testCropPaddingIsConfigurable() throws {
        let path = try temporaryDirectory(self) + "/data.npz"
        try writeNpz(path)  // 5x6 images
        XCTAssertEqual(try DataSpec(path: path).load().augmentation, .standard)
        XCTAssertEqual(try DataSpec(path: path, cropPadding: 4).load().augmentation.padding, 4)
        XCTAssertEqual(try DataSpec(path: path, cropPadding: 0).load().augmentation.padding, 0)
        let error = message { try DataSpec(path: path, cropPadding: 5).load() }
        XCTAssertTrue(error.contains("data.crop_padding") && error.contains("less than 5"), error)
        // A new validation split keeps the augmentation.
        XCTAssertEqual(try DataSpec(path: path, cropPadding: 4).load().resplit(validationCount: 1).augmentation.padding, 4)
    }

    func testUint8NHWCBecomesCHWWithPerChannelNormalization() throws {
        let path = try temporaryDirectory(self) + "/data.npz"
        try writeNpz(path)
        let spec = DataSpec(path: path, mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.1], validation: 5)
        XCTAssertEqual(try spec.resolvedFormat(), .npz)
        let data = try spec.load()
        XCTAssertEqual(data.imageShape, [3, 5, 6])
        XCTAssertEqual(data.classCount, 5)
        XCTAssertEqual([data.count(.train), data.count(.validation), data.count(.test)], [15, 5, 4])
        XCTAssertEqual(data.labels(.test), [0, 1, 2, 3])
        // Test image 2 is generated image 22: raw pixels in [0, 1], CHW.
        let raw = data.rawImage(.test, position: 2)
        XCTAssertEqual(raw[1 * 30 + 3 * 6 + 4], Float(Self.pixel(22, 1, 3, 4)) / 255, accuracy: 1e-6)
        var rng = SeededGenerator(seed: 0)
        let (batch, labels) = try data.batch(split: .test, indices: [2], augment: nil, rng: &rng)
        XCTAssertEqual(batch.shape, [1, 3, 5, 6])
        XCTAssertEqual(labels, [2])
        for c in 0..<3 {
            let expected = (Float(Self.pixel(22, c, 3, 4)) / 255 - [0.5, 0.4, 0.3][c]) / [0.25, 0.2, 0.1][c]
            XCTAssertEqual(batch.data[c * 30 + 3 * 6 + 4], expected, accuracy: 1e-5)
        }
        // The SHA-256 is the file's, and fingerprinting needs no decoding.
        let sha = try python("import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())", [path])
        XCTAssertEqual(data.datasetSHA256, sha)
        XCTAssertEqual(try spec.fingerprint(), sha)
    }

    func testCompressedFloatNCHWWithColumnLabelsIsInferred() throws {
        let path = try temporaryDirectory(self) + "/data.npz"
        try writeNpz(path, shape: (8, 8, 3), nchw: true, dtype: "float32", compressed: true, labelShape: "(n, 1)")
        let data = try DataSpec(path: path).load()
        XCTAssertEqual(data.imageShape, [3, 8, 8])
        XCTAssertEqual(data.count(.validation), 2, "10% of 20 training images by default")
        XCTAssertEqual(data.rawImage(.test, position: 1)[2 * 64 + 7 * 8 + 1], Float(Self.pixel(21, 2, 7, 1)) / 255, accuracy: 1e-6)
        XCTAssertEqual(data.normalization, .identity)
        // Gray [N, H, W] images are one channel.
        let gray = try temporaryDirectory(self) + "/gray.npz"
        _ = try python("import sys, numpy as np; x = np.zeros((6, 4, 4), np.uint8); y = np.arange(6) % 2; "
                       + "np.savez(sys.argv[1], x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])", [gray])
        XCTAssertEqual(try DataSpec(path: gray).load().imageShape, [1, 4, 4])
    }

    func testAmbiguousLayoutMustBeDeclared() throws {
        let path = try temporaryDirectory(self) + "/data.npz"
        try writeNpz(path, shape: (3, 4, 3))   // [N, 3, 4, 3]: channels could be axis 1 or axis 3
        let error = message { try DataSpec(path: path).load() }
        XCTAssertTrue(error.contains("data.layout") && error.contains(path) && error.contains("[20, 3, 4, 3]"), error)
        let data = try DataSpec(path: path, layout: .nhwc).load()
        XCTAssertEqual(data.imageShape, [3, 3, 4])
        XCTAssertEqual(data.rawImage(.train, position: 0)[2 * 12 + 1 * 4 + 3],
                       Float(Self.pixel(data.trainIndices[0], 2, 1, 3)) / 255, accuracy: 1e-6)
    }

    func testBadArchivesNameTheFileAndTheProblem() throws {
        let dir = try temporaryDirectory(self)
        try writeNpz(dir + "/partial.npz", drop: "y_test")
        var error = message { try DataSpec(path: dir + "/partial.npz").load() }
        XCTAssertTrue(error.contains(dir + "/partial.npz") && error.contains("no array y_test"), error)

        try Data("not a zip".utf8).write(to: URL(fileURLWithPath: dir + "/text.npz"))
        error = message { try DataSpec(path: dir + "/text.npz").load() }
        XCTAssertTrue(error.contains(dir + "/text.npz") && error.contains("not a zip archive"), error)

        // A flipped byte inside deflated data: invalid deflate data or a CRC mismatch, never silently wrong pixels.
        try writeNpz(dir + "/damaged.npz", compressed: true)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/damaged.npz")))
        bytes[120] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/damaged.npz"))
        error = message { try DataSpec(path: dir + "/damaged.npz").load() }
        XCTAssertTrue(error.contains(dir + "/damaged.npz") && (error.contains("CRC") || error.contains("deflate")
                                                                || error.contains("header")), error)

        // Truncated: the central directory is gone.
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: dir + "/cut.npz"))
        error = message { try DataSpec(path: dir + "/cut.npz").load() }
        XCTAssertTrue(error.contains(dir + "/cut.npz"), error)

        try writeNpz(dir + "/floatlabels.npz", labelShape: "(n,).astype('float32')")
        error = message { try DataSpec(path: dir + "/floatlabels.npz").load() }
        XCTAssertTrue(error.contains("y_train") && error.contains("labels must be integers"), error)

        try writeNpz(dir + "/few.npz", classes: 5)
        error = message { try DataSpec(path: dir + "/few.npz", classes: 3).load() }
        XCTAssertTrue(error.contains("data.classes") && error.contains("label 4"), error)
        XCTAssertEqual(try DataSpec(path: dir + "/few.npz", classes: 8).load().classCount, 8)

        error = message { try DataSpec(path: dir + "/absent.npz").load() }
        XCTAssertTrue(error.contains(dir + "/absent.npz") && error.contains("no such file"), error)
    }

    func testPinnedSHA256RefusesOtherData() throws {
        let dir = try temporaryDirectory(self)
        try writeNpz(dir + "/a.npz")
        try writeNpz(dir + "/b.npz", train: 21)
        let pinned = try DataSpec(path: dir + "/a.npz").pinned()
        XCTAssertEqual(try pinned.load().datasetSHA256, pinned.sha256)
        var other = pinned
        other.path = dir + "/b.npz"
        let error = message { try other.load() }
        XCTAssertTrue(error.contains(dir + "/b.npz") && error.contains(pinned.sha256!) && error.contains("differ"), error)
        let data = try DataSpec(path: dir + "/b.npz").load()
        XCTAssertThrowsError(try data.checkIdentity(pinned.sha256)) { error in
            guard case .datasetMismatch? = error as? DataError else { return XCTFail("\(error)") }
        }
        XCTAssertNoThrow(try data.checkIdentity(nil))
        XCTAssertNoThrow(try data.checkIdentity(data.datasetSHA256))
    }

    func testAugmentationShiftsAndFlipsAllChannelsOfAnySize() throws {
        // One 3-channel 5x7 image whose value encodes (c, y, x), normalized per channel.
        let (c, h, w) = (3, 5, 7)
        let pixels = (0..<(c * h * w)).map { UInt8($0) }
        let normalization = Normalization(mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 0.125])
        let data = try Dataset(imageShape: [c, h, w], classCount: 2, normalization: normalization,
                               trainPool: ImagePool(pixels: .bytes(pixels), labels: [1]),
                               testPool: ImagePool(pixels: .bytes([]), labels: []), validationCount: 0, source: "synthetic")
        func normalized(_ channel: Int, _ value: Int) -> Float {
            (Float(value) / 255 - normalization.mean[channel]) / normalization.std[channel]
        }
        var seen = Set<[Int]>()
        for seed in UInt64(0)..<100 {
            var rng = SeededGenerator(seed: seed), replay = rng
            let dy = replay.nextInt(below: 5) - 2, dx = replay.nextInt(below: 5) - 2
            let flip = replay.nextUnitFloat() < 0.5
            seen.insert([dy, dx, flip ? 1 : 0])
            let (batch, _) = try data.batch(split: .train, indices: [0], augment: .standard, rng: &rng)
            XCTAssertEqual(batch.shape, [1, c, h, w])
            for channel in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let sy = y + dy, sx = (flip ? w - 1 - x : x) + dx
                        let inside = (0..<h).contains(sy) && (0..<w).contains(sx)
                        let expected = inside ? normalized(channel, channel * h * w + sy * w + sx) : normalized(channel, 0)
                        XCTAssertEqual(batch.data[(channel * h + y) * w + x], expected, accuracy: 1e-5)
                    }
                }
            }
        }
        XCTAssertGreaterThan(seen.count, 20)
    }
}

final class DataSpecTests: XCTestCase {
    func decode(_ json: String) throws -> DataSpec { try JSONDecoder().decode(DataSpec.self, from: Data(json.utf8)) }

    func testConfigFormsAndFieldErrors() throws {
        XCTAssertEqual(try decode(#""/some/dir""#), DataSpec(path: "/some/dir"))
        let full = try decode(#"{"format": "npz", "path": "d.npz", "mean": 0.5, "std": [0.2, 0.3, 0.4], "layout": "nchw", "classes": 5, "validation": 10}"#)
        XCTAssertEqual(full, DataSpec(format: .npz, path: "d.npz", mean: [0.5], std: [0.2, 0.3, 0.4], layout: .nchw,
                                      classes: 5, validation: 10))
        XCTAssertEqual(full.normalization(for: .npz).channel(2).mean, 0.5)
        XCTAssertEqual(full.normalization(for: .npz).channel(2).std, 0.4)
        let cases: [(String, [String])] = [
            (#"{"path": "d.npz", "colour": 1}"#, ["colour", "unknown field"]),
            (#"{"format": "tfrecord", "path": "d"}"#, ["format", "idx, npz, imagefolder"]),
            (#"{"path": "d.npz", "mean": "a"}"#, ["mean", "number"]),
            (#"{"format": "npz"}"#, ["path", "keyNotFound"]),
        ]
        for (json, fragments) in cases {
            let error = message { try self.decode(json) }
            for fragment in fragments { XCTAssertTrue(error.contains(fragment), "\(json): \(error)") }
        }
        XCTAssertEqual(try decode(#"{"path": "d.npz", "crop_padding": 4}"#), DataSpec(path: "d.npz", cropPadding: 4))
        XCTAssertTrue(message { try self.decode(#"{"path": "d.npz", "crop_padding": "x"}"#) }.contains("integer"))
        let invalid: [(DataSpec, [String])] = [
            (DataSpec(path: "d.npz", cropPadding: -1), ["data.crop_padding", "at least 0"]),
            (DataSpec(path: "d.npz", std: [0.5, 0]), ["data.std", "not positive"]),
            (DataSpec(path: "d.npz", classes: 0), ["data.classes"]),
            (DataSpec(path: "d.npz", validation: -1), ["data.validation"]),
            (DataSpec(path: "d.npz", sha256: "abc"), ["data.sha256", "64"]),
            (DataSpec(format: .idx, path: "/d", layout: .nhwc), ["data.layout", "only npz"]),
            (DataSpec(path: "", mean: [1]), ["data.path"]),
        ]
        for (spec, fragments) in invalid {
            let error = message { try spec.validate() }
            for fragment in fragments { XCTAssertTrue(error.contains(fragment), "\(spec): \(error)") }
        }
        // Channel counts are checked against the data.
        let error = message { try Normalization(mean: [0, 0], std: [1]).validate(channels: 3, field: "data") }
        XCTAssertTrue(error.contains("data.mean") && error.contains("2 values for 3-channel"), error)
    }

    func testCommandLineOptions() throws {
        let spec = try DataSpec.commandLine(path: "x.npz", mean: "0.49, 0.48,0.45", std: "0.25", layout: "NHWC")
        XCTAssertEqual(spec, DataSpec(path: "x.npz", mean: [0.49, 0.48, 0.45], std: [0.25], layout: .nhwc))
        XCTAssertTrue(message { try DataSpec.commandLine(path: "x.npz", mean: "a,b", std: nil, layout: nil) }.contains("--data-mean"))
        XCTAssertTrue(message { try DataSpec.commandLine(path: "x.npz", mean: nil, std: nil, layout: "hwc") }.contains("--data-layout"))
        XCTAssertEqual(try DataSpec.agentOptions(["data": "y.npz", "data-std": "2"]), DataSpec(path: "y.npz", std: [2]))
        XCTAssertEqual(try DataSpec.agentOptions(["data": "y.npz", "data-crop-padding": "4"]), DataSpec(path: "y.npz", cropPadding: 4))
        XCTAssertTrue(message { try DataSpec.agentOptions(["data-crop-padding": "four"]) }.contains("data-crop-padding"))
        XCTAssertTrue(message { try DataSpec.commandLine(path: "x.npz", mean: nil, std: nil, layout: nil, cropPadding: -2) }
                      .contains("data.crop_padding"))
        XCTAssertEqual(DataSpec(path: "/d", std: [2]).normalization(for: .idx), Normalization(mean: [0], std: [2]))
        XCTAssertEqual(DataSpec(path: "/d").normalization(for: .idx), FashionMNIST.normalization)
    }

    func testFormatIsInferredFromThePath() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertEqual(try DataSpec(path: dir + "/x.NPZ").resolvedFormat(), .npz)
        XCTAssertEqual(try DataSpec(path: FashionMNIST.defaultDirectory).resolvedFormat(), .idx)
        try FileManager.default.createDirectory(atPath: dir + "/folder/train", withIntermediateDirectories: true)
        XCTAssertEqual(try DataSpec(path: dir + "/folder").resolvedFormat(), .imagefolder)
        let error = message { try DataSpec(path: dir).resolvedFormat() }
        XCTAssertTrue(error.contains("data.path") && error.contains(dir), error)
    }
}

final class ImageFolderSourceTests: XCTestCase {
    /// ROOT/train/{blue,red}/ with 3 images each and ROOT/val/{blue,red}/ with 1: 16x8 PNGs whose left half is the
    /// class colour and right half white, and JPEGs of the solid class colour.
    func makeFolder() throws -> String {
        let root = try temporaryDirectory(self) + "/images"
        _ = try python("""
            import os, sys
            from PIL import Image
            root = sys.argv[1]
            colours = {"blue": (0, 0, 255), "red": (255, 0, 0)}
            for split, count in (("train", 3), ("val", 1)):
                for name, rgb in colours.items():
                    os.makedirs(f"{root}/{split}/{name}")
                    for i in range(count):
                        half = Image.new("RGB", (16, 8), (255, 255, 255))
                        half.paste(Image.new("RGB", (8, 8), rgb), (0, 0))
                        half.save(f"{root}/{split}/{name}/{i}.png")
                        Image.new("RGB", (20, 20), rgb).save(f"{root}/{split}/{name}/{i}.jpg", quality=95)
                    open(f"{root}/{split}/{name}/notes.txt", "w").write("not an image")
            """, [root])
        return root
    }

    func testPngAndJpegAreDecodedResizedAndCropped() throws {
        let root = try makeFolder()
        let spec = DataSpec(path: root, validation: 2)
        XCTAssertEqual(try spec.resolvedFormat(), .imagefolder)
        let data = try spec.load(imageShape: [3, 8, 8])
        XCTAssertEqual(data.classCount, 2)
        XCTAssertEqual(data.count(.train) + data.count(.validation), 12)
        XCTAssertEqual(data.count(.test), 4)
        // Sorted: val/blue/0.jpg, val/blue/0.png, val/red/0.jpg, val/red/0.png.
        XCTAssertEqual(data.labels(.test), [0, 0, 1, 1])
        // The 16x8 PNG is already 8 rows high: no scaling, the middle 8 columns are kept (4 colour, 4 white).
        let png = data.rawImage(.test, position: 3)
        XCTAssertEqual(png[0 * 64 + 2 * 8 + 0], 1)        // red channel, left: red
        XCTAssertEqual(png[1 * 64 + 2 * 8 + 3], 0)        // green channel, left: red has none
        XCTAssertEqual(png[1 * 64 + 2 * 8 + 4], 1)        // green channel, right: white
        // The 20x20 JPEG shrinks to 8x8 by area averaging: solid blue within JPEG error.
        let jpeg = data.rawImage(.test, position: 0)
        XCTAssertEqual(jpeg[2 * 64 + 27], 1, accuracy: 0.03)
        XCTAssertEqual(jpeg[0 * 64 + 27], 0, accuracy: 0.03)
        // Gray models get gray images: blue is dark, white is white.
        let gray = try spec.load(imageShape: [1, 8, 8])
        XCTAssertEqual(gray.imageShape, [1, 8, 8])
        XCTAssertLessThan(gray.rawImage(.test, position: 1)[0], 0.35)   // libpng converts in linear light: blue is 0.3
        XCTAssertEqual(gray.rawImage(.test, position: 1)[7], 1, accuracy: 0.01)
        // The fingerprint needs no decoding and covers the bytes.
        XCTAssertEqual(try spec.fingerprint(), data.datasetSHA256)
        XCTAssertEqual(gray.datasetSHA256, data.datasetSHA256)
        try Data([0]).write(to: URL(fileURLWithPath: root + "/train/red/extra.png"))
        XCTAssertNotEqual(try spec.fingerprint(), data.datasetSHA256)
    }

    func testClassesAndFilesAreNumberedInPythonsOrder() throws {
        // Decomposed and precomposed accents, upper case and digits: Python's sorted (torchvision, the runtime
        // agent) orders by code point, Swift's < by canonical form; the class numbers must be Python's.
        let root = try temporaryDirectory(self) + "/unicode"
        let names = ["f", "e\u{301}t\u{e9}", "\u{e9}t\u{e9}", "Zebra", "10", "2", "a\u{30a}"]
        let order = try python("""
            import json, os, sys
            from PIL import Image
            root, names = sys.argv[1], json.loads(sys.argv[2])
            for split in ("train", "val"):
                for name in names:
                    os.makedirs(os.path.join(root, split, name))
                    for file in ("b\\u00e9.png", "be\\u0301.png"):
                        Image.new("RGB", (4, 4), (9, 9, 9)).save(os.path.join(root, split, name, file))
            print(json.dumps(sorted(os.listdir(os.path.join(root, "train")))))
            """, [root, String(decoding: try JSONEncoder().encode(names), as: UTF8.self)])
        let pythonOrder = try JSONDecoder().decode([String].self, from: Data(order.utf8))
        let (train, test) = try ImageFolderSource.list(root)
        XCTAssertEqual(train.classNames.map { Array($0.unicodeScalars) }, pythonOrder.map { Array($0.unicodeScalars) })
        XCTAssertNotEqual(pythonOrder, pythonOrder.sorted(), "the names must tell the two orders apart")
        let firstClass = train.files.filter { $0.label == 0 }.map { Array(($0.path as NSString).lastPathComponent.unicodeScalars) }
        XCTAssertEqual(firstClass, [Array("be\u{301}.png".unicodeScalars), Array("b\u{e9}.png".unicodeScalars)])
        // val/ folders take the number of the train folder of exactly their name.
        for (label, name) in pythonOrder.enumerated() {
            let folders = Set(test.files.filter { $0.label == label }.map { ($0.path as NSString).deletingLastPathComponent })
            XCTAssertEqual(folders.map { Array(($0 as NSString).lastPathComponent.unicodeScalars) }, [Array(name.unicodeScalars)])
        }
    }

    func testBadImagesAndLayoutsNameTheFile() throws {
        let root = try makeFolder()
        try Data("hello".utf8).write(to: URL(fileURLWithPath: root + "/train/red/bad.png"))
        var error = message { try DataSpec(path: root).load(imageShape: [3, 8, 8]) }
        XCTAssertTrue(error.contains(root + "/train/red/bad.png") && error.contains("neither a PNG nor a JPEG"), error)

        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/train/red/0.jpg")))
        try Data(good.prefix(good.count / 3)).write(to: URL(fileURLWithPath: root + "/train/red/bad.png"))
        error = message { try DataSpec(path: root).load(imageShape: [3, 8, 8]) }
        XCTAssertTrue(error.contains(root + "/train/red/bad.png") && error.contains("cannot decode"), error)
        try FileManager.default.removeItem(atPath: root + "/train/red/bad.png")

        error = message { try DataSpec(path: root).load(imageShape: nil) }
        XCTAssertTrue(error.contains("image folder") && error.contains("model's input"), error)

        try FileManager.default.createDirectory(atPath: root + "/val/green", withIntermediateDirectories: true)
        error = message { try DataSpec(path: root).load(imageShape: [3, 8, 8]) }
        XCTAssertTrue(error.contains(root + "/val/green") && error.contains("not among train/'s classes"), error)
        try FileManager.default.removeItem(atPath: root + "/val")
        error = message { try DataSpec(path: root).load(imageShape: [3, 8, 8]) }
        XCTAssertTrue(error.contains("no val/"), error)

        try FileManager.default.createDirectory(atPath: root + "/val/red", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/train/empty", withIntermediateDirectories: true)
        error = message { try DataSpec(path: root).load(imageShape: [3, 8, 8]) }
        XCTAssertTrue(error.contains(root + "/train/empty") && error.contains("no .png"), error)
    }
}
