/* Reductions over the middle axis of an (outer, n, inner) view.
 *
 * Work is cut into blocks (outer slab o, rows [i0, i1), columns [k0, k1)),
 * each reduced into an acc per column; blocks over disjoint rows are combined
 * in row order, so results do not depend on the thread count. Sums and
 * products accumulate in double, in independent lanes that gcc vectorizes.
 */
#include "kernel_util.h"
#include <stdlib.h>
#include "graphnet.h"
#include "threadpool.h"

/* A partial result: v is the double sum/product, the float max/min, the
 * arg value or the any/all flag; i is the arg index. */
typedef struct {
    double v;
    int64_t i;
} racc;

#define LANES 32 /* independent double accumulators for a contiguous row (gn_fold_sum32) */
#define KB 256   /* columns per block when inner > 1 */

#define ACHUNK ((int64_t)1 << 30) /* argmax lanes index a chunk in int32 */

/* Is (v, i) a better arg result than (b, bi)? The first NaN wins, then the
 * larger (smaller) value, then the smaller index. */
GN_INLINE int arg_better(int amax, float v, int64_t i, float b, int64_t bi) {
    if (b != b) return v != v && i < bi;
    if (v != v) return 1;
    return (amax ? v > b : v < b) || (v == b && i < bi);
}

/* First arg max (min) of x[0, n), n >= 1: each of LANES lanes keeps its own
 * best and index so the loop vectorizes; lanes merge at the end of a chunk. */
GN_INLINE void row_arg(const float *x, int64_t n, const int amax, float *bv, int64_t *bi) {
    float best = x[0];
    int64_t bidx = 0;
    for (int64_t c0 = 0; c0 < n; c0 += ACHUNK) {
        const float *xc = x + c0;
        const int64_t len = n - c0 < ACHUNK ? n - c0 : ACHUNK;
        int64_t i = 0;
        if (len >= 2 * LANES) {
            float m[LANES];
            int32_t id[LANES];
            for (int j = 0; j < LANES; j++) {
                m[j] = xc[j];
                id[j] = j;
            }
            for (i = LANES; i + LANES <= len; i += LANES) {
#pragma GCC unroll 1
                for (int j = 0; j < LANES; j++) {
                    float v = xc[i + j], b = m[j];
                    int take = (amax ? v > b : v < b) | ((v != v) & (b == b));
                    m[j] = take ? v : b;
                    id[j] = take ? (int32_t)(i + j) : id[j];
                }
            }
            for (int j = 0; j < LANES; j++)
                if (arg_better(amax, m[j], c0 + id[j], best, bidx)) {
                    best = m[j];
                    bidx = c0 + id[j];
                }
        }
        for (; i < len; i++) /* short chunk or tail: later indices, strict wins only */
            if (arg_better(amax, xc[i], c0 + i, best, bidx)) {
                best = xc[i];
                bidx = c0 + i;
            }
    }
    *bv = best;
    *bi = bidx;
}

