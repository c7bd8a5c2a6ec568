// OpenBLAS picks its kernels from the CPU model when it loads. A CPU newer than the library gets the generic
// fallback: Debian 12's OpenBLAS 0.3.21 does not know Sapphire or Emerald Rapids (model 143, 207) and runs SSE3
// "Prescott" kernels there, 2–4× slower than the AVX-512 ones the CPU runs (BENCHMARKS.md). The choice is made
// before main, so the fix is to run again with OPENBLAS_CORETYPE set: `reexecIfFallback()`, which each executable
// calls first.
import CBLAS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

public enum BLASKernels {
    /// The kernel set OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", …).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Kernel sets older than AVX2: what OpenBLAS falls back to on a CPU it does not recognise.
    static let legacy: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge",
                                      "Katmai", "Coppermine", "Northwood", "Banias", "Unknown"]

    /// The best kernel set for CPU flags (as in /proc/cpuinfo): SkylakeX with AVX-512, Haswell with AVX2 and FMA.
    static func bestCore(flags: Set<Substring>) -> String? {
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The flags of the first CPU in /proc/cpuinfo (empty elsewhere).
    static func cpuFlags() -> Set<Substring> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }

    /// When OpenBLAS fell back to pre-AVX2 kernels on a CPU that has AVX2 and FMA, runs this program again (same
    /// arguments, same process id) with OPENBLAS_CORETYPE naming the right set. Does nothing when the variable is
    /// already set (a user's choice, or the second run), or when exec fails (the program goes on, slower).
    public static func reexecIfFallback() {
        #if os(Linux) && arch(x86_64)
        guard getenv("OPENBLAS_CORETYPE") == nil, legacy.contains(coreName), let best = bestCore(flags: cpuFlags()) else {
            return
        }
        setenv("OPENBLAS_CORETYPE", best, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
        #endif
    }
}
