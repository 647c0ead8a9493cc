/* Elementwise kernels: gn_unary, gn_binary (with broadcasting), gn_where.
 *
 * Semantics follow NumPy on float32: NaN propagates through every float op
 * (relu(NaN) is NaN), MOD and FLOOR_DIV use NumPy's sign-of-divisor rules.
 * Hot loops are written once as always-inline bodies and cloned per ISA.
 */
#include "kernel_util.h"
#include "eltwise_value.h"
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

/* ---- unary ------------------------------------------------------------- */

#define LOOP(expr)                             \
    for (int64_t i = 0; i < n; i++) {          \
        const float v = x[i];                  \
        y[i] = (expr);                         \
    }                                          \
    break

GN_INLINE void unary_body(int op, int64_t n, const float *x, float *y, float a, float b) {
    switch (op) {
    case GN_U_COPY:
        if (x != y) memmove(y, x, (size_t)n * sizeof(float));
        break;
#define U(op) case op: LOOP(gn_unary_value(op, v, a, b));
    U(GN_U_NEG) U(GN_U_ABS) U(GN_U_SIGN) U(GN_U_SQUARE) U(GN_U_SQRT) U(GN_U_RSQRT)
    U(GN_U_RECIPROCAL) U(GN_U_EXP) U(GN_U_EXPM1) U(GN_U_LOG) U(GN_U_LOG1P) U(GN_U_SIN)
    U(GN_U_COS) U(GN_U_TAN) U(GN_U_ATAN) U(GN_U_TANH) U(GN_U_SIGMOID) U(GN_U_SILU)
    U(GN_U_LOG_SIGMOID) U(GN_U_RELU) U(GN_U_RELU6) U(GN_U_LEAKY_RELU) U(GN_U_ELU)
    U(GN_U_SELU) U(GN_U_SOFTPLUS) U(GN_U_SOFTSIGN) U(GN_U_MISH) U(GN_U_HARD_SIGMOID)
    U(GN_U_HARD_SILU) U(GN_U_GELU) U(GN_U_GELU_TANH) U(GN_U_ERF) U(GN_U_FLOOR) U(GN_U_CEIL)
    U(GN_U_ROUND) U(GN_U_CLIP) U(GN_U_AFFINE)
#undef U
    case GN_U_POW_SCALAR:
        if (a == 2.0f) { LOOP(v * v); }
        if (a == 0.5f) { LOOP(sqrtf(v)); }
        LOOP(u_pow_scalar(v, a));
    default:
        break;
    }
}
#undef LOOP

GN_MULTI(unary_range, (int op, int64_t n, const float *x, float *y, float a, float b),
         unary_body(op, n, x, y, a, b))

/* Elements per thread worth a thread: fewer for ops that call libm per element. */
static int64_t unary_grain(int op) {
    switch (op) {
    case GN_U_COPY: case GN_U_NEG: case GN_U_ABS: case GN_U_SIGN: case GN_U_SQUARE:
    case GN_U_RELU: case GN_U_RELU6: case GN_U_LEAKY_RELU: case GN_U_HARD_SIGMOID:
    case GN_U_HARD_SILU: case GN_U_CLIP: case GN_U_AFFINE: case GN_U_ROUND:
    case GN_U_FLOOR: case GN_U_CEIL: case GN_U_SQRT: case GN_U_RSQRT: case GN_U_RECIPROCAL:
    case GN_U_SOFTSIGN:
        return GN_GRAIN_ELEMENTS;
    case GN_U_EXP: case GN_U_EXPM1: case GN_U_TANH: case GN_U_SIGMOID: case GN_U_SILU:
    case GN_U_ELU: case GN_U_SELU: case GN_U_GELU_TANH: case GN_U_SOFTPLUS:
    case GN_U_LOG_SIGMOID: case GN_U_MISH: case GN_U_LOG: case GN_U_LOG1P: case GN_U_GELU:
    case GN_U_ERF:
        return GN_GRAIN_ELEMENTS / 4;
    default:
        return GN_GRAIN_ELEMENTS / 16;
    }
}

typedef struct {
    void (*fn)(int, int64_t, const float *, float *, float, float);
    int op;
    int64_t n;
    const float *x;
    float *y;
    float alpha, beta;
} unary_task_t;

