/* Layer normalization over the last axis of a (rows, n) array, each row held in cache:
 *
 *   y = (x - mean) * rsqrt(var + epsilon) * gamma + beta
 *
 * mean and the centered variance (two passes over the row, as the composite's
 * moments) summed in double lanes; gamma and beta of n floats each, or NULL (1 and 0).
 * y may alias x. The gradient with respect to x, with xhat = (x - mean) * inv and
 * g = dy * gamma:
 *
 *   dx = inv * (g - mean(g) - xhat * mean(g * xhat))
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

GN_INLINE void layer_norm_grad_rows_body(int64_t n, int64_t r0, int64_t r1, const float *dy,
                                         const float *x, const float *gamma, float epsilon,
                                         float *dx) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * n, *gr = dy + r * n;
        float *dr = dx + r * n;
        const float mean = (float)(row_sum(xr, n) / (double)n);
        const float var = (float)(row_square_sum(xr, n, mean) / (double)n);
        const float inv = 1.0f / sqrtf(var + epsilon);
        double sg[LANES] = {0.0}, sgx[LANES] = {0.0}, sum_g = 0.0, sum_gx = 0.0;
        int64_t i = 0;
        for (; i + LANES <= n; i += LANES)
            for (int j = 0; j < LANES; j++) {
                const float g = gamma ? gr[i + j] * gamma[i + j] : gr[i + j];
                sg[j] += (double)g;
                sgx[j] += (double)(g * ((xr[i + j] - mean) * inv));
            }
        for (int j = 0; j < LANES; j++) {
            sum_g += sg[j];
            sum_gx += sgx[j];
        }
        for (; i < n; i++) {
            const float g = gamma ? gr[i] * gamma[i] : gr[i];
            sum_g += (double)g;
            sum_gx += (double)(g * ((xr[i] - mean) * inv));
        }
        const float a = (float)(sum_g / (double)n), b = (float)(sum_gx / (double)n);
        if (gamma)
            for (i = 0; i < n; i++)
                dr[i] = inv * (gr[i] * gamma[i] - a - (xr[i] - mean) * inv * b);
        else
            for (i = 0; i < n; i++) dr[i] = inv * (gr[i] - a - (xr[i] - mean) * inv * b);
    }
}

GN_MULTI(layer_norm_rows, (int64_t n, int64_t r0, int64_t r1, const float *x,
                           const float *gamma, const float *beta, float epsilon, float *y),
         layer_norm_rows_body(n, r0, r1, x, gamma, beta, epsilon, y))

GN_MULTI(layer_norm_grad_rows, (int64_t n, int64_t r0, int64_t r1, const float *dy,
                                const float *x, const float *gamma, float epsilon, float *dx),
         layer_norm_grad_rows_body(n, r0, r1, dy, x, gamma, epsilon, dx))

/* Both kernels' row functions: (n, r0, r1, three row operands, epsilon, out). */
typedef void (*rows_fn)(int64_t, int64_t, int64_t, const float *, const float *,
                        const float *, float, float *);
typedef struct {
    rows_fn fn;
    int64_t n;
    const float *a, *b, *c;
    float epsilon;
    float *out;
} rows_task_t;

static void rows_range(void *arg, int64_t r0, int64_t r1, int tid) {
    const rows_task_t *t = arg;
    (void)tid;
    t->fn(t->n, r0, r1, t->a, t->b, t->c, t->epsilon, t->out);
}

/* Rows split over the team when they are work enough for it at ``grain`` elements. */
static void run_rows(rows_fn fn, int64_t rows, int64_t n, const float *a, const float *b,
                     const float *c, float epsilon, float *out, double grain) {
    if (rows <= 0 || n <= 0) return;
    int64_t nt = gn_team_for((double)rows * (double)n, grain);
    if (nt > rows) nt = rows;
    if (nt <= 1) {
        fn(n, 0, rows, a, b, c, epsilon, out);
        return;
    }
    rows_task_t task = {fn, n, a, b, c, epsilon, out};
    gn_parallel_for((int)nt, rows, rows_range, &task);
}

void gn_layer_norm(int64_t rows, int64_t n, const float *x, const float *gamma,
                   const float *beta, float epsilon, float *y) {
    /* three passes over each row: a third of a cheap elementwise op's grain */
    run_rows(GN_PICK(layer_norm_rows), rows, n, x, gamma, beta, epsilon, y,
             GN_GRAIN_ELEMENTS / 3);
}

void gn_layer_norm_grad(int64_t rows, int64_t n, const float *dy, const float *x,
                        const float *gamma, float epsilon, float *dx) {
    /* four passes over each row, two of them reading two arrays */
    run_rows(GN_PICK(layer_norm_grad_rows), rows, n, dy, x, gamma, epsilon, dx,
             GN_GRAIN_ELEMENTS / 6);
}
