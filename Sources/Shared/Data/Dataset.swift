import Foundation
import SeerTensor

/// Which part of a dataset examples come from.
///
/// `.train` and `.validation` partition the source's training images (by a fixed seed); the compression search
/// measures candidates on `.validation` only, and `.test` (the source's held-out images: Fashion-MNIST's official
/// 10,000, an npz's `x_test`, an image folder's `val/`) is reserved for the results that get reported, so that no
/// search decision is tuned on the test set.
public enum Split: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case train, validation, test

    /// The lowercase split name, for logs and error messages.
    public var description: String { rawValue }
}

/// Pixels of a pool of images, N x channels x rows x columns in that order (CHW per image).
///
/// Bytes stay bytes (47 MB for Fashion-MNIST's training pool instead of 188 MB as floats) and are scaled by 1/255 and
/// normalized only when a batch is assembled; float pixels (an npz of float32) are taken as they are, then normalized.
public enum PixelStorage: Sendable, Equatable {
    case bytes([UInt8])
    case floats([Float])

    public var count: Int {
        switch self {
        case .bytes(let b): return b.count
        case .floats(let f): return f.count
        }
    }

    /// The pixel at `index` in the model's input range before normalization: byte / 255, or the float itself.
    @inline(__always)
    public func value(at index: Int) -> Float {
        switch self {
        case .bytes(let b): return Float(b[index]) / 255
        case .floats(let f): return f[index]
        }
    }
}

/// Images and their labels: a dataset's training pool or its test set.
public struct ImagePool: Sendable, Equatable {
    public let pixels: PixelStorage
    public let labels: [Int32]

    public init(pixels: PixelStorage, labels: [Int32]) {
        self.pixels = pixels
        self.labels = labels
    }

    public var count: Int { labels.count }
}

/// A labelled image dataset held in memory with a deterministic train/validation split: what training, measurement,
/// deployment validation and the executors read, whatever its source (`DataSpec`: IDX, npz or an image folder).
public struct Dataset: Sendable {
    /// One image's shape, [channels, rows, columns]: what a model must take.
    public let imageShape: [Int]
    /// Labels lie in 0..<classCount: what a model must predict.
    public let classCount: Int
    /// Per-channel (x - mean) / std applied to every batch, after bytes are scaled to [0, 1].
    public private(set) var normalization: Normalization
    /// The images the `.train` and `.validation` splits draw from.
    public let trainPool: ImagePool
    /// The images of `.test`.
    public let testPool: ImagePool
    /// Positions in the training pool that form `.train`, ascending.
    public private(set) var trainIndices: [Int]
    /// Positions in the training pool that form `.validation`, ascending; disjoint from `trainIndices`.
    public private(set) var validationIndices: [Int]
    /// Positions in the test pool that form `.test` (all of them unless a subset was taken).
    public private(set) var testIndices: [Int]
    /// The seed that produced the train/validation split.
    public let splitSeed: UInt64
    /// Hex SHA-256 of the source's bytes (`DataSpec.fingerprint`), which jobs carry so that agents refuse other data.
    public let datasetSHA256: String
    /// Where the data came from, for messages.
    public let source: String
    /// What training augments with (`DataSpec.cropPadding` sets the crop's padding).
    public var augmentation = Augmentation.standard

    public var channels: Int { imageShape[0] }
    /// Image height in pixels.
    public var rows: Int { imageShape[1] }
    /// Image width in pixels.
    public var columns: Int { imageShape[2] }
    /// Values per image (channels x rows x columns).
    public var pixelCount: Int { imageShape.reduce(1, *) }

