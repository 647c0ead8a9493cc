/* Convolution forward over 1 to 3 spatial dims, channels-last (N, D, H, W, C), with groups,
 * strides, dilations and explicit leading pads (geometry: enum gn_conv_geom).
 *
 * Fast paths, each tested against the plain loops at the end of this file:
 *   - Winograd F(2x2, 3x3) (AVX-512, conv_winograd.c) for 3x3 stride-1 kernels;
 *   - direct (AVX-512, conv_direct.c): an implicit GEMM over the input in place;
 *   - pointwise (1x1x1 kernel, stride 1, no pad): the input already is the im2col
 *     matrix, so each group is one GEMM;
 *   - depthwise (one input channel per group): direct loops over channels;
 *   - anything else: im2col of a block of images into the workspace, then one GEMM
 *     per group (col2im after the GEMM for the input gradient).
 * gn_conv_forward_fused applies a bias + residual + activation epilogue to each tile or
 * block of y right after it is computed (csrc/epilogue.h).
 * Weights are (KD, KH, KW, C / groups, O): row (kd, kh, kw, c) of a (Kvol * Cg, O) matrix.
 */
#include "conv_internal.h"
#include <stdlib.h>
#include <string.h>

int64_t gn_conv_work_len(int kind, const int64_t *g) {
    geom_t t = unpack(g);
    const int threads = gn_get_num_threads();
    const int64_t wino = kind == 0 && t.n > 0 ? gn_conv_winograd_work_len(&t, threads) : 0;
    if (t.n <= 0 || t.pout <= 0 || is_pointwise(&t) || is_depthwise(&t)) return wino;
    const int64_t per = col_per_image(&t);
    const int teams = threads < t.n ? threads : (int)t.n;
    const int64_t share = (t.n + teams - 1) / teams;
    int64_t nb = GN_CONV_BLOCK_FLOATS / (per > 0 ? per : 1);
    if (nb < 1) nb = 1;
    if (nb > share) nb = share;
    int64_t len = teams * nb * per + (kind == 2 ? (teams - 1) * filter_size(&t) : 0);
    if (kind == 1 && gn_conv_flip_work_len(&t) > len) len = gn_conv_flip_work_len(&t);
    return len > wino ? len : wino;
}

static void im2col_rows(void *arg, int64_t r0, int64_t r1, int tid);