static void unary_chunk(void *arg, int tid, int nt) {
    const unary_task_t *t = arg;
    const int64_t lo = gn_chunk(t->n, nt, tid), hi = gn_chunk(t->n, nt, tid + 1);
    t->fn(t->op, hi - lo, t->x + lo, t->y + lo, t->alpha, t->beta);
}

void gn_unary(int op, int64_t n, const float *x, float *y, float alpha, float beta) {
    if (n <= 0) return;
    void (*fn)(int, int64_t, const float *, float *, float, float) = GN_PICK(unary_range);
    const int nt = gn_team_for((double)n, (double)unary_grain(op));
    if (nt <= 1) {
        fn(op, n, x, y, alpha, beta);
        return;
    }
    unary_task_t task = {fn, op, n, x, y, alpha, beta};
    gn_parallel(nt, unary_chunk, &task);
}

/* ---- binary ------------------------------------------------------------ */

/* One row of n outputs: pattern 0 both contiguous, 1 b broadcast (scalar),
 * 2 a broadcast, 3 any strides. TA input type, TO output type. */
#define BIN_ROW(TA, TO, EXPR)                                                         \
    {                                                                                 \
        const TA *pa = (const TA *)a, *pb = (const TA *)b;                            \
        TO *po = (TO *)out;                                                           \
        if (pattern == 0) {                                                           \
            for (int64_t i = 0; i < n; i++) { TA p = pa[i], q = pb[i]; po[i] = (EXPR); } \
        } else if (pattern == 1) {                                                    \
            const TA q = pb[0];                                                       \
            for (int64_t i = 0; i < n; i++) { TA p = pa[i]; po[i] = (EXPR); }         \
        } else if (pattern == 2) {                                                    \
            const TA p = pa[0];                                                       \
            for (int64_t i = 0; i < n; i++) { TA q = pb[i]; po[i] = (EXPR); }         \
        } else {                                                                      \
            for (int64_t i = 0; i < n; i++) {                                         \
                TA p = pa[i * sa], q = pb[i * sb];                                    \
                po[i] = (EXPR);                                                       \
            }                                                                         \
        }                                                                             \
        break;                                                                        \
    }

GN_INLINE void binary_row_body(int op, int pattern, int64_t n, const void *a, int64_t sa,
                               const void *b, int64_t sb, void *out) {
    switch (op) {
#define F(op) case op: BIN_ROW(float, float, gn_binary_value(op, p, q))
    F(GN_B_ADD) F(GN_B_SUB) F(GN_B_MUL) F(GN_B_DIV) F(GN_B_POW) F(GN_B_MAXIMUM)
    F(GN_B_MINIMUM) F(GN_B_MOD) F(GN_B_FLOOR_DIV) F(GN_B_ATAN2)
#undef F
    case GN_B_EQUAL: BIN_ROW(float, uint8_t, p == q)
    case GN_B_NOT_EQUAL: BIN_ROW(float, uint8_t, p != q)
    case GN_B_LESS: BIN_ROW(float, uint8_t, p < q)
    case GN_B_LESS_EQUAL: BIN_ROW(float, uint8_t, p <= q)
    case GN_B_GREATER: BIN_ROW(float, uint8_t, p > q)
    case GN_B_GREATER_EQUAL: BIN_ROW(float, uint8_t, p >= q)
    case GN_B_LOGICAL_AND: BIN_ROW(uint8_t, uint8_t, (p != 0) & (q != 0))
    case GN_B_LOGICAL_OR: BIN_ROW(uint8_t, uint8_t, (p | q) != 0)
    case GN_B_LOGICAL_XOR: BIN_ROW(uint8_t, uint8_t, (p != 0) ^ (q != 0))
    default:
        break;
    }
}
#undef BIN_ROW

GN_MULTI(binary_row, (int op, int pattern, int64_t n, const void *a, int64_t sa, const void *b,
                      int64_t sb, void *out),
         binary_row_body(op, pattern, n, a, sa, b, sb, out))

typedef void (*binary_row_fn)(int, int, int64_t, const void *, int64_t, const void *, int64_t,
                              void *);

static int binary_in_size(int op) { return op >= GN_B_LOGICAL_AND ? 1 : 4; }
static int binary_out_size(int op) { return op >= GN_B_EQUAL ? 1 : 4; }

/* A row-by-row walk of a collapsed index space for nops operands (strides st[i]):
 * idx holds the coordinates, off[i] operand i's element offset. */
