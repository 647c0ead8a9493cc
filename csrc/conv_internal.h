/* Internals shared by the convolution files (conv.c: forward, conv_backward.c: the two
 * gradients): the unpacked geometry, window walking, the im2col work split. */
#ifndef GRAPHNET_CONV_INTERNAL_H
#define GRAPHNET_CONV_INTERNAL_H
#include "kernel_util.h"
#include "graphnet.h"
#include "epilogue.h"
#include "threadpool.h"
#include <stdlib.h>
#include <string.h>

/* Geometry unpacked once; spatial arrays are (D, H, W). */
typedef struct {
    int64_t n, c, o, groups, cg, og;
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
    int64_t pin, pout, kvol; /* input / output positions per image, kernel taps */
} geom_t;

static inline geom_t unpack(const int64_t *g) {
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

static inline int is_pointwise(const geom_t *t) {
    for (int i = 0; i < 3; i++)
        if (t->k[i] != 1 || t->s[i] != 1 || t->p[i] != 0 || t->in[i] != t->out[i]) return 0;
    return 1;
}

static inline int is_depthwise(const geom_t *t) { return t->cg == 1 && t->groups == t->c && t->c > 1; }

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
static inline void window_taps(const geom_t *t, int64_t q, int64_t *src) {
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

/* The (kd, kh) row segments of one output position's window, for the direct kernels
 * (groups == 1, no W dilation: a segment is KW taps x C channels, contiguous in x).
 * Segment sg's pointer goes to tab[sg * stride]: into the image xn when the window is
 * inside along W, `zero` when its row is in the padding, else a copy with zeroed taps
 * at scratch + sg * stride * KW * C. (d0, h0, w0) is the window's first input position. */
static inline void window_segments(const geom_t *t, const float *xn, int64_t d0, int64_t h0,
                                   int64_t w0, const float *zero, float *scratch,
                                   const float **tab, int64_t stride) {
    const int64_t C = t->c, len = t->k[2] * C;
    const int inside = w0 >= 0 && w0 + t->k[2] <= t->in[2];
    int64_t sg = 0;
    for (int64_t kd = 0; kd < t->k[0]; kd++) {
        const int64_t id = d0 + kd * t->d[0];
        for (int64_t kh = 0; kh < t->k[1]; kh++, sg++) {
            const int64_t ih = h0 + kh * t->d[1];
            if (id < 0 || id >= t->in[0] || ih < 0 || ih >= t->in[1]) {
                tab[sg * stride] = zero;
                continue;
            }
            const float *row = xn + (id * t->in[1] + ih) * t->in[2] * C;
            if (inside) {
                tab[sg * stride] = row + w0 * C;
                continue;
            }
            float *dst = scratch + sg * stride * len;
            for (int64_t kw = 0; kw < t->k[2]; kw++) {
                const int64_t iw = w0 + kw;
                if (iw < 0 || iw >= t->in[2])
                    memset(dst + kw * C, 0, sizeof(float) * (size_t)C);
                else
                    memcpy(dst + kw * C, row + iw * C, sizeof(float) * (size_t)C);
            }
            tab[sg * stride] = dst;
        }
    }
}

/* Floats of col matrix per image for one group. */
static inline int64_t col_per_image(const geom_t *t) { return t->pout * t->kvol * t->cg; }

/* Floats of the filter gradient (a private copy per extra thread). */
static inline int64_t filter_size(const geom_t *t) { return t->kvol * t->cg * t->o; }

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
    const gn_epilogue *e; /* forward: applied to each block of y */
    const struct dw_widen *widen; /* depthwise with a multiplier: the threads' rows */
} conv_task_t;

static inline split_t split_for(const geom_t *t, int kind, int64_t work_len, int threads) {
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

/* col[r, kk * cg + c] = x[n0 + r / pout, source(r % pout, kk), j * cg + c] (0 in padding),
 * for nb images from n0 (conv.c). */
void gn_conv_im2col(const geom_t *t, const float *x, int64_t n0, int64_t nb, int64_t j,
                    float *col, int threads);

/* The direct forward with epilogue e (conv_direct.c), then, with win (D, H, W), max
 * pooling over non-overlapping windows of the output (y holds the pooled output; no
 * residual); returns 0, doing nothing, where it does not apply (no AVX-512, depthwise,
 * weights too large, windows that do not fit a tile). */
int gn_conv_direct_forward(const geom_t *t, const int64_t *win, const float *x,
                           const float *w, float *y, const gn_epilogue *e);

/* A register tile's epilogue (conv_direct.c): pointers at the tile's first column (bias)
 * and element (res, leading dimension that of y). */
typedef struct {
    const float *bias, *res;
    int relu;  /* max(0, v) in registers */
    int act;   /* any other activation, row by row after the store (GN_U_COPY: none) */
    float alpha, beta;
    int pool;  /* rows per pooling window (y holds pooled rows), or 0 */
} gn_tile_epi;

/* An AVX-512 register tile (conv_direct.c): mr <= rows outputs x nr columns of y from a
 * depth of nseg x len; A is a table of nseg x rows pointers to len floats (table mode)
 * or len x rows packed floats ap (packed mode); the weights are w (ldw per depth step). */
typedef void (*gn_tile_fn)(int64_t nseg, int64_t len, const float *const *tab,
                           const float *ap, const float *w, int64_t ldw, float *y,
                           int64_t ldy, int mr, int nr, const gn_tile_epi *e);

/* The tile kernel for up to nr (16, 32 or 64) columns; *rows gets its row count. */
gn_tile_fn gn_conv_tile_kernel(int packed, int nr, int *rows);

/* Winograd F(2x2, 3x3) forward for 3x3 stride-1 convolutions (conv_winograd.c), with
 * epilogue e and, with win (1, 2, 2), 2x2 max pooling; work holds the transformed weights
 * and per-thread buffers. Returns 0, doing nothing, where it does not apply. */
int64_t gn_conv_winograd_work_len(const geom_t *t, int threads);
int gn_conv_winograd_forward(const geom_t *t, const int64_t *win, const float *x,
                             const float *w, float *y, const gn_epilogue *e, float *work,
                             int64_t work_len);

/* ---- depthwise loops (conv.c: forward, conv_backward.c: gradients) -------------------
 * Channel vectors of 16 floats as GCC generic vectors: one zmm in the AVX-512 clone of a
 * GN_MULTI function, two ymm in the AVX2 one, four xmm on the baseline. Blocks of up to
 * four positions (or vectors) keep as many independent sums, so a window's taps are not
 * one chain of dependent adds. */
typedef float gn_vf16 __attribute__((vector_size(64)));
#define GN_VF 16

/* acc_p += a[p * as ..] * b[p * bs ..], p < P, for a block of P of 4, 2 or 1. */
#define GN_DW_MAC(P, a, as, b, bs)                                                    \
    do {                                                                              \
        gn_vf16 av_, bv_;                                                             \
        memcpy(&av_, (a), sizeof av_), memcpy(&bv_, (b), sizeof bv_), acc0 += av_ * bv_; \
        if ((P) > 1) {                                                                \
            memcpy(&av_, (a) + (as), sizeof av_), memcpy(&bv_, (b) + (bs), sizeof bv_); \
            acc1 += av_ * bv_;                                                        \
        }                                                                             \
        if ((P) > 2) {                                                                \
            memcpy(&av_, (a) + 2 * (as), sizeof av_);                                 \
            memcpy(&bv_, (b) + 2 * (bs), sizeof bv_);                                 \
            acc2 += av_ * bv_;                                                        \
            memcpy(&av_, (a) + 3 * (as), sizeof av_);                                 \
            memcpy(&bv_, (b) + 3 * (bs), sizeof bv_);                                 \
            acc3 += av_ * bv_;                                                        \
        }                                                                             \
    } while (0)

/* p[0 .. 16) = v (add: += v). */
#define GN_DW_STORE(p, v, add)                                                        \
    do {                                                                              \
        gn_vf16 o_ = (v);                                                             \
        if (add) {                                                                    \
            gn_vf16 q_;                                                               \
            memcpy(&q_, (p), sizeof q_);                                              \
            o_ += q_;                                                                 \
        }                                                                             \
        memcpy((p), &o_, sizeof o_);                                                  \
    } while (0)

/* Positions [j, j + P) of dw_gather, channel vector by channel vector (so a block's
 * inputs are read from L1 while its line is much larger); advances j. */
#define GN_DW_GATHER_BLOCK(P)                                                         \
    for (; j + (P) <= cnt; j += (P))                                                  \
        for (int64_t c0 = 0; c0 < cv; c0 += GN_VF) {                                  \
        gn_vf16 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};                      \
        for (int64_t r = 0; r < nr; r++)                                              \
            for (int64_t k = 0; k < nk; k++)                                          \
                GN_DW_MAC(P, a[r] + j * as + ao[k] + c0, as, b[r] + bo[k] + c0, 0);   \
        GN_DW_STORE(y + j * ys + c0, acc0, 0);                                        \
        if ((P) > 1) GN_DW_STORE(y + (j + 1) * ys + c0, acc1, 0);                     \
        if ((P) > 2) GN_DW_STORE(y + (j + 2) * ys + c0, acc2, 0);                     \
        if ((P) > 2) GN_DW_STORE(y + (j + 3) * ys + c0, acc3, 0);                     \
    }

/* y[j * ys + c] = sum over rows r < nr and taps k < nk of a[r][j * as + ao[k] + c] *
 * b[r][bo[k] + c], for positions j < cnt and channels c < C: a run of depthwise outputs
 * whose windows read the same taps (the window's rows in D, H times its taps along W),
 * shifted by `as` per position. Four positions at a time share each weight vector. */
GN_INLINE void dw_gather(int64_t cnt, int64_t C, float *y, int64_t ys, int64_t nr,
                         const float *const *a, int64_t as, const float *const *b, int64_t nk,
                         const int64_t *ao, const int64_t *bo) {
    const int64_t cv = C - C % GN_VF;
    int64_t j = 0;
    GN_DW_GATHER_BLOCK(4)
    GN_DW_GATHER_BLOCK(1)
    for (j = 0; j < cnt; j++)
        for (int64_t c = cv; c < C; c++) {
            float acc = 0.0f;
            for (int64_t r = 0; r < nr; r++)
                for (int64_t k = 0; k < nk; k++)
                    acc += a[r][j * as + ao[k] + c] * b[r][bo[k] + c];
            y[j * ys + c] = acc;
        }
}

/* Positions per piece of a run: between pieces the next line's new input is prefetched
 * (the hardware prefetchers alone leave the loads of a large tensor waiting on memory). */
#define GN_DW_RUN 8

/* Prefetch n floats from p into the caches. */
GN_INLINE void dw_prefetch(const float *p, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(p + i);
}

/* Channel vectors [c0, c0 + 16 V) of dw_dot_line (V of 4, 2, 1); advances c0. */
#define GN_DW_DOT_BLOCK(V)                                                            \
    for (; c0 + 16 * (V) <= C; c0 += 16 * (V)) {                                      \
        gn_vf16 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};                      \
        for (int64_t j = 0; j < cnt; j++)                                             \
            GN_DW_MAC(V, a + j * as + c0, 16, b + j * bs + c0, 16);                   \
        GN_DW_STORE(acc + c0, acc0, 1);                                               \
        if ((V) > 1) GN_DW_STORE(acc + c0 + 16, acc1, 1);                             \
        if ((V) > 2) GN_DW_STORE(acc + c0 + 32, acc2, 1);                             \
        if ((V) > 2) GN_DW_STORE(acc + c0 + 48, acc3, 1);                             \
    }

