import SeerTensor

/// Training-time augmentation: a random crop of the zero-padded image, then a random horizontal flip.
///
/// Padding is raw pixel 0 (black) before normalization, i.e. what a crop of a black-bordered image shows. It works on
/// images of any size and channel count (every channel of an image shifts and flips together).
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

extension Dataset {
    /// Normalized value of each raw byte per channel (256 per channel), so that batching bytes is a table lookup.
    func byteTable() -> [Float] {
        (0..<channels).flatMap { c -> [Float] in
            let (mean, std) = normalization.channel(c)
            return (0..<256).map { (Float($0) / 255 - mean) / std }
        }
    }

    /// Assembles examples at `indices` (positions within `split`) into a normalized [B, channels, rows, columns] batch.
    ///
    /// With `augment`, each image draws, in order, its vertical crop offset, its horizontal crop offset and its
    /// flip from `rng`, so the same generator state always gives the same batch; without it `rng` is untouched.
    public func batch<Indices: Collection>(split: Split, indices: Indices, augment: Augmentation?,
                                           rng: inout SeededGenerator) throws -> (images: Tensor, labels: [Int32])
        where Indices.Element == Int {
        let (pool, map) = storage(split)
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
        let (channels, rows, columns, pixelCount) = (self.channels, self.rows, self.columns, self.pixelCount)
        let planeCount = rows * columns
        var images = Tensor(shape: [indices.count, channels, rows, columns])
        var labels = [Int32]()
        labels.reserveCapacity(indices.count)
        // Per image and channel: where each output pixel comes from (nil: the black border), then the normalized value.
        var shifts = [(y: Int, x: Int, flip: Bool)]()
        for _ in indices {
            guard let augment else { shifts.append((0, 0, false)); continue }
            let span = 2 * augment.padding + 1
            let shiftY = rng.nextInt(below: span) - augment.padding
            let shiftX = rng.nextInt(below: span) - augment.padding
            shifts.append((shiftY, shiftX, rng.nextUnitFloat() < augment.flipProbability))
        }
        let channelNorms = (0..<channels).map { normalization.channel($0) }
        // The normalized value of pool element `index` in channel `c`, decided once per batch, not per pixel.
        let normalizedValue: (Int, Int) -> Float
        switch pool.pixels {
        case .bytes(let bytes):
            let table = byteTable()
            normalizedValue = { c, index in table[c &* 256 &+ Int(bytes[index])] }
        case .floats(let floats):
            normalizedValue = { c, index in (floats[index] - channelNorms[c].mean) / channelNorms[c].std }
        }
        images.data.withUnsafeMutableBufferPointer { out in
            for (slot, position) in indices.enumerated() {
                let example = map[position]
                labels.append(pool.labels[example])
                let shift = shifts[slot]
                for c in 0..<channels {
                    let source = example * pixelCount + c * planeCount
                    let target = slot * pixelCount + c * planeCount
                    let (mean, std) = channelNorms[c]
                    let black = (0 - mean) / std
                    for y in 0..<rows {
                        let sourceY = y + shift.y
                        for x in 0..<columns {
                            let sourceX = (shift.flip ? columns - 1 - x : x) + shift.x
                            guard sourceY >= 0 && sourceY < rows && sourceX >= 0 && sourceX < columns else {
                                out[target + y * columns + x] = black
                                continue
                            }
                            out[target + y * columns + x] = normalizedValue(c, source + sourceY * columns + sourceX)
                        }
                    }
                }
            }
        }
        return (images, labels)
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
