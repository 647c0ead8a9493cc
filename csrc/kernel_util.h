/* Helpers shared by the non-GEMM kernels (eltwise, layout, reduce, softmax).
 *
 * Everything here is static inline plain C99 written so gcc -O3 vectorizes the
 * loops that use it: no libm calls in the vector math, both sides of a select
 * computed, then chosen. Kernel files include this first: the pragma below lets
 * gcc if-convert those selects (-ftrapping-math forbids it), which changes no
 * result, NaN, inf or signed zero, only whether FP exception flags may be raised.
 */
#ifndef GRAPHNET_KERNEL_UTIL_H
#define GRAPHNET_KERNEL_UTIL_H
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <stdint.h>
#include "internal.h"

#define GN_INLINE static inline __attribute__((always_inline))

/* ---- SIMD clones --------------------------------------------------------
 * GN_MULTI(name, params, call) defines name_ref (baseline ISA) and, on x86-64,
 * name_avx2 and name_avx512 with the same body `call` (an always-inline
 * function), so gcc vectorizes one source for each width. GN_PICK(name) is
 * the clone for gn_current_isa(). */
#if defined(__x86_64__)
#define GN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GN_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define GN_MULTI(name, params, call)                      \
    static void name##_ref params { call; }                 \
    GN_TARGET_AVX2 static void name##_avx2 params { call; } \
    GN_TARGET_AVX512 static void name##_avx512 params { call; }
#define GN_PICK(name) \
    (gn_current_isa() == GN_ISA_AVX512 ? name##_avx512 \
     : gn_current_isa() == GN_ISA_AVX2 ? name##_avx2 : name##_ref)
#else
#define GN_MULTI(name, params, call) static void name##_ref params { call; }
#define GN_PICK(name) name##_ref
#endif

/* The elementwise grain of the cost rule (threadpool.h, gn_team_for) is
 * GN_GRAIN_ELEMENTS. The convolution and pooling kernels wake the team from this many
 * multiply-adds: the same for the convolution and pooling kernels, whose per-thread setup (tap tables,
 * packing buffers) costs more than an elementwise loop's: mnist_cnn at batch 1 ran 5-10%
 * slower with its first layer (0.4 M multiply-adds) split at 16 x 16384. */
#define GN_PAR_MIN_CONV 65536

/* Bound c of k balanced chunks of [0, n), rounded down to 16 elements so
 * threads do not write to the same cache line. */
GN_INLINE int64_t gn_chunk(int64_t n, int64_t k, int64_t c) {
    if (c >= k) return n;
    int64_t b = n / k * c + (c < n % k ? c : n % k);
    return b & ~(int64_t)15;
}

/* ---- shape collapse -------------------------------------------------------
 * Drop size-1 dims and merge neighbours contiguous in every operand
 * (stride[d] == stride[d+1] * shape[d+1]). strides[o] are nops arrays of ndim;
 * ostrides is nops rows of ndim. Returns the new ndim (0: one element), or -1
 * when some dim is 0 (nothing to do). */
GN_INLINE int gn_collapse(int ndim, const int64_t *shape, int nops,
                          const int64_t *const *strides, int64_t *oshape, int64_t *ostrides) {
    int out = 0;
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0) return -1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        int merge = out > 0;
        for (int o = 0; o < nops && merge; o++)
            merge = ostrides[o * ndim + out - 1] == strides[o][d] * shape[d];
        if (merge) {
            oshape[out - 1] *= shape[d];
            for (int o = 0; o < nops; o++) ostrides[o * ndim + out - 1] = strides[o][d];
        } else {
            oshape[out] = shape[d];
            for (int o = 0; o < nops; o++) ostrides[o * ndim + out] = strides[o][d];
            out++;
        }
    }
    return out;
}

/* ---- vectorizable float math ---------------------------------------------- */
typedef union { float f; int32_t i; } gn_fbits;

/* Running max/min that propagate NaN like NumPy; `|` rather than `||` keeps
 * the select branch-free so gcc vectorizes it. */
GN_INLINE float gn_max_nan(float m, float v) { return ((v > m) | (v != v)) ? v : m; }
GN_INLINE float gn_min_nan(float m, float v) { return ((v < m) | (v != v)) ? v : m; }

/* NaN-propagating max (or min) of n contiguous floats; -inf (+inf) when n == 0.
 * GN_LANES independent lanes (several vectors, so the loop is not one
 * latency chain), merged as a tree. `unroll 1` stops gcc unrolling the lane
 * loop into branches before it can vectorize it. */