/* acc[c] += sum_j a[j * as + c] * b[j * bs + c] for c < C, the sums in registers. */
GN_INLINE void dw_dot_line(int64_t cnt, int64_t C, float *acc, const float *a, int64_t as,
                           const float *b, int64_t bs) {
    int64_t c0 = 0;
    GN_DW_DOT_BLOCK(4)
    GN_DW_DOT_BLOCK(2)
    GN_DW_DOT_BLOCK(1)
    for (; c0 < C; c0++)
        for (int64_t j = 0; j < cnt; j++) acc[c0] += a[j * as + c0] * b[j * bs + c0];
}

/* ---- depthwise multiplier m > 1 ------------------------------------------------------
 * Input rows widened to the O = C * m output channels (channel c * m + i holds x[c]) let
 * the m == 1 loops above serve every multiplier: the forward and the filter gradient read
 * widened rows, the input gradient sums a line over O channels, then each channel's m.
 * Each thread keeps the rows its last lines read (slots tagged by input row), so a line
 * widens only the rows new to it (one per line at stride 1 along H). */
typedef struct dw_widen {
    float *buf;     /* threads x slots x len floats */
    int64_t *tag;   /* per slot: the input row it holds (-1: none), then the line using it */
    int64_t slots, len, m;
} dw_widen_t;

