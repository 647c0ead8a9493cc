/* Convolution forward over 1 to 3 spatial dims, channels-last (N, D, H, W, C), with groups,
 * strides, dilations and explicit leading pads (geometry: enum gn_conv_geom).
 *
 * Fast paths, each tested against the plain loops at the end of this file:
 *   - pointwise (1x1x1 kernel, stride 1, no pad): the input already is the im2col
 *     matrix, so each group is one GEMM;
 *   - depthwise (one input channel per group): direct loops over channels;
 *   - anything else: im2col of a block of images into the workspace, then one GEMM
 *     per group (col2im after the GEMM for the input gradient).
 * Weights are (KD, KH, KW, C / groups, O): row (kd, kh, kw, c) of a (Kvol * Cg, O) matrix.
 */
#include "conv_internal.h"
#include <stdlib.h>
#include <string.h>

int64_t gn_conv_work_len(int kind, const int64_t *g) {
    geom_t t = unpack(g);
    if (t.n <= 0 || t.pout <= 0 || is_pointwise(&t) || is_depthwise(&t)) return 0;
    const int64_t per = col_per_image(&t);
    const int threads = gn_get_num_threads();
    const int teams = threads < t.n ? threads : (int)t.n;
    const int64_t share = (t.n + teams - 1) / teams;
    int64_t nb = GN_CONV_BLOCK_FLOATS / (per > 0 ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > share) nb = share;
    return teams * nb * per + (kind == 2 ? (teams - 1) * filter_size(&t) : 0);
}

static void im2col_rows(void *arg, int64_t r0, int64_t r1, int tid);

void gn_conv_im2col(const geom_t *t, const float *x, int64_t n0, int64_t nb, int64_t j,
                   float *col, int threads) {
    const int64_t rows = nb * t->pout, kc = t->kvol * t->cg;
    const int nt = rows * kc < GN_PAR_MIN ? 1 : threads;
    conv_task_t task = {.t = t, .x = x, .col = col, .n0 = n0, .j = j};
    gn_parallel_for(nt, rows, im2col_rows, &task);
}

/* Rows [r0, r1) of the col matrix. */
static void im2col_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const float *x = ct->x;
    float *col = ct->col;
    const int64_t n0 = ct->n0, j = ct->j, kc = t->kvol * t->cg;
    (void)tid;
    {
        int64_t *src = malloc(sizeof(int64_t) * (size_t)t->kvol);
        for (int64_t r = r0; r < r1; r++) {
            const int64_t n = n0 + r / t->pout;
            const float *xn = x + n * t->pin * t->c + j * t->cg;
            float *dst = col + r * kc;
            window_taps(t, r % t->pout, src);
            if (t->cg == 1) {
                for (int64_t kk = 0; kk < t->kvol; kk++)
                    dst[kk] = src[kk] < 0 ? 0.0f : xn[src[kk] * t->c];
                continue;
            }
            for (int64_t kk = 0; kk < t->kvol; kk++) {
                if (src[kk] < 0) memset(dst + kk * t->cg, 0, sizeof(float) * (size_t)t->cg);
                else memcpy(dst + kk * t->cg, xn + src[kk] * t->c, sizeof(float) * (size_t)t->cg);
            }
        }
        free(src);
    }
}


/* ---- depthwise direct loops (cg == 1: output channel o reads input channel o / m) ---- */

/* Output rows [r0, r1) (image, position). */
static void depthwise_forward_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const float *x = ct->x, *w = ct->w;
    float *y = ct->y;
    const int64_t m = t->og, C = t->c, O = t->o;
    (void)tid;
    {
        int64_t *src = malloc(sizeof(int64_t) * (size_t)t->kvol);
        for (int64_t r = r0; r < r1; r++) {
            const int64_t n = r / t->pout;
            float *yr = y + r * O;
            for (int64_t o = 0; o < O; o++) yr[o] = 0.0f;
            window_taps(t, r % t->pout, src);
            for (int64_t kk = 0; kk < t->kvol; kk++) {
                if (src[kk] < 0) continue;
                const float *xv = x + (n * t->pin + src[kk]) * C;
                const float *wk = w + kk * O;
                if (m == 1) {
                    for (int64_t c = 0; c < C; c++) yr[c] += xv[c] * wk[c];
                } else {
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t i = 0; i < m; i++) yr[c * m + i] += xv[c] * wk[c * m + i];
                }
            }
        }
        free(src);
    }
}

