/* Max and average pooling over 1 to 3 spatial dims, channels-last, with the geometry
 * of convolution (enum gn_conv_geom; O == C, groups unused).
 *
 * Padding is never read: max ignores it, average divides by the number of in-bounds
 * taps (TensorFlow's 'same' semantics). Max-pool backward recomputes each window's
 * first maximum from x rather than storing argmax indices.
 *
 * The caller's geometry is checked first (O == C, a window of at most GN_POOL_MAX_TAPS
 * taps: the plan verifier refuses the same), and every tap table and scratch row is
 * allocated before the loops start, one per thread, so a failed allocation returns
 * GN_ERR_NO_MEMORY with nothing written.
 *
 * Every loop nest is compiled once per SIMD path (GN_MULTI, or POOL_MULTI up to AVX2) so
 * gcc vectorizes the channel loops; the common non-overlapping 2x2 stride-2 window
 * without padding has its own one-pass loops (four inputs in, one output out, no tap
 * tables). Max keeps the first tap and replaces it by a later one only where that is
 * greater, so a NaN in the first tap propagates and a later one does not, on every path
 * and in the reference loops.
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

/* In-bounds input positions read by output position q, in tap order; returns their
 * count. The divisions are done once per position. */
static int64_t window_taps(const pgeom_t *t, int64_t q, int64_t *src) {
    const int64_t ow = q % t->out[2], oh = q / t->out[2] % t->out[1];
    const int64_t od = q / (t->out[2] * t->out[1]);
    const int64_t d0 = od * t->s[0] - t->p[0], h0 = oh * t->s[1] - t->p[1],
                  w0 = ow * t->s[2] - t->p[2];
    int64_t count = 0;
    for (int64_t kd = 0; kd < t->k[0]; kd++) {
        const int64_t id = d0 + kd * t->d[0];
        if (id < 0 || id >= t->in[0]) continue;
        for (int64_t kh = 0; kh < t->k[1]; kh++) {
            const int64_t ih = h0 + kh * t->d[1];
            if (ih < 0 || ih >= t->in[1]) continue;
            const int64_t row = (id * t->in[1] + ih) * t->in[2];
            for (int64_t kw = 0; kw < t->k[2]; kw++) {
                const int64_t iw = w0 + kw * t->d[2];
                if (iw >= 0 && iw < t->in[2]) src[count++] = row + iw;
            }
        }
    }
    return count;
}

/* Non-overlapping 2x2 windows with stride 2 and no padding, leading or trailing, over H
 * and W (D window 1). */
static int is_2x2(const pgeom_t *t) {
    return t->k[0] == 1 && t->s[0] == 1 && t->p[0] == 0 && t->out[0] <= t->in[0] &&
           t->k[1] == 2 && t->k[2] == 2 && t->s[1] == 2 && t->s[2] == 2 && t->d[1] == 1 &&
           t->d[2] == 1 && t->p[1] == 0 && t->p[2] == 0 && 2 * t->out[1] <= t->in[1] &&
           2 * t->out[2] <= t->in[2];
}

/* Windows that tile the input exactly: backward writes each dx element once. */
static int is_tiled(const pgeom_t *t) {
    int tiled = t->pout > 0;
    for (int i = 0; i < 3; i++)
        tiled &= t->s[i] == t->k[i] && t->d[i] == 1 && t->p[i] == 0 &&
                 t->out[i] * t->s[i] == t->in[i];
    return tiled;
}

/* The generic (any window) loops get baseline and AVX2 clones only: on the 16-byte
 * aligned buffers malloc gives (numpy's, the plan arena's) a zmm load of a row straddles
 * two cache lines, and at AVX-512 width these memory-bound loops measured 15-25% slower
 * than at AVX2 width. */
#if defined(__x86_64__)
#define POOL_MULTI(name, params, call)                    \
    static void name##_ref params { call; }                 \
    GN_TARGET_AVX2 static void name##_avx2 params { call; }
#define POOL_PICK(name) (gn_current_isa() >= GN_ISA_AVX2 ? name##_avx2 : name##_ref)
#else
#define POOL_MULTI(name, params, call) static void name##_ref params { call; }
#define POOL_PICK(name) name##_ref
#endif

/* Each thread's scratch, from one allocation: a tap table of kvol int64s, then `rows`
 * channel rows of C floats, each 64-byte aligned. */
