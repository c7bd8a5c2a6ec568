// Quill's C kernels: the 8-bit integer products, written with AVX-512 VNNI intrinsics (Swift has no vpdpbusd), an
// AVX transpose and the AVX-512 LM head tiles (Swift's SIMD types have no shuffles). The Swift side
// (Sources/QuillTensor/Quantized.swift, SmallGemm.swift, HeadDot.swift) owns the layouts and the naive twins. The
// two 8-bit kernels are compiled in only where Package.swift defines QUILL_VNNI; quill_q8_has_vnni() says whether
// they were.
#ifndef QUILL_KERNELS_H
#define QUILL_KERNELS_H

#include <stdint.h>

/// 1 where the integer kernels below are compiled in.
int quill_q8_has_vnni(void);

/// Quantizes `rows` rows of x (row r at x + r·ic) in blocks of 32: xs[r·blocks + b] = max |x| / 127 over the block,
/// xq[r·blocks·32 + k] = round-to-nearest-even(x / xs) (zero past ic), and xc[r·blocks + b] = −128 · Σ xq over the
/// block (the correction for the weights' +128 offset).
void quill_q8_quantize_rows(const float *x, int rows, int ic, int blocks, int8_t *xq, float *xs, int32_t *xc);

/// Rows 1 to 8 of quantized activations times one panel of Q8Weights (16 columns; `blocks` blocks of 544 bytes:
/// 16 Float16 scales, then 8 groups of 64 bytes, group g holding for column j the 4 bytes q + 128 of input channels
/// 32b + 4g ..< 32b + 4g + 4):
///   out[r·ldc + j] = bias[j] + Σ_b sw[b][j] · xs[r][b] · (Σ_k (q + 128)[b][k][j] · xq[r][32b + k] + xc[r][b])
/// for j < cols, with the block sums in exact integers and the scaled sums added in block order with one fused
/// multiply-add each. `prefetch` blocks ahead are asked for while one is computed (0: none).
void quill_q8_vnni_panel(const uint8_t *panel, int blocks, int rows, const int8_t *xq, const float *xs,
                         const int32_t *xc, float *out, long ldc, int cols, const float *bias, int prefetch);

/// logits[r·V + v] = Σ_c x[r·C + c] · wte[v·C + c] for r < rows (1 to 8) and v0 ≤ v < v1: the tied LM head of a
/// decode step, with AVX-512 register tiles of rows × vocabulary rows (head_dot.c). `prefetch`: ask for the wte rows
/// ahead (the first group of rows over a range; later groups find them in cache). Only on CPUs with AVX-512 F and DQ
/// (HeadDot.swift calls it in AVX-512 builds only); elsewhere it does nothing.
void quill_head_dot_f32(const float *x, int rows, int C, const float *wte, long V, long v0, long v1, float *logits,
                        int prefetch);

/// dst[j·ldd + i] = src[i·lds + j] for i < rows, j < cols (8 × 8 blocks on AVX; compiled everywhere).
void quill_transpose_f32(const float *src, long lds, int rows, int cols, float *dst, long ldd);

/// Asks for the cache line at p, to be written (prefetchw where the CPU has it): smallGemm's AVX2 tiles call it on
/// their rows of C before the k loop, so that C's lines, read back when a tile adds to them, arrive while it computes.
static inline void quill_prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/// One turn of a spin-wait loop (WorkerPool): x86's pause, AArch64's yield. It tells the core that this thread only
/// waits, so that a hyperthread sharing the core (on a VM, possibly another vCPU of this guest) gets its load ports
/// and issue slots, and it saves the pipeline flush of a memory-order mispeculation when the awaited store lands.
/// llama.cpp's spinning threads do the same (ggml_thread_cpu_relax).
static inline void quill_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
