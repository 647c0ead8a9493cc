/* Convolution over 1 to 3 spatial dims, channels-last (N, D, H, W, C), with groups,
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
#include "kernel_util.h"
#include <stdlib.h>
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

/* Geometry unpacked once; spatial arrays are (D, H, W). */
typedef struct {
    int64_t n, c, o, groups, cg, og;
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
    int64_t pin, pout, kvol; /* input / output positions per image, kernel taps */
} geom_t;

static geom_t unpack(const int64_t *g) {
    geom_t t;
    t.n = g[GN_CG_N];
    t.c = g[GN_CG_C];
    t.o = g[GN_CG_O];
    t.groups = g[GN_CG_GROUPS] > 0 ? g[GN_CG_GROUPS] : 1;
    t.cg = t.c / t.groups;
    t.og = t.o / t.groups;
    t.pin = t.pout = t.kvol = 1;
    for (int i = 0; i < 3; i++) {
        t.in[i] = g[GN_CG_IN + i];
        t.out[i] = g[GN_CG_OUT + i];
        t.k[i] = g[GN_CG_K + i];
        t.s[i] = g[GN_CG_STRIDE + i];
        t.d[i] = g[GN_CG_DIL + i];
        t.p[i] = g[GN_CG_PAD + i];
        t.pin *= t.in[i];
        t.pout *= t.out[i];
        t.kvol *= t.k[i];
    }
    return t;
}

static int is_pointwise(const geom_t *t) {
    for (int i = 0; i < 3; i++)
        if (t->k[i] != 1 || t->s[i] != 1 || t->p[i] != 0 || t->in[i] != t->out[i]) return 0;
    return 1;
}

static int is_depthwise(const geom_t *t) { return t->cg == 1 && t->groups == t->c && t->c > 1; }

/* Input position (flat, within one image) read by output position q through tap kk,
 * or -1 where that falls in the padding. */
GN_INLINE int64_t tap_source(const geom_t *t, int64_t q, int64_t kk) {
    const int64_t ow = q % t->out[2], oh = q / t->out[2] % t->out[1];
    const int64_t od = q / (t->out[2] * t->out[1]);
    const int64_t kw = kk % t->k[2], kh = kk / t->k[2] % t->k[1];
    const int64_t kd = kk / (t->k[2] * t->k[1]);
    const int64_t id = od * t->s[0] + kd * t->d[0] - t->p[0];
    const int64_t ih = oh * t->s[1] + kh * t->d[1] - t->p[1];
    const int64_t iw = ow * t->s[2] + kw * t->d[2] - t->p[2];
    if (id < 0 || id >= t->in[0] || ih < 0 || ih >= t->in[1] || iw < 0 || iw >= t->in[2])
        return -1;
    return (id * t->in[1] + ih) * t->in[2] + iw;
}

/* Input positions read by output position q, tap by tap (-1 in the padding), with the
 * divisions done once per position rather than per tap. */
static void window_taps(const geom_t *t, int64_t q, int64_t *src) {
    const int64_t ow = q % t->out[2], oh = q / t->out[2] % t->out[1];
    const int64_t od = q / (t->out[2] * t->out[1]);
    const int64_t d0 = od * t->s[0] - t->p[0], h0 = oh * t->s[1] - t->p[1],
                  w0 = ow * t->s[2] - t->p[2];
    int64_t k = 0;
    for (int64_t kd = 0; kd < t->k[0]; kd++) {
        const int64_t id = d0 + kd * t->d[0];
        const int okd = id >= 0 && id < t->in[0];
        for (int64_t kh = 0; kh < t->k[1]; kh++) {
            const int64_t ih = h0 + kh * t->d[1];
            const int okh = okd && ih >= 0 && ih < t->in[1];
            const int64_t row = (id * t->in[1] + ih) * t->in[2];
            for (int64_t kw = 0; kw < t->k[2]; kw++) {
                const int64_t iw = w0 + kw * t->d[2];
                src[k++] = okh && iw >= 0 && iw < t->in[2] ? row + iw : -1;
            }
        }
    }
}

/* Floats of col matrix per image for one group. */
static int64_t col_per_image(const geom_t *t) { return t->pout * t->kvol * t->cg; }

/* Floats of the filter gradient (a private copy per extra thread). */
static int64_t filter_size(const geom_t *t) { return t->kvol * t->cg * t->o; }

/* im2col block per thread: about 2 MB, so a block stays in cache while its GEMM packs it. */
#define GN_CONV_BLOCK_FLOATS ((int64_t)1 << 19)