static void walk_start(int nd, const int64_t *shape, int nops, const int64_t *const *st,
                       int64_t pos, int64_t *idx, int64_t *off) {
    for (int i = 0; i < nops; i++) off[i] = 0;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = pos % shape[d];
        pos /= shape[d];
        for (int i = 0; i < nops; i++) off[i] += idx[d] * st[i][d];
    }
}

/* Next row: back to column 0, carry into the outer dims. */
static void walk_next_row(int nd, const int64_t *shape, int nops, const int64_t *const *st,
                          int64_t *idx, int64_t *off) {
    for (int i = 0; i < nops; i++) off[i] -= idx[nd - 1] * st[i][nd - 1];
    idx[nd - 1] = 0;
    for (int d = nd - 2; d >= 0; d--) {
        for (int i = 0; i < nops; i++) off[i] += st[i][d];
        if (++idx[d] < shape[d]) break;
        for (int i = 0; i < nops; i++) off[i] -= shape[d] * st[i][d];
        idx[d] = 0;
    }
}

/* Flat outputs [lo, hi) of a collapsed index space: walk it row by row. */
static void binary_range(binary_row_fn fn, int op, int nd, const int64_t *shape,
                         const char *a, const int64_t *as, const char *b, const int64_t *bs,
                         char *out, int64_t lo, int64_t hi) {
    const int ins = binary_in_size(op), outs = binary_out_size(op);
    const int64_t inner = shape[nd - 1], sa = as[nd - 1], sb = bs[nd - 1];
    const int pattern = sa == 1 && sb == 1 ? 0 : sa == 1 && sb == 0 ? 1
                        : sa == 0 && sb == 1 ? 2 : 3;
    const int64_t *st[2] = {as, bs};
    int64_t idx[nd], off[2];
    walk_start(nd, shape, 2, st, lo, idx, off);
    int64_t pos = lo;
    while (pos < hi) {
        int64_t len = inner - idx[nd - 1];
        if (len > hi - pos) len = hi - pos;
        fn(op, pattern, len, a + off[0] * ins, sa, b + off[1] * ins, sb, out + pos * outs);
        pos += len;
        if (pos >= hi) break;
        walk_next_row(nd, shape, 2, st, idx, off);
    }
}

typedef struct {
    binary_row_fn fn;
    int op, nd;
    const int64_t *shape;
    const char *a;
    const int64_t *as;
    const char *b;
    const int64_t *bs;
    char *out;
    int64_t total;
} binary_task_t;

static void binary_chunk(void *arg, int tid, int nt) {
    const binary_task_t *t = arg;
    const int64_t lo = gn_chunk(t->total, nt, tid), hi = gn_chunk(t->total, nt, tid + 1);
    if (lo < hi) binary_range(t->fn, t->op, t->nd, t->shape, t->a, t->as, t->b, t->bs, t->out, lo, hi);
}

static int64_t binary_grain(int op) {
    return op == GN_B_POW || op == GN_B_MOD || op == GN_B_FLOOR_DIV || op == GN_B_ATAN2
               ? GN_GRAIN_ELEMENTS / 16 : GN_GRAIN_ELEMENTS;
}

void gn_binary(int op, int ndim, const int64_t *shape, const void *a, const int64_t *astrides,
               const void *b, const int64_t *bstrides, void *out) {
    int64_t cshape[ndim + 1], cstr[2 * ndim + 2];
    const int64_t *strides[2] = {astrides, bstrides};
    int nd = gn_collapse(ndim, shape, 2, strides, cshape, cstr);
    if (nd < 0) return;
    const int64_t *as = cstr, *bs = cstr + ndim;
    int64_t zero = 0;
    if (nd == 0) { /* a single element: view it as one row of 1 */
        nd = 1;
        cshape[0] = 1;
        as = bs = &zero;
    }
    int64_t total = 1;
    for (int d = 0; d < nd; d++) total *= cshape[d];
    binary_row_fn fn = GN_PICK(binary_row);
    const int nt = gn_team_for((double)total, (double)binary_grain(op));
    if (nt <= 1) {
        binary_range(fn, op, nd, cshape, a, as, b, bs, out, 0, total);
        return;
    }
    binary_task_t task = {fn, op, nd, cshape, a, as, b, bs, out, total};
    gn_parallel(nt, binary_chunk, &task);
}

/* ---- where ------------------------------------------------------------- */