static void depthwise_forward(const geom_t *t, const float *x, const float *w, float *y) {
    const int64_t rows = t->n * t->pout;
    const int nt = rows * t->o * t->kvol < GN_PAR_MIN ? 1 : gn_get_num_threads();
    conv_task_t task = {.t = t, .x = x, .w = w, .y = y};
    gn_parallel_for(nt, rows, depthwise_forward_rows, &task);
}

/* ---- direct forward (AVX-512): implicit GEMM over a pointer table --------------------
 * Rows are output positions, columns output channels, depth the (tap, channel) pairs.
 * The depth is cut into `nseg` segments of `len` floats that are contiguous both in the
 * input and in the weights: with groups == 1 and no W dilation one segment is a whole
 * (kd, kh) row of KW taps x C channels; otherwise one tap's cg channels. A tile of MR
 * output positions gets a table of nseg x MR segment pointers (into x, a zero buffer in
 * the padding, or a per-thread scratch holding a segment that straddles the W padding),
 * and the micro-kernel runs MR rows x NV*16 channels from it with the weights read in
 * place; nothing the size of the im2col matrix is ever written. */
#if defined(__x86_64__)
#include <immintrin.h>
#define GN_TGT512 __attribute__((target("avx512f,avx2,fma")))

/* Micro-kernels MR rows x NV zmm columns (generated, one accumulator variable each). */
GN_TGT512 static void direct_ukr_6x4(int64_t nseg, int64_t len, const float *const *tab,
                                        const float *w, int64_t ldw, float *y, int64_t ldy,
                                        int mr, int nr) {
    const int left0 = nr - 0;
    const __mmask16 m0 = left0 >= 16 ? (__mmask16)0xFFFF : left0 > 0 ? (__mmask16)((1u << left0) - 1u) : (__mmask16)0;
    const int left1 = nr - 16;
    const __mmask16 m1 = left1 >= 16 ? (__mmask16)0xFFFF : left1 > 0 ? (__mmask16)((1u << left1) - 1u) : (__mmask16)0;
    const int left2 = nr - 32;
    const __mmask16 m2 = left2 >= 16 ? (__mmask16)0xFFFF : left2 > 0 ? (__mmask16)((1u << left2) - 1u) : (__mmask16)0;
    const int left3 = nr - 48;
    const __mmask16 m3 = left3 >= 16 ? (__mmask16)0xFFFF : left3 > 0 ? (__mmask16)((1u << left3) - 1u) : (__mmask16)0;
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c02 = _mm512_setzero_ps(), c03 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps(), c12 = _mm512_setzero_ps(), c13 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c22 = _mm512_setzero_ps(), c23 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps(), c32 = _mm512_setzero_ps(), c33 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c42 = _mm512_setzero_ps(), c43 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(), c52 = _mm512_setzero_ps(), c53 = _mm512_setzero_ps();
    for (int64_t sg = 0; sg < nseg; sg++) {
        const float *p0 = tab[sg * 6 + 0];
        const float *p1 = tab[sg * 6 + 1];
        const float *p2 = tab[sg * 6 + 2];
        const float *p3 = tab[sg * 6 + 3];
        const float *p4 = tab[sg * 6 + 4];
        const float *p5 = tab[sg * 6 + 5];
        const float *ws = w + sg * len * ldw;
        for (int64_t l = 0; l < len; l++, ws += ldw) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, ws + 0);
            const __m512 b1 = _mm512_maskz_loadu_ps(m1, ws + 16);
            const __m512 b2 = _mm512_maskz_loadu_ps(m2, ws + 32);
            const __m512 b3 = _mm512_maskz_loadu_ps(m3, ws + 48);
            { const __m512 a = _mm512_set1_ps(p0[l]);
              c00 = _mm512_fmadd_ps(a, b0, c00);
              c01 = _mm512_fmadd_ps(a, b1, c01);
              c02 = _mm512_fmadd_ps(a, b2, c02);
              c03 = _mm512_fmadd_ps(a, b3, c03);
            }
            { const __m512 a = _mm512_set1_ps(p1[l]);
              c10 = _mm512_fmadd_ps(a, b0, c10);
              c11 = _mm512_fmadd_ps(a, b1, c11);
              c12 = _mm512_fmadd_ps(a, b2, c12);
              c13 = _mm512_fmadd_ps(a, b3, c13);
            }
            { const __m512 a = _mm512_set1_ps(p2[l]);
              c20 = _mm512_fmadd_ps(a, b0, c20);
              c21 = _mm512_fmadd_ps(a, b1, c21);
              c22 = _mm512_fmadd_ps(a, b2, c22);
              c23 = _mm512_fmadd_ps(a, b3, c23);
            }
            { const __m512 a = _mm512_set1_ps(p3[l]);
              c30 = _mm512_fmadd_ps(a, b0, c30);
              c31 = _mm512_fmadd_ps(a, b1, c31);
              c32 = _mm512_fmadd_ps(a, b2, c32);
              c33 = _mm512_fmadd_ps(a, b3, c33);
            }
            { const __m512 a = _mm512_set1_ps(p4[l]);
              c40 = _mm512_fmadd_ps(a, b0, c40);
              c41 = _mm512_fmadd_ps(a, b1, c41);
              c42 = _mm512_fmadd_ps(a, b2, c42);
              c43 = _mm512_fmadd_ps(a, b3, c43);
            }
            { const __m512 a = _mm512_set1_ps(p5[l]);
              c50 = _mm512_fmadd_ps(a, b0, c50);
              c51 = _mm512_fmadd_ps(a, b1, c51);
              c52 = _mm512_fmadd_ps(a, b2, c52);
              c53 = _mm512_fmadd_ps(a, b3, c53);
            }
        }
    }
    if (mr > 0) {
        _mm512_mask_storeu_ps(y + 0 * ldy + 0, m0, c00);
        _mm512_mask_storeu_ps(y + 0 * ldy + 16, m1, c01);
        _mm512_mask_storeu_ps(y + 0 * ldy + 32, m2, c02);
        _mm512_mask_storeu_ps(y + 0 * ldy + 48, m3, c03);
    }
    if (mr > 1) {
        _mm512_mask_storeu_ps(y + 1 * ldy + 0, m0, c10);
        _mm512_mask_storeu_ps(y + 1 * ldy + 16, m1, c11);
        _mm512_mask_storeu_ps(y + 1 * ldy + 32, m2, c12);
        _mm512_mask_storeu_ps(y + 1 * ldy + 48, m3, c13);
    }
    if (mr > 2) {
        _mm512_mask_storeu_ps(y + 2 * ldy + 0, m0, c20);
        _mm512_mask_storeu_ps(y + 2 * ldy + 16, m1, c21);
        _mm512_mask_storeu_ps(y + 2 * ldy + 32, m2, c22);
        _mm512_mask_storeu_ps(y + 2 * ldy + 48, m3, c23);
    }
    if (mr > 3) {
        _mm512_mask_storeu_ps(y + 3 * ldy + 0, m0, c30);
        _mm512_mask_storeu_ps(y + 3 * ldy + 16, m1, c31);
        _mm512_mask_storeu_ps(y + 3 * ldy + 32, m2, c32);
        _mm512_mask_storeu_ps(y + 3 * ldy + 48, m3, c33);
    }
    if (mr > 4) {
        _mm512_mask_storeu_ps(y + 4 * ldy + 0, m0, c40);
        _mm512_mask_storeu_ps(y + 4 * ldy + 16, m1, c41);
        _mm512_mask_storeu_ps(y + 4 * ldy + 32, m2, c42);
        _mm512_mask_storeu_ps(y + 4 * ldy + 48, m3, c43);
    }
    if (mr > 5) {
        _mm512_mask_storeu_ps(y + 5 * ldy + 0, m0, c50);
        _mm512_mask_storeu_ps(y + 5 * ldy + 16, m1, c51);
        _mm512_mask_storeu_ps(y + 5 * ldy + 32, m2, c52);
        _mm512_mask_storeu_ps(y + 5 * ldy + 48, m3, c53);
    }
}

