// OpenBLAS's CBLAS interface (Debian: libopenblas-dev), plus its thread-count controls.
#include <cblas.h>

// A software prefetch for the 8-bit kernels (Quantized.swift): a hint, it never faults, even past an allocation.
static inline void quill_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

// A prefetch into L2 (prefetcht1), for streams whose tiles do many FMAs per cache line: there the core keeps too
// few misses in flight on its own (HeadDot.swift, PackedMatmul.swift).
static inline void quill_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }
