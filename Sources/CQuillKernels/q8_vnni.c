// The 8-bit products of Quantized.swift on AVX-512 VNNI: vpdpbusd multiplies 64 unsigned bytes (the weights, stored
// as q + 128) by 64 signed bytes (4 activation bytes broadcast to every column) and adds each column's 4 products
// into its 32-bit sum, so one instruction does 64 multiply-adds where a float FMA does 16. The +128 offset is undone
// by starting each block's sum at −128 · Σ xq (xc), computed once per row and block when the activations are
// quantized, so the weights need no extra bytes. layout and meaning: include/quill_kernels.h.
#include "quill_kernels.h"

#if defined(QUILL_VNNI) && defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#define BLOCK_BYTES 544

int quill_q8_has_vnni(void) { return 1; }

TARGET void quill_q8_quantize_rows(const float *x, int rows, int ic, int blocks, int8_t *xq, float *xs,
                                   int32_t *xc) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int r = 0; r < rows; r++) {
        const float *row = x + (long)r * ic;
        int8_t *q = xq + (long)r * blocks * 32;
        for (int b = 0; b < blocks; b++) {
            int k0 = 32 * b, n = ic - k0 < 32 ? ic - k0 : 32;
            __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
            __mmask16 m1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
            __m512 v0 = _mm512_maskz_loadu_ps(m0, row + k0), v1 = _mm512_maskz_loadu_ps(m1, row + k0 + 16);
            __m512 a = _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1));
            float amax = _mm512_reduce_max_ps(a);
            float s = amax / 127.0f, inv = s > 0 ? 1.0f / s : 0.0f;
            __m512 vi = _mm512_set1_ps(inv);
            __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vi)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vi));
            _mm_storeu_si128((__m128i *)(q + k0), _mm512_cvtsepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(q + k0 + 16), _mm512_cvtsepi32_epi8(q1));
            xs[r * blocks + b] = s;
            xc[r * blocks + b] = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        }
    }
}

static inline int32_t load4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

// R rows (a constant once inlined) times one panel: R integer sums per block, R float accumulators.
static inline __attribute__((always_inline)) TARGET void panel_rows(
    const uint8_t *panel, int blocks, const int R, const int8_t *xq, const float *xs, const int32_t *xc, float *out,
    long ldc, int cols, const float *bias, int prefetch) {
    __m512 acc[8];
    const long ldx = (long)blocks * 32;
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = panel + (long)b * BLOCK_BYTES;
        if (prefetch) {
            const char *ahead = (const char *)block + (long)prefetch * BLOCK_BYTES;
            for (int line = 0; line < BLOCK_BYTES; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
        }
        __m512 sw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)block));
        const uint8_t *q = block + 32;
        __m512i s[8];
        for (int r = 0; r < R; r++) s[r] = _mm512_set1_epi32(xc[r * blocks + b]);
        if (R == 1) {  // one row: two chains, so the adds' latency overlaps
            __m512i t = _mm512_setzero_si512();
            const int8_t *x = xq + 32 * b;
            for (int g = 0; g < 8; g += 2) {
                s[0] = _mm512_dpbusd_epi32(s[0], _mm512_loadu_si512(q + 64 * g), _mm512_set1_epi32(load4(x + 4 * g)));
                t = _mm512_dpbusd_epi32(t, _mm512_loadu_si512(q + 64 * g + 64), _mm512_set1_epi32(load4(x + 4 * g + 4)));
            }
            s[0] = _mm512_add_epi32(s[0], t);
        } else {
            for (int g = 0; g < 8; g++) {
                __m512i w = _mm512_loadu_si512(q + 64 * g);
                for (int r = 0; r < R; r++)
                    s[r] = _mm512_dpbusd_epi32(s[r], w, _mm512_set1_epi32(load4(xq + r * ldx + 32 * b + 4 * g)));
            }
        }
        for (int r = 0; r < R; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), _mm512_mul_ps(sw, _mm512_set1_ps(xs[r * blocks + b])),
                                     acc[r]);
    }
    __mmask16 m = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(out + r * ldc, m, _mm512_add_ps(acc[r], bv));
}

TARGET void quill_q8_vnni_panel(const uint8_t *panel, int blocks, int rows, const int8_t *xq, const float *xs,
                                const int32_t *xc, float *out, long ldc, int cols, const float *bias, int prefetch) {
    switch (rows) {
    case 1: panel_rows(panel, blocks, 1, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    case 2: panel_rows(panel, blocks, 2, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    case 3: panel_rows(panel, blocks, 3, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    case 4: panel_rows(panel, blocks, 4, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    case 5: panel_rows(panel, blocks, 5, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    case 6: panel_rows(panel, blocks, 6, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    case 7: panel_rows(panel, blocks, 7, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    default: panel_rows(panel, blocks, 8, xq, xs, xc, out, ldc, cols, bias, prefetch); break;
    }
}

#else

// Without QUILL_VNNI only this is compiled; Quantized.swift then never calls the kernels.
int quill_q8_has_vnni(void) { return 0; }

#endif
