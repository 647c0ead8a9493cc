/* Smoke test of the non-GEMM kernels (eltwise, layout, reduce, softmax) on
 * small inputs, on every SIMD path the CPU has and on two threads, so it can
 * run under ASan/UBSan. The exhaustive checks against NumPy live in
 * tests/test_kernels_eltwise.py; this one checks values a naive loop can. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graphnet.h"
#include "internal.h"

static int failures = 0;

#define CHECK(cond, ...)                                       \
    do {                                                       \
        if (!(cond)) {                                         \
            failures++;                                        \
            fprintf(stderr, "FAIL %s:%d [%s] ", __FILE__, __LINE__, gn_isa_name()); \
            fprintf(stderr, __VA_ARGS__);                      \
            fprintf(stderr, "\n");                             \
        }                                                      \
    } while (0)

static int close_to(double got, double want, double rtol) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= rtol * fabs(want) + 1e-30;
}

static float frand(unsigned *s) { /* deterministic, in [-4, 4) */
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 8192.0f - 4.0f;
}

/* ---- unary -------------------------------------------------------------- */
static double unary_ref(int op, double x, double a, double b) {
    double sp = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    double sg = 1.0 / (1.0 + exp(-x));
    switch (op) {
    case GN_U_COPY: return x;
    case GN_U_NEG: return -x;
    case GN_U_ABS: return fabs(x);
    case GN_U_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x;
    case GN_U_SQUARE: return x * x;
    case GN_U_SQRT: return sqrt(x);
    case GN_U_RSQRT: return 1 / sqrt(x);
    case GN_U_RECIPROCAL: return 1 / x;
    case GN_U_EXP: return exp(x);
    case GN_U_EXPM1: return expm1(x);
    case GN_U_LOG: return log(x);
    case GN_U_LOG1P: return log1p(x);
    case GN_U_SIN: return sin(x);
    case GN_U_COS: return cos(x);
    case GN_U_TANH: return tanh(x);
    case GN_U_SIGMOID: return sg;
    case GN_U_RELU: return x < 0 ? 0 : x;
    case GN_U_LEAKY_RELU: return x < 0 ? a * x : x;
    case GN_U_ELU: return x > 0 ? x : a * expm1(x);
    case GN_U_SELU: return 1.05070098 * (x > 0 ? x : 1.67326324 * expm1(x));
    case GN_U_SOFTPLUS: return sp;
    case GN_U_SOFTSIGN: return x / (1 + fabs(x));
    case GN_U_HARD_SIGMOID: return fmin(fmax(x + 3, 0), 6) / 6;
    case GN_U_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case GN_U_GELU_TANH: return 0.5 * x * (1 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    case GN_U_SILU: return x * sg;
    case GN_U_ERF: return erf(x);
    case GN_U_FLOOR: return floor(x);
    case GN_U_CEIL: return ceil(x);
    case GN_U_ROUND: return nearbyint(x);
    case GN_U_CLIP: return x < a ? a : x > b ? b : x;
    case GN_U_AFFINE: return a * x + b;
    case GN_U_POW_SCALAR: return pow(x, a);
    case GN_U_TAN: return tan(x);
    case GN_U_ATAN: return atan(x);
    case GN_U_HARD_SILU: return x * fmin(fmax(x + 3, 0), 6) / 6;
    case GN_U_MISH: return x * tanh(sp);
    case GN_U_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
    case GN_U_LOG_SIGMOID: return -(x < 0 ? -x + log1p(exp(x)) : log1p(exp(-x)));
    default: return NAN;
    }
}

static void test_unary(void) {
    enum { N = 203 };
    float x[N], y[N], z[N];
    unsigned s = 1;
    for (int i = 0; i < N; i++) x[i] = frand(&s);
    x[0] = 0.0f, x[1] = 2.5f, x[2] = -2.5f, x[3] = 0.5f, x[4] = 1e-6f;
    for (int op = 0; op < GN_U_COUNT; op++) {
        float a = op == GN_U_CLIP ? -1.0f : op == GN_U_POW_SCALAR ? 3.0f : 0.3f;
        float b = op == GN_U_CLIP ? 2.0f : 0.25f;
        gn_unary(op, N, x, y, a, b);
        for (int i = 0; i < N; i++) {
            double want = unary_ref(op, x[i], a, b);
            CHECK(close_to(y[i], want, 2e-5) || fabs(y[i] - want) < 1e-6, "unary %d x=%g: %g vs %g",
                  op, x[i], y[i], want);
        }
        memcpy(z, x, sizeof z);
        gn_unary(op, N, z, z, a, b); /* in place */
        CHECK(memcmp(y, z, sizeof z) == 0, "unary %d in place differs", op);
        /* NaN propagates (x^0 is 1 like NumPy) */
        float nan_in = NAN, nan_out = 0;
        gn_unary(op, 1, &nan_in, &nan_out, op == GN_U_POW_SCALAR ? 2.0f : a, b);
        CHECK(isnan(nan_out), "unary %d: NaN in, %g out", op, nan_out);
    }
    float big[3] = {INFINITY, -INFINITY, 100.0f}, out[3];
    gn_unary(GN_U_SIGMOID, 3, big, out, 0, 0);
    CHECK(out[0] == 1.0f && out[1] == 0.0f && out[2] == 1.0f, "sigmoid(+-inf)");
    gn_unary(GN_U_EXP, 3, big, out, 0, 0);
    CHECK(isinf(out[0]) && out[1] == 0.0f && isinf(out[2]), "exp(+-inf, 100)");
    gn_unary(GN_U_EXP, 0, big, out, 0, 0); /* n == 0 */
}

/* ---- binary and where ----------------------------------------------------- */
static double binary_ref(int op, double a, double b) {
    switch (op) {
    case GN_B_ADD: return a + b;
    case GN_B_SUB: return a - b;
    case GN_B_MUL: return a * b;
    case GN_B_DIV: return a / b;
    case GN_B_POW: return pow(a, b);
    case GN_B_MAXIMUM: return a != a || b != b ? NAN : fmax(a, b);
    case GN_B_MINIMUM: return a != a || b != b ? NAN : fmin(a, b);
    case GN_B_MOD: { double m = fmod(a, b); return m != 0 && (m < 0) != (b < 0) ? m + b : m; }
    case GN_B_FLOOR_DIV: return floor(a / b);
    case GN_B_ATAN2: return atan2(a, b);
    case GN_B_EQUAL: return a == b;
    case GN_B_NOT_EQUAL: return a != b;
    case GN_B_LESS: return a < b;
    case GN_B_LESS_EQUAL: return a <= b;
    case GN_B_GREATER: return a > b;
    case GN_B_GREATER_EQUAL: return a >= b;
    case GN_B_LOGICAL_AND: return a != 0 && b != 0;
    case GN_B_LOGICAL_OR: return a != 0 || b != 0;
    case GN_B_LOGICAL_XOR: return (a != 0) != (b != 0);
    default: return NAN;
    }
}

static const int binary_ops[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 18, 19, 20, 21, 24, 25, 26};

/* out (rows x cols) = a op b where a is (rows, cols) with strides as, b strides bs. */
static void check_binary_2d(int op, int64_t rows, int64_t cols, const int64_t *as,
                            const int64_t *bs) {
    enum { M = 4096 };
    static float fa[M], fb[M], fo[M];
    static uint8_t ua[M], ub[M], uo[M];
    unsigned s = 7;
    for (int i = 0; i < M; i++) {
        fa[i] = frand(&s), fb[i] = frand(&s) + 0.5f;
        ua[i] = (uint8_t)(i % 3), ub[i] = (uint8_t)(i % 5 == 0);
    }
    fb[3] = 0.0f; /* division by zero somewhere */
    const int logic = op >= GN_B_LOGICAL_AND, cmp = op >= GN_B_EQUAL;
    int64_t shape[2] = {rows, cols};
    gn_binary(op, 2, shape, logic ? (void *)ua : (void *)fa, as, logic ? (void *)ub : (void *)fb,
              bs, cmp ? (void *)uo : (void *)fo);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t ia = r * as[0] + c * as[1], ib = r * bs[0] + c * bs[1], io = r * cols + c;
            double a = logic ? ua[ia] : fa[ia], b = logic ? ub[ib] : fb[ib];
            double want = binary_ref(op, (float)a, (float)b);
            double got = cmp ? uo[io] : fo[io];
            if (!cmp) want = (float)want;
            CHECK(close_to(got, want, 1e-6), "binary %d (%lld,%lld) at %lld,%lld: %g vs %g", op,
                  (long long)rows, (long long)cols, (long long)r, (long long)c, got, want);
        }
}

