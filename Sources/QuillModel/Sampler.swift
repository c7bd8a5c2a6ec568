// Choosing the next token from logits: greedy, sampling with temperature, top-k and top-p (nucleus), with a
// seedable generator per sequence, and the log-probabilities of the choice and its best alternatives.
import Foundation
import QuillTensor

public enum DecodingStrategy: String, Sendable, Codable, CaseIterable {
    case greedy, sample
    case topK = "top_k"
    case topP = "top_p"
}

/// What reshapes the model's logits before a token is drawn, in this order (docs/API.md, "The sampler chain"):
/// 1. `logitBias`: added to each listed token's logit; -100 or less bans the token.
/// 2. The penalties, over the last `repeatLastN` tokens of the context (prompt and generated; -1: all of it, 0: none),
///    for each token that occurs there c times: `repeatPenalty` divides a positive logit and multiplies a negative
///    one (llama.cpp's repeat_penalty, vLLM's repetition_penalty), then `frequencyPenalty` · c + `presencePenalty` is
///    subtracted (OpenAI's definition).
/// 3. Until `minTokens` tokens are generated, end-of-text and `stopTokenIDs` are banned.
/// The log-probabilities reported are of these logits. Then come the strategy and temperature: greedy takes the
/// best; otherwise top-k keeps the k best, `minP` drops tokens whose probability (at temperature 1) is below min_p
/// times the best one's, `typicalP` keeps the locally typical set (below), top-p keeps the nucleus, and a token is
/// drawn at the temperature.
///
/// Locally typical sampling (Meister et al. 2022; HF's typical_p, llama.cpp's typ_p): over the candidates'
/// distribution p at temperature 1, with entropy H = -Σ p log p, the tokens whose surprisal -log p is closest to H
/// are kept, fewest first, until their probabilities add up to typical_p (at least one). 1 is off.
public struct SamplingControls: Sendable, Equatable {
    public var logitBias: [Int32: Float] = [:]
    public var repeatPenalty: Float = 1
    public var repeatLastN = 64
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    public var minP: Float = 0
    public var typicalP: Float = 1
    public var minTokens = 0
    /// Go on past end-of-text instead of finishing (it is still sampled and returned like any token).
    public var ignoreEOS = false
    /// Tokens that finish the generation (reason "stop"); like end-of-text, they are not part of the text.
    public var stopTokenIDs: Set<Int32> = []

    public init() {}

    /// Whether any control changes the logits (else the sampler reads the model's own).
    var reshapes: Bool {
        !logitBias.isEmpty || repeatPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0 || minTokens > 0
    }
}

public struct DecodingOptions: Sendable, Equatable {
    public var strategy: DecodingStrategy
    /// ≥ 0; 0 means greedy whatever the strategy.
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var seed: UInt64
    /// How many alternatives to report with each token's log-probability (0: none).
    public var logprobs: Int
    public var controls = SamplingControls()

    public init(strategy: DecodingStrategy = .topK, temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95,
                seed: UInt64 = 1337, logprobs: Int = 0, controls: SamplingControls = SamplingControls()) {
        self.controls = controls
        self.strategy = strategy
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.logprobs = logprobs
    }
}

/// A chosen token with its log-probability under the model (temperature 1) and the most likely alternatives.
public struct TokenChoice: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float
    public var top: [(token: Int32, logprob: Float)]

    public static func == (a: TokenChoice, b: TokenChoice) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.map(\.token) == b.top.map(\.token)
            && a.top.map(\.logprob) == b.top.map(\.logprob)
    }
}

public struct Sampler: Sendable {
    public let options: DecodingOptions
    public var rng: SplitMix64

    public init(options: DecodingOptions) {
        self.options = options
        rng = SplitMix64(seed: options.seed)
    }

    /// Picks the next token from `logits` (V floats) after the controls: `context` is the sequence so far (for the
    /// penalties), `generated` how many tokens this generation has made, `endOfText` the model's end-of-text id.
    public mutating func choose(_ raw: [Float], context: [Int32] = [], generated: Int = 0, endOfText: Int32? = nil)
        -> TokenChoice {
        var logits = raw
        if options.controls.reshapes {
            logits = Self.adjusted(raw, controls: options.controls, context: context, generated: generated,
                                   endOfText: endOfText)
            // Everything banned: the controls cannot be met, so the model's own logits decide.
            if !logits.contains(where: { $0 > -.infinity }) { logits = raw }
        }
        let token = Int32(pick(logits))
        var choice = TokenChoice(token: token, logprob: 0, top: [])
        do {
            // log p = x - logsumexp(x), at temperature 1 (the model's own distribution).
            let lse = logits.withUnsafeBufferPointer { logSumExp($0.baseAddress!, $0.count) }
            choice.logprob = logits[Int(token)] - lse
            if options.logprobs > 0 {
                let n = min(options.logprobs, logits.count)
                choice.top = Self.best(n, of: logits).map { (Int32($0), logits[$0] - lse) }
            }
        }
        return choice
    }

