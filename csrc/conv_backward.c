/* Convolution gradients (layouts as in conv.c).
 *
 * Input gradient: with stride 1 and one group on AVX-512, a forward convolution of dy with
 * the flipped filter (the forward's direct kernel, no scatter); otherwise GEMM + col2im
 * (a transposed convolution). Filter gradient: the direct AVX-512 kernel of
 * conv_backward_direct.c, else im2col + GEMM with a private dw per extra thread.
 * Depthwise convolutions have their own vectorized loops. Each path is tested against
 * the reference loops at the end of this file. */
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
        if (!src) {
            gn_note_no_memory();
            return;
        }
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


/* ---- depthwise (cg == 1: output channel o = c * m + i reads input channel c) ----------
 * Compiled per ISA (GN_MULTI), channel vectors as in conv.c's forward; with m > 1 over
 * the O channels (conv_internal.h): the input gradient sums a line of them into one
 * thread's row, then each channel's m; the filter gradient reads widened input rows. */

/* Lines [l0, l1) (image, D, H) of dx, each position gathered from the dy positions whose
 * windows read it: the dy rows found once per line (where the stride divides); with
 * stride 1 along W the positions all of whose taps are in bounds as one run, the others
 * (and every position with a larger stride) one by one. No scatter: lines are
 * independent. */
GN_INLINE void depthwise_backward_input_lines(void *arg, int64_t l0, int64_t l1, int tid) {
    const conv_task_t *ct = arg;
    const geom_t *t = ct->t;
    const int64_t m = t->og, C = t->c, O = t->o, W = t->in[2], K = t->k[2];
    const int64_t sw = t->s[2], dw = t->d[2], pw = t->p[2];
    const float **gr = malloc(sizeof(float *) * (size_t)(2 * t->k[0] * t->k[1])); /* rows */
    const float **wr = gr + t->k[0] * t->k[1];
    int64_t *go = malloc(sizeof(int64_t) * (size_t)(2 * K)), *wo = go + K;
    if (!gr || !go) {
        gn_note_no_memory();
        free(gr);
        free(go);
        return;
    }
    /* the run: iw with 0 <= iw + pw - kw * dw < OW for every kw (stride 1 only) */
    int64_t lo = (K - 1) * dw - pw, hi = t->out[2] - pw;
    lo = lo < 0 ? 0 : lo;
    hi = hi > W ? W : hi;
    if (sw != 1 || hi < lo) hi = lo;
    const dw_rows_t wide = dw_rows_of(ct->widen, tid); /* m > 1: the line over O channels */
    for (int64_t l = l0; l < l1; l++) {
        const int64_t n = l / (t->in[0] * t->in[1]), id = l / t->in[1] % t->in[0];
        const int64_t ih = l % t->in[1];
        float *dl = m == 1 ? ct->dx + l * W * C : wide.buf;
        int64_t nr = 0;
        for (int64_t kd = 0; kd < t->k[0]; kd++) {
            const int64_t ed = id + t->p[0] - kd * t->d[0], od = ed / t->s[0];
            if (ed < 0 || ed % t->s[0] || od >= t->out[0]) continue;
            for (int64_t kh = 0; kh < t->k[1]; kh++) {
                const int64_t eh = ih + t->p[1] - kh * t->d[1], oh = eh / t->s[1];
                if (eh < 0 || eh % t->s[1] || oh >= t->out[1]) continue;
                gr[nr] = ct->dy + ((n * t->out[0] + od) * t->out[1] + oh) * t->out[2] * O;
                wr[nr++] = ct->w + (kd * t->k[1] + kh) * K * O;
            }
        }
        if (lo < hi) { /* (stride 1) the dy row the next line reads first, fetched ahead */
            const int64_t ohn = ih + 1 + t->p[1], odn = id + t->p[0];
            const int ok = ih + 1 < t->in[1] && ohn >= 0 && ohn < t->out[1] && odn >= 0 &&
                           odn < t->out[0];
            const float *next =
                ok ? ct->dy + ((n * t->out[0] + odn) * t->out[1] + ohn) * t->out[2] * O : NULL;
            for (int64_t kw = 0; kw < K; kw++) {
                go[kw] = (lo + pw - kw * dw) * O;
                wo[kw] = kw * O;
            }
            for (int64_t j0 = lo; j0 < hi; j0 += GN_DW_RUN) {
                const int64_t cnt = hi - j0 < GN_DW_RUN ? hi - j0 : GN_DW_RUN;
                if (next) dw_prefetch(next + (j0 - lo) * O, cnt * O);
                dw_gather(cnt, O, dl + j0 * O, O, nr, gr, O, wr, K, go, wo);
                for (int64_t r = 0; r < nr; r++) gr[r] += cnt * O;
            }
            for (int64_t r = 0; r < nr; r++) gr[r] -= (hi - lo) * O;
        }
        for (int64_t iw = 0; iw < W; iw++) {
            if (iw == lo && lo < hi) iw = hi;
            if (iw >= W) break;
            float *dp = dl + iw * O;
            int64_t nk = 0;
            for (int64_t kw = 0; kw < K; kw++) {
                const int64_t ew = iw + pw - kw * dw, ow = ew / sw;
                if (ew < 0 || ew % sw || ow >= t->out[2]) continue;
                go[nk] = ow * O;
                wo[nk++] = kw * O;
            }
            dw_gather(1, O, dp, O, nr, gr, 0, wr, nk, go, wo);
        }
        if (m > 1) dw_narrow(ct->dx + l * W * C, dl, W * C, m);
    }
    free(gr);
    free(go);
}
GN_MULTI(depthwise_backward_input_isa, (void *arg, int64_t l0, int64_t l1, int tid),
         depthwise_backward_input_lines(arg, l0, l1, tid))

