/* Fused kernels: GEMM with a bias + activation epilogue, and elementwise chains
 * run tile by tile so intermediates never leave the cache; the epilogues the fused
 * contractions (GEMM, convolution) apply to each block of their output. */
#include "kernel_util.h"
#include <stdlib.h>
#include <string.h>
#include "graphnet.h"
#include "epilogue.h"
#include "threadpool.h"

/* ---- epilogues ---------------------------------------------------------------------- */

int gn_epilogue_empty(const gn_epilogue *e) {
    return !e || (!e->bias && !e->res && e->act == GN_U_COPY);
}

gn_epilogue gn_epilogue_offset(const gn_epilogue *e, int64_t i0, int64_t j0) {
    gn_epilogue o = *e;
    if (o.bias) o.bias += j0;
    if (o.res) o.res += i0 * o.ldr + j0;
    return o;
}

/* One row: c += bias (hb), += res (hr), relu; constant flags, so each use vectorizes. */
GN_INLINE void epilogue_row(float *c, const float *bias, const float *res, int64_t n,
                            const int hb, const int hr, const int relu) {
    for (int64_t j = 0; j < n; j++) {
        float v = c[j];
        if (hb) v += bias[j];
        if (hr) v += res[j];
        if (relu) v = v < 0 ? 0.0f : v;
        c[j] = v;
    }
}

#define EPILOGUE_ROWS(HB, HR, RELU)                                                   \
    for (int64_t i = 0; i < rows; i++) {                                              \
        float *ci = c + i * ldc;                                                      \
        epilogue_row(ci, bias, HR ? e->res + (i0 + i) * e->ldr + j0 : NULL, cols, HB, \
                     HR, RELU);                                                       \
        if (other) gn_unary(e->act, cols, ci, ci, e->alpha, e->beta);                 \
    }                                                                                 \
    break

/* Bias, residual and relu in one loop over each row; other activations then run on it. */
GN_INLINE void epilogue_body(const gn_epilogue *e, int64_t i0, int64_t j0, int64_t rows,
                             int64_t cols, float *c, int64_t ldc) {
    const float *bias = e->bias ? e->bias + j0 : NULL;
    const int relu = e->act == GN_U_RELU, other = !relu && e->act != GN_U_COPY;
    switch ((bias != NULL) * 4 + (e->res != NULL) * 2 + relu) {
    case 0: EPILOGUE_ROWS(0, 0, 0);
    case 1: EPILOGUE_ROWS(0, 0, 1);
    case 2: EPILOGUE_ROWS(0, 1, 0);
    case 3: EPILOGUE_ROWS(0, 1, 1);
    case 4: EPILOGUE_ROWS(1, 0, 0);
    case 5: EPILOGUE_ROWS(1, 0, 1);
    case 6: EPILOGUE_ROWS(1, 1, 0);
    default: EPILOGUE_ROWS(1, 1, 1);
    }
}
#undef EPILOGUE_ROWS

GN_MULTI(epilogue_rows, (const gn_epilogue *e, int64_t i0, int64_t j0, int64_t rows,
                         int64_t cols, float *c, int64_t ldc),
         epilogue_body(e, i0, j0, rows, cols, c, ldc))

void gn_epilogue_apply(const gn_epilogue *e, int64_t i0, int64_t j0, int64_t rows,
                       int64_t cols, float *c, int64_t ldc) {
    if (gn_epilogue_empty(e) || rows <= 0 || cols <= 0) return;
    GN_PICK(epilogue_rows)(e, i0, j0, rows, cols, c, ldc);
}

static void epilogue_hook(const void *ctx, int64_t i0, int64_t j0, int64_t rows, int64_t cols,
                          float *c, int64_t ldc) {
    gn_epilogue_apply(ctx, i0, j0, rows, cols, c, ldc);
}

void gn_sgemm_epilogue(int transa, int transb, int64_t m, int64_t n, int64_t k,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                       int64_t ldc, const gn_epilogue *e, const float *bpacked) {
    gn_sgemm_then(transa, transb, m, n, k, a, lda, b, ldb, c, ldc,
                  gn_epilogue_empty(e) ? NULL : epilogue_hook, e, bpacked);
}

/* ---- GEMM + bias + activation ----------------------------------------------------- */

void gn_gemm_bias_act(int transa, int transb, int64_t m, int64_t n, int64_t k,
                      const float *a, int64_t lda, const float *b, int64_t ldb,
                      const float *bias, const float *res, int64_t ldr, int act,
                      float alpha, float beta, float *c, int64_t ldc, const float *bpacked) {
    const gn_epilogue e = {bias, res, ldr, act, alpha, beta};
    gn_sgemm_epilogue(transa, transb, m, n, k, a, lda, b, ldb, c, ldc, &e, bpacked);
}