GN_TGT512 static void direct_ukr_12x2(int64_t nseg, int64_t len, const float *const *tab,
                                        const float *w, int64_t ldw, float *y, int64_t ldy,
                                        int mr, int nr) {
    const int left0 = nr - 0;
    const __mmask16 m0 = left0 >= 16 ? (__mmask16)0xFFFF : left0 > 0 ? (__mmask16)((1u << left0) - 1u) : (__mmask16)0;
    const int left1 = nr - 16;
    const __mmask16 m1 = left1 >= 16 ? (__mmask16)0xFFFF : left1 > 0 ? (__mmask16)((1u << left1) - 1u) : (__mmask16)0;
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps();
    __m512 c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 c100 = _mm512_setzero_ps(), c101 = _mm512_setzero_ps();
    __m512 c110 = _mm512_setzero_ps(), c111 = _mm512_setzero_ps();
    for (int64_t sg = 0; sg < nseg; sg++) {
        const float *p0 = tab[sg * 12 + 0];
        const float *p1 = tab[sg * 12 + 1];
        const float *p2 = tab[sg * 12 + 2];
        const float *p3 = tab[sg * 12 + 3];
        const float *p4 = tab[sg * 12 + 4];
        const float *p5 = tab[sg * 12 + 5];
        const float *p6 = tab[sg * 12 + 6];
        const float *p7 = tab[sg * 12 + 7];
        const float *p8 = tab[sg * 12 + 8];
        const float *p9 = tab[sg * 12 + 9];
        const float *p10 = tab[sg * 12 + 10];
        const float *p11 = tab[sg * 12 + 11];
        const float *ws = w + sg * len * ldw;
        for (int64_t l = 0; l < len; l++, ws += ldw) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, ws + 0);
            const __m512 b1 = _mm512_maskz_loadu_ps(m1, ws + 16);
            { const __m512 a = _mm512_set1_ps(p0[l]);
              c00 = _mm512_fmadd_ps(a, b0, c00);
              c01 = _mm512_fmadd_ps(a, b1, c01);
            }
            { const __m512 a = _mm512_set1_ps(p1[l]);
              c10 = _mm512_fmadd_ps(a, b0, c10);
              c11 = _mm512_fmadd_ps(a, b1, c11);
            }
            { const __m512 a = _mm512_set1_ps(p2[l]);
              c20 = _mm512_fmadd_ps(a, b0, c20);
              c21 = _mm512_fmadd_ps(a, b1, c21);
            }
            { const __m512 a = _mm512_set1_ps(p3[l]);
              c30 = _mm512_fmadd_ps(a, b0, c30);
              c31 = _mm512_fmadd_ps(a, b1, c31);
            }
            { const __m512 a = _mm512_set1_ps(p4[l]);
              c40 = _mm512_fmadd_ps(a, b0, c40);
              c41 = _mm512_fmadd_ps(a, b1, c41);
            }
            { const __m512 a = _mm512_set1_ps(p5[l]);
              c50 = _mm512_fmadd_ps(a, b0, c50);
              c51 = _mm512_fmadd_ps(a, b1, c51);
            }
            { const __m512 a = _mm512_set1_ps(p6[l]);
              c60 = _mm512_fmadd_ps(a, b0, c60);
              c61 = _mm512_fmadd_ps(a, b1, c61);
            }
            { const __m512 a = _mm512_set1_ps(p7[l]);
              c70 = _mm512_fmadd_ps(a, b0, c70);
              c71 = _mm512_fmadd_ps(a, b1, c71);
            }
            { const __m512 a = _mm512_set1_ps(p8[l]);
              c80 = _mm512_fmadd_ps(a, b0, c80);
              c81 = _mm512_fmadd_ps(a, b1, c81);
            }
            { const __m512 a = _mm512_set1_ps(p9[l]);
              c90 = _mm512_fmadd_ps(a, b0, c90);
              c91 = _mm512_fmadd_ps(a, b1, c91);
            }
            { const __m512 a = _mm512_set1_ps(p10[l]);
              c100 = _mm512_fmadd_ps(a, b0, c100);
              c101 = _mm512_fmadd_ps(a, b1, c101);
            }
            { const __m512 a = _mm512_set1_ps(p11[l]);
              c110 = _mm512_fmadd_ps(a, b0, c110);
              c111 = _mm512_fmadd_ps(a, b1, c111);
            }
        }
    }
    if (mr > 0) {
        _mm512_mask_storeu_ps(y + 0 * ldy + 0, m0, c00);
        _mm512_mask_storeu_ps(y + 0 * ldy + 16, m1, c01);
    }
    if (mr > 1) {
        _mm512_mask_storeu_ps(y + 1 * ldy + 0, m0, c10);
        _mm512_mask_storeu_ps(y + 1 * ldy + 16, m1, c11);
    }
    if (mr > 2) {
        _mm512_mask_storeu_ps(y + 2 * ldy + 0, m0, c20);
        _mm512_mask_storeu_ps(y + 2 * ldy + 16, m1, c21);
    }
    if (mr > 3) {
        _mm512_mask_storeu_ps(y + 3 * ldy + 0, m0, c30);
        _mm512_mask_storeu_ps(y + 3 * ldy + 16, m1, c31);
    }
    if (mr > 4) {
        _mm512_mask_storeu_ps(y + 4 * ldy + 0, m0, c40);
        _mm512_mask_storeu_ps(y + 4 * ldy + 16, m1, c41);
    }
    if (mr > 5) {
        _mm512_mask_storeu_ps(y + 5 * ldy + 0, m0, c50);
        _mm512_mask_storeu_ps(y + 5 * ldy + 16, m1, c51);
    }
    if (mr > 6) {
        _mm512_mask_storeu_ps(y + 6 * ldy + 0, m0, c60);
        _mm512_mask_storeu_ps(y + 6 * ldy + 16, m1, c61);
    }
    if (mr > 7) {
        _mm512_mask_storeu_ps(y + 7 * ldy + 0, m0, c70);
        _mm512_mask_storeu_ps(y + 7 * ldy + 16, m1, c71);
    }
    if (mr > 8) {
        _mm512_mask_storeu_ps(y + 8 * ldy + 0, m0, c80);
        _mm512_mask_storeu_ps(y + 8 * ldy + 16, m1, c81);
    }
    if (mr > 9) {
        _mm512_mask_storeu_ps(y + 9 * ldy + 0, m0, c90);
        _mm512_mask_storeu_ps(y + 9 * ldy + 16, m1, c91);
    }
    if (mr > 10) {
        _mm512_mask_storeu_ps(y + 10 * ldy + 0, m0, c100);
        _mm512_mask_storeu_ps(y + 10 * ldy + 16, m1, c101);
    }
    if (mr > 11) {
        _mm512_mask_storeu_ps(y + 11 * ldy + 0, m0, c110);
        _mm512_mask_storeu_ps(y + 11 * ldy + 16, m1, c111);
    }
}

