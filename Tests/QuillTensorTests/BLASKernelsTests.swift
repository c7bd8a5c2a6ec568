// Which OpenBLAS kernels Quill asks for when the library falls back to pre-AVX2 ones on a CPU it does not know.
@testable import QuillTensor
import Testing

@Suite("OpenBLAS kernel choice")
struct BLASKernelsTests {
    @Test("AVX-512 CPUs get SkylakeX, AVX2 + FMA ones Haswell, older ones are left alone")
    func bestCore() {
        let avx512: Set<Substring> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
        #expect(BLASKernels.bestCore(flags: avx512) == "SkylakeX")
        #expect(BLASKernels.bestCore(flags: ["avx", "avx2", "fma", "avx512f"]) == "Haswell")
        #expect(BLASKernels.bestCore(flags: ["avx", "avx2", "fma"]) == "Haswell")
        #expect(BLASKernels.bestCore(flags: ["sse4_2", "avx"]) == nil)
        #expect(BLASKernels.legacy.contains("Prescott") && !BLASKernels.legacy.contains("Haswell"))
    }

    @Test("this machine's flags are read from /proc/cpuinfo, and OpenBLAS names its kernels")
    func readsThisMachine() {
        #if os(Linux) && arch(x86_64)
        #expect(BLASKernels.cpuFlags().contains("sse2"))
        #endif
        #expect(!BLASKernels.coreName.isEmpty)
    }
}