/* Returns 0, doing nothing, when the threads' rows cannot be allocated. */
static int depthwise_backward_input(const geom_t *t, const float *dy, const float *w,
                                    float *dx) {
    const int64_t lines = t->n * t->in[0] * t->in[1];
    const int nt = lines * t->in[2] * t->o * t->kvol < GN_PAR_MIN_CONV ? 1 : gn_get_num_threads();
    dw_widen_t line;
    if (!dw_widen_alloc(&line, t->og, 1, t->in[2] * t->o, nt)) return 0;
    conv_task_t task = {.t = t, .dy = dy, .w = w, .dx = dx, .widen = &line};
    gn_parallel_for(nt, lines, GN_PICK(depthwise_backward_input_isa), &task);
    dw_widen_free(&line);
    return 1;
}

typedef struct {
    conv_task_t c;
    float *part; /* the partial dw of threads 1 .. nt - 1 */
} dw_filter_task_t;

/* Thread tid's share of the output lines (image, D, H) into its own dw: for each tap, the
 * W range it reads in bounds, summed in registers down the line; then, after a barrier,
 * a slice of dw summed over the threads' partials. */
GN_INLINE void depthwise_backward_filter_run(void *arg, int tid, int nt) {
    dw_filter_task_t *ft = arg;
    const geom_t *t = ft->c.t;
    const int64_t m = t->og, C = t->c, O = t->o, OW = t->out[2], wsize = t->kvol * O;
    const int64_t lines = t->n * t->out[0] * t->out[1];
    float *mine = tid == 0 ? ft->c.dw : ft->part + (tid - 1) * wsize;
    dw_rows_t rows = dw_rows_of(ft->c.widen, tid);
    memset(mine, 0, sizeof(float) * (size_t)wsize);
    for (int64_t l = lines * tid / nt, end = lines * (tid + 1) / nt; l < end; l++) {
        const int64_t n = l / (t->out[0] * t->out[1]), od = l / t->out[1] % t->out[0];
        const int64_t oh = l % t->out[1];
        const float *gl = ft->c.dy + l * OW * O;
        for (int64_t kd = 0; kd < t->k[0]; kd++) {
            const int64_t id = od * t->s[0] - t->p[0] + kd * t->d[0];
            for (int64_t kh = 0; kh < t->k[1] && id >= 0 && id < t->in[0]; kh++) {
                const int64_t ih = oh * t->s[1] - t->p[1] + kh * t->d[1];
                if (ih < 0 || ih >= t->in[1]) continue;
                const int64_t row = (n * t->in[0] + id) * t->in[1] + ih;
                const float *xl = ft->c.x + row * t->in[2] * C;
                if (m > 1) xl = dw_widened_row(&rows, row, xl, l); /* channel stride O */
                for (int64_t kw = 0; kw < t->k[2]; kw++) {
                    const int64_t off = kw * t->d[2] - t->p[2];
                    float *dk = mine + ((kd * t->k[1] + kh) * t->k[2] + kw) * O;
                    int64_t lo, hi;
                    tap_range(off, t->s[2], t->in[2], OW, &lo, &hi);
                    const float *xs = xl + (lo * t->s[2] + off) * O;
                    dw_dot_line(hi - lo, O, dk, xs, t->s[2] * O, gl + lo * O, O);
                }
            }
        }
    }
    gn_barrier(nt);
    float *dw = ft->c.dw;
    for (int64_t i = wsize * tid / nt, end = wsize * (tid + 1) / nt; i < end; i++) {
        float acc = dw[i];
        for (int k = 1; k < nt; k++) acc += ft->part[(k - 1) * wsize + i];
        dw[i] = acc;
    }
}
GN_MULTI(depthwise_backward_filter_isa, (void *arg, int tid, int nt),
         depthwise_backward_filter_run(arg, tid, nt))

