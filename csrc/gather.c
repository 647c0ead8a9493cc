/* Gather rows by index and its gradient, the scatter-add (GN_K_GATHER, GN_K_SCATTER_ADD).
 *
 * Over an (outer, n, inner) view of the table: a negative index counts from the end, as
 * in NumPy and Keras; an index outside [-n, n) is never dereferenced. With empty rows
 * (inner 0) only the indices are checked: no loop runs over `outer`, which no buffer then
 * bounds (the plan fuzzer's GATHER of outer 2^63 - 1, inner 0 ran for ever).
 *
 * Both run on the thread pool when there is enough to copy or add. The gather splits the
 * indices (each thread writes its own output rows). The scatter-add splits the table's
 * rows: each thread zeroes its rows, then reads every index and adds the rows that fall
 * in its range, in index order, so the sums are the same for any thread count and no
 * two threads write one row (deterministic, no atomics). */
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

/* Index j of an int32 or int64 array, made non-negative; -1 when outside [-n, n). */
static int64_t row_of(int index_dtype, const void *indices, int64_t j, int64_t n) {
    int64_t r = index_dtype == GN_I32 ? (int64_t)((const int32_t *)indices)[j]
                                      : ((const int64_t *)indices)[j];
    if (r < 0) r += n;
    return r >= 0 && r < n ? r : -1;
}

typedef struct {
    int index_dtype, elem_size;
    int64_t outer, n, inner, m;
    const void *indices;
    const void *x;
    void *y;
    int bad[GN_TEAM_MAX];
} gather_task;

static void gather_range(void *ctx, int64_t lo, int64_t hi, int tid) {
    gather_task *t = (gather_task *)ctx;
    const size_t row = (size_t)t->inner * (size_t)t->elem_size;
    int bad = 0;
    for (int64_t j = lo; j < hi; j++) {
        const int64_t r = row_of(t->index_dtype, t->indices, j, t->n);
        bad |= r < 0;
        for (int64_t o = 0; row && o < t->outer; o++) {
            char *dst = (char *)t->y + ((size_t)o * (size_t)t->m + (size_t)j) * row;
            if (r < 0)
                memset(dst, 0, row);
            else
                memcpy(dst, (const char *)t->x + ((size_t)o * (size_t)t->n + (size_t)r) * row,
                       row);
        }
    }
    t->bad[tid] |= bad;
}

static int any_bad(const int *bad) {
    int any = 0;
    for (int i = 0; i < GN_TEAM_MAX; i++) any |= bad[i];
    return any;
}

int gn_gather(int index_dtype, int elem_size, int64_t outer, int64_t n, int64_t inner,
              int64_t m, const void *indices, const void *x, void *y) {
    gather_task t = {index_dtype, elem_size, outer, n, inner, m, indices, x, y, {0}};
    const double bytes = inner > 0 ? (double)outer * (double)m * (double)inner * elem_size
                                   : 0.0;
    gn_parallel_for(gn_team_for(bytes / 4.0, GN_GRAIN_ELEMENTS), m, gather_range, &t);
    return any_bad(t.bad) ? GN_ERR_INDEX : GN_OK;
}

typedef struct {
    int index_dtype;
    int64_t outer, n, inner, m;
    const void *indices;
    const float *dy;
    float *dx;
    int bad[GN_TEAM_MAX];
} scatter_task;

/* Rows [lo, hi) of the table (in every outer slice): zeroed, then their updates added. */
static void scatter_rows(void *ctx, int64_t lo, int64_t hi, int tid) {
    scatter_task *t = (scatter_task *)ctx;
    const int64_t inner = t->inner, n = t->n, m = t->m;
    for (int64_t o = 0; inner > 0 && o < t->outer; o++)
        memset(t->dx + (o * n + lo) * inner, 0, sizeof(float) * (size_t)((hi - lo) * inner));
    int bad = 0;
    for (int64_t j = 0; j < m; j++) {
        const int64_t r = row_of(t->index_dtype, t->indices, j, n);
        if (r < 0) {
            bad = 1;
            continue;
        }
        if (r < lo || r >= hi) continue;
        for (int64_t o = 0; inner > 0 && o < t->outer; o++) {
            const float *src = t->dy + (o * m + j) * inner;
            float *dst = t->dx + (o * n + r) * inner;
            for (int64_t c = 0; c < inner; c++) dst[c] += src[c];
        }
    }
    t->bad[tid] |= bad;
}

int gn_scatter_add(int index_dtype, int64_t outer, int64_t n, int64_t inner, int64_t m,
                   const void *indices, const float *dy, float *dx) {
    scatter_task t = {index_dtype, outer, n, inner, m, indices, dy, dx, {0}};
    const double work = inner > 0 ? (double)outer * ((double)n + (double)m) * (double)inner
                                  : 0.0;
    gn_parallel_for(gn_team_for(work, GN_GRAIN_ELEMENTS), n, scatter_rows, &t);
    if (n == 0) /* no rows to own: the indices are still checked (all of them are bad) */
        t.bad[0] = m > 0;
    return any_bad(t.bad) ? GN_ERR_INDEX : GN_OK;
}