/* ---- elementwise chains ----------------------------------------------------------- */

#define TILE 256
#define MAX_INPUTS 16
#define MAX_INSTR 48

/* Contiguous binary op on one tile; the common ones inline, the rest via gn_binary. */
static void tile_binary(int code, int64_t len, const float *x, const float *y, float *z) {
    switch (code) {
    case GN_B_ADD: for (int64_t i = 0; i < len; i++) z[i] = x[i] + y[i]; return;
    case GN_B_SUB: for (int64_t i = 0; i < len; i++) z[i] = x[i] - y[i]; return;
    case GN_B_MUL: for (int64_t i = 0; i < len; i++) z[i] = x[i] * y[i]; return;
    case GN_B_DIV: for (int64_t i = 0; i < len; i++) z[i] = x[i] / y[i]; return;
    default: {
        const int64_t one = 1;
        gn_binary(code, 1, &len, x, &one, y, &one, z);
    }
    }
}

typedef struct {
    int ndim;
    const int64_t *shape;
    int ninputs;
    const float *const *inputs;
    const int64_t *strides;
    int ninstr;
    const int64_t *prog;
    const float *fprog;
    float *out;
    int64_t inner, tiles_per_row;
} eltwise_task_t;

static void eltwise_tiles(void *arg, int64_t t0, int64_t t1, int tid);

void gn_fused_eltwise(int ndim, const int64_t *shape, int ninputs, const float *const *inputs,
                      const int64_t *strides, int ninstr, const int64_t *prog,
                      const float *fprog, float *out) {
    if (ninputs > MAX_INPUTS || ninstr > MAX_INSTR || ninstr < 1 || ndim > 32) return;
    int64_t inner = ndim ? shape[ndim - 1] : 1, outer = 1;
    for (int d = 0; d < ndim - 1; d++) outer *= shape[d];
    if (inner <= 0 || outer <= 0) return;
    const int64_t tiles_per_row = (inner + TILE - 1) / TILE, ntiles = outer * tiles_per_row;
    eltwise_task_t task = {ndim, shape, ninputs, inputs, strides, ninstr, prog, fprog, out,
                           inner, tiles_per_row};
    gn_parallel_for(gn_team_for((double)outer * (double)inner, GN_GRAIN_ELEMENTS), ntiles,
                    eltwise_tiles, &task);
}

static void eltwise_tiles(void *arg, int64_t t0, int64_t t1, int tid) {
    const eltwise_task_t *e = arg;
    const int ndim = e->ndim, ninputs = e->ninputs, ninstr = e->ninstr;
    const int64_t *shape = e->shape, *strides = e->strides, *prog = e->prog;
    const int64_t inner = e->inner, tiles_per_row = e->tiles_per_row;
    const float *const *inputs = e->inputs;
    const float *fprog = e->fprog;
    float *out = e->out;
    (void)tid;
    for (int64_t t = t0; t < t1; t++) {
        float store[(MAX_INPUTS + MAX_INSTR)][TILE];
        const float *reg[MAX_INPUTS + MAX_INSTR];
        const int64_t row = t / tiles_per_row, col = (t % tiles_per_row) * TILE;
        const int64_t len = inner - col < TILE ? inner - col : TILE;
        for (int j = 0; j < ninputs; j++) {
            const int64_t *st = strides + j * ndim;
            int64_t off = 0, rem = row;
            for (int d = ndim - 2; d >= 0; d--) {
                off += (rem % shape[d]) * st[d];
                rem /= shape[d];
            }
            const int64_t si = ndim ? st[ndim - 1] : 0;
            const float *src = inputs[j] + off + col * si;
            if (si == 1) {
                reg[j] = src; /* read in place */
            } else {
                for (int64_t i = 0; i < len; i++) store[j][i] = src[i * si];
                reg[j] = store[j];
            }
        }
        for (int s = 0; s < ninstr; s++) {
            const int64_t *in = prog + 4 * s;
            const int r = ninputs + s;
            float *dst = (s == ninstr - 1) ? out + row * inner + col : store[r];
            if (in[0] == 1)
                gn_unary((int)in[1], len, reg[in[2]], dst, fprog[2 * s], fprog[2 * s + 1]);
            else
                tile_binary((int)in[1], len, reg[in[2]], reg[in[3]], dst);
            reg[r] = dst;
        }
    }
}