void gn_conv_im2col(const geom_t *t, const float *x, int64_t n0, int64_t nb, int64_t j,
                   float *col, int threads) {
    const int64_t rows = nb * t->pout, kc = t->kvol * t->cg;
    const int nt = rows * kc < GN_PAR_MIN_CONV ? 1 : threads;
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
        if (!src) {
            gn_note_no_memory();
            return;
        }
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


/* ---- depthwise direct loops (cg == 1: output channel o reads input channel o / m) ----
 * Line by line (image, D, H) of y: the window's rows in bounds found once per line (with
 * m > 1 widened to O channels, conv_internal.h); the positions whose taps along W are all
 * in bounds as one run, the few others one by one; each channel vector of an output
 * summed in registers (dw_gather). Compiled per ISA (GN_MULTI). */

/* Output lines [l0, l1). */
GN_INLINE void depthwise_forward_rows(void *arg, int64_t l0, int64_t l1, int tid) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const int64_t m = t->og, C = t->c, O = t->o, OW = t->out[2], K = t->k[2];
    const int64_t sw = t->s[2], dw = t->d[2], pw = t->p[2];
    const float **xr = malloc(sizeof(float *) * (size_t)(2 * t->k[0] * t->k[1])); /* rows */
    const float **wr = xr + t->k[0] * t->k[1];
    int64_t *xo = malloc(sizeof(int64_t) * (size_t)(2 * K)), *wo = xo + K;
    if (!xr || !xo) {
        gn_note_no_memory();
        free(xr);
        free(xo);
        return;
    }
    int64_t lo, hi, lo_k, hi_k; /* the run: all taps in bounds */
    tap_range(-pw, sw, t->in[2], OW, &lo, &hi_k);
    tap_range((K - 1) * dw - pw, sw, t->in[2], OW, &lo_k, &hi);
    if (hi < lo) hi = lo;
    dw_rows_t rows = dw_rows_of(ct->widen, tid);
    for (int64_t l = l0; l < l1; l++) {
        const int64_t n = l / (t->out[0] * t->out[1]), od = l / t->out[1] % t->out[0];
        const int64_t oh = l % t->out[1];
        float *yl = ct->y + l * OW * O;
        int64_t nr = 0;
        for (int64_t kd = 0; kd < t->k[0]; kd++) {
            const int64_t id = od * t->s[0] - t->p[0] + kd * t->d[0];
            for (int64_t kh = 0; kh < t->k[1] && id >= 0 && id < t->in[0]; kh++) {
                const int64_t ih = oh * t->s[1] - t->p[1] + kh * t->d[1];
                if (ih < 0 || ih >= t->in[1]) continue;
                const int64_t row = (n * t->in[0] + id) * t->in[1] + ih;
                xr[nr] = ct->x + row * t->in[2] * C;
                if (m > 1) xr[nr] = dw_widened_row(&rows, row, xr[nr], l);
                wr[nr++] = ct->w + (kd * t->k[1] + kh) * K * O;
            }
        }
        /* the input row the next line reads first, fetched ahead piece by piece */
        const int64_t ihn = (oh + 1) * t->s[1] - t->p[1] + (t->k[1] - 1) * t->d[1];
        const int64_t idn = od * t->s[0] - t->p[0] + (t->k[0] - 1) * t->d[0];
        const int ok = oh + 1 < t->out[1] && ihn >= 0 && ihn < t->in[1] && idn >= 0 &&
                       idn < t->in[0];
        const float *next =
            ok ? ct->x + ((n * t->in[0] + idn) * t->in[1] + ihn) * t->in[2] * C : NULL;
        /* the rows' channel stride is O: C, or the widened rows' C * m */
        if (lo < hi) {
            for (int64_t kw = 0; kw < K; kw++) {
                xo[kw] = (lo * sw - pw + kw * dw) * O;
                wo[kw] = kw * O;
            }
            for (int64_t j0 = lo; j0 < hi; j0 += GN_DW_RUN) {
                const int64_t cnt = hi - j0 < GN_DW_RUN ? hi - j0 : GN_DW_RUN;
                if (next) dw_prefetch(next + (j0 - lo) * sw * C, cnt * sw * C);
                dw_gather(cnt, O, yl + j0 * O, O, nr, xr, sw * O, wr, K, xo, wo);
                for (int64_t r = 0; r < nr; r++) xr[r] += cnt * sw * O;
            }
            for (int64_t r = 0; r < nr; r++) xr[r] -= (hi - lo) * sw * O;
        }
        for (int64_t ow = 0; ow < OW; ow++) {
            if (ow == lo && lo < hi) ow = hi;
            if (ow >= OW) break;
            float *yp = yl + ow * O;
            int64_t nk = 0;
            for (int64_t kw = 0; kw < K; kw++) {
                const int64_t iw = ow * sw - pw + kw * dw;
                if (iw < 0 || iw >= t->in[2]) continue;
                xo[nk] = iw * O;
                wo[nk++] = kw * O;
            }
            dw_gather(1, O, yp, O, nr, xr, 0, wr, nk, xo, wo);
        }
    }
    free(xr);
    free(xo);
}
GN_MULTI(depthwise_forward_isa, (void *arg, int64_t l0, int64_t l1, int tid),
         depthwise_forward_rows(arg, l0, l1, tid))

/* Returns 0, doing nothing, when the widened rows cannot be allocated. */
static int depthwise_forward(const geom_t *t, const float *x, const float *w, float *y) {
    const int64_t lines = t->n * t->out[0] * t->out[1];
    const int nt = lines * t->out[2] * t->o * t->kvol < GN_PAR_MIN_CONV ? 1 : gn_get_num_threads();
    dw_widen_t widen;
    if (!dw_widen_alloc(&widen, t->og, t->k[0] * t->k[1], t->in[2] * t->o, nt)) return 0;
    conv_task_t task = {.t = t, .x = x, .w = w, .y = y, .widen = &widen};
    gn_parallel_for(nt, lines, GN_PICK(depthwise_forward_isa), &task);
    dw_widen_free(&widen);
    return 1;
}

/* ---- entry points -------------------------------------------------------------------- */

/* Thread me of nth: its images, sp.block at a time, im2col into its own slice of the
 * workspace and one GEMM per group whose threads apply the epilogue to each block of y
 * they finish (each team member single-threaded; one team lets the GEMM take every
 * thread). */
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
            const gn_epilogue e = gn_epilogue_offset(ct->e, n0 * t->pout, j * t->og);
            gn_conv_im2col(t, ct->x, n0, cnt, j, col, inner);
            gn_sgemm_epilogue(0, 0, cnt * t->pout, t->og, kc, col, kc, ct->w + j * t->og, t->o,
                              ct->y + n0 * t->pout * t->o + j * t->og, t->o, &e, NULL);
        }
    }
}