static void test_binary(void) {
    for (size_t k = 0; k < sizeof binary_ops / sizeof binary_ops[0]; k++) {
        int op = binary_ops[k];
        int64_t cont[2] = {7, 1}, row[2] = {0, 1}, col[2] = {1, 0}, scal[2] = {0, 0};
        int64_t tr[2] = {1, 9};
        check_binary_2d(op, 5, 7, cont, cont);
        check_binary_2d(op, 5, 7, cont, row);
        check_binary_2d(op, 5, 7, cont, col);
        check_binary_2d(op, 5, 7, scal, cont);
        check_binary_2d(op, 5, 7, tr, cont);   /* transposed a */
        check_binary_2d(op, 1, 1, scal, scal);
        check_binary_2d(op, 3, 257, row, scal);
    }
    /* negative strides: b walks backwards from its last element */
    float a[6] = {1, 2, 3, 4, 5, 6}, o[6];
    int64_t shape[1] = {6}, as[1] = {1}, bs[1] = {-1};
    gn_binary(GN_B_SUB, 1, shape, a, as, a + 5, bs, o);
    for (int i = 0; i < 6; i++) CHECK(o[i] == a[i] - a[5 - i], "negative stride %d", i);
    /* 0-d and empty */
    float p = 3, q = 4, r = 0;
    gn_binary(GN_B_MUL, 0, NULL, &p, NULL, &q, NULL, &r);
    CHECK(r == 12.0f, "0-d binary");
    int64_t empty[2] = {0, 3}, st[2] = {3, 1};
    gn_binary(GN_B_ADD, 2, empty, a, st, a, st, o);
    /* NumPy mod / floor_divide signs */
    float ma[4] = {5, -5, 5, -5}, mb[4] = {3, 3, -3, -3}, mo[4], fo[4];
    int64_t s4[1] = {4}, one[1] = {1};
    gn_binary(GN_B_MOD, 1, s4, ma, one, mb, one, mo);
    gn_binary(GN_B_FLOOR_DIV, 1, s4, ma, one, mb, one, fo);
    CHECK(mo[0] == 2 && mo[1] == 1 && mo[2] == -1 && mo[3] == -2, "mod signs");
    CHECK(fo[0] == 1 && fo[1] == -2 && fo[2] == -2 && fo[3] == 1, "floor_div signs");

    /* where with a broadcast scalar */
    uint8_t c[12];
    float wa[12], wb = -1.0f, wo[12];
    for (int i = 0; i < 12; i++) c[i] = (uint8_t)(i % 3 == 0), wa[i] = (float)i;
    int64_t ws[2] = {3, 4}, cs[2] = {4, 1}, zs[2] = {0, 0};
    gn_where(2, ws, c, cs, wa, cs, &wb, zs, wo);
    for (int i = 0; i < 12; i++) CHECK(wo[i] == (c[i] ? wa[i] : wb), "where %d", i);
    gn_where(0, NULL, c, NULL, wa + 3, NULL, &wb, NULL, wo);
    CHECK(wo[0] == 3.0f, "0-d where");
}

