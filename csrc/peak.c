/* Peak fp32 FLOP rate probe: every thread runs independent chains of FMAs on values in
 * registers (no memory traffic), enough chains to cover the FMA latency on each port.
 * The rate it measures is what the %peak columns of the benchmarks are against. */
#include <time.h>
#include "kernel_util.h"
#include "graphnet.h"
#include "threadpool.h"

#define CHAINS 12 /* >= FMA latency (4) x FMA ports (2), with room */

typedef struct {
    int64_t iters;
    float sink[64][16]; /* each thread's result, so no chain is optimized away */
    int lanes;
} peak_task_t;

#if defined(__x86_64__)
#include <immintrin.h>
GN_TARGET_AVX512 static void chains_avx512(int64_t iters, float *sink) {
    __m512 acc[CHAINS];
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (int64_t it = 0; it < iters; it++)
        _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm512_fmadd_ps(acc[c], m, a);
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm512_add_ps(acc[0], acc[c]);
    _mm512_storeu_ps(sink, acc[0]);
}

GN_TARGET_AVX2 static void chains_avx2(int64_t iters, float *sink) {
    __m256 acc[CHAINS];
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (int64_t it = 0; it < iters; it++)
        _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm256_fmadd_ps(acc[c], m, a);
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm256_add_ps(acc[0], acc[c]);
    _mm256_storeu_ps(sink, acc[0]);
}
#endif

/* The portable path: scalar multiply-adds (what the "ref" kernels can reach). */
static void chains_ref(int64_t iters, float *sink) {
    float acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = (float)c;
    for (int64_t it = 0; it < iters; it++)
        for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * 0.999999f + 1e-7f;
    for (int c = 1; c < CHAINS; c++) acc[0] += acc[c];
    sink[0] = acc[0];
}

static void peak_run(void *arg, int tid, int nt) {
    peak_task_t *p = arg;
    (void)nt;
#if defined(__x86_64__)
    if (p->lanes == 16) { chains_avx512(p->iters, p->sink[tid]); return; }
    if (p->lanes == 8) { chains_avx2(p->iters, p->sink[tid]); return; }
#endif
    chains_ref(p->iters, p->sink[tid]);
}

double gn_peak_gflops(int64_t iters) {
    static peak_task_t task;
    int nt = gn_get_num_threads();
    if (nt > 64) nt = 64;
    if (iters < 1) iters = 1;
    const int isa = gn_current_isa();
    task.iters = iters;
    task.lanes = isa == GN_ISA_AVX512 ? 16 : isa == GN_ISA_AVX2 ? 8 : 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gn_parallel(nt, peak_run, &task);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    const double flops = 2.0 * CHAINS * task.lanes * (double)iters * nt;
    return secs > 0 ? flops / secs * 1e-9 : 0.0;
}