    /// A dataset from its two pools; `validationCount` images of the training pool are held out by `splitSeed`.
    ///
    /// `source` names the data in errors; labels outside 0..<classCount and pixel counts that do not match
    /// `imageShape` are errors.
    public init(imageShape: [Int], classCount: Int, normalization: Normalization, trainPool: ImagePool, testPool: ImagePool,
                validationCount: Int, splitSeed: UInt64 = 0, datasetSHA256: String = "", source: String) throws {
        guard imageShape.count == 3, imageShape.allSatisfy({ $0 > 0 }) else {
            throw DataError.invalidRequest("\(source): images must have a positive [channels, rows, columns] shape, got \(imageShape)")
        }
        guard classCount >= 1 else { throw DataError.invalidRequest("\(source): a dataset needs at least one class") }
        try normalization.validate(channels: imageShape[0], field: "\(source): normalization")
        let pixelCount = imageShape.reduce(1, *)
        for (pool, name) in [(trainPool, "training"), (testPool, "test")] {
            guard pool.pixels.count == pool.count * pixelCount else {
                throw DataError.invalidRequest("\(source): the \(name) pool has \(pool.pixels.count) pixel values for "
                                               + "\(pool.count) labels of \(imageShape) images")
            }
            if let index = pool.labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
                throw DataError.labelOutOfRange(path: "\(source) (\(name))", index: index, label: Int(pool.labels[index]),
                                                classCount: classCount)
            }
        }
        guard (0...trainPool.count).contains(validationCount) else {
            throw DataError.invalidRequest(
                "\(source): cannot hold out \(validationCount) validation images from a training pool of \(trainPool.count)")
        }
        self.imageShape = imageShape
        self.classCount = classCount
        self.normalization = normalization
        self.trainPool = trainPool
        self.testPool = testPool
        (trainIndices, validationIndices) = Self.split(poolCount: trainPool.count, validationCount: validationCount,
                                                       seed: splitSeed)
        testIndices = Array(0..<testPool.count)
        self.splitSeed = splitSeed
        self.datasetSHA256 = datasetSHA256
        self.source = source
    }

    /// Deterministically partitions pool positions 0..<poolCount into train and validation, each ascending.
    ///
    /// Only the seed decides the split, so every agent and every rerun measures on the same validation images.
    public static func split(poolCount: Int, validationCount: Int, seed: UInt64 = 0)
        -> (trainIndices: [Int], validationIndices: [Int]) {
        var order = Array(0..<poolCount)
        var rng = SeededGenerator(seed: seed)
        rng.shuffle(&order)
        let cut = poolCount - validationCount
        return (Array(order[..<cut]).sorted(), Array(order[cut...]).sorted())
    }

    /// Number of examples in `split`.
    public func count(_ split: Split) -> Int {
        switch split {
        case .train: return trainIndices.count
        case .validation: return validationIndices.count
        case .test: return testIndices.count
        }
    }

    /// Labels of `split` in position order.
    public func labels(_ split: Split) -> [Int32] {
        let (pool, indices) = storage(split)
        return indices.map { pool.labels[$0] }
    }

    /// Example `position` of `split` as the model's raw input before normalization ([0, 1] for byte pixels), CHW.
    public func rawImage(_ split: Split, position: Int) -> [Float] {
        let (pool, indices) = storage(split)
        let start = indices[position] * pixelCount
        return (start..<(start + pixelCount)).map { pool.pixels.value(at: $0) }
    }

    /// The same dataset cut down to the first `count` examples of every split, for quick tests and smoke runs.
    public func subset(count: Int) throws -> Dataset {
        try subset(train: count, validation: count, test: count)
    }

    /// The same dataset cut down to the first N examples of each split (nil keeps a split whole).
    public func subset(train: Int? = nil, validation: Int? = nil, test: Int? = nil) throws -> Dataset {
        var copy = self
        for (split, requested) in [(Split.train, train), (.validation, validation), (.test, test)] {
            guard let requested else { continue }
            guard (0...count(split)).contains(requested) else {
                throw DataError.invalidRequest("subset asks for \(requested) \(split) examples; the split has \(count(split))")
            }
            switch split {
            case .train: copy.trainIndices.removeLast(trainIndices.count - requested)
            case .validation: copy.validationIndices.removeLast(validationIndices.count - requested)
            case .test: copy.testIndices.removeLast(testIndices.count - requested)
            }
        }
        return copy
    }

    /// The same images under another normalization (a job's, which travels with its settings).
    public func normalized(_ normalization: Normalization) throws -> Dataset {
        try normalization.validate(channels: channels, field: "normalization")
        var copy = self
        copy.normalization = normalization
        return copy
    }

    /// The same pools split anew with `validationCount` validation images (by the same seed), augmented as before.
    public func resplit(validationCount: Int) throws -> Dataset {
        var split = try Dataset(imageShape: imageShape, classCount: classCount, normalization: normalization,
                                trainPool: trainPool, testPool: testPool, validationCount: validationCount,
                                splitSeed: splitSeed, datasetSHA256: datasetSHA256, source: source)
        split.augmentation = augmentation
        return split
    }

    /// The same data with training's random crop padded by `padding` pixels; `field` names the setting in the error
    /// when the padding could shift an image out of its crop (it must be less than the image's height and width).
    public func withCropPadding(_ padding: Int, field: String) throws -> Dataset {
        guard padding >= 0, padding < min(rows, columns) else {
            throw DataError.invalidSpec(field: field, reason: "\(padding) pixels would shift \(rows)x\(columns) images "
                + "out of their crop; give less than \(min(rows, columns))")
        }
        var copy = self
        copy.augmentation.padding = padding
        return copy
    }

    /// Throws unless this dataset is the one `expectedSHA256` names (a job's `dataset_sha256`); nil accepts any.
    public func checkIdentity(_ expectedSHA256: String?) throws {
        guard let expectedSHA256, expectedSHA256 != datasetSHA256 else { return }
        throw DataError.datasetMismatch(source: source, expected: expectedSHA256, found: datasetSHA256)
    }

    /// The pool and position-to-pool map behind `split`.
    func storage(_ split: Split) -> (pool: ImagePool, indices: [Int]) {
        switch split {
        case .train: return (trainPool, trainIndices)
        case .validation: return (trainPool, validationIndices)
        case .test: return (testPool, testIndices)
        }
    }
}
