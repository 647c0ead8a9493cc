/* Runtime settings: thread count and the SIMD path chosen at run time. */
#include <stdlib.h>
#include <string.h>
#include "graphnet.h"
#include "internal.h"

static int gn_threads = 0; /* 0: not yet read from GRAPHNET_NUM_THREADS */
static int gn_isa = -1;    /* -1: not yet detected */
static unsigned long gn_no_memory; /* allocation failures in kernels (atomic) */

void gn_note_no_memory(void) { __atomic_fetch_add(&gn_no_memory, 1, __ATOMIC_RELAXED); }

unsigned long gn_no_memory_count(void) { return __atomic_load_n(&gn_no_memory, __ATOMIC_RELAXED); }

void gn_set_num_threads(int n) {
    if (n < 1) n = gn_available_threads();
    gn_threads = n;
}

int gn_get_num_threads(void) {
    if (gn_threads == 0) {
        const char *env = getenv("GRAPHNET_NUM_THREADS");
        gn_set_num_threads(env ? atoi(env) : 0);
    }
    return gn_threads;
}

static int detect_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
        return GN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return GN_ISA_AVX2;
#elif defined(__aarch64__)
    return GN_ISA_NEON;
#endif
    return GN_ISA_REF;
}

static int isa_supported(int isa) {
    int best = detect_isa();
    if (isa == GN_ISA_REF) return 1;
    if (best == GN_ISA_NEON) return isa == GN_ISA_NEON;
    return isa <= best && isa != GN_ISA_NEON;
}

int gn_current_isa(void) {
    if (gn_isa < 0) {
        const char *env = getenv("GRAPHNET_ISA");
        gn_isa = detect_isa();
        if (env && !gn_set_isa(env)) gn_isa = detect_isa();
    }
    return gn_isa;
}

static int detect_amd(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_is("amd");
#else
    return 0;
#endif
}

/* Read once: every GEMM block asks (gemm.c's choice of the unpacked path). */
int gn_cpu_is_amd(void) {
    static int amd = -1;
    if (amd < 0) amd = detect_amd();
    return amd;
}

static const char *isa_names[] = {"ref", "avx2", "avx512", "neon"};

const char *gn_isa_name(void) { return isa_names[gn_current_isa()]; }

int gn_set_isa(const char *name) {
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, isa_names[i]) == 0 && isa_supported(i)) {
            gn_isa = i;
            return 1;
        }
    }
    return 0;
}