typedef struct {
    char *base;                       /* 64-byte aligned start; thread tid at tid * stride */
    void *raw;                        /* what to free */
    int64_t taps_bytes, row_floats, stride;
} scratch_t;

static int64_t round64(int64_t bytes) { return (bytes + 63) & ~(int64_t)63; }

/* Scratch for nt threads; GN_ERR_NO_MEMORY when it cannot be had. */
static int scratch_alloc(scratch_t *s, int nt, int64_t kvol, int64_t rows, int64_t C) {
    s->taps_bytes = round64(8 * (kvol > 0 ? kvol : 1));
    s->row_floats = (C + 15) & ~(int64_t)15;
    s->stride = s->taps_bytes + round64(4 * rows * s->row_floats);
    size_t total;
    if (__builtin_mul_overflow((size_t)s->stride, (size_t)nt, &total) ||
        __builtin_add_overflow(total, (size_t)64, &total))
        return GN_ERR_NO_MEMORY;
    s->raw = malloc(total);
    if (!s->raw) return GN_ERR_NO_MEMORY;
    s->base = (char *)(((uintptr_t)s->raw + 63) & ~(uintptr_t)63);
    return GN_OK;
}

static int64_t *scratch_taps(const scratch_t *s, int tid) {
    return (int64_t *)(s->base + tid * s->stride);
}

static float *scratch_rows(const scratch_t *s, int tid) {
    return (float *)(s->base + tid * s->stride + s->taps_bytes);
}

/* GN_OK when the kernels can run geometry t as the verifier proved it: the output has
 * the input's channels, the window at most GN_POOL_MAX_TAPS taps, no size negative. */
static int geometry_ok(const int64_t *g, const pgeom_t *t) {
    if (g[GN_CG_O] != g[GN_CG_C] || t->kvol > GN_POOL_MAX_TAPS || t->n < 0 || t->c < 0)
        return GN_ERR_BAD_ARGS;
    for (int i = 0; i < 3; i++)
        if (t->in[i] < 0 || t->out[i] < 0 || t->k[i] < 0 || t->s[i] < 1) return GN_ERR_BAD_ARGS;
    return GN_OK;
}

typedef struct {
    pgeom_t t;
    int mode, tiled;
    const float *x, *dy;
    float *y, *dx;
    scratch_t scratch;
} pool_task_t;

GN_INLINE float max_first(float m, float v) { return v > m ? v : m; }

/* ---- forward ------------------------------------------------------------------------ */

/* Channel loops of the generic paths (restrict: no aliasing checks around the vector
 * loops). The rows they fold taps into are scratch rows aligned to 64 bytes: a zmm store
 * to a row of the caller's (y, 16-byte aligned from malloc) straddles two cache lines,
 * and the load of it by the next tap then waits for the store instead of being
 * forwarded from it. */

/* y = max_first(a, b) (max) or a + b (average) over C channels. */
GN_INLINE void fold2(int mode, int64_t C, float *restrict y, const float *restrict a,
                     const float *restrict b) {
    for (int64_t c = 0; c < C; c++)
        y[c] = mode == GN_POOL_MAX ? max_first(a[c], b[c]) : a[c] + b[c];
}

/* y = max_first(y, x) (max) or y + x (average) over C channels. */
GN_INLINE void fold_into(int mode, int64_t C, float *restrict y, const float *restrict x) {
    for (int64_t c = 0; c < C; c++)
        y[c] = mode == GN_POOL_MAX ? max_first(y[c], x[c]) : y[c] + x[c];
}

/* y = a * s over C channels (s == 1: a copy, exact). */
GN_INLINE void scale_to(int64_t C, float *restrict y, const float *restrict a, float s) {
    for (int64_t c = 0; c < C; c++) y[c] = a[c] * s;
}

/* Output rows [r0, r1) (image, position), any window: the first two taps combined into
 * a scratch row, the others folded in one by one, then the row written out. */
