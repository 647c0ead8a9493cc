/* Max and average pooling over 1 to 3 spatial dims, channels-last, with the geometry
 * of convolution (enum gn_conv_geom; O == C, groups unused).
 *
 * Padding is never read: max ignores it, average divides by the number of in-bounds
 * taps (TensorFlow's 'same' semantics). Max-pool backward recomputes each window's
 * first maximum from x rather than storing argmax indices.
 */
#include "kernel_util.h"
#include <stdlib.h>
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

typedef struct {
    int64_t n, c, pin, pout, kvol;
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
} pgeom_t;

static pgeom_t unpack(const int64_t *g) {
    pgeom_t t;
    t.n = g[GN_CG_N];
    t.c = g[GN_CG_C];
    t.pin = t.pout = t.kvol = 1;
    for (int i = 0; i < 3; i++) {
        t.in[i] = g[GN_CG_IN + i];
        t.out[i] = g[GN_CG_OUT + i];
        t.k[i] = g[GN_CG_K + i];
        t.s[i] = g[GN_CG_STRIDE + i];
        t.d[i] = g[GN_CG_DIL + i] > 0 ? g[GN_CG_DIL + i] : 1;
        t.p[i] = g[GN_CG_PAD + i];
        t.pin *= t.in[i];
        t.pout *= t.out[i];
        t.kvol *= t.k[i];
    }
    return t;
}

/* Input positions read by output position q, tap by tap (-1 in the padding); returns
 * how many are in bounds. The divisions are done once per position. */
static int64_t window_taps(const pgeom_t *t, int64_t q, int64_t *src) {
    const int64_t ow = q % t->out[2], oh = q / t->out[2] % t->out[1];
    const int64_t od = q / (t->out[2] * t->out[1]);
    const int64_t d0 = od * t->s[0] - t->p[0], h0 = oh * t->s[1] - t->p[1],
                  w0 = ow * t->s[2] - t->p[2];
    int64_t k = 0, inside = 0;
    for (int64_t kd = 0; kd < t->k[0]; kd++) {
        const int64_t id = d0 + kd * t->d[0];
        const int okd = id >= 0 && id < t->in[0];
        for (int64_t kh = 0; kh < t->k[1]; kh++) {
            const int64_t ih = h0 + kh * t->d[1];
            const int okh = okd && ih >= 0 && ih < t->in[1];
            const int64_t row = (id * t->in[1] + ih) * t->in[2];
            for (int64_t kw = 0; kw < t->k[2]; kw++) {
                const int64_t iw = w0 + kw * t->d[2];
                const int ok = okh && iw >= 0 && iw < t->in[2];
                src[k++] = ok ? row + iw : -1;
                inside += ok;
            }
        }
    }
    return inside;
}

typedef struct {
    pgeom_t t;
    int mode, tiled;
    const float *x, *dy;
    float *y, *dx;
} pool_task_t;

/* Output rows [r0, r1) (image, position) of the forward pass. */
static void pool_forward_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const pool_task_t *pt = arg;
    const pgeom_t t = pt->t;
    const int mode = pt->mode;
    const int64_t C = t.c;
    const float *x = pt->x;
    float *y = pt->y;
    (void)tid;
    {
        int64_t *src = malloc(sizeof(int64_t) * (size_t)t.kvol);
        for (int64_t r = r0; r < r1; r++) {
            const float *xn = x + r / t.pout * t.pin * C;
            float *yr = y + r * C;
            const int64_t count = window_taps(&t, r % t.pout, src);
            int first = 1;
            for (int64_t kk = 0; kk < t.kvol; kk++) {
                if (src[kk] < 0) continue;
                const float *xv = xn + src[kk] * C;
                if (first) {
                    memcpy(yr, xv, sizeof(float) * (size_t)C);
                    first = 0;
                } else if (mode == GN_POOL_MAX) {
                    for (int64_t c = 0; c < C; c++) yr[c] = xv[c] > yr[c] ? xv[c] : yr[c];
                } else {
                    for (int64_t c = 0; c < C; c++) yr[c] += xv[c];
                }
            }
            if (count == 0) {
                memset(yr, 0, sizeof(float) * (size_t)C);
            } else if (mode == GN_POOL_AVG) {
                const float inv = 1.0f / (float)count;
                for (int64_t c = 0; c < C; c++) yr[c] *= inv;
            }
        }
        free(src);
    }
}

