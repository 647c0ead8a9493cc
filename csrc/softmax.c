/* Softmax and log-softmax along the middle axis of an (outer, n, inner) view.
 *
 * Stable form: subtract the row max, exp, sum in double. A row holding NaN,
 * +inf, or only -inf gives NaN like scipy.special.softmax; -inf entries next
 * to finite ones give 0 (log-softmax: -inf). y may alias x.
 */
#include "kernel_util.h"
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

#define LANES 32 /* double lanes of the exp sum (gn_fold_sum32) */
#define KB 256 /* columns per block when inner > 1 */

/* One contiguous row of n. */
GN_INLINE void softmax_row(int lg, int64_t n, const float *x, float *y) {
    const float m = gn_row_max(x, n, 1);
    int64_t i;

    /* y = x - m (log) or exp(x - m); then sum exp in double lanes (separate
     * simple loops vectorize better than one fused loop) */
    if (lg)
        for (i = 0; i < n; i++) y[i] = x[i] - m;
    else
        for (i = 0; i < n; i++) y[i] = gn_vexpf(x[i] - m);
    double s[LANES], sum = 0.0;
    i = 0;
    if (n >= 2 * LANES) {
        for (int j = 0; j < LANES; j++) s[j] = 0.0;
        if (lg)
            for (; i + LANES <= n; i += LANES)
                for (int j = 0; j < LANES; j++) s[j] += (double)gn_vexpf(y[i + j]);
        else
            for (; i + LANES <= n; i += LANES)
                for (int j = 0; j < LANES; j++) s[j] += (double)y[i + j];
        sum = gn_fold_sum32(s);
    }
    if (lg)
        for (; i < n; i++) sum += (double)gn_vexpf(y[i]);
    else
        for (; i < n; i++) sum += (double)y[i];

    if (lg) {
        const float ls = (float)log(sum);
        for (i = 0; i < n; i++) y[i] = y[i] - ls;
    } else {
        const float r = (float)(1.0 / sum);
        for (i = 0; i < n; i++) y[i] = y[i] * r;
    }
}

/* Rows [r0, r1) of n < 2 * LANES each (mnist's 10 classes): softmax_row's steps and
 * sums in its order, but the exps of a block of rows in one flat loop, which vectorizes
 * where a row of 10 would run them one by one (128 x 10 log-softmax 5.9 -> 3.0 us). */
#define SHORT_BLOCK 1024 /* values per block */
GN_INLINE void softmax_short_rows(int lg, int64_t n, int64_t r0, int64_t r1, const float *x,
                                  float *y) {
    float e[SHORT_BLOCK];
    const int64_t rows_per = SHORT_BLOCK / n;
    for (int64_t b0 = r0; b0 < r1; b0 += rows_per) {
        const int64_t b1 = b0 + rows_per < r1 ? b0 + rows_per : r1, len = (b1 - b0) * n;
        const float *xb = x + b0 * n;
        float *yb = y + b0 * n;
        for (int64_t r = 0; r < b1 - b0; r++) {
            const float m = gn_row_max(xb + r * n, n, 1);
            for (int64_t i = 0; i < n; i++) e[r * n + i] = xb[r * n + i] - m;
        }
        if (lg) memcpy(yb, e, (size_t)len * sizeof(float));
        for (int64_t i = 0; i < len; i++) e[i] = gn_vexpf(e[i]);
        for (int64_t r = 0; r < b1 - b0; r++) {
            double sum = 0.0;
            for (int64_t i = 0; i < n; i++) sum += (double)e[r * n + i];
            float *o = yb + r * n;
            if (lg) {
                const float ls = (float)log(sum);
                for (int64_t i = 0; i < n; i++) o[i] = o[i] - ls;
            } else {
                const float f = (float)(1.0 / sum);
                for (int64_t i = 0; i < n; i++) o[i] = e[r * n + i] * f;
            }
        }
    }
}

