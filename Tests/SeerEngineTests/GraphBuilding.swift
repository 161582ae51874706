import SeerTensor
@testable import SeerEngine

extension Graph {
    /// Appends a square `k` x `k` convolution ("same" padding) after `input`; with a bias, one drawn with std 0.3 so
    /// that a kernel that drops or misplaces it shows.
    func addConv(_ name: String, _ cin: Int, _ cout: Int, k: Int = 3, stride: Int = 1, groups: Int = 1,
                 bias: Bool = true, _ input: NodeID, rng: inout SeededGenerator) -> NodeID {
        let c = Conv2D(name: name, inChannels: cin, outChannels: cout, kernel: k, stride: stride, padding: k / 2,
                       groups: groups, bias: bias, rng: &rng)
        if bias { c.bias!.value = .randomNormal(shape: [cout], std: 0.3, using: &rng) }
        return add(c, input)
    }
}
