// How steady this machine is right now, before timing anything on it (scripts/cpu-probe.sh builds and runs it).
// Two loops on one thread, each with 12 independent accumulators, printed as GFLOP/s, five times each:
//   fma   12 FMAs per iteration on registers only: the core's FMA peak (two 256-bit FMA pipes on Zen 3).
//   tile  smallGemm's AVX2 inner loop (Sources/QuillTensor/SmallGemm.swift): per k, 2 loads of B and 6 broadcasts
//         of A from an L1-resident buffer per 12 FMAs.
// With `LABEL watch N`, both loops in N short windows each, one figure per window (scripts/cpu-probe.sh watch).
// With `LABEL quick`, one figure: the median fma of 21 short windows (scripts/cpu-probe.sh quick).
// On a quiet core tile runs at about 80% of fma. Where tile sinks and swings while fma holds, the loads share the
// core with something outside this VM (on the 2026-12-07 Zen 3 VM: fma 87-90, tile 41-83 GFLOP/s).
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static float buf[64 * 16 + 64] __attribute__((aligned(64)));

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define FMA(x) x = _mm256_fmadd_ps(x, b, c)
static double fma_peak(long n) {
    __m256 a0 = _mm256_set1_ps(0.10f), a1 = _mm256_set1_ps(0.11f), a2 = _mm256_set1_ps(0.12f),
           a3 = _mm256_set1_ps(0.13f), a4 = _mm256_set1_ps(0.14f), a5 = _mm256_set1_ps(0.15f),
           a6 = _mm256_set1_ps(0.16f), a7 = _mm256_set1_ps(0.17f), a8 = _mm256_set1_ps(0.18f),
           a9 = _mm256_set1_ps(0.19f), a10 = _mm256_set1_ps(0.20f), a11 = _mm256_set1_ps(0.21f);
    const __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(0.0001f);
    double t0 = now();
    for (long k = 0; k < n; k++) {
        FMA(a0); FMA(a1); FMA(a2); FMA(a3); FMA(a4); FMA(a5); FMA(a6); FMA(a7); FMA(a8); FMA(a9); FMA(a10); FMA(a11);
    }
    double s = now() - t0;
    __m256 x = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    x = _mm256_add_ps(x, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    if (x[0] == 1234.5f) puts("");   // keeps the sums live
    return n * 12.0 * 16 / s / 1e9;
}

static double tile(long n) {
    __m256 c0 = _mm256_set1_ps(0.10f), c1 = _mm256_set1_ps(0.11f), c2 = _mm256_set1_ps(0.12f),
           c3 = _mm256_set1_ps(0.13f), c4 = _mm256_set1_ps(0.14f), c5 = _mm256_set1_ps(0.15f),
           c6 = _mm256_set1_ps(0.16f), c7 = _mm256_set1_ps(0.17f), c8 = _mm256_set1_ps(0.18f),
           c9 = _mm256_set1_ps(0.19f), c10 = _mm256_set1_ps(0.20f), c11 = _mm256_set1_ps(0.21f);
    double t0 = now();
    for (long k = 0; k < n; k++) {
        const float *p = buf + (k & 63) * 16;
        __m256 b0 = _mm256_load_ps(p), b1 = _mm256_load_ps(p + 8), a, b, c, d, e, f;
        a = _mm256_broadcast_ss(p + 1); c0 = _mm256_fmadd_ps(a, b0, c0); c1 = _mm256_fmadd_ps(a, b1, c1);
        b = _mm256_broadcast_ss(p + 2); c2 = _mm256_fmadd_ps(b, b0, c2); c3 = _mm256_fmadd_ps(b, b1, c3);
        c = _mm256_broadcast_ss(p + 3); c4 = _mm256_fmadd_ps(c, b0, c4); c5 = _mm256_fmadd_ps(c, b1, c5);
        d = _mm256_broadcast_ss(p + 4); c6 = _mm256_fmadd_ps(d, b0, c6); c7 = _mm256_fmadd_ps(d, b1, c7);
        e = _mm256_broadcast_ss(p + 5); c8 = _mm256_fmadd_ps(e, b0, c8); c9 = _mm256_fmadd_ps(e, b1, c9);
        f = _mm256_broadcast_ss(p + 6); c10 = _mm256_fmadd_ps(f, b0, c10); c11 = _mm256_fmadd_ps(f, b1, c11);
    }
    double s = now() - t0;
    __m256 x = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    x = _mm256_add_ps(x, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    if (x[0] == 1234.5f) puts("");
    return n * 12.0 * 16 / s / 1e9;
}

int main(int argc, char **argv) {
    for (int i = 0; i < 64 * 16 + 64; i++) buf[i] = 1e-6f * i;
    const char *label = argc > 1 ? argv[1] : "cpu";
    if (argc > 2 && strcmp(argv[2], "quick") == 0) {
        // One figure: the median of 21 fma windows of about 5 ms (scripts/cpu-probe.sh quick runs it on every CPU at
        // once). Two CPUs that read half of their peak together, and all of it alone, are sharing one core's FMA
        // pipes (or one core's time).
        double f[21];
        for (int r = 0; r < 21; r++) f[r] = fma_peak(2500000);
        for (int i = 1; i < 21; i++) for (int j = i; j > 0 && f[j - 1] > f[j]; j--) { double x = f[j]; f[j] = f[j - 1]; f[j - 1] = x; }
        printf("%.1f\n", f[10]);
        return 0;
    }
    if (argc > 3 && strcmp(argv[2], "watch") == 0) {
        // Windows of about 0.05 s each of fma and of tile, for the given number of windows: one figure per window,
        // to catch the slow spells a benchmark run can fall into (fma would drop by half if two busy CPUs shared
        // one core's FMA pipes; tile drops when the loads share the core with something else).
        int windows = atoi(argv[3]);
        static double f[100000], t[100000];
        if (windows > 100000) windows = 100000;
        for (int r = 0; r < windows; r++) { f[r] = fma_peak(2500000); t[r] = tile(1000000); }
        printf("%s fma-watch ", label);
        for (int r = 0; r < windows; r++) printf(" %.0f", f[r]);
        printf("\n%s tile-watch", label);
        for (int r = 0; r < windows; r++) printf(" %.0f", t[r]);
        printf("\n");
        return 0;
    }
    printf("%s fma ", label);
    for (int r = 0; r < 5; r++) printf(" %.1f", fma_peak(50000000));
    printf("\n%s tile", label);
    for (int r = 0; r < 5; r++) printf(" %.1f", tile(20000000));
    printf("\n");
    return 0;
}
