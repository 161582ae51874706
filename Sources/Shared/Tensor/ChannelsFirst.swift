/// `blocks` consecutive blocks of `positions` x `channels` values in channels-last order (position-major: NHWC images,
/// or a classifier's weight rows over a flattened NHWC map) reordered to channels-first (channel-major: NCHW).
public func channelsFirst<T>(_ values: [T], blocks: Int, positions: Int, channels: Int) -> [T] {
    precondition(values.count == blocks * positions * channels,
                 "\(values.count) values are not \(blocks) blocks of \(positions) x \(channels)")
    guard channels > 1, positions > 1 else { return values }
    var out = values
    let size = positions * channels
    for block in 0..<blocks {
        let base = block * size
        for p in 0..<positions {
            for c in 0..<channels { out[base + c * positions + p] = values[base + p * channels + c] }
        }
    }
    return out
}
