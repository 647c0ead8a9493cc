/* Internals shared by the convolution files (conv.c: forward, conv_backward.c: the two
 * gradients): the unpacked geometry, window walking, the im2col work split. */
#ifndef GRAPHNET_CONV_INTERNAL_H
#define GRAPHNET_CONV_INTERNAL_H
#include "kernel_util.h"
#include "graphnet.h"
#include "threadpool.h"

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

#endif