#define GN_LANES 64
GN_INLINE float gn_row_max(const float *x, int64_t n, const int is_max) {
    float m[GN_LANES];
    int64_t i = 0;
    if (n < 2 * GN_LANES) { /* short row: lane setup would cost more than it saves */
        float r = is_max ? -INFINITY : INFINITY;
        for (; i < n; i++) r = is_max ? gn_max_nan(r, x[i]) : gn_min_nan(r, x[i]);
        return r;
    }
    for (int j = 0; j < GN_LANES; j++) m[j] = is_max ? -INFINITY : INFINITY;
    for (; i + GN_LANES <= n; i += GN_LANES) {
#pragma GCC unroll 1
        for (int j = 0; j < GN_LANES; j++)
            m[j] = is_max ? gn_max_nan(m[j], x[i + j]) : gn_min_nan(m[j], x[i + j]);
    }
#define GN_FOLD(w)                                                                   \
    _Pragma("GCC unroll 1") for (int j = 0; j < (w); j++)                            \
        m[j] = is_max ? gn_max_nan(m[j], m[j + (w)]) : gn_min_nan(m[j], m[j + (w)]);
    GN_FOLD(32) GN_FOLD(16) GN_FOLD(8) GN_FOLD(4) GN_FOLD(2) GN_FOLD(1)
#undef GN_FOLD
    for (; i < n; i++) m[0] = is_max ? gn_max_nan(m[0], x[i]) : gn_min_nan(m[0], x[i]);
    return m[0];
}

/* Sum of 32 double lanes as a tree (vectorized halves, not a 32-long chain). */
GN_INLINE double gn_fold_sum32(double *s) {
#define GN_FOLD(w) _Pragma("GCC unroll 1") for (int j = 0; j < (w); j++) s[j] += s[j + (w)];
    GN_FOLD(16) GN_FOLD(8) GN_FOLD(4) GN_FOLD(2) GN_FOLD(1)
#undef GN_FOLD
    return s[0];
}

/* exp(x), Cephes polynomial: within ~1 ulp of libm; +-inf and NaN as libm. */
GN_INLINE float gn_vexpf(float x) {
    float xc = x < -104.0f ? -104.0f : x; /* exp(-104) rounds to 0 */
    xc = xc > 88.8f ? 88.8f : xc;         /* exp(88.8) overflows to inf */
    float xs = xc == xc ? xc : 0.0f;      /* NaN-free copy for the exponent */
    gn_fbits t;
    t.f = xs * 1.44269504088896341f + 12582912.0f; /* + 1.5*2^23 rounds to an integer */
    float n = t.f - 12582912.0f;
    int32_t ni = t.i - 0x4B400000;
    float r = xc - n * 0.693359375f; /* ln 2 in two parts: n * hi is exact */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    /* 2^n in two factors: n in [-150, 128] spans past the normal exponents */
    int32_t n1 = ni / 2, n2 = ni - n1;
    gn_fbits s1, s2;
    s1.i = (n1 + 127) << 23;
    s2.i = (n2 + 127) << 23;
    return p * s1.f * s2.f;
}

/* expm1(x): Taylor series near 0, where exp(x) - 1 would cancel. */
GN_INLINE float gn_vexpm1f(float x) {
    float t = x * (1.0f + x * (0.5f + x * (1.6666667e-1f + x * (4.1666668e-2f +
              x * (8.3333338e-3f + x * (1.3888889e-3f + x * 1.9841270e-4f))))));
    float e = gn_vexpf(x) - 1.0f;
    return fabsf(x) < 0.35f ? t : e;
}

/* tanh(x): Cephes odd polynomial for |x| < 0.625, else 1 - 2 / (exp(2|x|) + 1). */
GN_INLINE float gn_vtanhf(float x) {
    float ax = fabsf(x), z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                    + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float big = copysignf(1.0f - 2.0f / (gn_vexpf(2.0f * ax) + 1.0f), x);
    return ax < 0.625f ? small : big;
}

/* sigmoid(x) from exp(-|x|), which never overflows. */
GN_INLINE float gn_vsigmoidf(float x) {
    float e = gn_vexpf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x < 0 ? e * r : r;
}

/* log(x) for positive normal x (Cephes); callers handle other inputs. */
GN_INLINE float gn_vlogf_pos(float x) {
    gn_fbits b;
    b.f = x;
    float e = (float)((b.i >> 23) - 126);        /* x = m * 2^e, m in [0.5, 1) */
    b.i = (b.i & 0x007fffff) | 0x3f000000;
    float m = b.f;
    int lo = m < 0.70710678118654752f;           /* keep m in [sqrt(.5), sqrt(2)) */
    e = lo ? e - 1.0f : e;
    m = lo ? m + m - 1.0f : m - 1.0f;
    float z = m * m;
    float y = (((((((( 7.0376836292e-2f * m - 1.1514610310e-1f) * m + 1.1676998740e-1f) * m
                - 1.2420140846e-1f) * m + 1.4249322787e-1f) * m - 1.6668057665e-1f) * m
                + 2.0000714765e-1f) * m - 2.4999993993e-1f) * m + 3.3333331174e-1f) * m * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    return (m + y) + 0.693359375f * e;
}