GN_INLINE void forward_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const pool_task_t *pt = arg;
    const pgeom_t *t = &pt->t;
    const int64_t C = t->c;
    int64_t *src = scratch_taps(&pt->scratch, tid);
    float *acc = __builtin_assume_aligned(scratch_rows(&pt->scratch, tid), 64);
    for (int64_t r = r0; r < r1; r++) {
        const float *xn = pt->x + r / t->pout * t->pin * C;
        float *yr = pt->y + r * C;
        const int64_t count = window_taps(t, r % t->pout, src);
        if (count == 0) {
            memset(yr, 0, sizeof(float) * (size_t)C);
            continue;
        }
        if (count == 1) { /* the tap itself (an average divides by 1) */
            memcpy(yr, xn + src[0] * C, sizeof(float) * (size_t)C);
            continue;
        }
        fold2(pt->mode, C, acc, xn + src[0] * C, xn + src[1] * C);
        for (int64_t kk = 2; kk < count; kk++) fold_into(pt->mode, C, acc, xn + src[kk] * C);
        scale_to(C, yr, acc, pt->mode == GN_POOL_AVG ? 1.0f / (float)count : 1.0f);
    }
}
POOL_MULTI(forward_rows_isa, (void *arg, int64_t r0, int64_t r1, int tid),
         forward_rows(arg, r0, r1, tid))

/* Output lines [l0, l1) (image, D, H) of the 2x2 case: one pass per line. */
GN_INLINE void forward_2x2(void *arg, int64_t l0, int64_t l1, int tid) {
    const pool_task_t *pt = arg;
    const pgeom_t *t = &pt->t;
    const int64_t C = t->c, OW = t->out[2], OH = t->out[1], W = t->in[2] * C;
    (void)tid;
    for (int64_t l = l0; l < l1; l++) { /* l = (n * D + d) * OH + oh; input line 2 oh */
        const float *restrict a = pt->x + ((l / OH * t->in[1]) + 2 * (l % OH)) * W;
        const float *restrict b = a + W;
        float *restrict yl = pt->y + l * OW * C;
        for (int64_t ow = 0; ow < OW; ow++, a += 2 * C, b += 2 * C, yl += C) {
            if (pt->mode == GN_POOL_MAX) {
                for (int64_t c = 0; c < C; c++)
                    yl[c] = max_first(max_first(max_first(a[c], a[C + c]), b[c]), b[C + c]);
            } else {
                for (int64_t c = 0; c < C; c++)
                    yl[c] = (((a[c] + a[C + c]) + b[c]) + b[C + c]) * 0.25f;
            }
        }
    }
}
GN_MULTI(forward_2x2_isa, (void *arg, int64_t l0, int64_t l1, int tid),
         forward_2x2(arg, l0, l1, tid))

int gn_pool_forward(int mode, const int64_t *g, const float *x, float *y) {
    const pgeom_t t = unpack(g);
    const int64_t rows = t.n * t.pout, C = t.c;
    const int bad = geometry_ok(g, &t);
    if (bad || rows <= 0 || C <= 0) return bad;
    const int nt = rows * C * t.kvol < GN_PAR_MIN_CONV ? 1 : gn_get_num_threads();
    pool_task_t task = {t, mode, 0, x, NULL, y, NULL, {0}};
    if (is_2x2(&t)) {
        gn_parallel_for(nt, t.n * t.out[0] * t.out[1], GN_PICK(forward_2x2_isa), &task);
        return GN_OK;
    }
    if (scratch_alloc(&task.scratch, nt, t.kvol, 1, C)) return GN_ERR_NO_MEMORY;
    gn_parallel_for(nt, rows, POOL_PICK(forward_rows_isa), &task);
    free(task.scratch.raw);
    return GN_OK;
}

/* ---- backward ----------------------------------------------------------------------- */

/* d (+)= r where x equals the window's max m, and rem = (hit ? 0 : r), over C channels:
 * r is what is not yet routed (g itself at the first tap, rem after). */
GN_INLINE void route_into(int64_t C, int tiled, float *restrict d, const float *restrict x,
                          const float *restrict m, const float *restrict r,
                          float *restrict rem) {
    for (int64_t c = 0; c < C; c++) {
        const int hit = x[c] == m[c];
        const float v = hit ? r[c] : 0.0f;
        d[c] = tiled ? v : d[c] + v;
        rem[c] = hit ? 0.0f : r[c];
    }
}

/* d (+)= g * inv over C channels. */
GN_INLINE void spread_into(int64_t C, int tiled, float *restrict d, const float *restrict g,
                           float inv) {
    for (int64_t c = 0; c < C; c++) d[c] = tiled ? g[c] * inv : d[c] + g[c] * inv;
}

/* Images [n0, n1), any window: dx of each image from its windows (zeroed by the caller
 * unless the windows tile the input). */
