// How Quill spreads work over cores: one pool of workers (DispatchQueue.concurrentPerform), and OpenBLAS kept
// single-threaded so that exactly one source of threads is ever active (no BLAS threads inside our loops).
import CBLAS
import Dispatch
import Foundation

public enum Parallel {
    /// Cores used by the kernels' parallel loops: QUILL_THREADS when set, else the active processor count.
    public static let defaultWorkers: Int = {
        if let s = ProcessInfo.processInfo.environment["QUILL_THREADS"], let n = Int(s), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// The worker threads besides the caller's: one fewer than `defaultWorkers`, none on one core. QUILL_SPIN_US
    /// sets how long an idle worker spins before it sleeps (microseconds, default 200; 0 sleeps at once).
    static let pool: WorkerPool? = {
        guard defaultWorkers > 1 else { return nil }
        let spin = ProcessInfo.processInfo.environment["QUILL_SPIN_US"].flatMap { Int($0) } ?? 200
        return WorkerPool(threads: defaultWorkers - 1, spinMicroseconds: spin)
    }()

    /// OpenBLAS runs each sgemm on the calling thread; Quill's workers provide the parallelism.
    /// Called once by everything that owns a model, before the first matrix product.
    public static func configureBLAS() {
        _ = blasConfigured
    }

    private static let blasConfigured: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Runs `body` with OpenBLAS on `threads` threads, then back to one. For a pass that has a single worker
    /// (a batch of one sequence, as when fine-tuning at 124M with batch 1): its matrix products may then use the
    /// cores that would otherwise sit idle, and there is still one source of threads at a time. Never call it from
    /// inside `forEach`.
    public static func withBLASThreads(_ threads: Int, _ body: () -> Void) {
        configureBLAS()
        guard threads > 1 else { body(); return }
        openblas_set_num_threads(Int32(threads))
        blasThreads = threads
        body()
        blasThreads = 1
        openblas_set_num_threads(1)
    }

    /// The threads OpenBLAS runs each sgemm on now: 1 but inside `withBLASThreads`. While it is more, the matrix
    /// products stay on OpenBLAS (smallGemm runs on its caller's thread alone).
    nonisolated(unsafe) static var blasThreads = 1

    /// Runs body(i) for i in 0..<count on up to `count` threads and waits for all. count 1 runs inline.
    @inline(__always)
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            if count == 1 { body(0) }
            return
        }
        // Quill's own workers when they are free (WorkerPool.swift: they spin between the many short jobs of a
        // decode step); Dispatch's pool when they are busy, as when two models run at once or a body calls forEach.
        if let pool, pool.run(count, body) { return }
        // The callers write disjoint ranges of their buffers from each iteration: that is the contract that
        // makes the body safe to share, which the type system cannot see through raw pointers.
        withoutActuallyEscaping(body) { escapable in
            let shared = unsafeBitCast(escapable, to: (@Sendable (Int) -> Void).self)
            DispatchQueue.concurrentPerform(iterations: count, execute: shared)
        }
    }

    /// Runs body over contiguous ranges that cover 0..<n, on the workers, in chunks that shrink as the work runs
    /// out (guided self-scheduling): each takes 1/(2·workers) of what is left, but never fewer than `minimum` (nor n / 64). The
    /// first chunks are large (few hand-offs), the last ones small, so the threads finish within a small chunk of
    /// each other at the join, where equal chunks leave one idle for half a chunk on average. Which thread runs
    /// which range changes nothing a range computes.
    public static func forEachGuided(_ n: Int, minimum: Int, workers: Int, _ body: (Range<Int>) -> Void) {
        let maxChunks = 64   // chunks of at least n / 64 keep within this many
        let minimum = max(1, minimum, (n + maxChunks - 1) / maxChunks), share = 2 * max(1, workers)
        guard workers > 1, n > minimum else {
            if n > 0 { body(0..<n) }
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: maxChunks + 1) { bounds in
            var chunks = 0, start = 0
            bounds[0] = 0
            while start < n {
                let left = n - start
                let size = chunks == maxChunks - 1 ? left : min(left, max(minimum, (left + share - 1) / share))
                start += size
                chunks += 1
                bounds[chunks] = start
            }
            let b = UnsafeMutablePointer(bounds.baseAddress!)
            forEach(chunks) { i in body(b[i]..<b[i + 1]) }
        }
    }

    /// Splits 0..<n into `parts` contiguous ranges as evenly as possible; range i of parts.
    @inline(__always)
    public static func range(_ i: Int, of parts: Int, total n: Int) -> Range<Int> {
        let base = n / parts, extra = n % parts
        let start = i * base + min(i, extra)
        return start..<(start + base + (i < extra ? 1 : 0))
    }
}
