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

/* The thread's floating-point control word (MXCSR on x86, FPCR on AArch64), read and
 * written as is; enter sets the plan runs' mode (fpmode.c) and returns the old one. */
unsigned long gn_fpmode_get(void);
void gn_fpmode_set(unsigned long mode);
unsigned long gn_fpmode_enter(void);
void gn_fpmode_leave(unsigned long old);

/* A kernel could not allocate its scratch memory (counted for gn_no_memory_count). */
void gn_note_no_memory(void);

/* CPUs this process may run on (the default thread count). */
int gn_available_threads(void);

#endif