GN_INLINE void backward_images(void *arg, int64_t n0, int64_t n1, int tid) {
    const pool_task_t *pt = arg;
    const pgeom_t *t = &pt->t;
    const int mode = pt->mode, tiled = pt->tiled;
    const int64_t C = t->c, cpad = pt->scratch.row_floats;
    /* window taps, and for max the best value and the gradient left to route */
    int64_t *src = scratch_taps(&pt->scratch, tid);
    float *best = __builtin_assume_aligned(scratch_rows(&pt->scratch, tid), 64);
    float *rem[2] = {best + cpad, best + 2 * cpad};
    for (int64_t n = n0; n < n1; n++) {
        const float *xn = pt->x + n * t->pin * C;
        float *dxn = pt->dx + n * t->pin * C;
        /* zeroed image by image: it is then still in cache for the windows */
        if (!tiled) memset(dxn, 0, sizeof(float) * (size_t)(t->pin * C));
        for (int64_t q = 0; q < t->pout; q++) {
            const float *g = pt->dy + (n * t->pout + q) * C;
            const int64_t count = window_taps(t, q, src);
            if (!count) continue;
            if (mode == GN_POOL_AVG) {
                for (int64_t kk = 0; kk < count; kk++)
                    spread_into(C, tiled, dxn + src[kk] * C, g, 1.0f / (float)count);
                continue;
            }
            if (count == 1) { /* the tap is the max */
                spread_into(C, tiled, dxn + src[0] * C, g, 1.0f);
                continue;
            }
            /* pass 1: the max per channel; pass 2: dy to the first tap equal to it */
            fold2(GN_POOL_MAX, C, best, xn + src[0] * C, xn + src[1] * C);
            for (int64_t kk = 2; kk < count; kk++)
                fold_into(GN_POOL_MAX, C, best, xn + src[kk] * C);
            const float *r = g; /* ping-pong between the two rem rows (restrict) */
            for (int64_t kk = 0; kk < count; kk++) {
                route_into(C, tiled, dxn + src[kk] * C, xn + src[kk] * C, best, r, rem[kk & 1]);
                r = rem[kk & 1];
            }
        }
    }
}
POOL_MULTI(backward_images_isa, (void *arg, int64_t n0, int64_t n1, int tid),
         backward_images(arg, n0, n1, tid))

/* One 2x2 window's max gradient: g to the first of x0..x3 equal to their max (restrict
 * parameters: gcc versions loops for aliasing only up to a few pointers). */
GN_INLINE void route_2x2(int64_t C, const float *restrict x0, const float *restrict x1,
                         const float *restrict x2, const float *restrict x3,
                         const float *restrict g, float *restrict d0, float *restrict d1,
                         float *restrict d2, float *restrict d3) {
    for (int64_t c = 0; c < C; c++) { /* r: the gradient not yet routed */
        const float m = max_first(max_first(max_first(x0[c], x1[c]), x2[c]), x3[c]);
        float r = g[c];
        d0[c] = x0[c] == m ? r : 0.0f;
        r = x0[c] == m ? 0.0f : r;
        d1[c] = x1[c] == m ? r : 0.0f;
        r = x1[c] == m ? 0.0f : r;
        d2[c] = x2[c] == m ? r : 0.0f;
        r = x2[c] == m ? 0.0f : r;
        d3[c] = x3[c] == m ? r : 0.0f;
    }
}

/* Output lines [l0, l1) of the 2x2 case: each dx element written once. */
GN_INLINE void backward_2x2(void *arg, int64_t l0, int64_t l1, int tid) {
    const pool_task_t *pt = arg;
    const pgeom_t *t = &pt->t;
    const int64_t C = t->c, OW = t->out[2], OH = t->out[1], W = t->in[2] * C;
    const int avg = pt->mode == GN_POOL_AVG;
    (void)tid;
    for (int64_t l = l0; l < l1; l++) {
        const int64_t a0 = ((l / OH * t->in[1]) + 2 * (l % OH)) * W;
        const float *restrict a = pt->x + a0, *restrict b = a + W;
        float *restrict da = pt->dx + a0, *restrict db = da + W;
        const float *restrict gl = pt->dy + l * OW * C;
        for (int64_t ow = 0; ow < OW; ow++, a += 2 * C, b += 2 * C, da += 2 * C, db += 2 * C,
                     gl += C) {
            if (avg) {
                for (int64_t c = 0; c < C; c++) {
                    const float v = gl[c] * 0.25f;
                    da[c] = v, da[C + c] = v, db[c] = v, db[C + c] = v;
                }
                continue;
            }
            route_2x2(C, a, a + C, b, b + C, gl, da, da + C, db, db + C);
        }
    }
}
GN_MULTI(backward_2x2_isa, (void *arg, int64_t l0, int64_t l1, int tid),
         backward_2x2(arg, l0, l1, tid))

