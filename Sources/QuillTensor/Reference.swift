// Plain, obviously-correct twins of the fast kernels (llm.c's *_naive functions): scalar loops, libm's exp
// and tanh, full attention matrices. Tests compare every fast kernel with its twin on awkward shapes.
import Foundation

public enum Reference {
    // MARK: - Matmul

    /// out (N, OC) = inp (N, IC) · weight (IC, OC) + bias
    /// logits (N, V) = inp (N, C) · wteᵀ, the triple loop (twin of lmHeadForward and HeadDot.swift).
    public static func lmHeadForward(_ logits: FloatBuffer, _ inp: FloatBuffer, _ wte: FloatBuffer, rows N: Int, C: Int,
                                     V: Int) {
        for r in 0..<N {
            for v in 0..<V {
                var s: Float = 0
                for c in 0..<C { s += inp[r * C + c] * wte[v * C + c] }
                logits[r * V + v] = s
            }
        }
    }

    public static func matmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ weight: FloatBuffer,
                                     _ bias: FloatBuffer?, rows N: Int, inChannels IC: Int, outChannels OC: Int) {
        for r in 0..<N {
            for o in 0..<OC {
                var s: Float = bias?[o] ?? 0
                for i in 0..<IC { s += inp[r * IC + i] * weight[i * OC + o] }
                out[r * OC + o] = s
            }
        }
    }

    public static func matmulBackward(_ dinp: FloatBuffer?, _ dweight: FloatBuffer, _ dbias: FloatBuffer?,
                                      _ dout: FloatBuffer, _ inp: FloatBuffer, _ weight: FloatBuffer,
                                      rows N: Int, inChannels IC: Int, outChannels OC: Int) {
        for r in 0..<N {
            for o in 0..<OC {
                let g = dout[r * OC + o]
                if let dbias { dbias[o] += g }
                for i in 0..<IC {
                    dinp?[r * IC + i] += g * weight[i * OC + o]
                    dweight[i * OC + o] += g * inp[r * IC + i]
                }
            }
        }
    }

    // MARK: - LayerNorm

    public static func layerNormForward(_ out: FloatBuffer, _ mean: FloatBuffer, _ rstd: FloatBuffer,
                                        _ inp: FloatBuffer, _ weight: FloatBuffer, _ bias: FloatBuffer?,
                                        rows N: Int, C: Int) {
        for r in 0..<N {
            var m: Float = 0
            for c in 0..<C { m += inp[r * C + c] }
            m /= Float(C)
            var v: Float = 0
            for c in 0..<C { let d = inp[r * C + c] - m; v += d * d }
            v /= Float(C)
            let s = 1 / (v + layerNormEps).squareRoot()
            for c in 0..<C { out[r * C + c] = (inp[r * C + c] - m) * s * weight[c] + (bias?[c] ?? 0) }
            mean[r] = m
            rstd[r] = s
        }
    }

    public static func layerNormBackward(_ dinp: FloatBuffer, _ dweight: FloatBuffer, _ dbias: FloatBuffer?,
                                         _ dout: FloatBuffer, _ inp: FloatBuffer, _ weight: FloatBuffer,
                                         _ mean: FloatBuffer, _ rstd: FloatBuffer, rows N: Int, C: Int) {
        for r in 0..<N {
            var dnormMean: Float = 0, dnormNormMean: Float = 0
            for c in 0..<C {
                let norm = (inp[r * C + c] - mean[r]) * rstd[r]
                let dnorm = weight[c] * dout[r * C + c]
                dnormMean += dnorm
                dnormNormMean += dnorm * norm
            }
            dnormMean /= Float(C)
            dnormNormMean /= Float(C)
            for c in 0..<C {
                let norm = (inp[r * C + c] - mean[r]) * rstd[r]
                let dnorm = weight[c] * dout[r * C + c]
                dbias?[c] += dout[r * C + c]
                dweight[c] += norm * dout[r * C + c]
                dinp[r * C + c] += (dnorm - dnormMean - norm * dnormNormMean) * rstd[r]
            }
        }
    }

    // MARK: - GELU

    public static func geluForward(_ out: FloatBuffer, _ inp: FloatBuffer, count N: Int) {
        for i in 0..<N {
            let x = inp[i]
            out[i] = 0.5 * x * (1 + tanh(geluScale * (x + 0.044_715 * x * x * x)))
        }
    }

    public static func geluBackward(_ dinp: FloatBuffer, _ inp: FloatBuffer, _ dout: FloatBuffer, count N: Int) {
        for i in 0..<N {
            let x = inp[i]
            let u = geluScale * (x + 0.044_715 * x * x * x)
            let th = tanh(u)
            let sech2 = 1 / (cosh(u) * cosh(u))
            let local = 0.5 * (1 + th) + x * 0.5 * sech2 * geluScale * (1 + 3 * 0.044_715 * x * x)
            _ = sech2
            dinp[i] += local * dout[i]
        }
    }

    // MARK: - Attention (full T x T matrices, masked by -inf, exactly as written in the papers)

    public static func attentionForward(_ out: FloatBuffer, _ att: FloatBuffer, _ inp: FloatBuffer,
                                        B: Int, T: Int, C: Int, NH: Int,
                                        dropout: DropoutMask? = nil, sampleOffset: Int = 0,
                                        segments: TokenBuffer? = nil) {
        let hs = C / NH, C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        for b in 0..<B {
            for h in 0..<NH {
                let m = dropout?.stream(UInt64((sampleOffset + b) * NH + h))
                for t in 0..<T {
                    var row = [Float](repeating: -.infinity, count: T)
                    // A document's tokens see back to its start only (-inf before it, as above the diagonal).
                    let start = segments.map { Int($0[b * T + t]) } ?? 0
                    for t2 in start...t {
                        var s: Float = 0
                        for d in 0..<hs { s += inp[(b * T + t) * C3 + h * hs + d] * inp[(b * T + t2) * C3 + C + h * hs + d] }
                        row[t2] = s * scale
                    }
                    let mx = row.max()!
                    var sum: Float = 0
                    for t2 in 0..<T { row[t2] = t2 >= start && t2 <= t ? exp(row[t2] - mx) : 0; sum += row[t2] }
                    for t2 in 0..<T { att[((b * NH + h) * T + t) * T + t2] = row[t2] / sum }
                    for d in 0..<hs {
                        var y: Float = 0
                        for t2 in 0...t {
                            let p = att[((b * NH + h) * T + t) * T + t2] * (m?.factor(t * T + t2) ?? 1)
                            y += p * inp[(b * T + t2) * C3 + 2 * C + h * hs + d]
                        }
                        out[(b * T + t) * C + h * hs + d] = y
                    }
                }
            }
        }
    }

    public static func attentionBackward(_ dinp: FloatBuffer, _ dout: FloatBuffer, _ att: FloatBuffer,
                                         _ inp: FloatBuffer, B: Int, T: Int, C: Int, NH: Int,
                                         dropout: DropoutMask? = nil, sampleOffset: Int = 0) {
        let hs = C / NH, C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        for b in 0..<B {
            for h in 0..<NH {
                let m = dropout?.stream(UInt64((sampleOffset + b) * NH + h))
                for t in 0..<T {
                    let arow = ((b * NH + h) * T + t) * T
                    // y = Σ p v  →  dp, dv
                    var dA = [Float](repeating: 0, count: T)
                    for t2 in 0...t {
                        let f = m?.factor(t * T + t2) ?? 1
                        for d in 0..<hs {
                            let g = dout[(b * T + t) * C + h * hs + d]
                            dA[t2] += g * inp[(b * T + t2) * C3 + 2 * C + h * hs + d] * f
                            dinp[(b * T + t2) * C3 + 2 * C + h * hs + d] += att[arow + t2] * f * g
                        }
                    }
                    // softmax: dS_j = Σ_i A_i (δ_ij - A_j) dA_i
                    for t2 in 0...t {
                        var ds: Float = 0
                        for t3 in 0...t {
                            let indicator: Float = t2 == t3 ? 1 : 0
                            ds += att[arow + t3] * (indicator - att[arow + t2]) * dA[t3]
                        }
                        ds *= scale
                        for d in 0..<hs {
                            dinp[(b * T + t) * C3 + h * hs + d] += ds * inp[(b * T + t2) * C3 + C + h * hs + d]
                            dinp[(b * T + t2) * C3 + C + h * hs + d] += ds * inp[(b * T + t) * C3 + h * hs + d]
                        }
                    }
                }
            }
        }
    }

    // MARK: - Decode attention (one query row against a cache)

    /// Twin of decodeAttentionRow: keys as rows (keys[j·hs + d]), values as rows, the scores in Double and libm's
    /// exp. Returns the attention probabilities p[0..<n]; out (hs) = Σ_j p_j v_j.
    @discardableResult
    public static func decodeAttentionRow(out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
                                          keys: UnsafePointer<Float>, values: UnsafePointer<Float>, n: Int, hs: Int,
                                          scale: Float) -> [Float] {
        var s = [Double](repeating: 0, count: n)
        for j in 0..<n {
            var dot = 0.0
            for d in 0..<hs { dot += Double(q[d]) * Double(keys[j * hs + d]) }
            s[j] = dot * Double(scale)
        }
        let mx = s.max() ?? 0
        let e = s.map { exp($0 - mx) }
        let sum = e.reduce(0, +)
        let p = e.map { $0 / sum }
        for d in 0..<hs {
            var acc = 0.0
            for j in 0..<n { acc += p[j] * Double(values[j * hs + d]) }
            out[d] = Float(acc)
        }
        return p.map(Float.init)
    }

    // MARK: - Softmax cross-entropy

    public static func softmaxCrossEntropyForward(_ losses: FloatBuffer, _ logits: FloatBuffer,
                                                  _ targets: TokenBuffer, rows N: Int, V: Int) -> Double {
        var total = 0.0
        for r in 0..<N {
            var mx = -Float.infinity
            for j in 0..<V { mx = max(mx, logits[r * V + j]) }
            var sum: Double = 0
            for j in 0..<V { sum += exp(Double(logits[r * V + j] - mx)) }
            let y = targets[r]
            losses[r] = y == ignoreIndex ? 0 : Float(log(sum)) - (logits[r * V + Int(y)] - mx)
            if y != ignoreIndex { total += Double(losses[r]) }
            for j in 0..<V { logits[r * V + j] = Float(exp(Double(logits[r * V + j] - mx)) / sum) }
        }
        return total
    }
}