static void forward(const int64_t *g, const float *x, const float *w, float *y, float *work,
                    int64_t work_len, const gn_epilogue *e) {
    geom_t t = unpack(g);
    const int64_t rows = t.n * t.pout;
    if (rows <= 0 || t.o <= 0) return;
    if (gn_conv_winograd_forward(&t, NULL, x, w, y, e, work, work_len)) return;
    /* pointwise too: the direct path beats the GEMM's packing at small O */
    if (gn_conv_direct_forward(&t, NULL, x, w, y, e)) return;
    if (is_pointwise(&t)) {
        for (int64_t j = 0; j < t.groups; j++) {
            const gn_epilogue ej = gn_epilogue_offset(e, 0, j * t.og);
            gn_sgemm_epilogue(0, 0, rows, t.og, t.cg, x + j * t.cg, t.c, w + j * t.og, t.o,
                              y + j * t.og, t.o, &ej, NULL);
        }
        return;
    }
    if (is_depthwise(&t) && depthwise_forward(&t, x, w, y)) {
        gn_epilogue_apply(e, 0, 0, rows, t.o, y, t.o);
        return;
    }
    const split_t sp = split_for(&t, 0, work_len, gn_get_num_threads());
    if (sp.teams < 1) {
        gn_conv_forward_ref(g, x, w, y);
        gn_epilogue_apply(e, 0, 0, rows, t.o, y, t.o);
        return;
    }
    conv_task_t task = {.t = &t, .x = x, .w = w, .y = y, .work = work, .sp = sp, .e = e};
    gn_parallel(sp.teams, forward_team, &task);
}

void gn_conv_forward(const int64_t *g, const float *x, const float *w, float *y, float *work,
                     int64_t work_len) {
    const gn_epilogue none = {NULL, NULL, 0, GN_U_COPY, 0.0f, 0.0f};
    forward(g, x, w, y, work, work_len, &none);
}

void gn_conv_forward_fused(const int64_t *g, const float *x, const float *w,
                           const float *bias, int act, float alpha, float beta,
                           const float *residual, float *y, float *work, int64_t work_len) {
    const gn_epilogue e = {bias, residual, g[GN_CG_O], act, alpha, beta};
    forward(g, x, w, y, work, work_len, &e);
}

/* ---- max pooling fused ---------------------------------------------------------------- */

/* Pooled output positions per image, and the pooled geometry's sizes. */
static int64_t pooled_positions(const geom_t *t, const int64_t *win, int64_t *po) {
    int64_t n = 1;
    for (int i = 0; i < 3; i++) n *= po[i] = t->out[i] / win[i];
    return n;
}

/* The geometry of one image of g. */
static void one_image(const int64_t *g, int64_t *g1) {
    memcpy(g1, g, sizeof(int64_t) * GN_CG_LEN);
    g1[GN_CG_N] = 1;
}

int64_t gn_conv_pool_work_len(const int64_t *g) {
    int64_t g1[GN_CG_LEN];
    one_image(g, g1);
    const geom_t t = unpack(g);
    return t.pout * t.o + gn_conv_work_len(0, g1);
}

/* y (pooled, one image) = max over each window of v (the convolution's output). Later taps
 * replace the maximum only where greater, as gn_pool_forward. */
static void max_pool_image(const geom_t *t, const int64_t *win, const float *v, float *y) {
    int64_t po[3];
    const int64_t np = pooled_positions(t, win, po), O = t->o;
    for (int64_t p = 0; p < np; p++) {
        const int64_t pw = p % po[2], ph = p / po[2] % po[1], pd = p / (po[2] * po[1]);
        float *yp = y + p * O;
        int first = 1;
        for (int64_t ed = 0; ed < win[0]; ed++)
            for (int64_t eh = 0; eh < win[1]; eh++)
                for (int64_t ew = 0; ew < win[2]; ew++) {
                    const int64_t q = ((pd * win[0] + ed) * t->out[1] + ph * win[1] + eh) *
                                      t->out[2] + pw * win[2] + ew;
                    const float *vq = v + q * O;
                    for (int64_t o = 0; o < O; o++) yp[o] = first || vq[o] > yp[o] ? vq[o] : yp[o];
                    first = 0;
                }
    }
}

void gn_conv_forward_fused_pool(const int64_t *g, const int64_t *window, const float *x,
                                const float *w, const float *bias, int act, float alpha,
                                float beta, float *y, float *work, int64_t work_len) {
    const geom_t t = unpack(g);
    const gn_epilogue e = {bias, NULL, 0, act, alpha, beta};
    int64_t po[3], g1[GN_CG_LEN];
    const int64_t np = pooled_positions(&t, window, po);
    if (t.n <= 0 || np <= 0 || t.o <= 0) return;
    if (gn_conv_winograd_forward(&t, window, x, w, y, &e, work, work_len)) return;
    if (gn_conv_direct_forward(&t, window, x, w, y, &e)) return;
    /* image by image: the fused convolution into the workspace, then its windows */
    one_image(g, g1);
    const int64_t per = t.pout * t.o;
    float *v = work_len >= per ? work : malloc(sizeof(float) * (size_t)per);
    if (!v) {
        gn_note_no_memory();
        return;
    }
    for (int64_t n = 0; n < t.n; n++) {
        forward(g1, x + n * t.pin * t.c, w, v, v == work ? work + per : NULL,
                v == work ? work_len - per : 0, &e);
        max_pool_image(&t, window, v, y + n * np * t.o);
    }
    if (v != work) free(v);
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