/* log(x) for every x: subnormals scaled up first; 0, <0, inf, NaN as libm. */
GN_INLINE float gn_vlogf(float x) {
    int sub = x < 1.17549435e-38f;
    float r = gn_vlogf_pos(sub ? x * 8388608.0f : x);
    r = sub ? r - 15.942385152878742f : r; /* 23 ln 2 */
    r = x == 0.0f ? -INFINITY : r;
    r = x < 0.0f ? NAN : r;
    r = x == INFINITY ? x : r;
    return x != x ? x : r;
}

/* log1p(x): log(1 + x) corrected for the rounding of 1 + x. */
GN_INLINE float gn_vlog1pf(float x) {
    float u = 1.0f + x, d = u - 1.0f;
    float r = gn_vlogf(u) - (d - x) / u;
    r = d == 0.0f ? x : r;
    r = x == -1.0f ? -INFINITY : r;
    return x == INFINITY ? x : r;
}

/* exp(-s * x^2) with x split so x^2 rounds no error in (xh * xh is exact):
 * in the erfc tail an error d in x^2 would cost x^2 * d relative. s is 1 or 0.5. */
GN_INLINE float gn_exp_negsq(float x, float s) {
    gn_fbits h;
    x = fabsf(x);
    x = x > 15.0f ? 15.0f : x; /* exp(-0.5 * 225) is 0 in float; keeps inf out */
    h.f = x;
    h.i &= (int32_t)0xfffff000; /* xh has 12 significant bits */
    float xh = h.f;
    return gn_vexpf(-s * (xh * xh)) * gn_vexpf(s * ((xh - x) * (xh + x)));
}

/* erfc(a) for a >= 1 given e = exp(-a^2): e / a * P(1/a^2), fitted on [1, 2]
 * and [2, 10.1] (erfc underflows past 10.06). */
GN_INLINE float gn_erfc_tail(float a, float e) {
    a = a > 10.5f ? 10.5f : a;
    float q = 1.0f / (a * a);
    float p1 = ((((((( 2.350086533e-02f * q - 1.398826241e-01f) * q + 3.712895811e-01f) * q
               - 5.855332017e-01f) * q + 6.232305169e-01f) * q - 4.954589307e-01f) * q
               + 3.407628834e-01f) * q - 2.741540670e-01f) * q + 5.638285875e-01f;
    float p2 = ((((( 3.700037718e+00f * q - 4.243437290e+00f) * q + 2.347653151e+00f) * q
               - 9.618846178e-01f) * q + 4.193243980e-01f) * q - 2.820236683e-01f) * q
               + 5.641891360e-01f;
    return e * (a < 2.0f ? p1 : p2) / a;
}

/* erf(x) = x * P(x^2) for |x| < 1 (fitted), else 1 - erfc(|x|). */
GN_INLINE float gn_erf_small(float x) {
    float z = x * x;
    return x * (((((( 7.898201875e-05f * z - 8.024351555e-04f) * z + 5.190053023e-03f) * z
                - 2.685480751e-02f) * z + 1.128361225e-01f) * z - 3.761262894e-01f) * z
                + 1.128379226e+00f);
}

GN_INLINE float gn_verff(float x) {
    float ax = fabsf(x);
    float big = copysignf(1.0f - gn_erfc_tail(ax, gn_exp_negsq(x, 1.0f)), x);
    return ax < 1.0f ? gn_erf_small(x) : big;
}

/* Normal CDF of x, 0.5 erfc(-x / sqrt 2), accurate in the lower tail: exp(-x^2 / 2)
 * comes from x itself, not from the rounded x / sqrt 2. */
GN_INLINE float gn_vphif(float x) {
    float u = x * -0.70710678118654752f, au = fabsf(u);
    float t = gn_erfc_tail(au, gn_exp_negsq(x, 0.5f));
    float big = u > 0 ? t : 2.0f - t;
    return 0.5f * (au < 1.0f ? 1.0f - gn_erf_small(u) : big);
}

/* log1p(t) for t in [0, 1] (or NaN): log(1 + t) corrected for the rounding of 1 + t. */
GN_INLINE float gn_vlog1pf_unit(float t) {
    float u = 1.0f + t;
    float uu = u == u ? u : 1.0f;
    float d = uu - 1.0f;
    float l = gn_vlogf_pos(uu) - (d - t) / uu;
    float r = d == 0.0f ? t : l;
    return t == t ? r : t;
}

/* softplus(x) = log1p(exp(-|x|)) + max(x, 0), stable for any x. */
GN_INLINE float gn_vsoftplusf(float x) {
    float m = x < 0 ? 0.0f : x;
    return gn_vlog1pf_unit(gn_vexpf(-fabsf(x))) + m;
}

#endif
