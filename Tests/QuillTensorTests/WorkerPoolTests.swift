// The worker pool behind Parallel.forEach: every index runs exactly once per job, jobs follow each other without
// mixing (a worker still leaving one job cannot take an index of the next), and a busy pool says so.
import Dispatch
import Synchronization
@testable import QuillTensor
import Testing

@Suite("Worker pool")
struct WorkerPoolTests {
    @Test("every index of every job runs exactly once, over thousands of back-to-back jobs of varying sizes")
    func everyIndexOnce() {
        let pool = WorkerPool(threads: 3, spinMicroseconds: 50)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { counts.deallocate() }
        for job in 0..<5000 {
            let n = 1 + job % 37
            counts.initialize(repeating: 0, count: 64)
            let ran = pool.run(n) { i in counts[i] += 1 }   // each index is touched by one thread only
            #expect(ran)
            for i in 0..<64 where counts[i] != (i < n ? 1 : 0) {
                Issue.record("job \(job): index \(i) ran \(counts[i]) times, expected \(i < n ? 1 : 0)")
                return
            }
        }
    }

    // run() hands its closure to the workers through withoutActuallyEscaping, which traps when a reference to the
    // closure outlives the call. Jobs of one index each, with a capturing closure, make that window as likely as it
    // gets: the worker that ran the last index races the caller's return.
    @Test("no worker still holds a job's closure when run returns, over 200,000 one-index jobs")
    func closuresDoNotOutliveTheJob() {
        let pool = WorkerPool(threads: 1, spinMicroseconds: 1000)
        let box = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { box.deallocate() }
        box.initialize(repeating: 0, count: 2)
        for job in 0..<200_000 {
            let n = 1 + job % 2
            #expect(pool.run(n) { i in box[i] &+= job })
        }
        #expect(box[0] == (0..<200_000).reduce(0, &+))
    }

    @Test("workers that fell asleep between jobs wake for the next one")
    func sleepersWake() {
        let pool = WorkerPool(threads: 2, spinMicroseconds: 0)   // they sleep at once
        let hits = Atomic<Int>(0)
        for _ in 0..<200 {
            #expect(pool.run(16) { _ in hits.add(1, ordering: .relaxed) })
        }
        #expect(hits.load(ordering: .relaxed) == 200 * 16)
    }

    @Test("a pool already running a job refuses a second one, which the caller then runs another way")
    func busyPoolRefuses() {
        let pool = WorkerPool(threads: 1)
        let inner = Atomic<Int>(0)   // 0: not tried, 1: refused, 2: ran
        #expect(pool.run(1) { _ in
            inner.store(pool.run(1) { _ in } ? 2 : 1, ordering: .relaxed)
        })
        #expect(inner.load(ordering: .relaxed) == 1)
        #expect(pool.run(3) { _ in }, "free again after the job")
    }

    @Test("Parallel.forEach nested inside itself still runs every index (the inner one goes to Dispatch)")
    func nestedForEach() {
        let hits = Atomic<Int>(0)
        Parallel.forEach(4) { _ in
            Parallel.forEach(5) { _ in hits.add(1, ordering: .relaxed) }
        }
        #expect(hits.load(ordering: .relaxed) == 20)
    }
}

@Suite("Guided chunks")
struct GuidedChunkTests {
    @Test("forEachGuided covers 0..<n with contiguous ranges, each index once, shrinking to the minimum at the end")
    func coversOnce() {
        for (n, minimum, workers) in [(1, 1, 2), (5, 8, 2), (144, 5, 2), (3141, 5, 2), (3141, 1, 8), (10_000, 1, 2),
                                      (97, 0, 3), (64, 64, 2), (65, 64, 2)] {
            // marks[i]: how often index i ran; ends[i]: the end of the range that starts at i (0 where none does).
            let marks = UnsafeMutablePointer<Int>.allocate(capacity: n), ends = UnsafeMutablePointer<Int>.allocate(capacity: n)
            defer { marks.deallocate(); ends.deallocate() }
            marks.initialize(repeating: 0, count: n)
            ends.initialize(repeating: 0, count: n)
            Parallel.forEachGuided(n, minimum: minimum, workers: workers) { r in
                for i in r { marks[i] += 1 }   // were ranges to overlap, an index would count twice
                ends[r.lowerBound] = r.upperBound
            }
            #expect((0..<n).allSatisfy { marks[$0] == 1 }, "n \(n) minimum \(minimum) workers \(workers)")
            let sorted = (0..<n).filter { ends[$0] > 0 }.map { $0..<ends[$0] }
            #expect(sorted.first?.lowerBound == 0 && sorted.last?.upperBound == n)
            #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(sorted.count <= 64)
            // Every chunk but the last holds at least the minimum, and sizes never grow along the range.
            #expect(sorted.dropLast().allSatisfy { $0.count >= max(1, minimum) })
            #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.count >= $1.count })
            if n > 2 * max(1, minimum) && workers > 1 { #expect(sorted.count > 1, "n \(n) splits") }
        }
    }
}
