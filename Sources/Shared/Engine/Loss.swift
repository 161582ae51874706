import SeerTensor

/// Softmax cross-entropy, mean over the batch: returns the loss and its gradient w.r.t. the logits.
public func softmaxCrossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, gradient: Tensor) {
    let n = logits.shape[0], k = logits.shape[1]
    precondition(labels.count == n, "softmaxCrossEntropy: \(labels.count) labels for \(n) rows")
    var grad = logits.zerosLike()
    var loss: Double = 0
    for i in 0..<n {
        let row = i * k
        let (m, sum) = shiftedExponentials(logits, row: i, into: &grad)
        let label = labels[i]
        precondition(label >= 0 && label < k, "label \(label) outside 0..<\(k)")
        loss += Double(logf(sum) + m - logits.data[row + label])
        for j in 0..<k { grad.data[row + j] /= sum * Float(n) }
        grad.data[row + label] -= 1 / Float(n)
    }
    return (Float(loss / Double(n)), grad)
}

/// The softmax of each row of [N, K] logits (probabilities summing to 1), computed as the cross-entropy above does:
/// less the row's maximum, exponentiated and divided by their sum.
public func softmaxRows(_ logits: Tensor) -> Tensor {
    let n = logits.shape[0], k = logits.shape[1]
    var p = logits.zerosLike()
    for i in 0..<n {
        let (_, sum) = shiftedExponentials(logits, row: i, into: &p)
        for j in (i * k)..<((i + 1) * k) { p.data[j] /= sum }
    }
    return p
}

/// Writes exp(x - max) for row `i` of [N, K] `logits` into the same row of `out` (the shift keeps every exponential
/// at most 1); returns the row's maximum and the sum written.
private func shiftedExponentials(_ logits: Tensor, row i: Int, into out: inout Tensor) -> (max: Float, sum: Float) {
    let k = logits.shape[1], row = i * k
    var m = -Float.infinity
    for j in 0..<k { m = max(m, logits.data[row + j]) }
    var sum: Float = 0
    for j in 0..<k {
        let e = expf(logits.data[row + j] - m)
        out.data[row + j] = e
        sum += e
    }
    return (m, sum)
}

/// Index of the largest logit in each row.
public func argmaxRows(_ logits: Tensor) -> [Int] {
    let n = logits.shape[0], k = logits.shape[1]
    return (0..<n).map { i in
        var best = 0
        for j in 1..<k where logits.data[i * k + j] > logits.data[i * k + best] { best = j }
        return best
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
