/* Convolution gradients (layouts as in conv.c): the input gradient as GEMM + col2im (a
 * transposed convolution), the filter gradient as im2col + GEMM with a private dw per
 * extra thread, and direct loops for depthwise convolutions. */
#include "conv_internal.h"
#include <stdlib.h>
#include <string.h>

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
            gn_conv_im2col(t, ct->x, n0, cnt, j, col, inner);
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
