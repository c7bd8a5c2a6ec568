// /metrics: the Prometheus registry of one server (swift-prometheus), and the events that feed it.
import Foundation
import Prometheus

public final class ServiceMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let requestDuration: [String: ValueHistogram]
    private let promptTokens: Counter
    private let generatedTokens: Counter
    private let inFlight: Gauge
    private let queueDepth: Gauge
    private let batchSize: ValueHistogram
    private let decodeRate: Gauge
    private let rejections: Counter
    // Latency of finished generations, as vLLM names them (vllm:time_to_first_token_seconds, …).
    private let timeToFirstToken: ValueHistogram
    private let timePerOutputToken: ValueHistogram
    private let queueTime: ValueHistogram
    private let endToEnd: ValueHistogram
    private let promptCacheQueries: Counter
    private let promptCacheHits: Counter
    private let promptCacheHitTokens: Counter
    private let promptCacheEntries: Gauge
    private let promptCacheBytes: Gauge
    private let reloads: Counter
    private let reloadFailures: Counter

    /// Route labels: the route table's paths (`/v1/models/{id}` for every model id), anything else as "other" (so
    /// label cardinality stays bounded).
    public static let routes = Route.paths + ["other"]

    public init() {
        func name(_ n: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "quill", metricName: n, unitName: unit, helpText: help)
        }
        var durations: [String: ValueHistogram] = [:]
        for route in Self.routes {
            durations[route] = registry.makeValueHistogram(
                descriptor: name("request_duration", "seconds", "Time from request to the end of its response."),
                labels: [("route", route)],
                buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
        }
        requestDuration = durations
        promptTokens = registry.makeCounter(descriptor: name("prompt_tokens", "total", "Prompt tokens processed."))
        generatedTokens = registry.makeCounter(descriptor: name("generated_tokens", "total", "Tokens generated."))
        inFlight = registry.makeGauge(descriptor: name("generations_in_flight", "", "Generations being stepped."))
        queueDepth = registry.makeGauge(descriptor: name("queue_depth", "", "Generations waiting for the batch."))
        batchSize = registry.makeValueHistogram(
            descriptor: name("batch_size", "", "Generations advanced per model step."),
            buckets: [1, 2, 4, 8, 16, 32, 64])
        decodeRate = registry.makeGauge(
            descriptor: name("decode_tokens_per_second", "", "Tokens made per second in the latest model step."))
        rejections = registry.makeCounter(
            descriptor: name("rejected_generations", "total", "Generations refused with 503 (queue full)."))
        let latency: [Double] = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
        timeToFirstToken = registry.makeValueHistogram(
            descriptor: name("time_to_first_token", "seconds", "From a generation's arrival to its first token (queue and prefill)."),
            buckets: latency)
        timePerOutputToken = registry.makeValueHistogram(
            descriptor: name("time_per_output_token", "seconds", "Mean time between a generation's tokens after the first."),
            buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5])
        queueTime = registry.makeValueHistogram(
            descriptor: name("request_queue_time", "seconds", "Time a generation waited for a place in the batch."),
            buckets: latency)
        endToEnd = registry.makeValueHistogram(
            descriptor: name("e2e_request_latency", "seconds", "From a generation's arrival to its last token."),
            buckets: latency)
        promptCacheQueries = registry.makeCounter(
            descriptor: name("prompt_cache_queries", "total", "Generations that looked for their prompt's start in the prompt cache."))
        promptCacheHits = registry.makeCounter(
            descriptor: name("prompt_cache_hits", "total", "Generations that reused cached prompt tokens."))
        promptCacheHitTokens = registry.makeCounter(
            descriptor: name("prompt_cache_hit_tokens", "total", "Prompt tokens copied from the prompt cache instead of computed."))
        promptCacheEntries = registry.makeGauge(
            descriptor: name("prompt_cache_entries", "", "Finished sequences held by the prompt cache."))
        promptCacheBytes = registry.makeGauge(
            descriptor: name("prompt_cache", "bytes", "KV cache bytes held by the prompt cache."))
        reloads = registry.makeCounter(descriptor: name("model_reloads", "total", "Checkpoints swapped in by live reload."))
        reloadFailures = registry.makeCounter(
            descriptor: name("model_reload_failures", "total", "Live reloads refused (the new checkpoint did not load)."))
    }

    func promptCache(hitTokens: Int) {
        promptCacheQueries.increment()
        if hitTokens > 0 {
            promptCacheHits.increment()
            promptCacheHitTokens.increment(by: Int64(hitTokens))
        }
    }

    func promptCacheChanged(entries: Int, bytes: Int) {
        promptCacheEntries.set(Double(entries))
        promptCacheBytes.set(Double(bytes))
    }

    func reloaded(ok: Bool) { ok ? reloads.increment() : reloadFailures.increment() }

    public static func route(_ path: String) -> String { Route.match(path)?.pattern ?? "other" }

    public func request(route: String, status: Int, seconds: Double) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "quill", metricName: "requests", unitName: "total",
                                             helpText: "Requests answered, by route and status."),
            labels: [("route", Self.route(route)), ("status", String(status))]).increment()
        requestDuration[Self.route(route)]?.record(seconds)
    }

    public func tokens(prompt: Int, generated: Int) {
        promptTokens.increment(by: Int64(prompt))
        generatedTokens.increment(by: Int64(generated))
    }

    func queueChanged(active: Int, waiting: Int) {
        inFlight.set(Double(active))
        queueDepth.set(Double(waiting))
    }

    func stepped(batch: Int, seconds: Double) {
        batchSize.record(Double(batch))
        if seconds > 0 { decodeRate.set(Double(batch) / seconds) }
    }

    func rejected() { rejections.increment() }

    /// A generation ended: its time to first token, time per output token (when it made two or more), queue time
    /// and end-to-end latency.
    func finished(_ t: GenerationTimings, completionTokens n: Int, endToEndSeconds: Double) {
        timeToFirstToken.record((t.queuedMs + t.promptMs) / 1000)
        if n > 1 { timePerOutputToken.record(t.generateMs / 1000 / Double(n - 1)) }
        queueTime.record(t.queuedMs / 1000)
        endToEnd.record(endToEndSeconds)
    }

    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