void gn_pool_forward(int mode, const int64_t *g, const float *x, float *y) {
    const pgeom_t t = unpack(g);
    const int64_t rows = t.n * t.pout, C = t.c;
    if (rows <= 0 || C <= 0) return;
    const int nt = rows * C * t.kvol < GN_PAR_MIN ? 1 : gn_get_num_threads();
    pool_task_t task = {t, mode, 0, x, NULL, y, NULL};
    gn_parallel_for(nt, rows, pool_forward_rows, &task);
}

static void pool_backward_images(void *arg, int64_t n0, int64_t n1, int tid);

void gn_pool_backward(int mode, const int64_t *g, const float *x, const float *dy, float *dx) {
    const pgeom_t t = unpack(g);
    const int64_t C = t.c;
    if (t.n * t.pin * C <= 0) return;
    /* windows that tile the input exactly write each dx element once: no zeroing pass */
    int tiled = t.pout > 0;
    for (int i = 0; i < 3; i++)
        tiled &= t.s[i] == t.k[i] && t.d[i] == 1 && t.p[i] == 0 && t.out[i] * t.s[i] == t.in[i];
    if (!tiled) memset(dx, 0, sizeof(float) * (size_t)(t.n * t.pin * C));
    if (t.pout <= 0) return;
    const int nt = t.n < 2 || t.n * t.pout * C * t.kvol < GN_PAR_MIN ? 1 : gn_get_num_threads();
    pool_task_t task = {t, mode, tiled, x, dy, NULL, dx};
    gn_parallel_for(nt, t.n, pool_backward_images, &task);
}

/* Images [n0, n1) of the backward pass: dx of each image from its windows. */
static void pool_backward_images(void *arg, int64_t n0, int64_t n1, int tid) {
    const pool_task_t *pt = arg;
    const pgeom_t t = pt->t;
    const int mode = pt->mode, tiled = pt->tiled;
    const int64_t C = t.c;
    const float *x = pt->x, *dy = pt->dy;
    float *dx = pt->dx;
    (void)tid;
    {
        /* per thread: window taps, and for max the best value and the gradient left to
         * route, per channel */
        int64_t *src = malloc(sizeof(int64_t) * (size_t)t.kvol);
        float *best = mode == GN_POOL_MAX ? malloc(sizeof(float) * (size_t)C) : NULL;
        float *rem = mode == GN_POOL_MAX ? malloc(sizeof(float) * (size_t)C) : NULL;
        for (int64_t n = n0; n < n1; n++) {
            const float *xn = x + n * t.pin * C;
            float *dxn = dx + n * t.pin * C;
            for (int64_t q = 0; q < t.pout; q++) {
                const float *gr = dy + (n * t.pout + q) * C;
                const int64_t count = window_taps(&t, q, src);
                if (!count) continue;
                if (mode == GN_POOL_MAX) {
                    /* pass 1: the max per channel; pass 2: dy to the first tap equal to it
                     * (rem holds what is still to route), float selects that vectorize */
                    int first = 1;
                    for (int64_t kk = 0; kk < t.kvol; kk++) {
                        if (src[kk] < 0) continue;
                        const float *xv = xn + src[kk] * C;
                        if (first) {
                            memcpy(best, xv, sizeof(float) * (size_t)C);
                            first = 0;
                        } else {
                            for (int64_t c = 0; c < C; c++)
                                best[c] = xv[c] > best[c] ? xv[c] : best[c];
                        }
                    }
                    memcpy(rem, gr, sizeof(float) * (size_t)C);
                    for (int64_t kk = 0; kk < t.kvol; kk++) {
                        if (src[kk] < 0) continue;
                        const float *xv = xn + src[kk] * C;
                        float *d = dxn + src[kk] * C;
                        if (tiled) {
                            for (int64_t c = 0; c < C; c++) {
                                const int hit = xv[c] == best[c];
                                d[c] = hit ? rem[c] : 0.0f;
                                rem[c] = hit ? 0.0f : rem[c];
                            }
                        } else {
                            for (int64_t c = 0; c < C; c++) {
                                const int hit = xv[c] == best[c];
                                d[c] += hit ? rem[c] : 0.0f;
                                rem[c] = hit ? 0.0f : rem[c];
                            }
                        }
                    }
                } else {
                    const float inv = 1.0f / (float)count;
                    for (int64_t kk = 0; kk < t.kvol; kk++) {
                        if (src[kk] < 0) continue;
                        float *d = dxn + src[kk] * C;
                        if (tiled) {
                            for (int64_t c = 0; c < C; c++) d[c] = gr[c] * inv;
                        } else {
                            for (int64_t c = 0; c < C; c++) d[c] += gr[c] * inv;
                        }
                    }
                }
            }
        }
        free(src);
        free(best);
        free(rem);
    }
}