/* One contiguous row x[i0, i1) (inner == 1). */
GN_INLINE void reduce_row(int op, const void *xv, int64_t i0, int64_t i1, racc *acc) {
    const int64_t n = i1 - i0;
    if (op == GN_R_ANY || op == GN_R_ALL) {
        const uint8_t *x = (const uint8_t *)xv + i0;
        const int any = op == GN_R_ANY;
        uint8_t hit = 0; /* any: a nonzero seen; all: a zero seen */
        for (int64_t b = 0; b < n && !hit; b += 4096) {
            int64_t e = b + 4096 < n ? b + 4096 : n;
            if (any)
                for (int64_t i = b; i < e; i++) hit |= x[i] != 0;
            else
                for (int64_t i = b; i < e; i++) hit |= x[i] == 0;
        }
        acc->v = any ? hit : !hit;
        return;
    }
    const float *x = (const float *)xv + i0;
    if (op == GN_R_ARGMAX || op == GN_R_ARGMIN) {
        float best;
        int64_t bi;
        if (op == GN_R_ARGMAX) row_arg(x, n, 1, &best, &bi);
        else row_arg(x, n, 0, &best, &bi);
        acc->v = best;
        acc->i = i0 + bi;
        return;
    }
    if (op == GN_R_MAX || op == GN_R_MIN) {
        acc->v = gn_row_max(x, n, op == GN_R_MAX);
        return;
    }
    /* sums and products: LANES double lanes once the row is long enough */
    double s[LANES], r = op == GN_R_PROD ? 1.0 : 0.0;
    int64_t i = 0;
    if (n >= 2 * LANES) {
        for (int j = 0; j < LANES; j++) s[j] = r;
        if (op == GN_R_PROD) {
            for (; i + LANES <= n; i += LANES)
                for (int j = 0; j < LANES; j++) s[j] *= (double)x[i + j];
            for (int j = 1; j < LANES; j++) r *= s[j];
            r *= s[0];
        } else if (op == GN_R_SUMSQ) {
            for (; i + LANES <= n; i += LANES)
                for (int j = 0; j < LANES; j++) s[j] += (double)x[i + j] * (double)x[i + j];
            r = gn_fold_sum32(s);
        } else {
            for (; i + LANES <= n; i += LANES)
                for (int j = 0; j < LANES; j++) s[j] += (double)x[i + j];
            r = gn_fold_sum32(s);
        }
    }
    if (op == GN_R_PROD)
        for (; i < n; i++) r *= (double)x[i];
    else if (op == GN_R_SUMSQ)
        for (; i < n; i++) r += (double)x[i] * (double)x[i];
    else
        for (; i < n; i++) r += (double)x[i];
    acc->v = r;
}

/* Rows [i0, i1) of columns [k0, k1) (k1 - k0 <= KB) of one (n, inner) slab. */
GN_INLINE void reduce_cols(int op, const void *xv, int64_t inner, int64_t i0, int64_t i1,
                           int64_t k0, int64_t k1, racc *acc) {
    const int64_t w = k1 - k0;
    if (op == GN_R_ANY || op == GN_R_ALL) {
        uint8_t h[KB];
        const uint8_t *x = (const uint8_t *)xv + k0;
        for (int64_t k = 0; k < w; k++) h[k] = 0;
        for (int64_t i = i0; i < i1; i++) {
            const uint8_t *r = x + i * inner;
            if (op == GN_R_ANY)
                for (int64_t k = 0; k < w; k++) h[k] |= r[k] != 0;
            else
                for (int64_t k = 0; k < w; k++) h[k] |= r[k] == 0;
        }
        for (int64_t k = 0; k < w; k++) acc[k].v = op == GN_R_ANY ? h[k] : !h[k];
        return;
    }
    const float *x = (const float *)xv + k0;
    if (op == GN_R_ARGMAX || op == GN_R_ARGMIN) {
        float m[KB];
        int64_t id[KB];
        const int amax = op == GN_R_ARGMAX;
        for (int64_t k = 0; k < w; k++) {
            m[k] = x[i0 * inner + k];
            id[k] = i0;
        }
        for (int64_t i = i0 + 1; i < i1; i++) {
            const float *r = x + i * inner;
            for (int64_t k = 0; k < w; k++) {
                float v = r[k], b = m[k];
                /* strictly better, or the first NaN (a NaN best never moves) */
                int take = (amax ? v > b : v < b) | ((v != v) & (b == b));
                m[k] = take ? v : b;
                id[k] = take ? i : id[k];
            }
        }
        for (int64_t k = 0; k < w; k++) {
            acc[k].v = m[k];
            acc[k].i = id[k];
        }
        return;
    }
    if (op == GN_R_MAX || op == GN_R_MIN) {
        float m[KB];
        for (int64_t k = 0; k < w; k++) m[k] = op == GN_R_MAX ? -INFINITY : INFINITY;
        for (int64_t i = i0; i < i1; i++) {
            const float *r = x + i * inner;
            if (op == GN_R_MAX)
                for (int64_t k = 0; k < w; k++) m[k] = gn_max_nan(m[k], r[k]);
            else
                for (int64_t k = 0; k < w; k++) m[k] = gn_min_nan(m[k], r[k]);
        }
        for (int64_t k = 0; k < w; k++) acc[k].v = m[k];
        return;
    }
    double s[KB];
    for (int64_t k = 0; k < w; k++) s[k] = op == GN_R_PROD ? 1.0 : 0.0;
    for (int64_t i = i0; i < i1; i++) {
        const float *r = x + i * inner;
        if (op == GN_R_PROD)
            for (int64_t k = 0; k < w; k++) s[k] *= (double)r[k];
        else if (op == GN_R_SUMSQ)
            for (int64_t k = 0; k < w; k++) s[k] += (double)r[k] * (double)r[k];
        else
            for (int64_t k = 0; k < w; k++) s[k] += (double)r[k];
    }
    for (int64_t k = 0; k < w; k++) acc[k].v = s[k];
}

