import XCTest
@testable import SeerWire

/// SplitMix64: tiny, seeded, the same on every platform, so a failing case can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class FuzzTests: XCTestCase {
    /// Tokens that tend to reach interesting decoder paths when spliced into JSON.
    let tokens: [String] = ["{", "}", "[", "]", "\"", "\\", ":", ",", "null", "true", "1e999", "-1", "0.5", "-0",
                            "18446744073709551616", "\\u0000", "\\ud800", "\"job_id\"", "\"\":", "{\"a\":", "NaN"]

    func mutate(_ frames: [[UInt8]], _ rng: inout SplitMix64) -> [[UInt8]] {
        var frames = frames
        let rounds = Int.random(in: 1...3, using: &rng)
        for _ in 0..<rounds {
            let index = frames.isEmpty ? 0 : Int.random(in: 0..<frames.count, using: &rng)
            switch Int.random(in: 0..<9, using: &rng) {
            case 0 where !frames.isEmpty && !frames[index].isEmpty:  // flip a bit
                let at = Int.random(in: 0..<frames[index].count, using: &rng)
                frames[index][at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !frames.isEmpty:  // truncate
                frames[index] = Array(frames[index].prefix(Int.random(in: 0...frames[index].count, using: &rng)))
            case 2 where !frames.isEmpty:  // splice a token
                let at = Int.random(in: 0...frames[index].count, using: &rng)
                frames[index].insert(contentsOf: Array(tokens.randomElement(using: &rng)!.utf8), at: at)
            case 3 where !frames.isEmpty:  // drop a frame
                frames.remove(at: index)
            case 4:  // add a random frame
                frames.insert((0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) },
                              at: frames.isEmpty ? 0 : index)
            case 5 where frames.count > 1:  // swap frames
                frames.swapAt(index, Int.random(in: 0..<frames.count, using: &rng))
            case 6 where !frames.isEmpty:  // random bytes in place
                frames[index] = (0..<frames[index].count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 7 where !frames.isEmpty && frames[index].count > 2:  // delete a run
                let start = Int.random(in: 0..<frames[index].count - 1, using: &rng)
                let end = Int.random(in: start...frames[index].count, using: &rng)
                frames[index].removeSubrange(start..<end)
            default:  // duplicate a frame
                if !frames.isEmpty { frames.append(frames[index]) }
            }
        }
        return frames
    }

    func testDecodeNeverCrashesOnMutatedOrRandomFrames() throws {
        var rng = SplitMix64(state: 0x5EE5_2026)
        let seeds = try Samples.all.map { try WireCodec.encode($0) }
        var accepted = 0, rejected = 0
        for iteration in 0..<20_000 {
            let frames: [[UInt8]]
            if iteration % 6 == 5 {
                frames = (0..<Int.random(in: 0...5, using: &rng)).map { _ in
                    (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                }
            } else {
                frames = mutate(seeds.randomElement(using: &rng)!, &rng)
            }
            do {
                let message = try WireCodec.decode(frames)
                accepted += 1
                // Anything accepted must survive a re-encode unchanged: decode and encode agree on validity.
                XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(message)), message, "iteration \(iteration)")
            } catch {
                rejected += 1
                _ = error.description  // the description of every error must also be safe to build
                _ = WireCodec.errorReply(for: error, frames: frames)
            }
            _ = try? WireCodec.decodeRouted(frames)
        }
        XCTAssertGreaterThan(rejected, 5_000)
        XCTAssertGreaterThan(accepted, 50, "mutations should sometimes stay valid (e.g. in free text)")
    }

    func testDecodeNeverCrashesOnMutatedJSONBodies() throws {
        // Header and type intact so every case reaches the JSON decoder and the validators.
        var rng = SplitMix64(state: 0xB0D1E5)
        let seeds = try Samples.all.map { try WireCodec.encode($0) }
        var accepted = 0
        for iteration in 0..<10_000 {
            var frames = seeds.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let mutated = mutate([frames[2]], &rng)
                frames[2] = mutated.first ?? []
            }
            if let message = try? WireCodec.decode(frames) {
                accepted += 1
                XCTAssertEqual(try WireCodec.decode(try WireCodec.encode(message)), message, "iteration \(iteration)")
            }
        }
        XCTAssertGreaterThan(accepted, 100)
    }
}
