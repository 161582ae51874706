import Foundation
import XCTest
import SeerEngine
import SeerModels
import SeerTensor
@testable import SeerCompression

/// A hand-made network small enough to count by hand, on a 2x8x8 input:
///
///     stem.conv 2->4 3x3 s1 p1 -> bn -> relu ─┬─ a.conv 4->8 3x3 s2 p1 -> bn -> relu -> b.conv 8->8 1x1 -> bn ─┐
///                                             └─ sc.conv 4->8 1x1 s2 -> bn ──────────────────────────────────── add
///     add -> relu -> dw.conv 8->8 3x3 p1 groups 8 -> bn -> relu -> pool -> fc 8->3
///
/// Groups: {stem.conv} (fixed), {a.conv}, {b.conv, sc.conv, dw.conv (depthwise)}.
func tinyModel() -> Model {
    var rng = SeededGenerator(seed: 1)
    let g = Graph()
    var x = g.add(Conv2D(name: "stem.conv", inChannels: 2, outChannels: 4, kernel: 3, padding: 1, rng: &rng), Graph.input)
    x = g.add(BatchNorm2D(name: "stem.bn", channels: 4), x)
    let stem = g.add(ReLU(name: "stem.relu"), x)
    x = g.add(Conv2D(name: "a.conv", inChannels: 4, outChannels: 8, kernel: 3, stride: 2, padding: 1, rng: &rng), stem)
    x = g.add(BatchNorm2D(name: "a.bn", channels: 8), x)
    x = g.add(ReLU(name: "a.relu"), x)
    x = g.add(Conv2D(name: "b.conv", inChannels: 8, outChannels: 8, kernel: 1, rng: &rng), x)
    let b = g.add(BatchNorm2D(name: "b.bn", channels: 8), x)
    x = g.add(Conv2D(name: "sc.conv", inChannels: 4, outChannels: 8, kernel: 1, stride: 2, rng: &rng), stem)
    let sc = g.add(BatchNorm2D(name: "sc.bn", channels: 8), x)
    x = g.add(Add(name: "add"), b, sc)
    x = g.add(ReLU(name: "add.relu"), x)
    x = g.add(Conv2D(name: "dw.conv", inChannels: 8, outChannels: 8, kernel: 3, padding: 1, groups: 8, rng: &rng), x)
    x = g.add(BatchNorm2D(name: "dw.bn", channels: 8), x)
    x = g.add(ReLU(name: "dw.relu"), x)
    x = g.add(GlobalAvgPool(name: "pool"), x)
    g.add(Linear(name: "fc", inFeatures: 8, outFeatures: 3, rng: &rng), x)
    return Model(name: "tiny", graph: g, inputShape: [2, 8, 8], classes: 3)
}

/// The tiny model's policy the hand counts use: resolves to stem 8/8/0, a.conv 2/8/0.5, b.conv 4/4/0.25,
/// sc.conv 4/4/0.5, dw.conv 4/4/0 (depthwise), fc 4/4/0 (classifier).
func tinyPolicy() -> Policy {
    Policy(default: LayerPolicy(wbits: 4, abits: 4, prune: 0.5),
           layers: ["a.conv": PartialLayerPolicy(wbits: 2, abits: 8), "b.conv": PartialLayerPolicy(prune: 0.25)])
}

func zoo(_ name: String) throws -> Model { try ModelZoo.make(name) }

/// Asserts that `body` throws exactly `expected`, and that its message names every string in `mentions`.
func assertPolicyError<T>(_ body: @autoclosure () throws -> T, _ expected: PolicyError, mentions: [String] = [],
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssertEqual(error as? PolicyError, expected, file: file, line: line)
        let message = String(describing: error)
        for needle in mentions {
            XCTAssertTrue(message.contains(needle), "'\(message)' does not mention '\(needle)'", file: file, line: line)
        }
    }
}