GN_TGT512 static void direct_ukr_12x1(int64_t nseg, int64_t len, const float *const *tab,
                                        const float *w, int64_t ldw, float *y, int64_t ldy,
                                        int mr, int nr) {
    const int left0 = nr - 0;
    const __mmask16 m0 = left0 >= 16 ? (__mmask16)0xFFFF : left0 > 0 ? (__mmask16)((1u << left0) - 1u) : (__mmask16)0;
    __m512 c00 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps();
    __m512 c90 = _mm512_setzero_ps();
    __m512 c100 = _mm512_setzero_ps();
    __m512 c110 = _mm512_setzero_ps();
    for (int64_t sg = 0; sg < nseg; sg++) {
        const float *p0 = tab[sg * 12 + 0];
        const float *p1 = tab[sg * 12 + 1];
        const float *p2 = tab[sg * 12 + 2];
        const float *p3 = tab[sg * 12 + 3];
        const float *p4 = tab[sg * 12 + 4];
        const float *p5 = tab[sg * 12 + 5];
        const float *p6 = tab[sg * 12 + 6];
        const float *p7 = tab[sg * 12 + 7];
        const float *p8 = tab[sg * 12 + 8];
        const float *p9 = tab[sg * 12 + 9];
        const float *p10 = tab[sg * 12 + 10];
        const float *p11 = tab[sg * 12 + 11];
        const float *ws = w + sg * len * ldw;
        for (int64_t l = 0; l < len; l++, ws += ldw) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, ws + 0);
            { const __m512 a = _mm512_set1_ps(p0[l]);
              c00 = _mm512_fmadd_ps(a, b0, c00);
            }
            { const __m512 a = _mm512_set1_ps(p1[l]);
              c10 = _mm512_fmadd_ps(a, b0, c10);
            }
            { const __m512 a = _mm512_set1_ps(p2[l]);
              c20 = _mm512_fmadd_ps(a, b0, c20);
            }
            { const __m512 a = _mm512_set1_ps(p3[l]);
              c30 = _mm512_fmadd_ps(a, b0, c30);
            }
            { const __m512 a = _mm512_set1_ps(p4[l]);
              c40 = _mm512_fmadd_ps(a, b0, c40);
            }
            { const __m512 a = _mm512_set1_ps(p5[l]);
              c50 = _mm512_fmadd_ps(a, b0, c50);
            }
            { const __m512 a = _mm512_set1_ps(p6[l]);
              c60 = _mm512_fmadd_ps(a, b0, c60);
            }
            { const __m512 a = _mm512_set1_ps(p7[l]);
              c70 = _mm512_fmadd_ps(a, b0, c70);
            }
            { const __m512 a = _mm512_set1_ps(p8[l]);
              c80 = _mm512_fmadd_ps(a, b0, c80);
            }
            { const __m512 a = _mm512_set1_ps(p9[l]);
              c90 = _mm512_fmadd_ps(a, b0, c90);
            }
            { const __m512 a = _mm512_set1_ps(p10[l]);
              c100 = _mm512_fmadd_ps(a, b0, c100);
            }
            { const __m512 a = _mm512_set1_ps(p11[l]);
              c110 = _mm512_fmadd_ps(a, b0, c110);
            }
        }
    }
    if (mr > 0) {
        _mm512_mask_storeu_ps(y + 0 * ldy + 0, m0, c00);
    }
    if (mr > 1) {
        _mm512_mask_storeu_ps(y + 1 * ldy + 0, m0, c10);
    }
    if (mr > 2) {
        _mm512_mask_storeu_ps(y + 2 * ldy + 0, m0, c20);
    }
    if (mr > 3) {
        _mm512_mask_storeu_ps(y + 3 * ldy + 0, m0, c30);
    }
    if (mr > 4) {
        _mm512_mask_storeu_ps(y + 4 * ldy + 0, m0, c40);
    }
    if (mr > 5) {
        _mm512_mask_storeu_ps(y + 5 * ldy + 0, m0, c50);
    }
    if (mr > 6) {
        _mm512_mask_storeu_ps(y + 6 * ldy + 0, m0, c60);
    }
    if (mr > 7) {
        _mm512_mask_storeu_ps(y + 7 * ldy + 0, m0, c70);
    }
    if (mr > 8) {
        _mm512_mask_storeu_ps(y + 8 * ldy + 0, m0, c80);
    }
    if (mr > 9) {
        _mm512_mask_storeu_ps(y + 9 * ldy + 0, m0, c90);
    }
    if (mr > 10) {
        _mm512_mask_storeu_ps(y + 10 * ldy + 0, m0, c100);
    }
    if (mr > 11) {
        _mm512_mask_storeu_ps(y + 11 * ldy + 0, m0, c110);
    }
}

