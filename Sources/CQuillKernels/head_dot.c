// The tied LM head of a decode step with AVX-512: logits (N, V) = x (N, C) · wteᵀ for N ≤ 8 rows, reading wte (V, C)
// as it lies, one vocabulary row after another. A tile of R input rows × J vocabulary rows (R·J ≤ 16) keeps R·J
// zmm accumulators; per 16 channels it loads J wte vectors and R x vectors for R·J FMAs, so a batch of 8 loads 10
// per 16 FMAs, where one vocabulary row at a time loads 9 per 8. The 16 dot products of a tile are then summed
// together by one tree of 15 two-permute-and-add steps (`reduce16`), not one horizontal sum each. Written in C
// because Swift's SIMD types have no permutes: LLVM turned Swift's evenHalf/oddHalf tree back into 16 scalar
// horizontal sums. Channels past the last multiple of 16 are masked loads. The Swift side (HeadDot.swift) owns the
// dispatch; its twin is the triple loop (Reference.lmHeadForward).
#include "quill_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512dq,fma")))
#define INLINE static inline __attribute__((always_inline))

/// Lanes 0..<8: the sums of a's adjacent lane pairs; lanes 8..<16: b's. As a tree over 16 leaves, lane i of the
/// last level is the whole sum of leaf i (each level halves the lanes per leaf and keeps the leaves' order).
TARGET INLINE __m512 pair_sums(__m512 a, __m512 b) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

/// Lane i: the sum of s[i]'s lanes.
TARGET INLINE __m512 reduce16(const __m512 *s) {
    __m512 l1[8], l2[4];
    for (int i = 0; i < 8; i++) l1[i] = pair_sums(s[2 * i], s[2 * i + 1]);
    for (int i = 0; i < 4; i++) l2[i] = pair_sums(l1[2 * i], l1[2 * i + 1]);
    return pair_sums(pair_sums(l2[0], l2[1]), pair_sums(l2[2], l2[3]));
}

/// Rows 0..<R of x times vocabulary rows [v0, v1) of wte, J rows at a time (R·J ≤ 16), then one row at a time
/// for the rest. R and J are constants at each call, so the loops over them unroll and the accumulators stay in
/// registers. With `prefetch`, the rows `ahead` vocabulary rows further are asked for into L2, one cache line per
/// row and 16 channels, while a tile is summed. Into L2 (prefetcht1), not L1: with 16 FMAs per two lines of wte the
/// core keeps too few misses in flight on its own, and measured on one Zen 4 core an 8-row tile read wte at 10 GB/s
/// without it, about the same with prefetcht0, and 20-24 GB/s with prefetcht1 (the panels: 18).
TARGET INLINE long head_tile_body(int R, int J, const float *x, int C, const float *wte, long V, long v0, long v1,
                             float *logits, int prefetch, long ahead) {
    const int body = C & ~15;
    const __mmask16 tail = (__mmask16)((1u << (C - body)) - 1);
    long v = v0;
    for (; v + J <= v1; v += J) {
        const float *w = wte + v * (long)C;
        __m512 acc[16];
        for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
        for (int k = 0; k < body; k += 16) {
            if (prefetch)
                for (int j = 0; j < J; j++) _mm_prefetch((const char *)(w + (ahead + j) * (long)C + k), _MM_HINT_T1);
            __m512 wv[16];
            for (int j = 0; j < J; j++) wv[j] = _mm512_loadu_ps(w + j * (long)C + k);
            for (int r = 0; r < R; r++) {
                __m512 xv = _mm512_loadu_ps(x + r * (long)C + k);
                for (int j = 0; j < J; j++) acc[r * J + j] = _mm512_fmadd_ps(xv, wv[j], acc[r * J + j]);
            }
        }
        if (tail) {
            __m512 wv[16];
            for (int j = 0; j < J; j++) wv[j] = _mm512_maskz_loadu_ps(tail, w + j * (long)C + body);
            for (int r = 0; r < R; r++) {
                __m512 xv = _mm512_maskz_loadu_ps(tail, x + r * (long)C + body);
                for (int j = 0; j < J; j++) acc[r * J + j] = _mm512_fmadd_ps(xv, wv[j], acc[r * J + j]);
            }
        }
        float s[16];
        _mm512_storeu_ps(s, reduce16(acc));
        for (int r = 0; r < R; r++)
            for (int j = 0; j < J; j++) logits[r * V + v + j] = s[r * J + j];
    }
    return v;
}

TARGET INLINE void head_tile(int R, int J, const float *x, int C, const float *wte, long V, long v0, long v1,
                             float *logits, int prefetch, long ahead) {
    long v = head_tile_body(R, J, x, C, wte, V, v0, v1, logits, prefetch, ahead);
    if (J > 1 && v < v1) head_tile_body(R, 1, x, C, wte, V, v, v1, logits, 0, 0);
}

/// One input row: one vocabulary row at a time, 4 accumulators over 64 channels per step, so that wte is read as one
/// stream, which the hardware prefetchers follow at full speed on their own (measured: 26 GB/s on one Zen 4 core,
/// as the panels; 16 rows at once, 16 short streams, reached 19, and software prefetches only slowed it).
TARGET static void head_row1(const float *x, int C, const float *wte, long v0, long v1, float *logits) {
    const int body = C & ~63;
    for (long v = v0; v < v1; v++) {
        const float *w = wte + v * (long)C;
        __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
        int k = 0;
        for (; k < body; k += 64) {
            a = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(w + k), a);
            b = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(w + k + 16), b);
            c = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 32), _mm512_loadu_ps(w + k + 32), c);
            d = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 48), _mm512_loadu_ps(w + k + 48), d);
        }
        for (; k < C; k += 16) {
            const __mmask16 m = C - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - k)) - 1);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, w + k), a);
        }
        logits[v] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
    }
}

/// The row count picks the tile: 8 rows × 2 vocabulary rows, 4 × 4, 2 × 8, and the odd counts with the widest J that
/// fits (padded leaves of the tree stay zero); one row runs head_row1.
TARGET void quill_head_dot_f32(const float *x, int rows, int C, const float *wte, long V, long v0, long v1,
                               float *logits, int prefetch) {
    // Ask for rows about 12 KB ahead (at least the next tile), far enough to cover memory latency at ~15 GB/s.
    const long ahead = 12288 / (4L * (C > 0 ? C : 1)) + 1;
    switch (rows) {
    case 1: head_row1(x, C, wte, v0, v1, logits); break;
    case 2: head_tile(2, 8, x, C, wte, V, v0, v1, logits, prefetch, ahead); break;
    case 3: head_tile(3, 5, x, C, wte, V, v0, v1, logits, prefetch, ahead); break;
    case 4: head_tile(4, 4, x, C, wte, V, v0, v1, logits, prefetch, ahead); break;
    case 5: head_tile(5, 3, x, C, wte, V, v0, v1, logits, prefetch, ahead); break;
    case 6: head_tile(6, 2, x, C, wte, V, v0, v1, logits, prefetch, ahead); break;
    case 7: head_tile(7, 2, x, C, wte, V, v0, v1, logits, prefetch, ahead); break;
    default: head_tile(8, 2, x, C, wte, V, v0, v1, logits, prefetch, ahead); break;
    }
}
#else
void quill_head_dot_f32(const float *x, int rows, int C, const float *wte, long V, long v0, long v1, float *logits,
                        int prefetch) {
    (void)x; (void)rows; (void)C; (void)wte; (void)V; (void)v0; (void)v1; (void)logits; (void)prefetch;
}
#endif
