// OpenBLAS's CBLAS interface (Debian: libopenblas-dev), plus its thread-count controls.
#include <cblas.h>

// A software prefetch for the 8-bit kernels (Quantized.swift): a hint, it never faults, even past an allocation.
static inline void quill_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