/* ---- layout --------------------------------------------------------------- */
static void test_copy(void) {
    enum { R = 67, C = 45 };
    static uint64_t src[R * C], dst[R * C];
    for (int es = 1; es <= 8; es *= 2) {
        unsigned char *s = (unsigned char *)src, *d = (unsigned char *)dst;
        for (int i = 0; i < R * C * es; i++) s[i] = (unsigned char)(i * 7 + 3);
        /* transpose: dst (C, R) contiguous from src (R, C) */
        int64_t shape[2] = {C, R}, ss[2] = {1, C}, ds[2] = {R, 1};
        gn_strided_copy(2, shape, src, ss, dst, ds, es);
        int ok = 1;
        for (int i = 0; i < C; i++)
            for (int j = 0; j < R; j++)
                ok &= memcmp(d + (i * R + j) * es, s + (j * C + i) * es, (size_t)es) == 0;
        CHECK(ok, "transpose es=%d", es);
        /* broadcast a row, then a strided slice with negative strides */
        int64_t bshape[2] = {5, C}, bss[2] = {0, 1}, bds[2] = {C, 1};
        gn_strided_copy(2, bshape, src, bss, dst, bds, es);
        ok = 1;
        for (int i = 0; i < 5; i++) ok &= memcmp(d + i * C * es, s, (size_t)(C * es)) == 0;
        CHECK(ok, "broadcast es=%d", es);
        int64_t sshape[2] = {10, 7}, sss[2] = {-2 * C, -3}, sds[2] = {7, 1};
        const unsigned char *base = s + ((R - 1) * C + C - 1) * es;
        gn_strided_copy(2, sshape, base, sss, dst, sds, es);
        ok = 1;
        for (int i = 0; i < 10; i++)
            for (int j = 0; j < 7; j++)
                ok &= memcmp(d + (i * 7 + j) * es, base - (i * 2 * C + j * 3) * es, (size_t)es) == 0;
        CHECK(ok, "negative slice es=%d", es);
        /* 3-d permutation (0, 2, 1) of a (3, 5, 9) block */
        int64_t pshape[3] = {3, 9, 5}, pss[3] = {45, 1, 9}, pds[3] = {45, 5, 1};
        gn_strided_copy(3, pshape, src, pss, dst, pds, es);
        ok = 1;
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 9; b++)
                for (int c = 0; c < 5; c++)
                    ok &= memcmp(d + (a * 45 + b * 5 + c) * es, s + (a * 45 + b + c * 9) * es,
                                 (size_t)es) == 0;
        CHECK(ok, "permute es=%d", es);
        gn_strided_copy(0, NULL, src, NULL, dst, NULL, es); /* 0-d */
        CHECK(memcmp(d, s, (size_t)es) == 0, "0-d copy es=%d", es);
    }
}

