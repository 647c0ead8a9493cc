/* Portable C micro-kernels (GN_REF_MR x GN_REF_NR): the path for any CPU, and the
 * model the SIMD kernels follow. Plain loops over a local tile the compiler can
 * vectorize (SSE2 on x86-64, NEON on aarch64).
 * The unpacked kernel also takes tiles of up to 2 rows x 32 columns. */
#include "gemm_internal.h"

#define MR GN_REF_MR
#define NR GN_REF_NR

/* C[0:mr, 0:nr] = alpha * acc + beta * C, C untouched by reads when beta == 0;
 * acc rows are ld apart. */
static void store_tile(const float *acc, int ld, float *c, int64_t ldc, float alpha,
                       float beta, int mr, int nr) {
    for (int i = 0; i < mr; i++, acc += ld) {
        float *ci = c + i * ldc;
        if (beta == 0.0f) {
            for (int j = 0; j < nr; j++) ci[j] = alpha * acc[j];
        } else {
            for (int j = 0; j < nr; j++) ci[j] = alpha * acc[j] + beta * ci[j];
        }
    }
}

void gn_sgemm_ukr_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                           float alpha, float beta, int mr, int nr) {
    float acc[MR][NR] = {{0.0f}};
    for (int64_t p = 0; p < k; p++, a += MR, b += NR) {
        for (int i = 0; i < MR; i++) {
            const float ai = a[i];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[j];
        }
    }
    store_tile(&acc[0][0], NR, c, ldc, alpha, beta, mr, nr);
}

/* Full tiles: constant trip counts, so the rows vectorize and stay in registers. */
static void sup_full(int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                     int64_t rsb, float *c, int64_t ldc, float alpha, float beta) {
    float acc[MR][NR] = {{0.0f}};
    for (int64_t p = 0; p < k; p++, a += csa, b += rsb) {
        for (int i = 0; i < MR; i++) {
            const float ai = a[i * rsa];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[j];
        }
    }
    store_tile(&acc[0][0], NR, c, ldc, alpha, beta, MR, NR);
}

void gn_sgemm_sup_ref(int64_t k, const float *a, int64_t rsa, int64_t csa,
                      const float *b, int64_t rsb, float *c, int64_t ldc,
                      float alpha, float beta, int mr, int nr) {
    if (mr == MR && nr == NR) {
        sup_full(k, a, rsa, csa, b, rsb, c, ldc, alpha, beta);
        return;
    }
    float acc[MR * NR] = {0.0f};
    const int ld = nr > NR ? 2 * NR : NR; /* wide tiles have at most MR / 2 rows */
    for (int64_t p = 0; p < k; p++, a += csa, b += rsb) {
        for (int i = 0; i < mr; i++) {
            const float ai = a[i * rsa];
            float *acci = acc + i * ld;
            for (int j = 0; j < nr; j++) acci[j] += ai * b[j];
        }
    }
    store_tile(acc, ld, c, ldc, alpha, beta, mr, nr);
}
