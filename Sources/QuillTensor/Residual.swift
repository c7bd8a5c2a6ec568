// Residual connection, forward and backward: out = a + b; both inputs receive the gradient unchanged.

/// out (N) = a + b
public func residualForward(_ out: FloatBuffer, _ a: FloatBuffer, _ b: FloatBuffer, count N: Int) {
    precondition(out.count >= N && a.count >= N && b.count >= N)
    var i = 0
    while i + 8 <= N { store8(load8(a.ptr + i) + load8(b.ptr + i), out.ptr + i); i += 8 }
    while i < N { out[i] = a[i] + b[i]; i += 1 }
}

/// da (N) += dout;  db (N) += dout
public func residualBackward(_ da: FloatBuffer, _ db: FloatBuffer, _ dout: FloatBuffer, count N: Int) {
    precondition(da.count >= N && db.count >= N && dout.count >= N)
    accumulate(da, dout, count: N)
    accumulate(db, dout, count: N)
}

/// acc (N) += x
public func accumulate(_ acc: FloatBuffer, _ x: FloatBuffer, count N: Int) {
    precondition(acc.count >= N && x.count >= N)
    var i = 0
    while i + 8 <= N { store8(load8(acc.ptr + i) + load8(x.ptr + i), acc.ptr + i); i += 8 }
    while i < N { acc[i] += x[i]; i += 1 }
}