GN_INLINE void reduce_block_body(int op, const void *x, int64_t inner, int64_t i0, int64_t i1,
                                 int64_t k0, int64_t k1, racc *acc) {
    if (inner == 1) reduce_row(op, x, i0, i1, acc);
    else reduce_cols(op, x, inner, i0, i1, k0, k1, acc);
}

GN_MULTI(reduce_block, (int op, const void *x, int64_t inner, int64_t i0, int64_t i1,
                        int64_t k0, int64_t k1, racc *acc),
         reduce_block_body(op, x, inner, i0, i1, k0, k1, acc))

typedef void (*reduce_block_fn)(int, const void *, int64_t, int64_t, int64_t, int64_t, int64_t,
                                racc *);

/* d = d (earlier rows) combined with s (later rows). */
static void combine(int op, racc *d, const racc *s, int64_t w) {
    for (int64_t k = 0; k < w; k++) {
        double a = d[k].v, b = s[k].v;
        switch (op) {
        case GN_R_MAX: d[k].v = (b > a || b != b) ? b : a; break;
        case GN_R_MIN: d[k].v = (b < a || b != b) ? b : a; break;
        case GN_R_PROD: d[k].v = a * b; break;
        case GN_R_ANY: d[k].v = a != 0 || b != 0; break;
        case GN_R_ALL: d[k].v = a != 0 && b != 0; break;
        case GN_R_ARGMAX:
        case GN_R_ARGMIN:
            if (a == a && ((op == GN_R_ARGMAX ? b > a : b < a) || b != b)) d[k] = s[k];
            break;
        default: d[k].v = a + b; break;
        }
    }
}

/* Write w results for n reduced rows to y (typed by op) at column offset off. */
static void finish(int op, const racc *acc, int64_t w, int64_t n, void *y, int64_t off) {
    for (int64_t k = 0; k < w; k++) {
        if (op == GN_R_ARGMAX || op == GN_R_ARGMIN) ((int64_t *)y)[off + k] = acc[k].i;
        else if (op == GN_R_ANY || op == GN_R_ALL) ((uint8_t *)y)[off + k] = acc[k].v != 0;
        else if (op == GN_R_MEAN) ((float *)y)[off + k] = (float)(acc[k].v / (double)n);
        else ((float *)y)[off + k] = (float)acc[k].v;
    }
}

/* n == 0: the identity of each op. */
static void reduce_empty(int op, int64_t m, void *y) {
    for (int64_t j = 0; j < m; j++) {
        switch (op) {
        case GN_R_ARGMAX: case GN_R_ARGMIN: ((int64_t *)y)[j] = 0; break;
        case GN_R_ANY: ((uint8_t *)y)[j] = 0; break;
        case GN_R_ALL: ((uint8_t *)y)[j] = 1; break;
        case GN_R_MEAN: ((float *)y)[j] = NAN; break;
        case GN_R_PROD: ((float *)y)[j] = 1.0f; break;
        case GN_R_MAX: ((float *)y)[j] = -INFINITY; break;
        case GN_R_MIN: ((float *)y)[j] = INFINITY; break;
        default: ((float *)y)[j] = 0.0f; break;
        }
    }
}

