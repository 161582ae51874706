import Foundation
import SeerTensor

/// `.npz` archives in the Keras convention (`keras.datasets.*.load_data()` saved with `np.savez`): `x_train`,
/// `y_train`, `x_test`, `y_test`.
///
/// Images are uint8 (scaled by 1/255 before normalization) or float (taken as they are), shaped [N, H, W] (one
/// channel), [N, H, W, C] or [N, C, H, W]; `DataSpec.layout` says which of the last two, or it is inferred from which
/// axis has 1, 3 or 4 entries (an error when both or neither do). Labels are integers, [N] or [N, 1]. The SHA-256 is
/// the archive file's.
enum NpzSource: DataSourceReader {
    static let arrayNames = ["x_train", "y_train", "x_test", "y_test"]

    static func fingerprint(_ spec: DataSpec) throws -> String {
        SHA256.hex(SHA256.hash(try IDXReader.readFile(path: spec.path)))
    }

    static func load(_ spec: DataSpec, imageShape _: [Int]?, splitSeed: UInt64) throws -> Dataset {
        let path = spec.path
        let bytes = try IDXReader.readFile(path: path)
        let archive = try ZipArchive(bytes: bytes, path: path)
        var arrays = [String: NumpyFile.ParsedArray]()
        for name in arrayNames {
            guard let entry = archive.entries.first(where: { $0.name == name + ".npy" }) else {
                throw DataError.badFile(path: path, reason: "no array \(name) (an npz dataset holds "
                                        + arrayNames.joined(separator: ", ") + "; it has "
                                        + archive.entries.map { String($0.name.dropLast(4)) }.joined(separator: ", ") + ")")
            }
            do {
                arrays[name] = try NumpyFile.parse(try archive.extract(entry)[...], name: "\(path):\(entry.name)")
            } catch let error as NumpyFileError {
                throw DataError.badFile(path: path, reason: "\(name): \(error.reason)")
            }
        }
        let (trainPixels, trainShape) = try images(arrays["x_train"]!, name: "x_train", spec: spec)
        let (testPixels, testShape) = try images(arrays["x_test"]!, name: "x_test", spec: spec)
        guard trainShape == testShape else {
            throw DataError.badFile(path: path, reason: "x_train holds \(trainShape) images (CHW) but x_test holds \(testShape)")
        }
        let trainLabels = try labels(arrays["y_train"]!, name: "y_train", count: arrays["x_train"]!.shape[0], path: path)
        let testLabels = try labels(arrays["y_test"]!, name: "y_test", count: arrays["x_test"]!.shape[0], path: path)
        let largest = Int((trainLabels + testLabels).max() ?? 0)
        let classCount = spec.classes ?? largest + 1
        if let declared = spec.classes, largest >= declared {
            throw DataError.invalidSpec(field: "data.classes", reason: "\(declared) classes, but \(path) has label \(largest)")
        }
        let normalization = spec.normalization(for: .npz)
        let trainPool = ImagePool(pixels: trainPixels, labels: trainLabels)
        return try Dataset(imageShape: trainShape, classCount: classCount, normalization: normalization, trainPool: trainPool,
                           testPool: ImagePool(pixels: testPixels, labels: testLabels),
                           validationCount: spec.validationCount(poolCount: trainPool.count),
                           splitSeed: splitSeed, datasetSHA256: SHA256.hex(SHA256.hash(bytes)), source: path)
    }

    /// The images of `array` in CHW order per image, and their [C, H, W].
    static func images(_ array: NumpyFile.ParsedArray, name: String, spec: DataSpec) throws -> (PixelStorage, [Int]) {
        func fail(_ reason: String) -> DataError { .badFile(path: spec.path, reason: "\(name): \(reason)") }
        let shape = array.shape
        let layout: ChannelLayout
        switch shape.count {
        case 3:
            layout = .nchw
        case 4:
            let channelish: Set<Int> = [1, 3, 4]
            if let declared = spec.layout {
                layout = declared
            } else if channelish.contains(shape[3]) && !channelish.contains(shape[1]) {
                layout = .nhwc
            } else if channelish.contains(shape[1]) && !channelish.contains(shape[3]) {
                layout = .nchw
            } else {
                throw DataError.invalidSpec(field: "data.layout", reason: "\(spec.path): cannot tell whether \(name) of shape "
                                            + "\(shape) is NHWC or NCHW; give layout: nhwc or layout: nchw")
            }
        default:
            throw fail("images must be [N, H, W], [N, H, W, C] or [N, C, H, W], got shape \(shape)")
        }
        let (n, c, h, w) = shape.count == 3 ? (shape[0], 1, shape[1], shape[2])
            : layout == .nhwc ? (shape[0], shape[3], shape[1], shape[2]) : (shape[0], shape[1], shape[2], shape[3])
        guard c >= 1, h >= 1, w >= 1 else { throw fail("empty images of shape \(shape)") }
        /// Element order: NHWC needs a transpose to CHW per image; NCHW and [N, H, W] are already in order.
        func reordered<T>(_ values: [T]) -> [T] {
            shape.count == 4 && layout == .nhwc ? channelsFirst(values, blocks: n, positions: h * w, channels: c) : values
        }
        switch array.elements {
        case .uint8(let bytes): return (.bytes(reordered(bytes)), [c, h, w])
        case .float32(let floats): return (.floats(reordered(floats)), [c, h, w])
        case .float64(let doubles): return (.floats(reordered(doubles.map(Float.init))), [c, h, w])
        case .integers:
            throw fail("images of type \(array.descr) are not supported (uint8, or float32/float64 in the model's input range)")
        }
    }

    /// Integer labels [N] or [N, 1], `count` of them, non-negative.
    static func labels(_ array: NumpyFile.ParsedArray, name: String, count: Int, path: String) throws -> [Int32] {
        func fail(_ reason: String) -> DataError { .badFile(path: path, reason: "\(name): \(reason)") }
        guard array.shape == [count] || array.shape == [count, 1] else {
            throw fail("labels must have shape [\(count)] or [\(count), 1] to match the images, got \(array.shape)")
        }
        let values: [Int64]
        switch array.elements {
        case .uint8(let v): values = v.map(Int64.init)
        case .integers(let v): values = v
        default: throw fail("labels must be integers, got \(array.descr) (one-hot labels: save their argmax)")
        }
        if let index = values.firstIndex(where: { $0 < 0 || $0 > Int64(Int32.max) }) {
            throw fail("label \(values[index]) at index \(index) is not a class index (0 or more)")
        }
        return values.map { Int32($0) }
    }
}