typedef void (*direct_fn)(int64_t, int64_t, const float *const *, const float *, int64_t,
                          float *, int64_t, int, int);

/* Whether a (kd, kh) row of KW taps is one contiguous segment of the input. */
static int direct_rows(const geom_t *t) { return t->groups == 1 && t->d[2] == 1; }

/* Fill tab[sg * MR + r] for the tile of rows row0 .. row0 + mr - 1 (rows past mr repeat
 * the zero buffer). */
static void direct_table(const geom_t *t, const float *x, int64_t j, int64_t row0, int mr,
                         int MR, const float **tab, const float *zero, float *scratch,
                         int64_t *src) {
    const int64_t C = t->c;
    if (!direct_rows(t)) {
        for (int r = 0; r < MR; r++) {
            if (r >= mr) {
                for (int64_t kk = 0; kk < t->kvol; kk++) tab[kk * MR + r] = zero;
                continue;
            }
            const int64_t g = row0 + r, n = g / t->pout;
            const float *xn = x + n * t->pin * C + j * t->cg;
            window_taps(t, g % t->pout, src);
            for (int64_t kk = 0; kk < t->kvol; kk++)
                tab[kk * MR + r] = src[kk] < 0 ? zero : xn + src[kk] * C;
        }
        return;
    }
    const int64_t nseg = t->k[0] * t->k[1], len = t->k[2] * C;
    /* position of row0, then stepped row by row (no divisions per row) */
    int64_t n = row0 / t->pout, q = row0 % t->pout;
    int64_t ow = q % t->out[2], oh = q / t->out[2] % t->out[1];
    int64_t od = q / (t->out[2] * t->out[1]);
    for (int r = 0; r < MR; r++) {
        if (r >= mr) {
            for (int64_t sg = 0; sg < nseg; sg++) tab[sg * MR + r] = zero;
            continue;
        }
        if (r > 0 && ++ow == t->out[2]) {
            ow = 0;
            if (++oh == t->out[1]) {
                oh = 0;
                if (++od == t->out[0]) od = 0, n++;
            }
        }
        const int64_t d0 = od * t->s[0] - t->p[0], h0 = oh * t->s[1] - t->p[1];
        const int64_t w0 = ow * t->s[2] - t->p[2];
        const float *xn = x + n * t->pin * C;
        const int inside = w0 >= 0 && w0 + t->k[2] <= t->in[2];
        int64_t sg = 0;
        for (int64_t kd = 0; kd < t->k[0]; kd++) {
            const int64_t id = d0 + kd * t->d[0];
            for (int64_t kh = 0; kh < t->k[1]; kh++, sg++) {
                const int64_t ih = h0 + kh * t->d[1];
                if (id < 0 || id >= t->in[0] || ih < 0 || ih >= t->in[1]) {
                    tab[sg * MR + r] = zero;
                    continue;
                }
                const float *row = xn + ((id * t->in[1] + ih) * t->in[2]) * C;
                if (inside) {
                    tab[sg * MR + r] = row + w0 * C;
                    continue;
                }
                float *dst = scratch + (sg * MR + r) * len;
                for (int64_t kw = 0; kw < t->k[2]; kw++) {
                    const int64_t iw = w0 + kw;
                    if (iw < 0 || iw >= t->in[2])
                        memset(dst + kw * C, 0, sizeof(float) * (size_t)C);
                    else
                        memcpy(dst + kw * C, row + iw * C, sizeof(float) * (size_t)C);
                }
                tab[sg * MR + r] = dst;
            }
        }
    }
}

