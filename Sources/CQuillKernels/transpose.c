// The transpose that SmallGemm.swift's packing needs (dinp = dout · Wᵀ reads W's columns as rows): 8 × 8 blocks
// through AVX registers (unpack, shuffle, permute), where Swift's SIMD types have no shuffles and a scalar copy
// costs about 2 ns a float. Edges, and machines without AVX, take the scalar loop. Twin: the tests compare it with a
// naive transpose on ragged shapes.
#include "quill_kernels.h"

static void transpose_scalar(const float *src, long lds, int rows, int cols, float *dst, long ldd) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(long)j * ldd + i] = src[(long)i * lds + j];
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx"))) static void transpose8x8(const float *src, long lds, float *dst, long ldd) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
           r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
           r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE),
           s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE),
           s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
           s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

void quill_transpose_f32(const float *src, long lds, int rows, int cols, float *dst, long ldd) {
    if (!__builtin_cpu_supports("avx")) { transpose_scalar(src, lds, rows, cols, dst, ldd); return; }
    int i = 0;
    for (; i + 8 <= rows; i += 8) {
        int j = 0;
        for (; j + 8 <= cols; j += 8) transpose8x8(src + (long)i * lds + j, lds, dst + (long)j * ldd + i, ldd);
        if (j < cols) transpose_scalar(src + (long)i * lds + j, lds, 8, cols - j, dst + (long)j * ldd + i, ldd);
    }
    if (i < rows) transpose_scalar(src + (long)i * lds, lds, rows - i, cols, dst + i, ldd);
}
#else
void quill_transpose_f32(const float *src, long lds, int rows, int cols, float *dst, long ldd) {
    transpose_scalar(src, lds, rows, cols, dst, ldd);
}
#endif
