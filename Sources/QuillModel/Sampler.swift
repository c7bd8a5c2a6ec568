// Choosing the next token from logits: greedy, sampling with temperature, top-k and top-p (nucleus), with a
// seedable generator per sequence, and the log-probabilities of the choice and its best alternatives.
import Foundation
import QuillTensor

public enum DecodingStrategy: String, Sendable, Codable, CaseIterable {
    case greedy, sample
    case topK = "top_k"
    case topP = "top_p"
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

    public init(strategy: DecodingStrategy = .topK, temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95,
                seed: UInt64 = 1337, logprobs: Int = 0) {
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

    /// Picks the next token from `logits` (V floats).
    public mutating func choose(_ logits: [Float]) -> TokenChoice {
        let token = Int32(pick(logits))
        var choice = TokenChoice(token: token, logprob: 0, top: [])
        do {
            // log p = x - logsumexp(x), at temperature 1 (the model's own distribution).
            let mx = logits.max()!
            let lse = Float(log(logits.reduce(0.0) { $0 + exp(Double($1 - mx)) })) + mx
            choice.logprob = logits[Int(token)] - lse
            if options.logprobs > 0 {
                let n = min(options.logprobs, logits.count)
                choice.top = Self.best(n, of: logits).map { (Int32($0), logits[$0] - lse) }
            }
        }
        return choice
    }

    mutating func pick(_ logits: [Float]) -> Int {
        let greedy = options.strategy == .greedy || options.temperature <= 0
            || (options.strategy == .topK && options.topK == 1)
        if greedy {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return best
        }
        // Candidates in descending logit order (ties by id, so results never depend on sort stability).
        var order = Self.best(options.strategy == .topK ? max(1, options.topK) : logits.count, of: logits)
        let t = options.temperature
        let mx = logits[order[0]]
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