/* Returns 0, doing nothing, when the widened rows cannot be allocated. */
static int depthwise_backward_filter(const geom_t *t, const float *x, const float *dy,
                                     float *dw) {
    const int64_t lines = t->n * t->out[0] * t->out[1];
    int nt = lines * t->out[2] * t->o * t->kvol < GN_PAR_MIN_CONV ? 1 : gn_get_num_threads();
    if (nt > lines) nt = (int)lines;
    /* the partials: small (kvol x O floats each), so not asked of the plan's workspace */
    float *part = nt > 1 ? malloc(sizeof(float) * (size_t)((nt - 1) * t->kvol * t->o)) : NULL;
    if (!part) nt = 1;
    dw_widen_t widen;
    if (!dw_widen_alloc(&widen, t->og, t->k[0] * t->k[1], t->in[2] * t->o, nt)) {
        free(part);
        return 0;
    }
    dw_filter_task_t task = {.c = {.t = t, .x = x, .dy = dy, .dw = dw, .widen = &widen},
                             .part = part};
    gn_parallel(nt, GN_PICK(depthwise_backward_filter_isa), &task);
    dw_widen_free(&widen);
    free(part);
    return 1;
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

/* ---- stride 1: the input gradient as a forward convolution ------------------------------
 * dx[i] = sum_k dy[i + d (K-1-k) - (d (K-1) - p)] . w[k]^T: the forward convolution of dy
 * (implicitly padded by d (K-1) - p) with the filter flipped in space and its channel axes
 * swapped, so it runs on the forward's fast paths (the direct kernel on AVX-512) with no
 * col2im scatter. The flipped filter (kvol x O x C) goes at the head of the workspace. */

/* The geometry of that forward convolution. */
static void flip_geometry(const geom_t *t, int64_t *g) {
    for (int i = 0; i < GN_CG_LEN; i++) g[i] = 0;
    g[GN_CG_N] = t->n;
    g[GN_CG_C] = t->o;
    g[GN_CG_O] = t->c;
    g[GN_CG_GROUPS] = 1;
    for (int i = 0; i < 3; i++) {
        g[GN_CG_IN + i] = t->out[i];
        g[GN_CG_OUT + i] = t->in[i];
        g[GN_CG_K + i] = t->k[i];
        g[GN_CG_STRIDE + i] = 1;
        g[GN_CG_DIL + i] = t->d[i];
        g[GN_CG_PAD + i] = t->d[i] * (t->k[i] - 1) - t->p[i];
    }
}

/* Largest flipped filter (as kvol x O x 64 floats) taken: past it the forward itself runs
 * im2col + GEMM, which is no faster than GEMM + col2im, and the flip costs a pass. */
#define GN_FLIP_MAX_W ((int64_t)512 * 1024)

/* Stride 1, one group, on AVX-512 (where the forward's direct kernel runs; elsewhere its
 * im2col of the padded dy measures slower than col2im), and at least 16 dx channels (the
 * direct kernel's vector width). */
static int flip_applies(const geom_t *t) {
    return gn_current_isa() == GN_ISA_AVX512 && t->groups == 1 && t->s[0] == 1 &&
           t->s[1] == 1 && t->s[2] == 1 && !is_pointwise(t) && t->c >= 16 &&
           t->kvol * t->o * 64 * (int64_t)sizeof(float) <= GN_FLIP_MAX_W;
}

/* The flipped filter, then what the forward asks for (its Winograd or im2col buffers;
 * its direct kernel needs none). */
int64_t gn_conv_flip_work_len(const geom_t *t) {
    if (!flip_applies(t)) return 0;
    int64_t g[GN_CG_LEN];
    flip_geometry(t, g);
    return filter_size(t) + gn_conv_work_len(0, g);
}

/* Returns 0 (nothing written) when the workspace cannot hold the flipped filter and one
 * image of the forward's im2col (with less the forward would run its reference loops). */
static int backward_input_flip(const geom_t *t, const float *dy, const float *w, float *dx,
                               float *work, int64_t work_len) {
    int64_t g[GN_CG_LEN];
    flip_geometry(t, g);
    const int64_t wsize = filter_size(t), C = t->c, O = t->o;
    if (work_len - wsize < t->pin * t->kvol * O) return 0;
    for (int64_t kk = 0; kk < t->kvol; kk++) { /* 16 x 16 blocks: C-strided writes thrash L1 */
        const float *src = w + kk * C * O;
        float *dst = work + (t->kvol - 1 - kk) * O * C;
        for (int64_t c0 = 0; c0 < C; c0 += 16)
            for (int64_t o0 = 0; o0 < O; o0 += 16)
                for (int64_t c = c0; c < C && c < c0 + 16; c++)
                    for (int64_t o = o0; o < O && o < o0 + 16; o++) dst[o * C + c] = src[c * O + o];
    }
    gn_conv_forward(g, dy, work, dx, work + wsize, work_len - wsize);
    return 1;
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
    if (is_depthwise(&t) && depthwise_backward_input(&t, dy, w, dx)) return;
    if (flip_applies(&t) && backward_input_flip(&t, dy, w, dx, work, work_len)) return;
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
    if (is_depthwise(&t) && depthwise_backward_filter(&t, x, dy, dw)) return;
    if (gn_conv_backward_filter_direct(&t, x, dy, dw, work, work_len)) return;
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