/* One thread's slots of w. */
typedef struct {
    float *buf;
    int64_t *tag, *line;
    int64_t slots, len, m;
} dw_rows_t;

/* Allocates slots rows of len floats for each of nt threads, or none when m == 1;
 * returns 0 when malloc fails (the caller then takes another path). */
static inline int dw_widen_alloc(dw_widen_t *w, int64_t m, int64_t slots, int64_t len, int nt) {
    *w = (dw_widen_t){NULL, NULL, slots, len, m};
    if (m == 1) return 1;
    w->buf = malloc(sizeof(float) * (size_t)(nt * slots * len));
    w->tag = malloc(sizeof(int64_t) * (size_t)(2 * nt * slots));
    if (!w->buf || !w->tag) {
        free(w->buf);
        free(w->tag);
        return 0;
    }
    for (int64_t i = 0; i < 2 * nt * slots; i++) w->tag[i] = -1;
    return 1;
}

static inline void dw_widen_free(dw_widen_t *w) {
    free(w->buf);
    free(w->tag);
}

static inline dw_rows_t dw_rows_of(const dw_widen_t *w, int tid) {
    int64_t *tag = w->tag ? w->tag + 2 * tid * w->slots : NULL;
    return (dw_rows_t){w->buf ? w->buf + tid * w->slots * w->len : NULL, tag,
                       tag ? tag + w->slots : NULL, w->slots, w->len, w->m};
}

