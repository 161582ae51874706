import Foundation
import SeerTensor

/// Which part of Fashion-MNIST examples come from.
///
/// `.train` and `.validation` partition the official 60,000 training images (55,000 / 5,000 by a fixed seed);
/// the compression search measures candidates on `.validation` only, and `.test` (the official 10,000) is
/// reserved for the results that get reported, so that no search decision is tuned on the test set.
public enum Split: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case train, validation, test

    /// The lowercase split name, for logs and error messages.
    public var description: String { rawValue }
}

/// Fashion-MNIST held as raw uint8 pixels and labels, with a deterministic train/validation split.
///
/// Pixels stay bytes (47 MB for the training pool instead of 188 MB as floats) and are normalized
/// only when a batch is assembled.
public struct FashionMNIST: Sendable {
    /// Where the Debian package `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// File names as published by Zalando Research and installed by the Debian package.
    public static let trainImagesFile = "train-images-idx3-ubyte.gz"
    public static let trainLabelsFile = "train-labels-idx1-ubyte.gz"
    public static let testImagesFile = "t10k-images-idx3-ubyte.gz"
    public static let testLabelsFile = "t10k-labels-idx1-ubyte.gz"
    /// The four files in the order their bytes enter `datasetSHA256`.
    public static let fileNames = [trainImagesFile, trainLabelsFile, testImagesFile, testLabelsFile]

    /// Mean of Fashion-MNIST training pixels scaled to [0, 1].
    public static let mean: Float = 0.2860
    /// Standard deviation of Fashion-MNIST training pixels scaled to [0, 1].
    public static let std: Float = 0.3530
    /// Number of clothing classes; labels lie in 0..<classCount.
    public static let classCount = 10
    /// Training images held out for validation by the default split.
    public static let defaultValidationCount = 5_000
    /// Human-readable class names, indexed by label.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Image height in pixels.
    public let rows: Int
    /// Image width in pixels.
    public let columns: Int
    /// The official training images (the pool `.train` and `.validation` draw from), N x rows x columns bytes.
    public let trainPoolPixels: [UInt8]
    /// Labels of the training pool, one per image.
    public let trainPoolLabels: [UInt8]
    /// The official test images, N x rows x columns bytes.
    public let testPixels: [UInt8]
    /// Labels of the test images, one per image.
    public let testLabels: [UInt8]
    /// Positions in the training pool that form `.train`, ascending.
    public private(set) var trainIndices: [Int]
    /// Positions in the training pool that form `.validation`, ascending; disjoint from `trainIndices`.
    public private(set) var validationIndices: [Int]
    /// Positions in the test pool that form `.test` (all of them unless a subset was taken).
    public private(set) var testIndices: [Int]
    /// The seed that produced the train/validation split.
    public let splitSeed: UInt64
    /// Hex SHA-256 over the four compressed files concatenated in `fileNames` order, for provenance records.
    public let datasetSHA256: String

    /// Pixels per image.
    public var pixelCount: Int { rows * columns }

