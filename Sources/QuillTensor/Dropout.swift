// Inverted dropout, forward and backward. The mask is not stored: DropoutMask regenerates it from
// (key, index), so the backward pass applies exactly the forward's mask at no memory cost.

/// x (N) *= mask factor, in place (0 for dropped elements, 1/(1-p) for kept ones)
public func dropoutForward(_ x: FloatBuffer, mask: DropoutMask, count N: Int) {
    precondition(x.count >= N)
    for i in 0..<N { x[i] *= mask.factor(i) }
}

/// dx (N) *= mask factor, in place: the gradient flows only through kept elements, scaled the same way
public func dropoutBackward(_ dx: FloatBuffer, mask: DropoutMask, count N: Int) {
    precondition(dx.count >= N)
    for i in 0..<N { dx[i] *= mask.factor(i) }
}
