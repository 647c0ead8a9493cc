/* AVX2 + FMA micro-kernels: 6 rows x 16 columns of C in 12 ymm accumulators.
 * Per k step: two vector loads of B, six broadcasts of A, 12 FMAs.
 * The unpacked kernels also take tiles of up to 3 rows x 32 columns, and 1 x 64. */
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR GN_AVX2_MR
#define NV (GN_AVX2_NR / 8)
#define TGT __attribute__((target("avx2,fma")))
#define UNROLL _Pragma("GCC unroll 16")

/* Lane mask for maskload/maskstore: the first n of 8 lanes set. */
static TGT inline __m256i lane_mask(int n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* R x V*8 tile with constant R and V; maskb: last B vector read under a mask. */
static TGT inline __attribute__((always_inline)) void body(
    int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb,
    float *c, int64_t ldc, float alpha, float beta, int mr, int nr,
    const int R, const int V, const int maskb) {
    __m256 acc[MR][8];
    const __m256i bm = lane_mask(nr - 8 * (V - 1));
    UNROLL for (int i = 0; i < R; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 8 * V - 1), _MM_HINT_T0);
        UNROLL for (int j = 0; j < V; j++) acc[i][j] = _mm256_setzero_ps();
    }
    _Pragma("GCC unroll 4") for (int64_t p = 0; p < k; p++) {
        __m256 bv[8];
        UNROLL for (int j = 0; j < V; j++) {
            if (maskb && j == V - 1) bv[j] = _mm256_maskload_ps(b + 8 * j, bm);
            else bv[j] = _mm256_loadu_ps(b + 8 * j);
        }
        UNROLL for (int i = 0; i < R; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * rsa);
            UNROLL for (int j = 0; j < V; j++) acc[i][j] = _mm256_fmadd_ps(ai, bv[j], acc[i][j]);
        }
        a += csa;
        b += rsb;
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == R && nr == 8 * V) { /* full tile */
        UNROLL for (int i = 0; i < R; i++) {
            UNROLL for (int j = 0; j < V; j++) {
                float *cp = c + i * ldc + 8 * j;
                __m256 v = _mm256_mul_ps(va, acc[i][j]);
                if (beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cp), v);
                _mm256_storeu_ps(cp, v);
            }
        }
    } else { /* edge tile: rows below mr, lanes below nr */
        UNROLL for (int i = 0; i < R; i++) {
            if (i >= mr) break;
            UNROLL for (int j = 0; j < V; j++) {
                const __m256i m = lane_mask(nr - 8 * j);
                float *cp = c + i * ldc + 8 * j;
                __m256 v = _mm256_mul_ps(va, acc[i][j]);
                if (beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cp, m), v);
                _mm256_maskstore_ps(cp, m, v);
            }
        }
    }
}

/* Packed panels: A has MR floats per k step, B has NR. */
TGT void gn_sgemm_ukr_avx2_6x16(int64_t k, const float *a, const float *b, float *c,
                                int64_t ldc, float alpha, float beta, int mr, int nr) {
    if (nr > 8) body(k, a, 1, MR, b, 2 * 8, c, ldc, alpha, beta, mr, nr, MR, 2, 0);
    else body(k, a, 1, MR, b, 2 * 8, c, ldc, alpha, beta, mr, nr, MR, 1, 0);
}

/* Unpacked variants, one per (rows, vectors). */
#define SUP(R, V)                                                                          \
    static TGT void sup_##R##_##V(int64_t k, const float *a, int64_t rsa, int64_t csa,    \
                                  const float *b, int64_t rsb, float *c, int64_t ldc,     \
                                  float alpha, float beta, int mr, int nr) {              \
        body(k, a, rsa, csa, b, rsb, c, ldc, alpha, beta, mr, nr, R, V, 1);               \
    }
#define SUP_ROW(R) SUP(R, 1) SUP(R, 2)
#define SUP_WIDE(R) SUP(R, 1) SUP(R, 2) SUP(R, 3) SUP(R, 4)
SUP_WIDE(1) SUP_WIDE(2) SUP_WIDE(3) SUP_ROW(4) SUP_ROW(5) SUP_ROW(6)
SUP(1, 8)

/* [rows - 1][vectors - 1]; tiles of more than 3 rows are at most 2 vectors wide */
static const gn_sup_fn sup_table[MR][2 * NV] = {
    {sup_1_1, sup_1_2, sup_1_3, sup_1_4}, {sup_2_1, sup_2_2, sup_2_3, sup_2_4},
    {sup_3_1, sup_3_2, sup_3_3, sup_3_4}, {sup_4_1, sup_4_2, 0, 0},
    {sup_5_1, sup_5_2, 0, 0}, {sup_6_1, sup_6_2, 0, 0}};

void gn_sgemm_sup_avx2_6x16(int64_t k, const float *a, int64_t rsa, int64_t csa,
                            const float *b, int64_t rsb, float *c, int64_t ldc,
                            float alpha, float beta, int mr, int nr) {
    if (nr > 32) { /* one row, up to 64 columns */
        if (nr == 64) {
            sup_1_8(k, a, rsa, csa, b, rsb, c, ldc, alpha, beta, mr, nr);
        } else {
            sup_1_4(k, a, rsa, csa, b, rsb, c, ldc, alpha, beta, mr, 32);
            sup_table[0][(nr - 33) / 8](k, a, rsa, csa, b + 32, rsb, c + 32, ldc, alpha, beta,
                                        mr, nr - 32);
        }
        return;
    }
    sup_table[mr - 1][(nr - 1) / 8](k, a, rsa, csa, b, rsb, c, ldc, alpha, beta, mr, nr);
}

#endif