    /// Loads the four gzipped IDX files from `directory` and splits the training pool with `splitSeed`.
    public static func load(directory: String = defaultDirectory, splitSeed: UInt64 = 0) throws -> FashionMNIST {
        var hasher = SHA256()
        var decoded = [IDXArray]()
        for (name, magic) in zip(fileNames, [IDXReader.imagesMagic, IDXReader.labelsMagic,
                                             IDXReader.imagesMagic, IDXReader.labelsMagic]) {
            let path = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError.missingFile(path: path, directory: directory)
            }
            let compressed = try IDXReader.readFile(path: path)
            hasher.update(compressed)
            decoded.append(try IDXReader.decode(gzipped: compressed, magic: magic, path: path))
        }
        let paths = fileNames.map { (directory as NSString).appendingPathComponent($0) }
        return try FashionMNIST(trainImages: decoded[0], trainLabels: decoded[1],
                                testImages: decoded[2], testLabels: decoded[3],
                                paths: paths, splitSeed: splitSeed,
                                datasetSHA256: SHA256.hex(hasher.finalize()))
    }

    /// Builds a dataset from decoded IDX arrays (the loader's path, and tests' way to use synthetic data).
    ///
    /// `paths` name the four sources in errors, in `fileNames` order.
    public init(trainImages: IDXArray, trainLabels: IDXArray, testImages: IDXArray, testLabels: IDXArray,
                paths: [String] = FashionMNIST.fileNames, splitSeed: UInt64 = 0,
                validationCount: Int = FashionMNIST.defaultValidationCount, datasetSHA256: String = "") throws {
        guard paths.count == 4 else {
            throw DataError.invalidRequest("FashionMNIST needs 4 source paths for its errors, got \(paths.count)")
        }
        for (images, path) in [(trainImages, paths[0]), (testImages, paths[2])] where images.dimensions.count != 3 {
            throw DataError.badIDXHeader(path: path, reason: "images need 3 dimensions, found \(images.dimensions)")
        }
        for (labels, path) in [(trainLabels, paths[1]), (testLabels, paths[3])] where labels.dimensions.count != 1 {
            throw DataError.badIDXHeader(path: path, reason: "labels need 1 dimension, found \(labels.dimensions)")
        }
        for (images, imagesPath, labels, labelsPath) in [(trainImages, paths[0], trainLabels, paths[1]),
                                                         (testImages, paths[2], testLabels, paths[3])]
        where images.dimensions[0] != labels.dimensions[0] {
            throw DataError.countMismatch(imagesPath: imagesPath, imageCount: images.dimensions[0],
                                          labelsPath: labelsPath, labelCount: labels.dimensions[0])
        }
        guard trainImages.dimensions[1...] == testImages.dimensions[1...] else {
            throw DataError.imageSizeMismatch(trainPath: paths[0], trainSize: Array(trainImages.dimensions[1...]),
                                              testPath: paths[2], testSize: Array(testImages.dimensions[1...]))
        }
        for (labels, path) in [(trainLabels, paths[1]), (testLabels, paths[3])] {
            if let index = labels.bytes.firstIndex(where: { Int($0) >= Self.classCount }) {
                throw DataError.labelOutOfRange(path: path, index: index, label: Int(labels.bytes[index]),
                                                classCount: Self.classCount)
            }
        }
        let poolCount = trainImages.dimensions[0]
        guard (0...poolCount).contains(validationCount) else {
            throw DataError.invalidRequest(
                "cannot hold out \(validationCount) validation images from a training pool of \(poolCount)")
        }
        rows = trainImages.dimensions[1]
        columns = trainImages.dimensions[2]
        trainPoolPixels = trainImages.bytes
        trainPoolLabels = trainLabels.bytes
        testPixels = testImages.bytes
        self.testLabels = testLabels.bytes
        (trainIndices, validationIndices) = Self.split(poolCount: poolCount, validationCount: validationCount,
                                                       seed: splitSeed)
        testIndices = Array(0..<testImages.dimensions[0])
        self.splitSeed = splitSeed
        self.datasetSHA256 = datasetSHA256
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
        let (_, poolLabels, indices) = storage(split)
        return indices.map { Int32(poolLabels[$0]) }
    }

    /// The same dataset cut down to the first `count` examples of every split, for quick tests and smoke runs.
    public func subset(count: Int) throws -> FashionMNIST {
        try subset(train: count, validation: count, test: count)
    }

    /// The same dataset cut down to the first N examples of each split (nil keeps a split whole).
    public func subset(train: Int? = nil, validation: Int? = nil, test: Int? = nil) throws -> FashionMNIST {
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

    /// The pixel pool, label pool and position-to-pool map behind `split`.
    func storage(_ split: Split) -> (pixels: [UInt8], labels: [UInt8], indices: [Int]) {
        switch split {
        case .train: return (trainPoolPixels, trainPoolLabels, trainIndices)
        case .validation: return (trainPoolPixels, trainPoolLabels, validationIndices)
        case .test: return (testPixels, testLabels, testIndices)
        }
    }
}