/* Weights of one column tile kept in L2 while the rows stream past: column tiles are
 * taken in blocks of about this many bytes. */
#define GN_DIRECT_W_BYTES ((int64_t)384 * 1024)
/* Largest column tile of weights the direct path takes. */
#define GN_DIRECT_MAX_W ((int64_t)512 * 1024)

typedef struct {
    const geom_t *t;
    const float *x, *w;
    float *y;
    direct_fn ukr;
    int MR, NR, rows_seg;
    int64_t nseg, len, rows, tiles, otiles, ob; /* ob: column tiles per weight block */
    int64_t chunk, nchunks;                    /* row tiles per work item, items per block */
    int64_t next;                              /* next work item (atomic) */
} direct_task_t;

/* Work items (column block, chunk of row tiles) taken dynamically, in order: a core the
 * OS lends to another process costs its share of the time, not half of the call, and
 * the threads work on the same weight block at about the same time. */
static void direct_forward_task(void *arg, int tid, int nt) {
    direct_task_t *d = arg;
    const geom_t *t = d->t;
    const int MR = d->MR, NR = d->NR;
    const int64_t og = t->og, items = (d->otiles + d->ob - 1) / d->ob * d->nchunks;
    (void)tid, (void)nt;
    const float **tab = malloc(sizeof(float *) * (size_t)(d->nseg * MR));
    float *zero = calloc((size_t)d->len, sizeof(float));
    float *scratch = d->rows_seg ? malloc(sizeof(float) * (size_t)(d->nseg * MR * d->len)) : NULL;
    int64_t *src = malloc(sizeof(int64_t) * (size_t)t->kvol);
    for (int64_t item; (item = __atomic_fetch_add(&d->next, 1, __ATOMIC_RELAXED)) < items;) {
        const int64_t o0 = item / d->nchunks * d->ob;
        const int64_t o1 = o0 + d->ob < d->otiles ? o0 + d->ob : d->otiles;
        const int64_t t0 = item % d->nchunks * d->chunk;
        const int64_t t1 = t0 + d->chunk < d->tiles ? t0 + d->chunk : d->tiles;
        for (int64_t ti = t0; ti < t1; ti++) {
            const int64_t row0 = ti * MR;
            const int mr = d->rows - row0 < MR ? (int)(d->rows - row0) : MR;
            for (int64_t j = 0; j < t->groups; j++) {
                direct_table(t, d->x, j, row0, mr, MR, tab, zero, scratch, src);
                for (int64_t oi = o0; oi < o1; oi++) {
                    const int64_t c0 = j * og + oi * NR;
                    const int nr = og - oi * NR < NR ? (int)(og - oi * NR) : NR;
                    d->ukr(d->nseg, d->len, (const float *const *)tab, d->w + c0, t->o,
                           d->y + row0 * t->o + c0, t->o, mr, nr);
                }
            }
        }
    }
    free(tab);
    free(zero);
    free(scratch);
    free(src);
}