static void test_cast(void) {
    const double vals[6] = {0, 1, 2.75, -2.75, 100, 127};
    for (int st = GN_F32; st <= GN_I8; st++)
        for (int dt = GN_F32; dt <= GN_I8; dt++) {
            unsigned char src[6 * 8], dst[6 * 8];
            for (int i = 0; i < 6; i++) {
                double v = vals[i];
                if (st == GN_U8 || st == GN_BOOL) v = fabs(v);
                if (st == GN_BOOL) v = v != 0;
                switch (st) {
                case GN_F32: ((float *)src)[i] = (float)v; break;
                case GN_F64: ((double *)src)[i] = v; break;
                case GN_I32: ((int32_t *)src)[i] = (int32_t)v; break;
                case GN_I64: ((int64_t *)src)[i] = (int64_t)v; break;
                case GN_I8: ((int8_t *)src)[i] = (int8_t)v; break;
                default: ((uint8_t *)src)[i] = (uint8_t)v; break;
                }
            }
            gn_cast(6, src, st, dst, dt);
            for (int i = 0; i < 6; i++) {
                double v = vals[i];
                if (st == GN_U8 || st == GN_BOOL) v = fabs(v);
                if (st == GN_BOOL) v = v != 0;
                if (st != GN_F32 && st != GN_F64) v = trunc(v);
                double want = dt == GN_BOOL ? v != 0 : (dt == GN_F32 || dt == GN_F64) ? v : trunc(v);
                double got;
                switch (dt) {
                case GN_F32: got = ((float *)dst)[i]; break;
                case GN_F64: got = ((double *)dst)[i]; break;
                case GN_I32: got = ((int32_t *)dst)[i]; break;
                case GN_I64: got = (double)((int64_t *)dst)[i]; break;
                case GN_I8: got = ((int8_t *)dst)[i]; break;
                default: got = ((uint8_t *)dst)[i]; break;
                }
                if (dt == GN_U8 && want < 0) want += 256; /* wraps like NumPy */
                CHECK(got == want, "cast %d->%d [%d]: %g vs %g", st, dt, i, got, want);
            }
        }
    const int sizes[7] = {4, 8, 4, 8, 1, 1, 1};
    for (int t = GN_F32; t <= GN_I8; t++) CHECK(gn_dtype_size(t) == sizes[t], "dtype size %d", t);
    CHECK(gn_dtype_size(99) == 0, "unknown dtype size");
    float nanv = NAN;
    int32_t i32;
    uint8_t b;
    gn_cast(1, &nanv, GN_F32, &i32, GN_I32);
    gn_cast(1, &nanv, GN_F32, &b, GN_BOOL);
    CHECK(i32 == INT32_MIN && b == 1, "cast NaN");
}

