/* One value of each float elementwise op: the single definition that the elementwise
 * kernels (eltwise.c) and the compiled optimizer programs (compiled_programs.h) share,
 * so a fused program computes exactly what the unfused ops compute. With a constant op
 * the switch folds to one expression, which vectorizes in the caller's loop. */
#ifndef GRAPHNET_ELTWISE_VALUE_H
#define GRAPHNET_ELTWISE_VALUE_H
#include "kernel_util.h"
#include "graphnet.h"

/* y = round half to even for |x| < 2^23 (larger floats are integers already). */
GN_INLINE float u_round(float v) {
    float a = fabsf(v);
    float r = (a + 8388608.0f) - 8388608.0f;
    return copysignf(a < 8388608.0f ? r : a, v);
}

GN_INLINE float u_sign(float v) {
    return v > 0 ? 1.0f : v < 0 ? -1.0f : v == 0 ? 0.0f : v;
}

GN_INLINE float u_hard_sigmoid(float v) {
    float t = v + 3.0f;
    t = t < 0 ? 0.0f : t;
    t = t > 6.0f ? 6.0f : t;
    return t / 6.0f;
}

GN_INLINE float u_elu(float v, float alpha) {
    float neg = alpha * gn_vexpm1f(v);
    return v > 0 ? v : neg;
}

GN_INLINE float u_gelu_tanh(float v) {
    /* 0.5 (1 + tanh(u)) == sigmoid(2u): no cancellation for negative x */
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    return v * gn_vsigmoidf(2.0f * u);
}

/* x * tanh(softplus(x)) with one exp: tanh(log1p(e)) = n / (n + 2), n = e (e + 2). */
GN_INLINE float u_mish(float v) {
    float e = gn_vexpf(v > 20.0f ? 20.0f : v); /* past 20 the factor is 1.0f */
    float n = e * (e + 2.0f);
    return v * (n / (n + 2.0f));
}

/* x^p; the loop takes p == 2 (x * x) and p == 0.5 (sqrt, like NumPy's scalar
 * power, so (-inf)^0.5 is NaN) before this. */
GN_INLINE float u_pow_scalar(float v, float p) {
    return p == 1.0f ? v : p == -1.0f ? 1.0f / v : powf(v, p);
}

/* NumPy's npy_divmodf, in float like NumPy's float32 loops. */
GN_INLINE float b_mod(float a, float b) {
    float mod = fmodf(a, b);
    if (!b) return mod;
    if (mod) {
        if ((b < 0) != (mod < 0)) mod += b;
    } else {
        mod = copysignf(0.0f, b);
    }
    return mod;
}

GN_INLINE float b_floor_div(float a, float b) {
    if (!b) return a / b;
    float mod = fmodf(a, b);
    float div = (a - mod) / b;
    if (mod && ((b < 0) != (mod < 0))) div -= 1.0f;
    if (!div) return copysignf(0.0f, a / b);
    float fd = floorf(div);
    return div - fd > 0.5f ? fd + 1.0f : fd; /* snap to the nearest integer */
}

GN_INLINE float b_max(float a, float b) { return ((a >= b) | (a != a)) ? a : b; }
GN_INLINE float b_min(float a, float b) { return ((a <= b) | (a != a)) ? a : b; }

/* Unary op `op` (enum gn_unary_op; COPY gives v) of v with its alpha a and beta b. */
GN_INLINE float gn_unary_value(int op, float v, float a, float b) {
    (void)a, (void)b;
    switch (op) {
    case GN_U_NEG: return -v;
    case GN_U_ABS: return fabsf(v);
    case GN_U_SIGN: return u_sign(v);
    case GN_U_SQUARE: return v * v;
    case GN_U_SQRT: return sqrtf(v);
    case GN_U_RSQRT: return 1.0f / sqrtf(v);
    case GN_U_RECIPROCAL: return 1.0f / v;
    case GN_U_EXP: return gn_vexpf(v);
    case GN_U_EXPM1: return gn_vexpm1f(v);
    case GN_U_LOG: return gn_vlogf(v);
    case GN_U_LOG1P: return gn_vlog1pf(v);
    case GN_U_SIN: return sinf(v);
    case GN_U_COS: return cosf(v);
    case GN_U_TAN: return tanf(v);
    case GN_U_ATAN: return atanf(v);
    case GN_U_TANH: return gn_vtanhf(v);
    case GN_U_SIGMOID: return gn_vsigmoidf(v);
    case GN_U_SILU: return v * gn_vsigmoidf(v);
    case GN_U_LOG_SIGMOID: return -gn_vsoftplusf(-v);
    case GN_U_RELU: return v < 0 ? 0.0f : v;
    case GN_U_RELU6: return v < 0 ? 0.0f : v > 6.0f ? 6.0f : v;
    case GN_U_LEAKY_RELU: return v < 0 ? a * v : v;
    case GN_U_ELU: return u_elu(v, a);
    case GN_U_SELU: return 1.05070098f * u_elu(v, 1.67326324f);
    case GN_U_SOFTPLUS: return gn_vsoftplusf(v);
    case GN_U_SOFTSIGN: return v / (1.0f + fabsf(v));
    case GN_U_MISH: return u_mish(v);
    case GN_U_HARD_SIGMOID: return u_hard_sigmoid(v);
    case GN_U_HARD_SILU: return v * u_hard_sigmoid(v);
    case GN_U_GELU: return v * gn_vphif(v);
    case GN_U_GELU_TANH: return u_gelu_tanh(v);
    case GN_U_ERF: return gn_verff(v);
    case GN_U_FLOOR: return floorf(v);
    case GN_U_CEIL: return ceilf(v);
    case GN_U_ROUND: return u_round(v);
    case GN_U_CLIP: return v < a ? a : v > b ? b : v;
    case GN_U_AFFINE: return a * v + b;
    case GN_U_POW_SCALAR: return a == 2.0f ? v * v : a == 0.5f ? sqrtf(v) : u_pow_scalar(v, a);
    default: return v;
    }
}

/* Float binary op `op` (enum gn_binary_op, ADD .. ATAN2) of p and q. */
GN_INLINE float gn_binary_value(int op, float p, float q) {
    switch (op) {
    case GN_B_ADD: return p + q;
    case GN_B_SUB: return p - q;
    case GN_B_MUL: return p * q;
    case GN_B_DIV: return p / q;
    case GN_B_POW: return powf(p, q);
    case GN_B_MAXIMUM: return b_max(p, q);
    case GN_B_MINIMUM: return b_min(p, q);
    case GN_B_MOD: return b_mod(p, q);
    case GN_B_FLOOR_DIV: return b_floor_div(p, q);
    case GN_B_ATAN2: return atan2f(p, q);
    default: return p;
    }
}

#endif