static void direct_forward(const geom_t *t, const float *x, const float *w, float *y) {
    const int64_t rows = t->n * t->pout, og = t->og;
    int MR, NR;
    direct_fn ukr;
    if (og > 32) MR = 6, NR = 64, ukr = direct_ukr_6x4;
    else if (og > 16) MR = 12, NR = 32, ukr = direct_ukr_12x2;
    else MR = 12, NR = 16, ukr = direct_ukr_12x1;
    const int rows_seg = direct_rows(t);
    const int64_t nseg = rows_seg ? t->k[0] * t->k[1] : t->kvol;
    const int64_t len = rows_seg ? t->k[2] * t->c : t->cg;
    const int64_t tiles = (rows + MR - 1) / MR, otiles = (og + NR - 1) / NR;
    int64_t ob = GN_DIRECT_W_BYTES / (nseg * len * NR * (int64_t)sizeof(float));
    if (ob < 1) ob = 1;
    if (ob > otiles) ob = otiles;
    const double flops = 2.0 * (double)rows * (double)t->o * (double)(t->kvol * t->cg);
    int nt = gn_get_num_threads();
    if (flops < 4.0 * GN_PAR_MIN) nt = 1;
    if (nt > tiles) nt = (int)tiles;
    int64_t chunk = tiles / (16 * (int64_t)nt);
    if (chunk < 1) chunk = 1;
    direct_task_t task = {t, x, w, y, ukr, MR, NR, rows_seg, nseg, len, rows, tiles, otiles, ob,
                          chunk, (tiles + chunk - 1) / chunk, 0};
    gn_parallel(nt, direct_forward_task, &task);
}

