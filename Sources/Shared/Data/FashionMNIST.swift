import Foundation

/// The IDX directories of the MNIST family (Fashion-MNIST, MNIST): four gzipped IDX files, 1-channel images, 10
/// classes. Fashion-MNIST is Seer's default data, installed by the Debian package `dataset-fashion-mnist`.
public enum FashionMNIST {
    /// Where the Debian package `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// File names as published by Zalando Research (and by LeCun for MNIST) and installed by the Debian package.
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
    /// The normalization an IDX directory gets unless its spec names another.
    public static let normalization = Normalization(mean: [mean], std: [std])
    /// Number of classes; labels lie in 0..<classCount.
    public static let classCount = 10
    /// Training images held out for validation by the default split.
    public static let defaultValidationCount = 5_000
    /// Human-readable class names, indexed by label.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Whether `directory` holds the IDX training images (how `DataSpec` tells an IDX directory from an image folder).
    static func isIDXDirectory(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(trainImagesFile))
    }

    /// Loads the four gzipped IDX files from `directory` and splits the training pool with `splitSeed`.
    public static func load(directory: String = defaultDirectory, splitSeed: UInt64 = 0,
                            normalization: Normalization = FashionMNIST.normalization,
                            validationCount: Int = defaultValidationCount) throws -> Dataset {
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
        return try Dataset(trainImages: decoded[0], trainLabels: decoded[1], testImages: decoded[2], testLabels: decoded[3],
                           paths: paths, splitSeed: splitSeed, validationCount: validationCount,
                           normalization: normalization, datasetSHA256: SHA256.hex(hasher.finalize()), source: directory)
    }

    /// The SHA-256 `load` gives the directory's dataset, from the compressed files alone (no decoding).
    public static func fingerprint(directory: String) throws -> String {
        var hasher = SHA256()
        for name in fileNames {
            let path = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else {
                throw DataError.missingFile(path: path, directory: directory)
            }
            hasher.update(try IDXReader.readFile(path: path))
        }
        return SHA256.hex(hasher.finalize())
    }
}

extension Dataset {
    /// A 1-channel dataset from decoded IDX arrays (the IDX loader's path, and tests' way to use synthetic data).
    ///
    /// `paths` name the four sources in errors, in `FashionMNIST.fileNames` order.
    public init(trainImages: IDXArray, trainLabels: IDXArray, testImages: IDXArray, testLabels: IDXArray,
                paths: [String] = FashionMNIST.fileNames, splitSeed: UInt64 = 0,
                validationCount: Int = FashionMNIST.defaultValidationCount,
                normalization: Normalization = FashionMNIST.normalization, datasetSHA256: String = "",
                source: String = "IDX data") throws {
        guard paths.count == 4 else {
            throw DataError.invalidRequest("an IDX dataset needs 4 source paths for its errors, got \(paths.count)")
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
            if let index = labels.bytes.firstIndex(where: { Int($0) >= FashionMNIST.classCount }) {
                throw DataError.labelOutOfRange(path: path, index: index, label: Int(labels.bytes[index]),
                                                classCount: FashionMNIST.classCount)
            }
        }
        let poolCount = trainImages.dimensions[0]
        guard (0...poolCount).contains(validationCount) else {
            throw DataError.invalidRequest(
                "cannot hold out \(validationCount) validation images from a training pool of \(poolCount)")
        }
        try self.init(imageShape: [1, trainImages.dimensions[1], trainImages.dimensions[2]],
                      classCount: FashionMNIST.classCount, normalization: normalization,
                      trainPool: ImagePool(pixels: .bytes(trainImages.bytes), labels: trainLabels.bytes.map(Int32.init)),
                      testPool: ImagePool(pixels: .bytes(testImages.bytes), labels: testLabels.bytes.map(Int32.init)),
                      validationCount: validationCount, splitSeed: splitSeed, datasetSHA256: datasetSHA256, source: source)
    }
}