/* Units [u0, u1), unit u = (outer slab, column block): every row at once. */
static void reduce_units(reduce_block_fn fn, int op, const char *xb, int es, int64_t n,
                         int64_t inner, void *y, int64_t u0, int64_t u1) {
    const int64_t kblocks = (inner + KB - 1) / KB;
    racc acc[KB];
    for (int64_t u = u0; u < u1; u++) {
        int64_t o = u / kblocks, k0 = (u % kblocks) * KB;
        int64_t k1 = k0 + KB < inner ? k0 + KB : inner;
        fn(op, xb + o * n * inner * es, inner, 0, n, k0, k1, acc);
        finish(op, acc, k1 - k0, n, y, o * inner + k0);
    }
}

typedef struct {
    reduce_block_fn fn;
    int op;
    const char *xb;
    int es;
    int64_t n, inner;
    void *y;
    racc *part;       /* per-thread partial results (row split) */
    int64_t k0, k1;   /* the column block (row split) */
    int used;         /* threads the row split ran on */
} reduce_task_t;

static void reduce_units_range(void *arg, int64_t u0, int64_t u1, int tid) {
    const reduce_task_t *t = arg;
    (void)tid;
    reduce_units(t->fn, t->op, t->xb, t->es, t->n, t->inner, t->y, u0, u1);
}

/* Rows n * tid / nt .. of one column block into thread tid's partial. */
static void reduce_rows_part(void *arg, int tid, int nt) {
    reduce_task_t *t = arg;
    if (tid == 0) t->used = nt;
    t->fn(t->op, t->xb, t->inner, t->n * tid / nt, t->n * (tid + 1) / nt, t->k0, t->k1,
          t->part + tid * KB);
}

void gn_reduce(int op, int64_t outer, int64_t n, int64_t inner, const void *x, void *y) {
    if (op < GN_R_SUM || op > GN_R_ALL || outer <= 0 || inner <= 0) return;
    if (n <= 0) {
        reduce_empty(op, outer * inner, y);
        return;
    }
    const int es = op == GN_R_ANY || op == GN_R_ALL ? 1 : 4;
    const char *xb = (const char *)x;
    reduce_block_fn fn = GN_PICK(reduce_block);
    const int64_t kblocks = (inner + KB - 1) / KB, units = outer * kblocks;
    int64_t nt = gn_team_for((double)outer * (double)n * (double)inner, GN_GRAIN_ELEMENTS);

    if (nt == 1) {
        reduce_units(fn, op, xb, es, n, inner, y, 0, units);
        return;
    }
    if (units >= 2 * nt || units % nt == 0) { /* whole units per thread, balanced */
        reduce_task_t task = {fn, op, xb, es, n, inner, y, NULL, 0, 0, 1};
        gn_parallel_for((int)nt, units, reduce_units_range, &task);
        return;
    }
    /* few units, long rows: split the rows of each unit over the threads */
    if (nt > n) nt = n;
    racc *part = malloc(sizeof(racc) * (size_t)(nt * KB));
    if (!part) nt = 1, part = NULL;
    for (int64_t u = 0; u < units; u++) {
        int64_t o = u / kblocks, k0 = (u % kblocks) * KB;
        int64_t k1 = k0 + KB < inner ? k0 + KB : inner;
        const char *slab = xb + o * n * inner * es;
        if (!part) {
            racc acc[KB];
            fn(op, slab, inner, 0, n, k0, k1, acc);
            finish(op, acc, k1 - k0, n, y, o * inner + k0);
            continue;
        }
        reduce_task_t task = {fn, op, slab, es, n, inner, NULL, part, k0, k1, 1};
        gn_parallel((int)nt, reduce_rows_part, &task);
        for (int c = 1; c < task.used; c++) combine(op, part, part + c * KB, k1 - k0);
        finish(op, part, k1 - k0, n, y, o * inner + k0);
    }
    free(part);
}