/* How the im2col paths share the work: `teams` threads each own a contiguous range of
 * images, im2col `block` images at a time into their own slice of the workspace and run
 * single-threaded GEMMs (no barrier inside); the filter gradient adds a private dw per
 * extra thread, summed at the end. One team lets each GEMM thread itself (batch 1). */
typedef struct {
    int teams;
    int64_t block;
} split_t;

/* What a parallel task of this file needs; each task reads the fields it uses. */
typedef struct {
    const geom_t *t;
    const float *x, *w, *dy;
    float *y, *dx, *dw, *col, *work;
    int64_t n0, j; /* first image and group of an im2col / col2im block */
    split_t sp;
} conv_task_t;

static split_t split_for(const geom_t *t, int kind, int64_t work_len, int threads) {
    const int64_t per = col_per_image(t);
    split_t sp = {0, 0};
    if (per <= 0) return sp;
    for (int teams = threads < t->n ? threads : (int)t->n; teams >= 1; teams--) {
        const int64_t extra = kind == 2 ? (teams - 1) * filter_size(t) : 0;
        const int64_t share = (t->n + teams - 1) / teams;
        int64_t nb = (work_len - extra) / (teams * per);
        if (nb > share) nb = share;
        if (nb >= 1) {
            sp.teams = teams;
            sp.block = nb;
            return sp;
        }
    }
    return sp;
}

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

/* col[r, kk * cg + c] = x[n0 + r / pout, source(r % pout, kk), j * cg + c] (0 in padding). */
static void im2col(const geom_t *t, const float *x, int64_t n0, int64_t nb, int64_t j,
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

static void col2im_images(void *arg, int64_t b0, int64_t b1, int tid);

/* dx[n0 + .., source, j * cg + c] += col[r, kk * cg + c]; images in parallel. */
static void col2im(const geom_t *t, const float *col, int64_t n0, int64_t nb, int64_t j,
                   float *dx, int threads) {
    const int nt = nb < 2 ? 1 : threads;
    conv_task_t task = {.t = t, .col = (float *)col, .dx = dx, .n0 = n0, .j = j};
    gn_parallel_for(nt, nb, col2im_images, &task);
}

/* Images [b0, b1) of the block. */
static void col2im_images(void *arg, int64_t b0, int64_t b1, int tid) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const float *col = ct->col;
    float *dx = ct->dx;
    const int64_t n0 = ct->n0, j = ct->j, kc = t->kvol * t->cg;
    (void)tid;
    {
        int64_t *src = malloc(sizeof(int64_t) * (size_t)t->kvol);
        for (int64_t b = b0; b < b1; b++) {
            float *dxn = dx + (n0 + b) * t->pin * t->c + j * t->cg;
            for (int64_t q = 0; q < t->pout; q++) {
                const float *row = col + (b * t->pout + q) * kc;
                window_taps(t, q, src);
                for (int64_t kk = 0; kk < t->kvol; kk++) {
                    if (src[kk] < 0) continue;
                    float *d = dxn + src[kk] * t->c;
                    const float *v = row + kk * t->cg;
                    for (int64_t c = 0; c < t->cg; c++) d[c] += v[c];
                }
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

/* Images [n0, n1) of dx (zeroed by the caller). */
static void depthwise_backward_input_images(void *arg, int64_t n0, int64_t n1, int tid) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const float *dy = ct->dy, *w = ct->w;
    float *dx = ct->dx;
    const int64_t m = t->og, C = t->c, O = t->o;
    (void)tid;
    {
        int64_t *src = malloc(sizeof(int64_t) * (size_t)t->kvol);
        for (int64_t n = n0; n < n1; n++) {
            for (int64_t q = 0; q < t->pout; q++) {
                const float *g = dy + (n * t->pout + q) * O;
                window_taps(t, q, src);
                for (int64_t kk = 0; kk < t->kvol; kk++) {
                    if (src[kk] < 0) continue;
                    float *d = dx + (n * t->pin + src[kk]) * C;
                    const float *wk = w + kk * O;
                    if (m == 1) {
                        for (int64_t c = 0; c < C; c++) d[c] += g[c] * wk[c];
                    } else {
                        for (int64_t c = 0; c < C; c++) {
                            float acc = 0.0f;
                            for (int64_t i = 0; i < m; i++) acc += g[c * m + i] * wk[c * m + i];
                            d[c] += acc;
                        }
                    }
                }
            }
        }
        free(src);
    }
}

static void depthwise_backward_input(const geom_t *t, const float *dy, const float *w,
                                     float *dx) {
    memset(dx, 0, sizeof(float) * (size_t)(t->n * t->pin * t->c));
    const int nt = t->n < 2 ? 1 : gn_get_num_threads();
    conv_task_t task = {.t = t, .dy = dy, .w = w, .dx = dx};
    gn_parallel_for(nt, t->n, depthwise_backward_input_images, &task);
}

/* Taps [k0, k1) of dw (zeroed by the caller): each thread owns whole rows of dw, so no
 * reduction is needed. */
static void depthwise_backward_filter_taps(void *arg, int64_t k0, int64_t k1, int tid) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const float *x = ct->x, *dy = ct->dy;
    float *dw = ct->dw;
    const int64_t m = t->og, C = t->c, O = t->o;
    (void)tid;
    {
        int64_t *src = malloc(sizeof(int64_t) * (size_t)t->kvol);
        for (int64_t n = 0; n < t->n && k0 < k1; n++) {
            for (int64_t q = 0; q < t->pout; q++) {
                const float *g = dy + (n * t->pout + q) * O;
                window_taps(t, q, src);
                for (int64_t kk = k0; kk < k1; kk++) {
                    if (src[kk] < 0) continue;
                    const float *xv = x + (n * t->pin + src[kk]) * C;
                    float *dk = dw + kk * O;
                    if (m == 1) {
                        for (int64_t c = 0; c < C; c++) dk[c] += xv[c] * g[c];
                    } else {
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t i = 0; i < m; i++) dk[c * m + i] += xv[c] * g[c * m + i];
                    }
                }
            }
        }
        free(src);
    }
}

static void depthwise_backward_filter(const geom_t *t, const float *x, const float *dy,
                                      float *dw) {
    memset(dw, 0, sizeof(float) * (size_t)(t->kvol * t->o));
    const int nt = t->kvol < 2 ? 1 : gn_get_num_threads();
    conv_task_t task = {.t = t, .x = x, .dy = dy, .dw = dw};
    gn_parallel_for(nt, t->kvol, depthwise_backward_filter_taps, &task);
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
            im2col(t, ct->x, n0, cnt, j, col, inner);
            gn_sgemm(0, 0, cnt * t->pout, t->og, kc, 1.0f, col, kc, ct->w + j * t->og, t->o,
                     0.0f, ct->y + n0 * t->pout * t->o + j * t->og, t->o);
        }
    }
}

