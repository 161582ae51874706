import ArgumentParser
import Foundation
import SeerEngine
import SeerModels
import SeerTensor

/// Seconds per layer type in one training step (forward and backward), to see where the engine spends time.
struct LayerProfile: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "layers")
    @Option var model = "resnet20"
    @Option var batch = 128
    @Option var threads = 1
    @Option var steps = 3

    func run() throws {
        Threads.set(threads)
        let net = try ModelZoo.make(model)
        let g = net.graph
        let x = randomBatch(batch, net.inputShape)
        var forward = [String: Double](), backward = [String: Double]()
        for step in 0...steps {
            var values = [Graph.NodeID: Tensor]()
            for id in g.topologicalOrder {
                let node = g.nodes[id]
                let ins = node.inputs.map { $0 == Graph.input ? x : values[$0]! }
                let t0 = DispatchTime.now().uptimeNanoseconds
                values[id] = node.layer.forward(ins, training: true)
                if step > 0 { forward[kind(node.layer), default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
            }
            var grads = [g.output: values[g.output]!]
            for id in g.topologicalOrder.reversed() {
                guard let gr = grads.removeValue(forKey: id) else { continue }
                let node = g.nodes[id]
                let t0 = DispatchTime.now().uptimeNanoseconds
                let ing = node.layer.backward(gr)
                if step > 0 { backward[kind(node.layer), default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
                for (i, d) in zip(node.inputs, ing) where i != Graph.input {
                    if grads[i] == nil { grads[i] = d } else { grads[i]!.add(d) }
                }
            }
        }
        for k in Set(forward.keys).union(backward.keys).sorted() {
            print(String(format: "%-22@ forward %7.1f ms  backward %7.1f ms", k, 1000 * forward[k, default: 0] / Double(steps),
                         1000 * backward[k, default: 0] / Double(steps)))
        }
    }

    func kind(_ l: Layer) -> String {
        if let c = l as? Conv2D { return "conv\(c.window.height.kernel)x\(c.window.width.kernel)\(c.groups > 1 ? "dw" : "") c\(c.inChannels)" }
        return String(describing: type(of: l))
    }
}
