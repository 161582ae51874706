import Foundation
import SeerTensor
import XCTest
@testable import SeerData

/// Loaded once: decoding and hashing 30 MB of gzip per test would dominate the suite.
private let realDataset: Result<Dataset, Error>? = {
    guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory) else { return nil }
    return Result { try FashionMNIST.load() }
}()

final class FashionMNISTTests: XCTestCase {
    private func real() throws -> Dataset {
        guard let realDataset else {
            throw MissingPrerequisite("\(FashionMNIST.defaultDirectory) is absent (apt-get install dataset-fashion-mnist)")
        }
        return try realDataset.get()
    }

    /// A tiny dataset whose train pool holds `poolCount` 4x4 images with image i filled by pixel value i.
    private func synthetic(poolCount: Int = 20, validationCount: Int = 5) throws -> Dataset {
        let pixels = (0..<poolCount).flatMap { [UInt8](repeating: UInt8($0), count: 16) }
        return try Dataset(
            trainImages: IDXArray(dimensions: [poolCount, 4, 4], bytes: pixels),
            trainLabels: IDXArray(dimensions: [poolCount], bytes: (0..<poolCount).map { UInt8($0 % 10) }),
            testImages: IDXArray(dimensions: [2, 4, 4], bytes: [UInt8](repeating: 255, count: 32)),
            testLabels: IDXArray(dimensions: [2], bytes: [3, 4]),
            validationCount: validationCount)
    }

    // MARK: Errors

    func testMissingDirectoryExplainsHowToGetTheData() {
        XCTAssertThrowsError(try FashionMNIST.load(directory: "/nonexistent/seer-fashion")) { error in
            let message = (error as? LocalizedError)?.errorDescription ?? ""
            XCTAssertEqual(message, "\(error)")
            XCTAssertEqual(error.localizedDescription, message)
            for fragment in ["train-images-idx3-ubyte.gz", "dataset-fashion-mnist",
                             "apt-get install dataset-fashion-mnist", "--data"] {
                XCTAssertTrue(message.contains(fragment), "missing \(fragment) in: \(message)")
            }
        }
    }

    func testMissingSingleFileIsNamed() throws {
        let dir = try temporaryDirectory(self)
        try writeGzip(idxBytes(magic: 0x803, dimensions: [1, 2, 2], payload: [0, 0, 0, 0]),
                      to: dir + "/train-images-idx3-ubyte.gz")
        XCTAssertThrowsError(try FashionMNIST.load(directory: dir)) { error in
            guard case .missingFile(let path, _)? = error as? DataError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, dir + "/train-labels-idx1-ubyte.gz")
        }
    }

    func testImageAndLabelCountMismatchIsAnError() throws {
        let dir = try temporaryDirectory(self)
        try writeGzip(idxBytes(magic: 0x803, dimensions: [3, 2, 2], payload: [UInt8](repeating: 9, count: 12)),
                      to: dir + "/train-images-idx3-ubyte.gz")
        try writeGzip(idxBytes(magic: 0x801, dimensions: [2], payload: [1, 2]), to: dir + "/train-labels-idx1-ubyte.gz")
        try writeGzip(idxBytes(magic: 0x803, dimensions: [1, 2, 2], payload: [1, 2, 3, 4]),
                      to: dir + "/t10k-images-idx3-ubyte.gz")
        try writeGzip(idxBytes(magic: 0x801, dimensions: [1], payload: [5]), to: dir + "/t10k-labels-idx1-ubyte.gz")
        XCTAssertThrowsError(try FashionMNIST.load(directory: dir, splitSeed: 0)) { error in
            XCTAssertEqual(error as? DataError, .countMismatch(
                imagesPath: dir + "/train-images-idx3-ubyte.gz", imageCount: 3,
                labelsPath: dir + "/train-labels-idx1-ubyte.gz", labelCount: 2))
        }
    }

    func testLabelOutOfRangeIsAnError() {
        XCTAssertThrowsError(try Dataset(
            trainImages: IDXArray(dimensions: [2, 1, 1], bytes: [0, 0]), trainLabels: IDXArray(dimensions: [2], bytes: [1, 10]),
            testImages: IDXArray(dimensions: [0, 1, 1], bytes: []), testLabels: IDXArray(dimensions: [0], bytes: []),
            validationCount: 1)) { error in
            guard case .labelOutOfRange(_, 1, 10, 10)? = error as? DataError else { return XCTFail("\(error)") }
        }
    }

    func testBadRequestsAreErrors() throws {
        let data = try synthetic()
        var rng = SeededGenerator(seed: 1)
        XCTAssertThrowsError(try data.batch(split: .validation, indices: [5], augment: nil, rng: &rng))
        XCTAssertThrowsError(try data.batch(split: .train, indices: [-1], augment: nil, rng: &rng))
        XCTAssertThrowsError(try data.batch(split: .train, indices: [0], augment: Augmentation(padding: -1), rng: &rng))
        XCTAssertThrowsError(try data.batch(split: .train, indices: [0], augment: Augmentation(flipProbability: 2), rng: &rng))
        XCTAssertThrowsError(try data.subset(count: 6))
        XCTAssertThrowsError(try data.epochBatches(.train, batchSize: 0, seed: 1))
        XCTAssertThrowsError(try synthetic(poolCount: 3, validationCount: 4))
    }

    // MARK: Synthetic data: exact semantics

    func testSplitIsDisjointCoveringAndSeedDependent() {
        let a = Dataset.split(poolCount: 100, validationCount: 10, seed: 0)
        XCTAssertEqual(a.trainIndices.count, 90)
        XCTAssertEqual(a.validationIndices.count, 10)
        XCTAssertEqual(Set(a.trainIndices + a.validationIndices), Set(0..<100))
        XCTAssertEqual(a.trainIndices, a.trainIndices.sorted())
        let again = Dataset.split(poolCount: 100, validationCount: 10, seed: 0)
        XCTAssertEqual(a.validationIndices, again.validationIndices)
        XCTAssertNotEqual(a.validationIndices, Dataset.split(poolCount: 100, validationCount: 10, seed: 1).validationIndices)
    }

    func testBatchWithoutAugmentationNormalizesAndLeavesGeneratorUntouched() throws {
        let data = try synthetic()
        var rng = SeededGenerator(seed: 3)
        let before = rng
        let positions = [2, 0]
        let (images, labels) = try data.batch(split: .train, indices: positions, augment: nil, rng: &rng)
        XCTAssertEqual(images.shape, [2, 1, 4, 4])
        for (slot, position) in positions.enumerated() {
            let example = data.trainIndices[position]
            XCTAssertEqual(labels[slot], Int32(example % 10))
            let expected = (Float(example) / 255 - FashionMNIST.mean) / FashionMNIST.std
            XCTAssertTrue(images.data[(slot * 16)..<(slot * 16 + 16)].allSatisfy { $0 == expected })
        }
        var probe = rng, reference = before
        XCTAssertEqual(probe.next(), reference.next(), "generator advanced without augmentation")

        let test = try data.batch(split: .test, indices: 0..<2, augment: nil, rng: &rng)
        XCTAssertEqual(test.labels, [3, 4])
        XCTAssertEqual(test.images.data[0], (1 - FashionMNIST.mean) / FashionMNIST.std, accuracy: 1e-6)
        XCTAssertEqual(data.labels(.test), [3, 4])
    }

    func testCropShiftsWithBlackPaddingAndFlipMirrors() throws {
        // One 4x4 image whose pixel (y, x) is 10 * y + x + 1, so every source position is identifiable.
        let pixels: [UInt8] = (0..<16).map { (i: Int) -> UInt8 in UInt8(10 * (i / 4) + i % 4 + 1) }
        let data = try Dataset(
            trainImages: IDXArray(dimensions: [1, 4, 4], bytes: pixels), trainLabels: IDXArray(dimensions: [1], bytes: [0]),
            testImages: IDXArray(dimensions: [0, 4, 4], bytes: []), testLabels: IDXArray(dimensions: [0], bytes: []),
            validationCount: 0)
        let table = data.byteTable()
        var seenShifted = false, seenFlipped = false
        for seed in UInt64(0)..<200 {
            var rng = SeededGenerator(seed: seed)
            var replay = rng
            let span = 2 * 2 + 1
            let shiftY = replay.nextInt(below: span) - 2, shiftX = replay.nextInt(below: span) - 2
            let flip = replay.nextUnitFloat() < 0.5
            let image = try data.batch(split: .train, indices: [0], augment: .standard, rng: &rng).images
            for y in 0..<4 {
                for x in 0..<4 {
                    let sy = y + shiftY, sx = (flip ? 3 - x : x) + shiftX
                    let raw = (0..<4).contains(sy) && (0..<4).contains(sx) ? pixels[sy * 4 + sx] : 0
                    XCTAssertEqual(image.data[y * 4 + x], table[Int(raw)], "seed \(seed) at (\(y), \(x))")
                }
            }
            XCTAssertEqual(rng.next(), replay.next(), "batch drew other than three numbers per image")
            seenShifted = seenShifted || shiftX != 0 || shiftY != 0
            seenFlipped = seenFlipped || flip
        }
        XCTAssertTrue(seenShifted && seenFlipped)
    }

    func testEpochBatchesCoverTheSplitOnceAndDependOnSeed() throws {
        let data = try synthetic()
        let batches = try data.epochBatches(.train, batchSize: 4, seed: 9)
        XCTAssertEqual(batches.map(\.count), [4, 4, 4, 3])
        XCTAssertEqual(batches.flatMap { $0 }.sorted(), Array(0..<15))
        XCTAssertEqual(try data.epochBatches(.train, batchSize: 4, seed: 9), batches)
        XCTAssertNotEqual(try data.epochBatches(.train, batchSize: 4, seed: 10), batches)
        XCTAssertEqual(try data.epochBatches(.train, batchSize: 4, seed: 9, dropLast: true).count, 3)
        XCTAssertEqual(try data.epochBatches(.validation, batchSize: 2, seed: nil).flatMap { $0 }, Array(0..<5))
        XCTAssertEqual(data.epochOrder(.train, seed: 9), batches.flatMap { $0 })
    }

    func testSubsetKeepsFirstExamples() throws {
        let data = try synthetic()
        let small = try data.subset(count: 2)
        XCTAssertEqual(small.trainIndices, Array(data.trainIndices.prefix(2)))
        XCTAssertEqual(small.validationIndices, Array(data.validationIndices.prefix(2)))
        XCTAssertEqual(small.count(.test), 2)
        let trainOnly = try data.subset(train: 3)
        XCTAssertEqual(trainOnly.count(.train), 3)
        XCTAssertEqual(trainOnly.count(.validation), 5)
    }

    // MARK: Real dataset

    func testRealDatasetCountsLabelsAndHash() throws {
        let data = try real()
        XCTAssertEqual(data.rows, 28)
        XCTAssertEqual(data.columns, 28)
        XCTAssertEqual(data.trainPoolPixels.count, 60_000 * 784)
        XCTAssertEqual(data.trainPoolLabels.count, 60_000)
        XCTAssertEqual(data.testPixels.count, 10_000 * 784)
        XCTAssertEqual(data.testLabels.count, 10_000)
        XCTAssertTrue((data.trainPoolLabels + data.testLabels).allSatisfy { $0 < 10 })
        XCTAssertEqual(Set(data.testLabels), Set(0..<10))
        // Each class has 6,000 training and 1,000 test images.
        XCTAssertEqual(data.trainPoolLabels.reduce(into: [Int](repeating: 0, count: 10)) { $0[Int($1)] += 1 },
                       [Int](repeating: 6000, count: 10))

        let sha256sum = Process()
        sha256sum.executableURL = URL(fileURLWithPath: "/bin/sh")
        sha256sum.currentDirectoryURL = URL(fileURLWithPath: FashionMNIST.defaultDirectory)
        sha256sum.arguments = ["-c", "cat " + FashionMNIST.fileNames.joined(separator: " ") + " | sha256sum"]
        let pipe = Pipe()
        sha256sum.standardOutput = pipe
        try sha256sum.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        sha256sum.waitUntilExit()
        XCTAssertEqual(data.datasetSHA256, String(output.prefix(64)))
        XCTAssertEqual(data.datasetSHA256.count, 64)
    }

    func testRealSplitSizesDisjointDeterministic() throws {
        let data = try real()
        XCTAssertEqual(data.trainIndices.count, 55_000)
        XCTAssertEqual(data.validationIndices.count, 5_000)
        XCTAssertEqual(data.count(.test), 10_000)
        XCTAssertTrue(Set(data.trainIndices).isDisjoint(with: data.validationIndices))
        XCTAssertEqual(Set(data.trainIndices).union(data.validationIndices).count, 60_000)
        let again = Dataset.split(poolCount: 60_000, validationCount: 5_000, seed: 0)
        XCTAssertEqual(again.trainIndices, data.trainIndices)
        XCTAssertEqual(again.validationIndices, data.validationIndices)
        // Pinned: a change here silently moves every recorded validation result, so it must be deliberate.
        XCTAssertEqual(Array(data.validationIndices.prefix(8)), [4, 27, 36, 38, 44, 51, 59, 61])
        // The validation set should be roughly class balanced (500 per class in expectation).
        let perClass = data.labels(.validation).reduce(into: [Int](repeating: 0, count: 10)) { $0[Int($1)] += 1 }
        XCTAssertTrue(perClass.allSatisfy { (400...600).contains($0) }, "\(perClass)")
    }

    func testRealBatchShapesAndNormalization() throws {
        let data = try real()
        var rng = SeededGenerator(seed: 0)
        let (images, labels) = try data.batch(split: .validation, indices: Array(0..<256), augment: nil, rng: &rng)
        XCTAssertEqual(images.shape, [256, 1, 28, 28])
        XCTAssertEqual(labels.count, 256)
        XCTAssertTrue(labels.allSatisfy { (0..<10).contains($0) })
        let black = (0 - FashionMNIST.mean) / FashionMNIST.std, white = (1 - FashionMNIST.mean) / FashionMNIST.std
        XCTAssertTrue(images.data.allSatisfy { $0 >= black - 1e-6 && $0 <= white + 1e-6 })
        let example = data.validationIndices[7]
        XCTAssertEqual(images.data[7 * 784 + 400],
                       (Float(data.trainPoolPixels[example * 784 + 400]) / 255 - FashionMNIST.mean) / FashionMNIST.std,
                       accuracy: 1e-6)
        XCTAssertEqual(labels[7], Int32(data.trainPoolLabels[example]))

        // Over the whole training pool the normalized pixels have mean ~0 and std ~1.
        let all = try data.batch(split: .train, indices: 0..<data.count(.train), augment: nil, rng: &rng).images.data
        let mean = all.reduce(0.0) { $0 + Double($1) } / Double(all.count)
        let variance = all.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(all.count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance.squareRoot(), 1, accuracy: 0.01)
    }

    func testRealAugmentationIsDeterministicAndChangesPixels() throws {
        let data = try real()
        let positions = Array(0..<64)
        var first = SeededGenerator(seed: 11), second = SeededGenerator(seed: 11), other = SeededGenerator(seed: 12)
        let a = try data.batch(split: .train, indices: positions, augment: .standard, rng: &first)
        let b = try data.batch(split: .train, indices: positions, augment: .standard, rng: &second)
        let c = try data.batch(split: .train, indices: positions, augment: .standard, rng: &other)
        XCTAssertEqual(a.images, b.images)
        XCTAssertEqual(a.labels, b.labels)
        XCTAssertNotEqual(a.images, c.images)
        var unused = SeededGenerator(seed: 0)
        let plain = try data.batch(split: .train, indices: positions, augment: nil, rng: &unused)
        XCTAssertEqual(a.labels, plain.labels)
        XCTAssertNotEqual(a.images, plain.images)

        // Flip only: every image is either itself or its exact mirror, and both occur.
        var rng = SeededGenerator(seed: 5)
        let flipped = try data.batch(split: .train, indices: positions, augment: Augmentation(padding: 0, flipProbability: 0.5), rng: &rng)
        var mirrors = 0
        for slot in positions {
            let original = plain.images.data[(slot * 784)..<(slot * 784 + 784)]
            let candidate = flipped.images.data[(slot * 784)..<(slot * 784 + 784)]
            let mirrored = (0..<784).map { original[slot * 784 + ($0 / 28) * 28 + 27 - $0 % 28] }
            if Array(candidate) == mirrored && Array(candidate) != Array(original) { mirrors += 1 } else {
                XCTAssertEqual(Array(candidate), Array(original), "image \(slot) is neither itself nor its mirror")
            }
        }
        XCTAssertGreaterThan(mirrors, 10)
        XCTAssertLessThan(mirrors, 54)

        // Crop only (no flip): content moves, and the border that came from padding is black.
        var cropRNG = SeededGenerator(seed: 6)
        let cropped = try data.batch(split: .train, indices: positions, augment: Augmentation(padding: 2, flipProbability: 0),
                                     rng: &cropRNG)
        XCTAssertNotEqual(cropped.images, plain.images)
    }
}

/// `make test` installs the dataset, so its absence is a failure, not a skip.
struct MissingPrerequisite: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The pools as the bytes an IDX source holds, for the checks written against the IDX files.
private extension Dataset {
    static func bytes(_ pool: ImagePool) -> [UInt8] {
        guard case .bytes(let b) = pool.pixels else { preconditionFailure("IDX pixels are bytes") }
        return b
    }
    var trainPoolPixels: [UInt8] { Self.bytes(trainPool) }
    var testPixels: [UInt8] { Self.bytes(testPool) }
    var trainPoolLabels: [UInt8] { trainPool.labels.map { UInt8($0) } }
    var testLabels: [UInt8] { testPool.labels.map { UInt8($0) } }
}