/* Columns [k0, k1) (at most KB) of one (n, inner) slab. */
GN_INLINE void softmax_cols(int lg, int64_t n, int64_t inner, int64_t k0, int64_t k1,
                            const float *x, float *y) {
    const int64_t w = k1 - k0;
    float m[KB];
    double s[KB];
    x += k0;
    y += k0;
    for (int64_t k = 0; k < w; k++) {
        m[k] = -INFINITY;
        s[k] = 0.0;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * inner;
        for (int64_t k = 0; k < w; k++) m[k] = gn_max_nan(m[k], r[k]);
    }
    for (int64_t i = 0; i < n; i++) {
        const float *r = x + i * inner;
        float *o = y + i * inner;
        if (lg) {
            for (int64_t k = 0; k < w; k++) {
                float t = r[k] - m[k];
                o[k] = t;
                s[k] += (double)gn_vexpf(t);
            }
        } else {
            for (int64_t k = 0; k < w; k++) {
                float e = gn_vexpf(r[k] - m[k]);
                o[k] = e;
                s[k] += (double)e;
            }
        }
    }
    float f[KB];
    for (int64_t k = 0; k < w; k++) f[k] = lg ? (float)log(s[k]) : (float)(1.0 / s[k]);
    for (int64_t i = 0; i < n; i++) {
        float *o = y + i * inner;
        if (lg)
            for (int64_t k = 0; k < w; k++) o[k] = o[k] - f[k];
        else
            for (int64_t k = 0; k < w; k++) o[k] = o[k] * f[k];
    }
}

/* Work unit u: a row (inner == 1) or a column block of an outer slab. */
GN_INLINE void softmax_units_body(int lg, int64_t n, int64_t inner, int64_t u0, int64_t u1,
                                  const float *x, float *y) {
    const int64_t kblocks = (inner + KB - 1) / KB;
    if (inner == 1 && n < 2 * LANES) {
        softmax_short_rows(lg, n, u0, u1, x, y);
        return;
    }
    for (int64_t u = u0; u < u1; u++) {
        if (inner == 1) {
            softmax_row(lg, n, x + u * n, y + u * n);
        } else {
            int64_t o = u / kblocks, k0 = (u % kblocks) * KB;
            int64_t k1 = k0 + KB < inner ? k0 + KB : inner;
            softmax_cols(lg, n, inner, k0, k1, x + o * n * inner, y + o * n * inner);
        }
    }
}

GN_MULTI(softmax_units, (int lg, int64_t n, int64_t inner, int64_t u0, int64_t u1,
                         const float *x, float *y),
         softmax_units_body(lg, n, inner, u0, u1, x, y))

typedef struct {
    void (*fn)(int, int64_t, int64_t, int64_t, int64_t, const float *, float *);
    int log;
    int64_t n, inner;
    const float *x;
    float *y;
} softmax_task_t;

static void softmax_range(void *arg, int64_t u0, int64_t u1, int tid) {
    const softmax_task_t *t = arg;
    (void)tid;
    t->fn(t->log, t->n, t->inner, u0, u1, t->x, t->y);
}

void gn_softmax(int log, int64_t outer, int64_t n, int64_t inner, const float *x, float *y) {
    if (outer <= 0 || n <= 0 || inner <= 0) return;
    const int64_t units = outer * ((inner + KB - 1) / KB);
    void (*fn)(int, int64_t, int64_t, int64_t, int64_t, const float *, float *) =
        GN_PICK(softmax_units);
    /* exp per element: a quarter of a cheap op's grain, as gn_unary's */
    int64_t nt = gn_team_for((double)outer * (double)n * (double)inner, GN_GRAIN_ELEMENTS / 4);
    if (nt > units) nt = units;
    if (nt <= 1) {
        fn(log, n, inner, 0, units, x, y);
        return;
    }
    softmax_task_t task = {fn, log, n, inner, x, y};
    gn_parallel_for((int)nt, units, softmax_range, &task);
}
