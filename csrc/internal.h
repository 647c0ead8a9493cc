/* Declarations shared between graphnet's C files but not part of the public API. */
#ifndef GRAPHNET_INTERNAL_H
#define GRAPHNET_INTERNAL_H
#include <stdint.h>

/* SIMD paths in increasing order of width on x86; NEON stands apart. */
enum { GN_ISA_REF = 0, GN_ISA_AVX2 = 1, GN_ISA_AVX512 = 2, GN_ISA_NEON = 3 };
int gn_current_isa(void);
/* 1 on AMD x86 CPUs, where some blocking choices differ (see gemm/config.h). */
int gn_cpu_is_amd(void);

/* Element size in bytes of an enum gn_dtype. */
int gn_dtype_size(int dtype);

/* CPUs this process may run on (the default thread count). */
int gn_available_threads(void);

#endif
