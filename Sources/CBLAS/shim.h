// OpenBLAS's CBLAS interface (Debian: libopenblas-dev), plus its thread-count controls.
#include <cblas.h>

// A software prefetch for the 8-bit kernels (Quantized.swift): a hint, it never faults, even past an allocation.
static inline void quill_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

// A prefetch into L2 (prefetcht1), for streams whose tiles do many FMAs per cache line: there the core keeps too
// few misses in flight on its own (HeadDot.swift, PackedMatmul.swift).
static inline void quill_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }

// A vector square root that compiles to one sqrtps/vsqrtps: Swift's SIMD8<Float>.squareRoot() calls sqrtf lane by
// lane here (with errno's branch for negative inputs), which made AdamW's update 8 scalar calls per 8 weights.
typedef float quill_float8 __attribute__((ext_vector_type(8)));
static inline quill_float8 quill_sqrt8(quill_float8 x) { return __builtin_elementwise_sqrt(x); }
