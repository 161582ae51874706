import SeerTensor

/// Training-time augmentation: a random crop of the zero-padded image, then a random horizontal flip.
///
/// Padding is raw pixel 0 (black) before normalization, i.e. what a crop of a black-bordered image shows.
public struct Augmentation: Sendable, Equatable {
    /// Pixels of black border added on every side; the crop shifts the image by up to this much each way.
    public var padding: Int
    /// Probability that an image is mirrored left to right.
    public var flipProbability: Float

    /// Defaults are the standard recipe; `padding: 0` or `flipProbability: 0` turns either part off.
    public init(padding: Int = 2, flipProbability: Float = 0.5) {
        self.padding = padding
        self.flipProbability = flipProbability
    }

    /// The augmentation the training recipe uses: 2-pixel padding crop and flip with probability 0.5.
    public static let standard = Augmentation()
}

extension FashionMNIST {
    /// Normalized value of each raw pixel byte, so that batching is a table lookup rather than arithmetic.
    public static let normalizedPixel: [Float] = (0..<256).map { (Float($0) / 255 - mean) / std }

    /// Assembles examples at `indices` (positions within `split`) into a normalized [B, 1, rows, columns] batch.
    ///
    /// With `augment`, each image draws, in order, its vertical crop offset, its horizontal crop offset and its
    /// flip from `rng`, so the same generator state always gives the same batch; without it `rng` is untouched.
    public func batch<Indices: Collection>(split: Split, indices: Indices, augment: Augmentation?,
                                           rng: inout SeededGenerator) throws -> (images: Tensor, labels: [Int32])
        where Indices.Element == Int {
        let (pool, poolLabels, map) = storage(split)
        for position in indices where !map.indices.contains(position) {
            throw DataError.invalidRequest("batch asks for \(split) example \(position); the split has \(map.count)")
        }
        if let augment {
            guard augment.padding >= 0 else {
                throw DataError.invalidRequest("augmentation padding must be at least 0, got \(augment.padding)")
            }
            guard (0...1).contains(augment.flipProbability) else {
                throw DataError.invalidRequest(
                    "augmentation flip probability must lie in 0...1, got \(augment.flipProbability)")
            }
        }
        let (rows, columns, pixelCount) = (self.rows, self.columns, self.pixelCount)
        var images = Tensor(shape: [indices.count, 1, rows, columns])
        var labels = [Int32]()
        labels.reserveCapacity(indices.count)
        Self.normalizedPixel.withUnsafeBufferPointer { table in
            pool.withUnsafeBufferPointer { source in
                images.data.withUnsafeMutableBufferPointer { out in
                    for (slot, position) in indices.enumerated() {
                        let example = map[position]
                        labels.append(Int32(poolLabels[example]))
                        let image = UnsafeBufferPointer(rebasing: source[(example * pixelCount)..<((example + 1) * pixelCount)])
                        let target = UnsafeMutableBufferPointer(rebasing: out[(slot * pixelCount)..<((slot + 1) * pixelCount)])
                        guard let augment else {
                            for i in 0..<pixelCount { target[i] = table[Int(image[i])] }
                            continue
                        }
                        let span = 2 * augment.padding + 1
                        let shiftY = rng.nextInt(below: span) - augment.padding
                        let shiftX = rng.nextInt(below: span) - augment.padding
                        let flip = rng.nextUnitFloat() < augment.flipProbability
                        Self.cropAndFlip(image, into: target, rows: rows, columns: columns,
                                         shiftY: shiftY, shiftX: shiftX, flip: flip, table: table)
                    }
                }
            }
        }
        return (images, labels)
    }

    /// Writes output(y, x) = source(y + shiftY, x' + shiftX) with x' mirrored when `flip`, black outside the image.
    @inline(__always)
    private static func cropAndFlip(_ image: UnsafeBufferPointer<UInt8>, into target: UnsafeMutableBufferPointer<Float>,
                                    rows: Int, columns: Int, shiftY: Int, shiftX: Int, flip: Bool,
                                    table: UnsafeBufferPointer<Float>) {
        let black = table[0]
        for y in 0..<rows {
            let sourceY = y + shiftY
            let rowStart = y * columns
            guard sourceY >= 0 && sourceY < rows else {
                for x in 0..<columns { target[rowStart + x] = black }
                continue
            }
            let sourceRow = sourceY * columns
            for x in 0..<columns {
                let sourceX = (flip ? columns - 1 - x : x) + shiftX
                target[rowStart + x] = sourceX >= 0 && sourceX < columns ? table[Int(image[sourceRow + sourceX])] : black
            }
        }
    }

    /// Positions 0..<count(split) in an order shuffled by `seed`; one call per epoch with a per-epoch seed.
    public func epochOrder(_ split: Split, seed: UInt64) -> [Int] {
        var order = Array(0..<count(split))
        var rng = SeededGenerator(seed: seed)
        rng.shuffle(&order)
        return order
    }

    /// One epoch of `split` as consecutive batches of positions, shuffled by `seed` (nil keeps position order).
    ///
    /// The last batch is shorter when `count(split)` is not a multiple of `batchSize`, unless `dropLast`.
    public func epochBatches(_ split: Split, batchSize: Int, seed: UInt64?, dropLast: Bool = false) throws
        -> [ArraySlice<Int>] {
        guard batchSize > 0 else { throw DataError.invalidRequest("batch size must be positive, got \(batchSize)") }
        let order = seed.map { epochOrder(split, seed: $0) } ?? Array(0..<count(split))
        var batches = [ArraySlice<Int>]()
        var start = 0
        while start < order.count {
            let end = min(start + batchSize, order.count)
            if dropLast && end - start < batchSize { break }
            batches.append(order[start..<end])
            start = end
        }
        return batches
    }
}