/* ---- reduce and softmax ----------------------------------------------------- */
static void test_reduce(void) {
    const int64_t shapes[][3] = {{2, 5, 3}, {2, 37, 1}, {3, 1, 4}, {2, 0, 3}, {1, 300, 1}, {1, 70, 70}};
    static float x[5000];
    static uint8_t u[5000];
    unsigned s = 3;
    for (int i = 0; i < 5000; i++) {
        x[i] = (float)(int)(frand(&s) * 2) / 2; /* ties */
        u[i] = (uint8_t)(i % 7 != 0);
    }
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t outer = shapes[k][0], n = shapes[k][1], inner = shapes[k][2];
        for (int op = GN_R_SUM; op <= GN_R_ALL; op++) {
            union { float f[512]; int64_t i[512]; uint8_t b[512]; } y;
            gn_reduce(op, outer, n, inner, op >= GN_R_ANY ? (void *)u : (void *)x, &y);
            for (int64_t o = 0; o < outer; o++)
                for (int64_t c = 0; c < inner; c++) {
                    double acc = op == GN_R_PROD ? 1 : op == GN_R_MAX ? -INFINITY
                                 : op == GN_R_MIN ? INFINITY : 0;
                    int64_t arg = 0;
                    int flag = op == GN_R_ALL;
                    for (int64_t i = 0; i < n; i++) {
                        int64_t at = (o * n + i) * inner + c;
                        double v = x[at];
                        switch (op) {
                        case GN_R_SUM: case GN_R_MEAN: acc += v; break;
                        case GN_R_SUMSQ: acc += v * v; break;
                        case GN_R_PROD: acc *= v; break;
                        case GN_R_MAX: acc = fmax(acc, v); break;
                        case GN_R_MIN: acc = fmin(acc, v); break;
                        case GN_R_ARGMAX: if (v > x[(o * n + arg) * inner + c]) arg = i; break;
                        case GN_R_ARGMIN: if (v < x[(o * n + arg) * inner + c]) arg = i; break;
                        case GN_R_ANY: flag |= u[at] != 0; break;
                        default: flag &= u[at] != 0; break;
                        }
                    }
                    if (op == GN_R_MEAN) acc = n ? acc / n : NAN;
                    int64_t j = o * inner + c;
                    if (op == GN_R_ARGMAX || op == GN_R_ARGMIN)
                        CHECK(y.i[j] == arg, "reduce %d (%lld,%lld,%lld): %lld vs %lld", op,
                              (long long)outer, (long long)n, (long long)inner,
                              (long long)y.i[j], (long long)arg);
                    else if (op >= GN_R_ANY)
                        CHECK(y.b[j] == flag, "reduce %d: %d vs %d", op, y.b[j], flag);
                    else
                        CHECK(close_to(y.f[j], (float)acc, 1e-5), "reduce %d (%lld,%lld,%lld): %g vs %g",
                              op, (long long)outer, (long long)n, (long long)inner, y.f[j], acc);
                }
        }
    }
    float nx[5] = {1, NAN, 3, NAN, 2}, ny;
    int64_t ai;
    gn_reduce(GN_R_MAX, 1, 5, 1, nx, &ny);
    gn_reduce(GN_R_ARGMIN, 1, 5, 1, nx, &ai);
    CHECK(isnan(ny) && ai == 1, "NaN max / argmin");
}

