/* AVX-512 micro-kernels: 12 rows x 32 columns of C in 24 zmm accumulators.
 * Per k step: two vector loads of B, twelve broadcasts of A, 24 FMAs.
 * The unpacked kernels also take tiles of up to 6 rows x 64 columns, 2 x 128 and
 * 1 x 256 (GEMV-like products: B streamed in long rows, 16 accumulators). */
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR GN_AVX512_MR
#define NV (GN_AVX512_NR / 16)
#define TGT __attribute__((target("avx512f")))
#define UNROLL _Pragma("GCC unroll 16")

static TGT inline __mmask16 lane_mask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* The one body behind every variant: R x V*16 tile, constant R and V so the
 * accumulators stay in registers. maskb: the last B vector is read under a mask
 * (unpacked B whose edge must not be over-read). */
static TGT inline __attribute__((always_inline)) void body(
    int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb,
    float *c, int64_t ldc, float alpha, float beta, int mr, int nr,
    const int R, const int V, const int maskb) {
    __m512 acc[MR][16];
    const __mmask16 bm = lane_mask(nr - 16 * (V - 1));
    UNROLL for (int i = 0; i < R; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 16 * V - 1), _MM_HINT_T0);
        UNROLL for (int j = 0; j < V; j++) acc[i][j] = _mm512_setzero_ps();
    }
    _Pragma("GCC unroll 4") for (int64_t p = 0; p < k; p++) {
        __m512 bv[16];
        if (R <= 2 && V >= 5) /* GEMV-like: B streams from L3, fetch rows ahead */
            UNROLL for (int j = 0; j < V; j++)
                _mm_prefetch((const char *)(b + 8 * rsb + 16 * j), _MM_HINT_T0);
        UNROLL for (int j = 0; j < V; j++) {
            if (maskb && j == V - 1) bv[j] = _mm512_maskz_loadu_ps(bm, b + 16 * j);
            else bv[j] = _mm512_loadu_ps(b + 16 * j);
        }
        UNROLL for (int i = 0; i < R; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * rsa]);
            UNROLL for (int j = 0; j < V; j++) acc[i][j] = _mm512_fmadd_ps(ai, bv[j], acc[i][j]);
        }
        a += csa;
        b += rsb;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (mr == R && nr == 16 * V) { /* full tile */
        UNROLL for (int i = 0; i < R; i++) {
            UNROLL for (int j = 0; j < V; j++) {
                float *cp = c + i * ldc + 16 * j;
                __m512 v = _mm512_mul_ps(va, acc[i][j]);
                if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cp), v);
                _mm512_storeu_ps(cp, v);
            }
        }
    } else { /* edge tile: rows below mr, lanes below nr */
        UNROLL for (int i = 0; i < R; i++) {
            if (i >= mr) break;
            UNROLL for (int j = 0; j < V; j++) {
                const __mmask16 m = lane_mask(nr - 16 * j);
                float *cp = c + i * ldc + 16 * j;
                __m512 v = _mm512_mul_ps(va, acc[i][j]);
                if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cp), v);
                _mm512_mask_storeu_ps(cp, m, v);
            }
        }
    }
}