static void backward_input_team(void *arg, int me, int nth) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const split_t sp = ct->sp;
    const int64_t kc = t->kvol * t->cg;
    const int inner = nth > 1 ? 1 : gn_get_num_threads();
    float *col = ct->work + me * sp.block * col_per_image(t);
    for (int64_t n0 = t->n * me / nth, n1 = t->n * (me + 1) / nth; n0 < n1; n0 += sp.block) {
        const int64_t cnt = n1 - n0 < sp.block ? n1 - n0 : sp.block;
        for (int64_t j = 0; j < t->groups; j++) {
            /* dcol (rows x kc) = dy_j (rows x og) @ w_j^T (og x kc), then scatter */
            gn_sgemm(0, 1, cnt * t->pout, kc, t->og, 1.0f, ct->dy + n0 * t->pout * t->o + j * t->og,
                     t->o, ct->w + j * t->og, t->o, 0.0f, col, kc);
            col2im(t, col, n0, cnt, j, ct->dx, inner);
        }
    }
}

/* Thread me's images into its own dw (thread 0: dw itself, the others a partial after
 * the col slices), then, after a barrier, a slice of dw summed over the partials. */
static void backward_filter_team(void *arg, int me, int nth) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const split_t sp = ct->sp;
    const int64_t kc = t->kvol * t->cg, wsize = kc * t->o, per = col_per_image(t);
    const int inner = nth > 1 ? 1 : gn_get_num_threads();
    float *partials = ct->work + sp.teams * sp.block * per, *dw = ct->dw;
    float *col = ct->work + me * sp.block * per;
    float *mine = me == 0 ? dw : partials + (me - 1) * wsize;
    const int64_t lo = t->n * me / nth, hi = t->n * (me + 1) / nth;
    if (lo == hi) memset(mine, 0, sizeof(float) * (size_t)wsize);
    for (int64_t n0 = lo; n0 < hi; n0 += sp.block) {
        const int64_t cnt = hi - n0 < sp.block ? hi - n0 : sp.block;
        const float beta = n0 == lo ? 0.0f : 1.0f;
        for (int64_t j = 0; j < t->groups; j++) {
            im2col(t, ct->x, n0, cnt, j, col, inner);
            /* dw_j (kc x og) += col^T (kc x rows) @ dy_j (rows x og) */
            gn_sgemm(1, 0, kc, t->og, cnt * t->pout, 1.0f, col, kc,
                     ct->dy + n0 * t->pout * t->o + j * t->og, t->o, beta, mine + j * t->og, t->o);
        }
    }
    gn_barrier(nth);
    for (int64_t i = wsize * me / nth, end = wsize * (me + 1) / nth; i < end; i++) {
        float acc = dw[i];
        for (int k = 1; k < nth; k++) acc += partials[(k - 1) * wsize + i];
        dw[i] = acc;
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

void gn_conv_backward_input(const int64_t *g, const float *dy, const float *w, float *dx,
                            float *work, int64_t work_len) {
    geom_t t = unpack(g);
    const int64_t size = t.n * t.pin * t.c;
    if (size <= 0) return;
    if (t.pout <= 0 || t.o <= 0) {
        memset(dx, 0, sizeof(float) * (size_t)size);
        return;
    }
    if (is_pointwise(&t)) {
        for (int64_t j = 0; j < t.groups; j++)
            gn_sgemm(0, 1, t.n * t.pout, t.cg, t.og, 1.0f, dy + j * t.og, t.o, w + j * t.og,
                     t.o, 0.0f, dx + j * t.cg, t.c);
        return;
    }
    if (is_depthwise(&t)) {
        depthwise_backward_input(&t, dy, w, dx);
        return;
    }
    const split_t sp = split_for(&t, 1, work_len, gn_get_num_threads());
    if (sp.teams < 1) {
        gn_conv_backward_input_ref(g, dy, w, dx);
        return;
    }
    memset(dx, 0, sizeof(float) * (size_t)size);
    conv_task_t task = {.t = &t, .dy = dy, .w = w, .dx = dx, .work = work, .sp = sp};
    gn_parallel(sp.teams, backward_input_team, &task);
}

void gn_conv_backward_filter(const int64_t *g, const float *x, const float *dy, float *dw,
                             float *work, int64_t work_len) {
    geom_t t = unpack(g);
    const int64_t kc = t.kvol * t.cg, wsize = kc * t.o, rows = t.n * t.pout;
    if (wsize <= 0) return;
    if (rows <= 0) {
        memset(dw, 0, sizeof(float) * (size_t)wsize);
        return;
    }
    if (is_pointwise(&t)) {
        for (int64_t j = 0; j < t.groups; j++)
            gn_sgemm(1, 0, t.cg, t.og, rows, 1.0f, x + j * t.cg, t.c, dy + j * t.og, t.o, 0.0f,
                     dw + j * t.og, t.o);
        return;
    }
    if (is_depthwise(&t)) {
        depthwise_backward_filter(&t, x, dy, dw);
        return;
    }
    const split_t sp = split_for(&t, 2, work_len, gn_get_num_threads());
    if (sp.teams < 1) {
        gn_conv_backward_filter_ref(g, x, dy, dw);
        return;
    }
    conv_task_t task = {.t = &t, .x = x, .dy = dy, .dw = dw, .work = work, .sp = sp};
    gn_parallel(sp.teams, backward_filter_team, &task);
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

void gn_conv_backward_input_ref(const int64_t *g, const float *dy, const float *w, float *dx) {
    geom_t t = unpack(g);
    for (int64_t i = 0; i < t.n * t.pin * t.c; i++) dx[i] = 0.0f;
    for (int64_t n = 0; n < t.n; n++)
        for (int64_t q = 0; q < t.pout; q++)
            for (int64_t o = 0; o < t.o; o++) {
                const int64_t j = o / t.og;
                const float gv = dy[(n * t.pout + q) * t.o + o];
                for (int64_t kk = 0; kk < t.kvol; kk++) {
                    const int64_t src = tap_source(&t, q, kk);
                    if (src < 0) continue;
                    for (int64_t c = 0; c < t.cg; c++)
                        dx[(n * t.pin + src) * t.c + j * t.cg + c] +=
                            gv * w[(kk * t.cg + c) * t.o + o];
                }
            }
}

void gn_conv_backward_filter_ref(const int64_t *g, const float *x, const float *dy, float *dw) {
    geom_t t = unpack(g);
    for (int64_t kk = 0; kk < t.kvol; kk++)
        for (int64_t c = 0; c < t.cg; c++)
            for (int64_t o = 0; o < t.o; o++) {
                const int64_t j = o / t.og;
                double acc = 0.0;
                for (int64_t n = 0; n < t.n; n++)
                    for (int64_t q = 0; q < t.pout; q++) {
                        const int64_t src = tap_source(&t, q, kk);
                        if (src < 0) continue;
                        acc += (double)x[(n * t.pin + src) * t.c + j * t.cg + c] *
                               dy[(n * t.pout + q) * t.o + o];
                    }
                dw[(kk * t.cg + c) * t.o + o] = (float)acc;
            }
}