    /// The logits after steps 1–3 of `SamplingControls`.
    public static func adjusted(_ raw: [Float], controls c: SamplingControls, context: [Int32], generated: Int,
                                endOfText: Int32?) -> [Float] {
        var l = raw
        let V = l.count
        for (id, bias) in c.logitBias where Int(id) < V && id >= 0 {
            l[Int(id)] = bias <= -100 ? -.infinity : l[Int(id)] + bias
        }
        if c.repeatPenalty != 1 || c.presencePenalty != 0 || c.frequencyPenalty != 0 {
            let window = c.repeatLastN < 0 ? context[...] : context.suffix(c.repeatLastN)
            var counts: [Int32: Int] = [:]
            for t in window where t >= 0 && Int(t) < V { counts[t, default: 0] += 1 }
            for (t, n) in counts {
                var x = l[Int(t)]
                if c.repeatPenalty != 1 { x = x > 0 ? x / c.repeatPenalty : x * c.repeatPenalty }
                x -= Float(n) * c.frequencyPenalty + c.presencePenalty
                l[Int(t)] = x
            }
        }
        if generated < c.minTokens {
            if let e = endOfText, Int(e) < V { l[Int(e)] = -.infinity }
            for t in c.stopTokenIDs where Int(t) < V && t >= 0 { l[Int(t)] = -.infinity }
        }
        return l
    }

    mutating func pick(_ logits: [Float]) -> Int {
        let greedy = options.strategy == .greedy || options.temperature <= 0
            || (options.strategy == .topK && options.topK == 1)
        if greedy { return logits.withUnsafeBufferPointer { argmax($0) } }
        // Candidates in descending logit order (ties by id, so results never depend on sort stability).
        var order = Self.best(options.strategy == .topK ? max(1, options.topK) : logits.count, of: logits)
        let t = options.temperature
        let mx = logits[order[0]]
        // min_p: p_i ≥ min_p · p_max at temperature 1, i.e. logit_i ≥ logit_max + ln(min_p); banned tokens (-inf) go.
        let floor = options.controls.minP > 0 ? mx + log(options.controls.minP) : -Float.infinity
        if floor > -.infinity || !logits[order[order.count - 1]].isFinite {
            let kept = order.filter { logits[$0] >= floor && logits[$0] > -.infinity }
            if !kept.isEmpty { order = kept }
        }
        if options.controls.typicalP < 1 {
            order = Self.typical(order, logits, mass: Double(options.controls.typicalP))
        }
        var probs = order.map { Double(exp((logits[$0] - mx) / t)) }
        var total = probs.reduce(0, +)
        if options.strategy == .topP {
            // The smallest prefix whose probability reaches top_p (at least one token).
            var cum = 0.0, keep = 0
            for p in probs {
                cum += p / total
                keep += 1
                if cum >= Double(options.topP) { break }
            }
            order = Array(order.prefix(keep))
            probs = Array(probs.prefix(keep))
            total = probs.reduce(0, +)
        }
        var u = Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0) * total
        for (j, p) in probs.enumerated() {
            u -= p
            if u < 0 { return order[j] }
        }
        return order[probs.count - 1]
    }

    /// The locally typical subset of `order` (candidate ids, best first) holding `mass` of their probability at
    /// temperature 1, in the same best-first order.
    static func typical(_ order: [Int], _ logits: [Float], mass: Double) -> [Int] {
        let mx = Double(logits[order[0]])
        let e = order.map { exp(Double(logits[$0]) - mx) }
        let z = e.reduce(0, +)
        let p = e.map { $0 / z }
        let entropy = -p.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
        // Closest surprisal to the entropy first (ties by rank, so by logit, then id).
        let byTypicality = p.indices.sorted {
            let a = abs(-log(p[$0]) - entropy), b = abs(-log(p[$1]) - entropy)
            return a < b || (a == b && $0 < $1)
        }
        var keep = Set<Int>(), cum = 0.0
        for j in byTypicality {
            keep.insert(j)
            cum += p[j]
            if cum >= mass { break }
        }
        return order.indices.filter { keep.contains($0) }.map { order[$0] }
    }

    /// The indices of the k largest logits, best first, ties by lower id. For k well below the vocabulary (top-k,
    /// alternatives for logprobs) one pass keeps a sorted list of the best k: most logits fail the comparison with
    /// its last entry, so this costs about one comparison per logit instead of a sort of the whole vocabulary.
    static func best(_ k: Int, of logits: [Float]) -> [Int] {
        let n = logits.count, k = min(k, n)
        @inline(__always) func better(_ a: Int, _ b: Int) -> Bool {
            logits[a] > logits[b] || (logits[a] == logits[b] && a < b)
        }
        if k * 8 >= n {
            return Array(logits.indices.sorted(by: better).prefix(k))
        }
        var top: [Int] = []
        top.reserveCapacity(k + 1)
        for i in 0..<n {
            if top.count == k && !better(i, top[k - 1]) { continue }
            var lo = 0, hi = top.count  // first position whose entry i beats
            while lo < hi {
                let mid = (lo + hi) / 2
                if better(i, top[mid]) { hi = mid } else { lo = mid + 1 }
            }
            top.insert(i, at: lo)
            if top.count > k { top.removeLast() }
        }
        return top
    }
}
