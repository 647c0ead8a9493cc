/* Layer normalization over the last axis of a (rows, n) array, in one pass per row
 * held in cache:
 *
 *   y = (x - mean) * rsqrt(var + epsilon) * gamma + beta
 *
 * mean and the centered variance (two passes over the row, as the composite's
 * moments) summed in double lanes; gamma and beta of n floats each, or NULL (1 and 0).
 * y may alias x.
 */
#include <math.h>
#include "kernel_util.h"
#include "graphnet.h"
#include "threadpool.h"

#define LANES 16 /* double lanes of the row sums */

GN_INLINE double row_sum(const float *x, int64_t n) {
    double s[LANES] = {0.0}, sum = 0.0;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) s[j] += (double)x[i + j];
    for (int j = 0; j < LANES; j++) sum += s[j];
    for (; i < n; i++) sum += (double)x[i];
    return sum;
}

GN_INLINE double row_square_sum(const float *x, int64_t n, float mean) {
    double s[LANES] = {0.0}, sum = 0.0;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            const double d = (double)(x[i + j] - mean);
            s[j] += d * d;
        }
    for (int j = 0; j < LANES; j++) sum += s[j];
    for (; i < n; i++) {
        const double d = (double)(x[i] - mean);
        sum += d * d;
    }
    return sum;
}

GN_INLINE void layer_norm_rows_body(int64_t n, int64_t r0, int64_t r1, const float *x,
                                    const float *gamma, const float *beta, float epsilon,
                                    float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        const float mean = (float)(row_sum(xr, n) / (double)n);
        const float var = (float)(row_square_sum(xr, n, mean) / (double)n);
        const float inv = 1.0f / sqrtf(var + epsilon);
        if (gamma && beta)
            for (int64_t i = 0; i < n; i++) yr[i] = (xr[i] - mean) * (inv * gamma[i]) + beta[i];
        else if (gamma)
            for (int64_t i = 0; i < n; i++) yr[i] = (xr[i] - mean) * (inv * gamma[i]);
        else if (beta)
            for (int64_t i = 0; i < n; i++) yr[i] = (xr[i] - mean) * inv + beta[i];
        else
            for (int64_t i = 0; i < n; i++) yr[i] = (xr[i] - mean) * inv;
    }
}

GN_MULTI(layer_norm_rows, (int64_t n, int64_t r0, int64_t r1, const float *x,
                           const float *gamma, const float *beta, float epsilon, float *y),
         layer_norm_rows_body(n, r0, r1, x, gamma, beta, epsilon, y))

typedef void (*layer_norm_fn)(int64_t, int64_t, int64_t, const float *, const float *,
                              const float *, float, float *);
typedef struct {
    layer_norm_fn fn;
    int64_t n;
    const float *x, *gamma, *beta;
    float epsilon;
    float *y;
} layer_norm_task_t;

static void layer_norm_range(void *arg, int64_t r0, int64_t r1, int tid) {
    const layer_norm_task_t *t = arg;
    (void)tid;
    t->fn(t->n, r0, r1, t->x, t->gamma, t->beta, t->epsilon, t->y);
}

void gn_layer_norm(int64_t rows, int64_t n, const float *x, const float *gamma,
                   const float *beta, float epsilon, float *y) {
    if (rows <= 0 || n <= 0) return;
    layer_norm_fn fn = GN_PICK(layer_norm_rows);
    /* three passes over each row: a third of a cheap elementwise op's grain */
    int64_t nt = gn_team_for((double)rows * (double)n, GN_GRAIN_ELEMENTS / 3);
    if (nt > rows) nt = rows;
    if (nt <= 1) {
        fn(n, 0, rows, x, gamma, beta, epsilon, y);
        return;
    }
    layer_norm_task_t task = {fn, n, x, gamma, beta, epsilon, y};
    gn_parallel_for((int)nt, rows, layer_norm_range, &task);
}