int gn_pool_backward(int mode, const int64_t *g, const float *x, const float *dy, float *dx) {
    const pgeom_t t = unpack(g);
    const int64_t C = t.c;
    const int bad = geometry_ok(g, &t);
    if (bad || t.n * t.pin * C <= 0) return bad;
    int nt = t.n * t.pout * C * t.kvol < GN_PAR_MIN_CONV ? 1 : gn_get_num_threads();
    pool_task_t task = {t, mode, is_tiled(&t), x, dy, NULL, dx, {0}};
    if (is_2x2(&t)) {
        /* an odd last column or row is read by no window */
        if (!task.tiled) memset(dx, 0, sizeof(float) * (size_t)(t.n * t.pin * C));
        gn_parallel_for(nt, t.n * t.out[0] * t.out[1], GN_PICK(backward_2x2_isa), &task);
        return GN_OK;
    }
    if (t.n < 2) nt = 1;
    if (scratch_alloc(&task.scratch, nt, t.kvol, 3, C)) return GN_ERR_NO_MEMORY;
    gn_parallel_for(nt, t.n, POOL_PICK(backward_images_isa), &task);
    free(task.scratch.raw);
    return GN_OK;
}

/* ---- reference loops: what every path above is tested against ----------------------- */

int gn_pool_forward_ref(int mode, const int64_t *g, const float *x, float *y) {
    const pgeom_t t = unpack(g);
    if (geometry_ok(g, &t)) return GN_ERR_BAD_ARGS;
    int64_t *src = malloc(sizeof(int64_t) * (size_t)(t.kvol > 0 ? t.kvol : 1));
    if (!src) return GN_ERR_NO_MEMORY;
    for (int64_t r = 0; r < t.n * t.pout; r++) {
        const int64_t count = window_taps(&t, r % t.pout, src);
        for (int64_t c = 0; c < t.c; c++) {
            float acc = 0.0f;
            for (int64_t kk = 0; kk < count; kk++) {
                const float v = x[(r / t.pout * t.pin + src[kk]) * t.c + c];
                acc = kk == 0 ? v : mode == GN_POOL_MAX ? max_first(acc, v) : acc + v;
            }
            y[r * t.c + c] = mode == GN_POOL_AVG && count ? acc * (1.0f / (float)count) : acc;
        }
    }
    free(src);
    return GN_OK;
}

int gn_pool_backward_ref(int mode, const int64_t *g, const float *x, const float *dy,
                         float *dx) {
    const pgeom_t t = unpack(g);
    if (geometry_ok(g, &t)) return GN_ERR_BAD_ARGS;
    int64_t *src = malloc(sizeof(int64_t) * (size_t)(t.kvol > 0 ? t.kvol : 1));
    if (!src) return GN_ERR_NO_MEMORY;
    for (int64_t i = 0; i < t.n * t.pin * t.c; i++) dx[i] = 0.0f;
    for (int64_t r = 0; r < t.n * t.pout; r++) {
        const int64_t count = window_taps(&t, r % t.pout, src), base = r / t.pout * t.pin;
        for (int64_t c = 0; c < t.c; c++) {
            const float gv = dy[r * t.c + c];
            if (mode == GN_POOL_AVG) {
                for (int64_t kk = 0; kk < count; kk++)
                    dx[(base + src[kk]) * t.c + c] += gv * (1.0f / (float)count);
                continue;
            }
            float m = 0.0f;
            for (int64_t kk = 0; kk < count; kk++) {
                const float v = x[(base + src[kk]) * t.c + c];
                m = kk == 0 ? v : max_first(m, v);
            }
            for (int64_t kk = 0; kk < count; kk++)
                if (x[(base + src[kk]) * t.c + c] == m) {
                    dx[(base + src[kk]) * t.c + c] += gv;
                    break;
                }
        }
    }
    free(src);
    return GN_OK;
}