/* fn(dst, src, n, m) with m of 2, 3 and 4 as constants, so its loops vectorize. */
#define GN_DW_CONSTANT_M(fn, dst, src, n, m)                                          \
    switch (m) {                                                                      \
    case 2: fn(dst, src, n, 2); break;                                                \
    case 3: fn(dst, src, n, 3); break;                                                \
    case 4: fn(dst, src, n, 4); break;                                                \
    default: fn(dst, src, n, m);                                                      \
    }

/* dst[e * m + i] = src[e] for e < n, i < m. */
GN_INLINE void dw_widen_by(float *dst, const float *src, int64_t n, int64_t m) {
    for (int64_t e = 0; e < n; e++)
        for (int64_t i = 0; i < m; i++) dst[e * m + i] = src[e];
}

GN_INLINE void dw_widen(float *dst, const float *src, int64_t n, int64_t m) {
    GN_DW_CONSTANT_M(dw_widen_by, dst, src, n, m)
}

/* Input row `row` (src: its len / m floats) widened: from a slot that holds it, else into
 * the slot not used by this line with the oldest row. A slot `line` uses is not taken for
 * another row before the line ends (a line reads at most `slots` rows). */
GN_INLINE const float *dw_widened_row(dw_rows_t *r, int64_t row, const float *src,
                                      int64_t line) {
    int64_t pick = -1;
    for (int64_t s = 0; s < r->slots; s++) {
        if (r->tag[s] == row) {
            r->line[s] = line;
            return r->buf + s * r->len;
        }
        if (r->line[s] != line && (pick < 0 || r->tag[s] < r->tag[pick])) pick = s;
    }
    r->tag[pick] = row;
    r->line[pick] = line;
    dw_widen(r->buf + pick * r->len, src, r->len / r->m, r->m);
    return r->buf + pick * r->len;
}

/* dst[e] = sum over i < m of src[e * m + i], for e < n. */
GN_INLINE void dw_narrow_by(float *dst, const float *src, int64_t n, int64_t m) {
    for (int64_t e = 0; e < n; e++) {
        float acc = src[e * m];
        for (int64_t i = 1; i < m; i++) acc += src[e * m + i];
        dst[e] = acc;
    }
}

GN_INLINE void dw_narrow(float *dst, const float *src, int64_t n, int64_t m) {
    GN_DW_CONSTANT_M(dw_narrow_by, dst, src, n, m)
}

/* Positions j in [lo, hi) of an axis of `out` positions whose tap j * s + off falls in
 * [0, in); lo >= hi when none does. */
static inline void tap_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo,
                             int64_t *hi) {
    const int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    const int64_t b = in - 1 - off < 0 ? 0 : (in - 1 - off) / s + 1;
    *lo = a;
    *hi = b < out ? b : out;
}

/* Floats of workspace the stride-1 input gradient wants to run as a forward convolution
 * (the flipped filter, then the forward's own workspace); 0 where that does not apply
 * (conv_backward.c). */
int64_t gn_conv_flip_work_len(const geom_t *t);

/* The filter gradient by the direct AVX-512 kernel (conv_backward_direct.c); returns 0,
 * with nothing written, where it does not apply or the workspace is short. */
int gn_conv_backward_filter_direct(const geom_t *t, const float *x, const float *dy, float *dw,
                                   float *work, int64_t work_len);

#endif
