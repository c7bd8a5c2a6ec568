// Token + position embedding, forward and backward. Positions come from the learned table wpe, or from the
// fixed sinusoidal table of "Attention Is All You Need" (then they have no gradient).
import Foundation

/// out (B, T, C) = wte[inp[b, t]] + wpe[pos[b, t]]; inp (B, T) token ids already checked to lie in [0, V);
/// positions (B, T), each in 0..<T, or nil for pos[b, t] = t (documents restart their positions: see
/// `documentSegments`).
public func encoderForward(_ out: FloatBuffer, _ inp: TokenBuffer, _ wte: FloatBuffer, _ wpe: FloatBuffer,
                           B: Int, T: Int, C: Int, positions: TokenBuffer? = nil) {
    precondition(out.count >= B * T * C && inp.count >= B * T && wpe.count >= T * C, "encoderForward: sizes")
    for b in 0..<B {
        for t in 0..<T {
            let o = out.ptr + (b * T + t) * C
            let e = wte.ptr + Int(inp[b * T + t]) * C
            let p = wpe.ptr + (positions.map { Int($0[b * T + t]) } ?? t) * C
            var c = 0
            while c + 8 <= C { store8(load8(e + c) + load8(p + c), o + c); c += 8 }
            while c < C { o[c] = e[c] + p[c]; c += 1 }
        }
    }
}

/// dwte[inp[b, t]] += dout[b, t];  dwpe[pos[b, t]] += dout[b, t] (dwpe nil for fixed positions)
public func encoderBackward(_ dwte: FloatBuffer, _ dwpe: FloatBuffer?, _ dout: FloatBuffer, _ inp: TokenBuffer,
                            B: Int, T: Int, C: Int, positions: TokenBuffer? = nil) {
    precondition(dout.count >= B * T * C && inp.count >= B * T, "encoderBackward: sizes")
    for b in 0..<B {
        for t in 0..<T {
            let d = dout.ptr + (b * T + t) * C
            let e = dwte.ptr + Int(inp[b * T + t]) * C
            var c = 0
            while c + 8 <= C { store8(load8(e + c) + load8(d + c), e + c); c += 8 }
            while c < C { e[c] += d[c]; c += 1 }
            if let dwpe {
                let p = dwpe.ptr + (positions.map { Int($0[b * T + t]) } ?? t) * C
                c = 0
                while c + 8 <= C { store8(load8(p + c) + load8(d + c), p + c); c += 8 }
                while c < C { p[c] += d[c]; c += 1 }
            }
        }
    }
}

/// The fixed sinusoidal table (T, C): pe[t, 2i] = sin(t / 10000^(2i/C)), pe[t, 2i+1] = cos(same).
public func sinusoidalPositions(_ out: FloatBuffer, T: Int, C: Int) {
    precondition(out.count >= T * C)
    for t in 0..<T {
        for i in stride(from: 0, to: C, by: 2) {
            let angle = Double(t) / pow(10_000.0, Double(i) / Double(C))
            out[t * C + i] = Float(sin(angle))
            if i + 1 < C { out[t * C + i + 1] = Float(cos(angle)) }
        }
    }
}

/// Where each row's document starts, for a batch of B rows of T tokens packed from a stream of documents: a document
/// starts at a row's first token and at every `boundary` token (end-of-text opens the next document, so the token
/// before it, which predicts it, still belongs to the one it ends). starts[b, t] is the index in row b of the first
/// token of t's document; positions[b, t] = t - starts[b, t]. Attention with these starts is block-diagonal causal.
public func documentSegments(starts: TokenBuffer, positions: TokenBuffer, _ inp: TokenBuffer, boundary: Int32,
                             B: Int, T: Int) {
    precondition(starts.count >= B * T && positions.count >= B * T && inp.count >= B * T, "documentSegments: sizes")
    for b in 0..<B {
        var start = 0
        for t in 0..<T {
            if inp[b * T + t] == boundary { start = t }
            starts[b * T + t] = Int32(start)
            positions[b * T + t] = Int32(t - start)
        }
    }
}
