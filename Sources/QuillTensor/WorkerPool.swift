// The threads behind Parallel.forEach: a fixed set of workers that, between jobs, spin for a short while before they
// sleep. A decode step at GPT-2's size hands out about 60 jobs (four products and attention per layer, the head),
// each a few hundred microseconds long; DispatchQueue.concurrentPerform wakes sleeping threads for each, and its
// wake-ups cost more than the gaps between the jobs. llama.cpp's threads spin in the same way.
import CQuillKernels
import Dispatch
import Foundation
import Synchronization

final class WorkerPool: @unchecked Sendable {
    /// Threads besides the caller's.
    let threads: Int
    /// How long an idle worker spins before it sleeps.
    let spinNanoseconds: UInt64

    // The job: `ticket` holds the job's number in its high 32 bits and the next index to hand out in its low 32.
    // The caller first stores a closed job (a new number, index all ones), then writes `body` and `count`, then
    // publishes the job under the next number (release); a worker that reads that number (acquire) claims indices
    // with compare-and-swap against that same number, so a worker still finishing an older job can claim nothing
    // once the caller has moved on, whatever `count` it reads.
    private let ticket = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let inUse = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    /// Workers inside `work(job:)`: run() returns only once none is, so that no worker can still hold a reference
    /// to the closure when withoutActuallyEscaping checks that none escaped (a check that traps). Counting finished
    /// indices alone left that window open: a perplexity run once trapped there (SIGILL in q8MatmulForward).
    private let inside = Atomic<Int>(0)
    private var body: ((Int) -> Void)?
    private var count = 0
    private let wake = NSCondition()

    init(threads: Int, spinMicroseconds: Int = 200) {
        self.threads = threads
        spinNanoseconds = UInt64(max(0, spinMicroseconds)) * 1000
        for _ in 0..<threads {
            let thread = Thread { [self] in self.workerLoop() }
            thread.name = "quill-worker"
            thread.start()
        }
    }

    /// Runs body(i) for every i in 0..<count on the workers and the calling thread, and returns when all are done;
    /// false (and nothing run) when the pool is already running a job: the caller then uses another way.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard count > 0, count < Int(UInt32.max),
              inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { escapable in
            // Close the previous job before `count` and `body` change: a worker that loaded its last ticket, say
            // (job 370, index 1), and was preempted could otherwise read the new, larger count, win its
            // compare-and-swap against the unchanged ticket and run index 1 with the new body, before the new job
            // ran index 1 itself (seen in CI: "job 371: index 1 ran 2 times"). Its swap now fails, since the ticket
            // holds a newer job number, whose index (all ones) is past every count.
            let closed = (ticket.load(ordering: .relaxed) >> 32) &+ 1
            ticket.store(closed << 32 | 0xFFFF_FFFF, ordering: .sequentiallyConsistent)
            self.body = escapable
            self.count = count
            finished.store(0, ordering: .relaxed)
            let job = closed &+ 1
            ticket.store(job << 32, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wake.lock(); wake.broadcast(); wake.unlock()
            }
            work(job: job)
            while finished.load(ordering: .acquiring) < count { quill_cpu_relax() }
            while inside.load(ordering: .acquiring) > 0 { quill_cpu_relax() }
            self.body = nil
        }
        inUse.store(false, ordering: .releasing)
        return true
    }

    /// Claims and runs indices of job `job` until none is left. Not inlined: the references it takes to the body
    /// are all released when it returns.
    @inline(never)
    private func work(job: UInt64) {
        var t = ticket.load(ordering: .acquiring)
        while t >> 32 == job {
            let i = Int(t & 0xFFFF_FFFF)
            if i >= count { return }
            let (exchanged, now) = ticket.compareExchange(expected: t, desired: t &+ 1, ordering: .acquiringAndReleasing)
            if exchanged {
                body!(i)
                finished.add(1, ordering: .releasing)
                t = ticket.load(ordering: .acquiring)
            } else {
                t = now
            }
        }
    }

    private func workerLoop() {
        var seen: UInt64 = 0
        while true {
            var job = ticket.load(ordering: .acquiring) >> 32
            if job == seen {
                let start = DispatchTime.now().uptimeNanoseconds
                var spins = 0
                while job == seen {
                    quill_cpu_relax()
                    spins &+= 1
                    if spins & 255 == 0, DispatchTime.now().uptimeNanoseconds - start > spinNanoseconds {
                        wake.lock()
                        sleepers.add(1, ordering: .sequentiallyConsistent)
                        while ticket.load(ordering: .sequentiallyConsistent) >> 32 == seen { wake.wait() }
                        sleepers.subtract(1, ordering: .sequentiallyConsistent)
                        wake.unlock()
                    }
                    job = ticket.load(ordering: .acquiring) >> 32
                }
            }
            seen = job
            inside.add(1, ordering: .sequentiallyConsistent)
            work(job: job)
            inside.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}