GN_INLINE void where_row_body(int64_t n, const uint8_t *c, int64_t sc, const float *a,
                              int64_t sa, const float *b, int64_t sb, float *out) {
    if (sc == 1 && sa == 1 && sb == 1) {
        for (int64_t i = 0; i < n; i++) { float p = a[i], q = b[i]; out[i] = c[i] ? p : q; }
    } else if (sc == 1 && sa == 1 && sb == 0) {
        const float q = b[0];
        for (int64_t i = 0; i < n; i++) { float p = a[i]; out[i] = c[i] ? p : q; }
    } else if (sc == 1 && sa == 0 && sb == 1) {
        const float p = a[0];
        for (int64_t i = 0; i < n; i++) { float q = b[i]; out[i] = c[i] ? p : q; }
    } else if (sc == 1 && sa == 0 && sb == 0) {
        const float p = a[0], q = b[0];
        for (int64_t i = 0; i < n; i++) out[i] = c[i] ? p : q;
    } else {
        for (int64_t i = 0; i < n; i++) {
            float p = a[i * sa], q = b[i * sb];
            out[i] = c[i * sc] ? p : q;
        }
    }
}

GN_MULTI(where_row, (int64_t n, const uint8_t *c, int64_t sc, const float *a, int64_t sa,
                     const float *b, int64_t sb, float *out),
         where_row_body(n, c, sc, a, sa, b, sb, out))

typedef void (*where_row_fn)(int64_t, const uint8_t *, int64_t, const float *, int64_t,
                             const float *, int64_t, float *);

static void where_range(where_row_fn fn, int nd, const int64_t *shape, const uint8_t *c,
                        const int64_t *cs, const float *a, const int64_t *as, const float *b,
                        const int64_t *bs, float *out, int64_t lo, int64_t hi) {
    const int64_t inner = shape[nd - 1];
    const int64_t *st[3] = {cs, as, bs};
    int64_t idx[nd], off[3];
    walk_start(nd, shape, 3, st, lo, idx, off);
    int64_t pos = lo;
    while (pos < hi) {
        int64_t len = inner - idx[nd - 1];
        if (len > hi - pos) len = hi - pos;
        fn(len, c + off[0], cs[nd - 1], a + off[1], as[nd - 1], b + off[2], bs[nd - 1],
           out + pos);
        pos += len;
        if (pos >= hi) break;
        walk_next_row(nd, shape, 3, st, idx, off);
    }
}

typedef struct {
    where_row_fn fn;
    int nd;
    const int64_t *shape;
    const uint8_t *c;
    const int64_t *cs;
    const float *a;
    const int64_t *as;
    const float *b;
    const int64_t *bs;
    float *out;
    int64_t total;
} where_task_t;

static void where_chunk(void *arg, int tid, int nt) {
    const where_task_t *t = arg;
    const int64_t lo = gn_chunk(t->total, nt, tid), hi = gn_chunk(t->total, nt, tid + 1);
    if (lo < hi)
        where_range(t->fn, t->nd, t->shape, t->c, t->cs, t->a, t->as, t->b, t->bs, t->out, lo, hi);
}

void gn_where(int ndim, const int64_t *shape, const uint8_t *cond, const int64_t *cstrides,
              const float *a, const int64_t *astrides, const float *b,
              const int64_t *bstrides, float *out) {
    int64_t cshape[ndim + 1], cstr[3 * ndim + 3];
    const int64_t *strides[3] = {cstrides, astrides, bstrides};
    int nd = gn_collapse(ndim, shape, 3, strides, cshape, cstr);
    if (nd < 0) return;
    const int64_t *cs = cstr, *as = cstr + ndim, *bs = cstr + 2 * ndim;
    int64_t zero = 0;
    if (nd == 0) {
        nd = 1;
        cshape[0] = 1;
        cs = as = bs = &zero;
    }
    int64_t total = 1;
    for (int d = 0; d < nd; d++) total *= cshape[d];
    where_row_fn fn = GN_PICK(where_row);
    const int nt = gn_team_for((double)total, GN_GRAIN_ELEMENTS);
    if (nt <= 1) {
        where_range(fn, nd, cshape, cond, cs, a, as, b, bs, out, 0, total);
        return;
    }
    where_task_t task = {fn, nd, cshape, cond, cs, a, as, b, bs, out, total};
    gn_parallel(nt, where_chunk, &task);
}