/* AVX-512, not depthwise (its own loops), and one column tile's weights small enough to
 * stay in L2 (the direct kernel does not block the depth; im2col + GEMM does). */
static int use_direct_forward(const geom_t *t) {
    const int64_t nr = t->og > 32 ? 64 : t->og > 16 ? 32 : 16;
    return gn_current_isa() == GN_ISA_AVX512 && !is_depthwise(t) && t->og >= 1 &&
           t->cg >= 1 && t->kvol * t->cg * nr * (int64_t)sizeof(float) <= GN_DIRECT_MAX_W;
}
#else
static void direct_forward(const geom_t *t, const float *x, const float *w, float *y) {
    (void)t, (void)x, (void)w, (void)y;
}
static int use_direct_forward(const geom_t *t) { (void)t; return 0; }
#endif

/* ---- entry points -------------------------------------------------------------------- */

/* Thread me of nth: its images, sp.block at a time, im2col into its own slice of the
 * workspace and one GEMM per group (each team member single-threaded; one team lets
 * the GEMM take every thread). */
static void forward_team(void *arg, int me, int nth) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const split_t sp = ct->sp;
    const int64_t kc = t->kvol * t->cg;
    const int inner = nth > 1 ? 1 : gn_get_num_threads();
    float *col = ct->work + me * sp.block * col_per_image(t);
    for (int64_t n0 = t->n * me / nth, n1 = t->n * (me + 1) / nth; n0 < n1; n0 += sp.block) {
        const int64_t cnt = n1 - n0 < sp.block ? n1 - n0 : sp.block;
        for (int64_t j = 0; j < t->groups; j++) {
            gn_conv_im2col(t, ct->x, n0, cnt, j, col, inner);
            gn_sgemm(0, 0, cnt * t->pout, t->og, kc, 1.0f, col, kc, ct->w + j * t->og, t->o,
                     0.0f, ct->y + n0 * t->pout * t->o + j * t->og, t->o);
        }
    }
}

void gn_conv_forward(const int64_t *g, const float *x, const float *w, float *y, float *work,
                     int64_t work_len) {
    geom_t t = unpack(g);
    const int64_t rows = t.n * t.pout;
    if (rows <= 0 || t.o <= 0) return;
    if (use_direct_forward(&t)) { /* pointwise too: beats the GEMM's packing at small O */
        direct_forward(&t, x, w, y);
        return;
    }
    if (is_pointwise(&t)) {
        for (int64_t j = 0; j < t.groups; j++)
            gn_sgemm(0, 0, rows, t.og, t.cg, 1.0f, x + j * t.cg, t.c, w + j * t.og, t.o, 0.0f,
                     y + j * t.og, t.o);
        return;
    }
    if (is_depthwise(&t)) {
        depthwise_forward(&t, x, w, y);
        return;
    }
    const split_t sp = split_for(&t, 0, work_len, gn_get_num_threads());
    if (sp.teams < 1) {
        gn_conv_forward_ref(g, x, w, y);
        return;
    }
    conv_task_t task = {.t = &t, .x = x, .w = w, .y = y, .work = work, .sp = sp};
    gn_parallel(sp.teams, forward_team, &task);
}

/* ---- reference kernels: the plain loops every path above is tested against ---------- */

void gn_conv_forward_ref(const int64_t *g, const float *x, const float *w, float *y) {
    geom_t t = unpack(g);
    for (int64_t n = 0; n < t.n; n++)
        for (int64_t q = 0; q < t.pout; q++)
            for (int64_t o = 0; o < t.o; o++) {
                const int64_t j = o / t.og;
                double acc = 0.0;
                for (int64_t kk = 0; kk < t.kvol; kk++) {
                    const int64_t src = tap_source(&t, q, kk);
                    if (src < 0) continue;
                    for (int64_t c = 0; c < t.cg; c++)
                        acc += (double)x[(n * t.pin + src) * t.c + j * t.cg + c] *
                               w[(kk * t.cg + c) * t.o + o];
                }
                y[(n * t.pout + q) * t.o + o] = (float)acc;
            }
}