/* Packed panels: A has MR floats per k step, B has NR; only the vectors nr needs are computed. */
TGT void gn_sgemm_ukr_avx512_12x32(int64_t k, const float *a, const float *b, float *c,
                                   int64_t ldc, float alpha, float beta, int mr, int nr) {
    if (nr > 16) body(k, a, 1, MR, b, 2 * 16, c, ldc, alpha, beta, mr, nr, MR, 2, 0);
    else body(k, a, 1, MR, b, 2 * 16, c, ldc, alpha, beta, mr, nr, MR, 1, 0);
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
SUP_WIDE(1) SUP_WIDE(2) SUP_WIDE(3) SUP_WIDE(4) SUP_WIDE(5) SUP_WIDE(6)
SUP_ROW(7) SUP_ROW(8) SUP_ROW(9) SUP_ROW(10) SUP_ROW(11) SUP_ROW(12)
SUP(1, 5) SUP(1, 6) SUP(1, 7) SUP(1, 8) SUP(1, 9) SUP(1, 10) SUP(1, 11) SUP(1, 12)
SUP(1, 13) SUP(1, 14) SUP(1, 15) SUP(1, 16) SUP(2, 5) SUP(2, 6) SUP(2, 7) SUP(2, 8)

/* [rows - 1][vectors - 1]; tiles of more than 6 rows are at most 2 vectors wide */
static const gn_sup_fn sup_table[MR][2 * NV] = {
    {sup_1_1, sup_1_2, sup_1_3, sup_1_4}, {sup_2_1, sup_2_2, sup_2_3, sup_2_4},
    {sup_3_1, sup_3_2, sup_3_3, sup_3_4}, {sup_4_1, sup_4_2, sup_4_3, sup_4_4},
    {sup_5_1, sup_5_2, sup_5_3, sup_5_4}, {sup_6_1, sup_6_2, sup_6_3, sup_6_4},
    {sup_7_1, sup_7_2, 0, 0}, {sup_8_1, sup_8_2, 0, 0}, {sup_9_1, sup_9_2, 0, 0},
    {sup_10_1, sup_10_2, 0, 0}, {sup_11_1, sup_11_2, 0, 0}, {sup_12_1, sup_12_2, 0, 0}};

/* [vectors - 5]: one row of 5-16 vectors, two rows of 5-8 */
static const gn_sup_fn sup_wide1[12] = {sup_1_5, sup_1_6, sup_1_7, sup_1_8, sup_1_9, sup_1_10,
                                        sup_1_11, sup_1_12, sup_1_13, sup_1_14, sup_1_15,
                                        sup_1_16};
static const gn_sup_fn sup_wide2[4] = {sup_2_5, sup_2_6, sup_2_7, sup_2_8};

void gn_sgemm_sup_avx512_12x32(int64_t k, const float *a, int64_t rsa, int64_t csa,
                               const float *b, int64_t rsb, float *c, int64_t ldc,
                               float alpha, float beta, int mr, int nr) {
    if (nr > 64) { /* one or two rows, up to 256 / 128 columns: whole rows of B at once */
        const gn_sup_fn fn = mr == 1 ? sup_wide1[(nr + 15) / 16 - 5]
                                     : sup_wide2[(nr + 15) / 16 - 5];
        fn(k, a, rsa, csa, b, rsb, c, ldc, alpha, beta, mr, nr);
        return;
    }
    sup_table[mr - 1][(nr - 1) / 16](k, a, rsa, csa, b, rsb, c, ldc, alpha, beta, mr, nr);
}

/* ---- dot-product kernel for B transposed (stored n x k) with few rows or columns:
 * C(i,j) = alpha * <A row i, B row j> + beta * C(i,j), R x C tiles, vectors along k. */
static TGT inline __attribute__((always_inline)) void dot_body(
    int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
    float alpha, float beta, const int R, const int C) {
    __m512 acc[4][8];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 av[4];
        UNROLL for (int i = 0; i < R; i++) av[i] = _mm512_loadu_ps(a + i * lda + p);
        UNROLL for (int j = 0; j < C; j++) {
            const __m512 bv = _mm512_loadu_ps(b + j * ldb + p);
            UNROLL for (int i = 0; i < R; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    if (p < k) { /* tail under a mask */
        const __mmask16 m = lane_mask((int)(k - p));
        __m512 av[4];
        UNROLL for (int i = 0; i < R; i++) av[i] = _mm512_maskz_loadu_ps(m, a + i * lda + p);
        UNROLL for (int j = 0; j < C; j++) {
            const __m512 bv = _mm512_maskz_loadu_ps(m, b + j * ldb + p);
            UNROLL for (int i = 0; i < R; i++) acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
        }
    }
    UNROLL for (int i = 0; i < R; i++) {
        UNROLL for (int j = 0; j < C; j++) {
            const float s = alpha * _mm512_reduce_add_ps(acc[i][j]);
            float *cij = c + i * ldc + j;
            *cij = beta == 0.0f ? s : s + beta * *cij;
        }
    }
}

#define DOT(R, C)                                                                          \
    static TGT void dot_##R##_##C(int64_t k, const float *a, int64_t lda, const float *b,  \
                                  int64_t ldb, float *c, int64_t ldc, float alpha,         \
                                  float beta) {                                            \
        dot_body(k, a, lda, b, ldb, c, ldc, alpha, beta, R, C);                           \
    }
#define DOT_ROW4(R) DOT(R, 1) DOT(R, 2) DOT(R, 3) DOT(R, 4)
#define DOT_ROW8(R) DOT_ROW4(R) DOT(R, 5) DOT(R, 6) DOT(R, 7) DOT(R, 8)
DOT_ROW8(1) DOT_ROW8(2) DOT_ROW4(3) DOT_ROW4(4)

typedef void (*dot_fn)(int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t,
                       float, float);
/* [rows - 1][columns - 1]: up to 2 x 8 or 4 x 4 */
static const dot_fn dot_table[4][8] = {
    {dot_1_1, dot_1_2, dot_1_3, dot_1_4, dot_1_5, dot_1_6, dot_1_7, dot_1_8},
    {dot_2_1, dot_2_2, dot_2_3, dot_2_4, dot_2_5, dot_2_6, dot_2_7, dot_2_8},
    {dot_3_1, dot_3_2, dot_3_3, dot_3_4, 0, 0, 0, 0},
    {dot_4_1, dot_4_2, dot_4_3, dot_4_4, 0, 0, 0, 0}};

void gn_sgemm_dot_avx512(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                         int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                         int64_t ldc) {
    for (int64_t i = 0; i < m; i += 4) {
        const int r = (int)(m - i < 4 ? m - i : 4), w = r <= 2 ? 8 : 4;
        for (int64_t j = 0; j < n; j += w) {
            const int q = (int)(n - j < w ? n - j : w);
            dot_table[r - 1][q - 1](k, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc,
                                    alpha, beta);
        }
    }
}

#endif