static void test_softmax(void) {
    float x[2 * 5 * 3], y[2 * 5 * 3];
    unsigned s = 5;
    for (int i = 0; i < 30; i++) x[i] = frand(&s) * 100;
    for (int i = 0; i < 5; i++) x[i * 3 + 2] = -INFINITY; /* a fully masked column */
    x[3] = -INFINITY;                                      /* one masked entry */
    for (int lg = 0; lg < 2; lg++) {
        gn_softmax(lg, 2, 5, 3, x, y);
        for (int o = 0; o < 2; o++)
            for (int c = 0; c < 3; c++) {
                double m = -INFINITY, sum = 0;
                for (int i = 0; i < 5; i++) m = fmax(m, x[(o * 5 + i) * 3 + c]);
                for (int i = 0; i < 5; i++) sum += exp(x[(o * 5 + i) * 3 + c] - m);
                for (int i = 0; i < 5; i++) {
                    double t = x[(o * 5 + i) * 3 + c] - m;
                    double want = lg ? t - log(sum) : exp(t) / sum;
                    if (o == 0 && c == 2) want = NAN; /* all -inf: NaN like scipy */
                    CHECK(close_to(y[(o * 5 + i) * 3 + c], want, 1e-5) ||
                              fabs(y[(o * 5 + i) * 3 + c] - want) < 1e-6,
                          "softmax log=%d [%d,%d,%d]: %g vs %g", lg, o, i, c,
                          y[(o * 5 + i) * 3 + c], want);
                }
            }
    }
    float r[7] = {1000, 1001, 999, -INFINITY, 1000.5f, 998, 1002};
    gn_softmax(0, 1, 7, 1, r, r); /* in place, large values */
    double sum = 0;
    for (int i = 0; i < 7; i++) sum += r[i];
    CHECK(fabs(sum - 1) < 1e-6 && r[3] == 0.0f, "softmax in place sums to %g", sum);
}

/* ---- big inputs: the multi-threaded paths ------------------------------------ */
static void test_threads(void) {
    enum { N = 300000 };
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    float *c = malloc(sizeof(float) * N), *d = malloc(sizeof(float) * N);
    if (!a || !b || !c || !d) return;
    unsigned s = 9;
    for (int i = 0; i < N; i++) a[i] = frand(&s);
    gn_set_num_threads(2);
    gn_unary(GN_U_EXP, N, a, b, 0, 0);
    gn_set_num_threads(1);
    gn_unary(GN_U_EXP, N, a, c, 0, 0);
    CHECK(memcmp(b, c, sizeof(float) * N) == 0, "threaded exp differs");
    gn_set_num_threads(2);
    int64_t shape[2] = {600, 500}, as[2] = {500, 1}, bs[2] = {0, 1}, ts[2] = {1, 600};
    gn_binary(GN_B_ADD, 2, shape, a, as, a, bs, b);
    CHECK(b[501] == a[501] + a[1] && b[N - 1] == a[N - 1] + a[499], "threaded add");
    gn_strided_copy(2, shape, a, ts, c, as, 4); /* (600, 500) from the transpose of (500, 600) */
    CHECK(c[1] == a[600] && c[500] == a[1], "threaded transpose");
    float sum[1];
    gn_reduce(GN_R_SUM, 1, N, 1, a, sum);
    double want = 0;
    for (int i = 0; i < N; i++) want += a[i];
    CHECK(fabs(sum[0] - want) < 1e-3, "threaded sum %g vs %g", sum[0], want);
    gn_reduce(GN_R_MAX, 1, 600, 500, a, d);
    gn_softmax(1, 600, 500, 1, a, d);
    gn_cast(N, a, GN_F32, d, GN_I32);
    gn_set_num_threads(1);
    free(a), free(b), free(c), free(d);
}

int main(void) {
    const char *isas[] = {"ref", "avx2", "avx512", "neon"};
    for (int k = 0; k < 4; k++) {
        if (!gn_set_isa(isas[k])) continue;
        test_unary();
        test_binary();
        test_copy();
        test_cast();
        test_reduce();
        test_softmax();
        test_threads();
    }
    if (failures) {
        fprintf(stderr, "test_eltwise: %d failures\n", failures);
        return 1;
    }
    printf("test_eltwise: ok\n");
    return 0;
}
