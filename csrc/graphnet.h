/* graphnet C API: the one header.
 *
 * Plain C99 declarations over raw pointers and strides. This file is read
 * into cffi's cdef by graphnet/_build_ffi.py (preprocessor lines dropped), so
 * keep it to declarations cffi can parse: no macros with arguments, no
 * inline code, enums with explicit values. The enum bodies are generated from
 * graphnet/runtime/abi.py and kernels.py (python -m graphnet.runtime.kernel_codegen).
 */
#ifndef GRAPHNET_H
#define GRAPHNET_H
#include <stdint.h>

/* ---- runtime settings ------------------------------------------------- */
void gn_set_num_threads(int n);
int gn_get_num_threads(void);
/* Times a pool worker has gone to sleep after spinning GRAPHNET_SPIN_US (default 100)
 * microseconds without work. */
unsigned long gn_pool_sleeps(void);
/* For tests: while held (1), every task runs on its calling thread alone, nt = 1, as
 * when the team is busy with another application thread's kernel; 0 releases it. */
void gn_pool_hold(int hold);
/* Times a spinning pool worker found itself on the core of the thread that gave the last
 * task and moved to another of its allowed cores. */
unsigned long gn_pool_moves(void);
/* Name of the SIMD path chosen at run time: "avx512", "avx2", "neon" or "ref". */
const char *gn_isa_name(void);
/* Whether plan runs flush subnormal floats to zero (1, the default, as TensorFlow does
 * on CPU: subnormal arithmetic is ~100x slower) or keep IEEE gradual underflow (0). */
void gn_set_flush_denormals(int on);
int gn_get_flush_denormals(void);
/* Force a SIMD path by name (tests and benchmarks); returns 0 if unavailable. */
int gn_set_isa(const char *name);
/* Peak fp32 rate in GFLOP/s of the current SIMD path on gn_get_num_threads() threads:
 * each runs `iters` rounds of 12 independent FMA chains in registers (peak.c). */
double gn_peak_gflops(int64_t iters);

/* ---- dtypes ------------------------------------------------------------ */
enum gn_dtype {
    GN_F32 = 0, GN_F64 = 1, GN_I32 = 2, GN_I64 = 3, GN_U8 = 4, GN_BOOL = 5, GN_I8 = 6
};

/* ---- GEMM: C = alpha * op(A) @ op(B) + beta * C, row-major ---------------
 * op(A) is m x k (A is k x m when transa), op(B) is k x n (n x k when transb).
 * When beta == 0, C is never read (NaN in C does not leak). */
void gn_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb,
              float beta, float *c, int64_t ldc);
/* B packed once for many products with the same op(B) (a weight in an inference plan):
 * gn_sgemm_prepack_size is the floats that hold it for products of m x k by k x n, or 0
 * when such a product does not pack B (few rows, or the unpacked and dot paths);
 * gn_sgemm_prepack writes it into dst. The packed form belongs to the ISA active when
 * it was written; under another ISA, or for another shape, the products ignore it. */
int64_t gn_sgemm_prepack_size(int transa, int transb, int64_t m, int64_t n, int64_t k);
void gn_sgemm_prepack(int transb, int64_t k, int64_t n, const float *b, int64_t ldb,
                      float *dst);
/* One product per index of the batch shape[nd] (nb of them), A, B and C each offset by
 * their batch strides (elements; 0 broadcasts); run in parallel over the batch when the
 * products are many or small. */
void gn_sgemm_batch(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                    float *c, int64_t ldc, int64_t nb, int nd, const int64_t *shape,
                    const int64_t *a_strides, const int64_t *b_strides,
                    const int64_t *c_strides);
/* Fused attention forward: out (B, T, N, Hv) = softmax(scale q k^T, masked) v over
 * q (B, T, N, H), k (B, S, N, H), v (B, S, N, Hv), tile by tile with a running maximum
 * (never the whole score matrix). mask: NULL or bytes at element strides (b, n, t, s)
 * (0 broadcasts), nonzero to attend; causal leaves out keys after the query's position.
 * A left-out logit is GN_ATT_MASKED. lse: NULL, or (B, N, T) floats that get each query's
 * log-sum-exp of its logits (what the backward reads). GN_ERR_BAD_ARGS for S == 0,
 * GN_ERR_NO_MEMORY when the tiles cannot be had. */
#define GN_ATT_MASKED (-0.7f * 3.38953e38f)
int gn_attention(int64_t b, int64_t t, int64_t s, int64_t n, int64_t h, int64_t hv,
                 const float *q, const float *k, const float *v, const uint8_t *mask,
                 const int64_t *mask_strides, int causal, float scale, float *out,
                 float *lse);
/* Its backward (FlashAttention-2's, on the CPU): from the forward's out and lse and the
 * gradient dout (B, T, N, Hv), the gradients dq, dk, dv of q, k, v, the scores recomputed
 * tile by tile (P = exp(S - lse), dS = P * (dP - rowsum(dout * out))), never the whole
 * score matrix; parallel over (b, n). Same arguments and errors as gn_attention. */
int gn_attention_backward(int64_t b, int64_t t, int64_t s, int64_t n, int64_t h, int64_t hv,
                          const float *q, const float *k, const float *v,
                          const uint8_t *mask, const int64_t *mask_strides, int causal,
                          float scale, const float *out, const float *dout, const float *lse,
                          float *dq, float *dk, float *dv);
/* ---- affine transforms of images (csrc/affine.c) ---------------------------
 * out (n, h, w, c) (channels_first: (n, c, h, w)) samples images of the same shape at
 * each image's transform [a0 a1 a2 b0 b1 b2 c0 c1] (8 floats), as
 * keras.ops.image.affine_transform: pixel (y, x) of channel ch reads
 * (y b1 + x b0 + ch c0 + b2, y a1 + x a0 + ch c1 + a2). GN_ERR_BAD_ARGS for an unknown
 * interpolation or fill mode (nothing written). */
enum gn_affine_interpolation {
    GN_AFFINE_NEAREST = 0, GN_AFFINE_BILINEAR = 1
};
enum gn_fill_mode {
    GN_FILL_CONSTANT = 0, GN_FILL_NEAREST = 1, GN_FILL_WRAP = 2, GN_FILL_MIRROR = 3,
    GN_FILL_REFLECT = 4
};
int gn_affine_transform(int interpolation, int fill_mode, int channels_first, int64_t n,
                        int64_t h, int64_t w, int64_t c, const float *images,
                        const float *transforms, float fill_value, float *out);
/* Its gradient from dy (out's shape): wrt 0 the images' (grad has their shape; images may
 * be NULL), wrt 1 the transforms' (grad is n * 8 floats; needs images). GN_ERR_BAD_ARGS
 * for an unknown mode or wrt, or wrt 1 without images. */
int gn_affine_transform_grad(int wrt, int interpolation, int fill_mode, int channels_first,
                             int64_t n, int64_t h, int64_t w, int64_t c, const float *images,
                             const float *transforms, const float *dy, float fill_value,
                             float *grad);
/* Layer normalization over the last axis of x (rows, n): y = (x - mean) *
 * rsqrt(var + epsilon) * gamma + beta per row, the variance centered; gamma and beta NULL
 * or n floats. y may alias x. */
void gn_layer_norm(int64_t rows, int64_t n, const float *x, const float *gamma,
                   const float *beta, float epsilon, float *y);
/* Its gradient with respect to x: dx = inv * (g - mean(g) - xhat * mean(g * xhat)) per row,
 * g = dy * gamma (gamma NULL: 1), xhat the normalized x. dx may alias dy. */
void gn_layer_norm_grad(int64_t rows, int64_t n, const float *dy, const float *x,
                        const float *gamma, float epsilon, float *dx);
/* The plain triple loop every fast path is tested against. */
void gn_sgemm_ref(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc);

/* ---- elementwise ------------------------------------------------------- */
enum gn_unary_op {
    GN_U_COPY = 0, GN_U_NEG = 1, GN_U_ABS = 2, GN_U_SIGN = 3, GN_U_SQUARE = 4,
    GN_U_SQRT = 5, GN_U_RSQRT = 6, GN_U_RECIPROCAL = 7, GN_U_EXP = 8, GN_U_EXPM1 = 9,
    GN_U_LOG = 10, GN_U_LOG1P = 11, GN_U_SIN = 12, GN_U_COS = 13, GN_U_TANH = 14,
    GN_U_SIGMOID = 15, GN_U_RELU = 16, GN_U_LEAKY_RELU = 17, GN_U_ELU = 18, GN_U_SELU = 19,
    GN_U_SOFTPLUS = 20, GN_U_SOFTSIGN = 21, GN_U_HARD_SIGMOID = 22, GN_U_GELU = 23,
    GN_U_GELU_TANH = 24, GN_U_SILU = 25, GN_U_ERF = 26, GN_U_FLOOR = 27, GN_U_CEIL = 28,
    GN_U_ROUND = 29, GN_U_CLIP = 30, GN_U_AFFINE = 31, GN_U_POW_SCALAR = 32, GN_U_TAN = 33,
    GN_U_ATAN = 34, GN_U_HARD_SILU = 35, GN_U_MISH = 36, GN_U_RELU6 = 37,
    GN_U_LOG_SIGMOID = 38, GN_U_COUNT = 39
};
/* y[i] = f(x[i]; alpha, beta) for n contiguous floats; x == y is allowed. */
void gn_unary(int op, int64_t n, const float *x, float *y, float alpha, float beta);

enum gn_binary_op {
    GN_B_ADD = 0, GN_B_SUB = 1, GN_B_MUL = 2, GN_B_DIV = 3, GN_B_POW = 4, GN_B_MAXIMUM = 5,
    GN_B_MINIMUM = 6, GN_B_MOD = 7, GN_B_FLOOR_DIV = 8, GN_B_ATAN2 = 9,
    /* comparisons write uint8 (bool) */
    GN_B_EQUAL = 16, GN_B_NOT_EQUAL = 17, GN_B_LESS = 18, GN_B_LESS_EQUAL = 19,
    GN_B_GREATER = 20, GN_B_GREATER_EQUAL = 21,
    /* logical ops read and write uint8 */
    GN_B_LOGICAL_AND = 24, GN_B_LOGICAL_OR = 25, GN_B_LOGICAL_XOR = 26
};
/* out[idx] = a[idx . as] op b[idx . bs] over an ndim-dimensional index space
 * `shape`, strides in elements (0 broadcasts); out is contiguous. */
void gn_binary(int op, int ndim, const int64_t *shape, const void *a, const int64_t *astrides,
               const void *b, const int64_t *bstrides, void *out);
/* out = cond ? a : b, with broadcasting strides as for gn_binary. */
void gn_where(int ndim, const int64_t *shape, const uint8_t *cond, const int64_t *cstrides,
              const float *a, const int64_t *astrides, const float *b,
              const int64_t *bstrides, float *out);

/* ---- layout ------------------------------------------------------------ */
/* dst[idx . dst_strides] = src[idx . src_strides]; strides in elements. */
void gn_strided_copy(int ndim, const int64_t *shape, const void *src,
                     const int64_t *src_strides, void *dst, const int64_t *dst_strides,
                     int elem_size);
/* n elements converted between enum gn_dtype types. */
void gn_cast(int64_t n, const void *src, int src_dtype, void *dst, int dst_dtype);
/* Rows of a table by index (csrc/gather.c), over (outer, n, inner) views of x and
 * (outer, m, inner) of y, elements of elem_size bytes: y[o, j, :] = x[o, indices[j], :].
 * indices (m of them) are GN_I32 or GN_I64; a negative one counts from the end. An index
 * outside [-n, n) is never read: its rows of y are zeros and the call returns 1 (else 0). */
int gn_gather(int index_dtype, int elem_size, int64_t outer, int64_t n, int64_t inner,
              int64_t m, const void *indices, const void *x, void *y);
/* gn_gather's gradient for floats: dx (outer, n, inner) = 0, then dx[o, indices[j], :] +=
 * dy[o, j, :] (repeated indices add up). Out-of-range indices add nothing; returns 1 if
 * there was one, else 0. */
int gn_scatter_add(int index_dtype, int64_t outer, int64_t n, int64_t inner, int64_t m,
                   const void *indices, const float *dy, float *dx);

/* ---- recurrent sequences (csrc/recurrent.c) -----------------------------
 * SimpleRNN (cell 0), LSTM (1), GRU (2) over x (B, T, D); the records Y (B, T, S) and
 * Z (B, T, K) are laid out as graphnet/ops/recurrent_layout.py says. act, ract: 0 linear,
 * 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid. mask_mode 0: no mask, 1: a masked step keeps
 * the state and the previous output, 2: its output is zeros. b, h0, c0 may be NULL
 * (zeros); rm (B, gates * U), recurrent dropout: gate q's recurrent product reads the
 * previous state times rm's q-th block (NULL: none). Each returns GN_ERR_BAD_ARGS
 * (nothing written) when S, K or work_len do not match the layout, else GN_OK. */
int gn_rnn_forward(int cell, int act, int ract, int go_backwards, int reset_after,
                   int mask_mode, int64_t B, int64_t T, int64_t D, int64_t U, int64_t S,
                   const float *x, const float *W, const float *R, const float *b,
                   const float *h0, const float *c0, const uint8_t *mask, const float *rm,
                   float *Y, float *work, int64_t work_len);
/* Backward through time from gY (the gradient of Y) into Z. */
int gn_rnn_bptt(int cell, int act, int ract, int go_backwards, int reset_after,
                int mask_mode, int64_t B, int64_t T, int64_t U, int64_t S, int64_t K,
                const float *gY, const float *Y, const float *R, const float *h0,
                const float *c0, const uint8_t *mask, const float *rm, float *Z,
                float *work, int64_t work_len);
/* The gradient of one input (wrt 0 x, 1 kernel, 2 recurrent kernel, 3 bias, 4 h0, 5 c0)
 * from Z; other is the kernel W (D, G) for wrt 0, the input x for wrt 1, else unused. */
int gn_rnn_param_grad(int cell, int wrt, int go_backwards, int reset_after, int rec_masked,
                      int64_t B, int64_t T, int64_t D, int64_t U, int64_t K, const float *Z,
                      const float *other, float *out);

/* ---- reductions over the middle axis of an (outer, n, inner) view ------ */
enum gn_reduce_op {
    GN_R_SUM = 0, GN_R_MEAN = 1, GN_R_MAX = 2, GN_R_MIN = 3, GN_R_PROD = 4, GN_R_ARGMAX = 5,
    GN_R_ARGMIN = 6, GN_R_SUMSQ = 7, GN_R_ANY = 8, GN_R_ALL = 9
};
/* y has outer*inner elements: floats, or int64 for ARGMAX/ARGMIN, uint8 for ANY/ALL
 * (which read uint8). */
void gn_reduce(int op, int64_t outer, int64_t n, int64_t inner, const void *x, void *y);

/* softmax (or log-softmax when log != 0) along the middle axis. */
void gn_softmax(int log, int64_t outer, int64_t n, int64_t inner, const float *x, float *y);

/* ---- random numbers ------------------------------------------------------
 * Counter-based (splitmix64 of seed, draw counter, index): reproducible for a
 * seed, and each call advances state[1] so successive runs draw anew.
 * state is two uint64s: {seed, counter}. */
enum gn_random_dist {
    /* uniform in [a, b) */
    GN_RNG_UNIFORM = 0,
    /* normal with mean a, standard deviation b */
    GN_RNG_NORMAL = 1,
    /* b with probability a, else 0 (a dropout mask when b = 1/a) */
    GN_RNG_BERNOULLI = 2
};
void gn_random(int dist, int64_t n, float a, float b, uint64_t *state, float *out);

/* ---- collectives (csrc/collective.c) --------------------------------------
 * A sum over the processes of a data-parallel run (gn.distribution), through the function
 * the host registered: it sums data[0..n) over the processes in place, before returning
 * when wait is 1, else (a gradient bucket) in the background, the host waiting for it
 * after the plan's run. Without one, the one process's values are the sum. */
typedef void (*gn_allreduce_fn)(float *data, int64_t n, int wait);
void gn_set_allreduce(gn_allreduce_fn fn);
/* y = the sum over the processes of x (x and y may be the same buffer) */
void gn_allreduce_sum(int64_t n, const float *x, float *y, int wait);

/* ---- convolution and pooling (csrc/conv.c, csrc/pool.c) -----------------
 * Channels-last (N, D, H, W, C) over 1 to 3 spatial dims (missing dims are size 1).
 * The geometry is GN_CG_LEN int64s indexed by enum gn_conv_geom; spatial entries are
 * three (D, H, W) values; pads are the leading pads (trailing ones follow from the
 * output size). Weights are (KD, KH, KW, C / groups, O); output channel o belongs to
 * group o / (O / groups). */
enum gn_conv_geom {
    GN_CG_N = 0, GN_CG_IN = 1, GN_CG_C = 4, GN_CG_OUT = 5, GN_CG_O = 8, GN_CG_K = 9,
    GN_CG_STRIDE = 12, GN_CG_DIL = 15, GN_CG_PAD = 18, GN_CG_GROUPS = 21, GN_CG_LEN = 22
};
/* Floats of workspace the fast paths want for this thread count (0: none); kind is
 * 0 for gn_conv_forward, 1 for gn_conv_backward_input, 2 for gn_conv_backward_filter. */
int64_t gn_conv_work_len(int kind, const int64_t *geom);
/* y = conv(x, w). work may be NULL when gn_conv_work_len is 0; with less than one
 * image's worth the reference kernel runs. */
void gn_conv_forward(const int64_t *geom, const float *x, const float *w, float *y,
                     float *work, int64_t work_len);
/* dx = the adjoint of conv(., w) applied to dy (a transposed convolution). */
void gn_conv_backward_input(const int64_t *geom, const float *dy, const float *w, float *dx,
                            float *work, int64_t work_len);
/* dw = gradient of <conv(x, w), dy> with respect to w. */
void gn_conv_backward_filter(const int64_t *geom, const float *x, const float *dy, float *dw,
                             float *work, int64_t work_len);
/* y = act(conv(x, w) + bias + residual), the epilogue applied to each tile of y right
 * after it is computed: bias (O floats) and residual (shaped like y) may be NULL; act is
 * an enum gn_unary_op (GN_U_COPY: none) with its alpha / beta. The workspace is
 * gn_conv_work_len(0, geom)'s. */
void gn_conv_forward_fused(const int64_t *geom, const float *x, const float *w,
                           const float *bias, int act, float alpha, float beta,
                           const float *residual, float *y, float *work, int64_t work_len);
/* y = maxpool(act(conv(x, w) + bias)) over non-overlapping windows (stride = window, no
 * padding; a partial window at the end of a dim is dropped): window is (D, H, W) and y
 * holds only the pooled output, each window's maximum taken as its tile is computed.
 * The workspace is gn_conv_pool_work_len's (with less, it is allocated). */
int64_t gn_conv_pool_work_len(const int64_t *geom);
void gn_conv_forward_fused_pool(const int64_t *geom, const int64_t *window, const float *x,
                                const float *w, const float *bias, int act, float alpha,
                                float beta, float *y, float *work, int64_t work_len);
/* The plain loops the fast paths are tested against. */
void gn_conv_forward_ref(const int64_t *geom, const float *x, const float *w, float *y);
void gn_conv_backward_input_ref(const int64_t *geom, const float *dy, const float *w,
                                float *dx);
void gn_conv_backward_filter_ref(const int64_t *geom, const float *x, const float *dy,
                                 float *dw);

enum gn_pool_mode {
    GN_POOL_MAX = 0, GN_POOL_AVG = 1
};
/* Pooling with the convolution geometry (O == C, groups 1: x and y both have C channels).
 * Padding is never read: average divides by the in-bounds count. Returns GN_OK,
 * GN_ERR_BAD_ARGS (O != C, or a window over GN_POOL_MAX_TAPS taps; nothing written) or
 * GN_ERR_NO_MEMORY (its tap tables could not be allocated; nothing written). */
enum gn_pool_limit {
    GN_POOL_MAX_TAPS = 1048576
};
int gn_pool_forward(int mode, const int64_t *geom, const float *x, float *y);
/* dx from dy; max routes each window's gradient to its first maximum in x. */
int gn_pool_backward(int mode, const int64_t *geom, const float *x, const float *dy,
                     float *dx);
/* The plain loops the fast paths are tested against (a NaN first in its window is the max
 * and takes no gradient, as on the fast paths); same status. */
int gn_pool_forward_ref(int mode, const int64_t *geom, const float *x, float *y);
int gn_pool_backward_ref(int mode, const int64_t *geom, const float *x, const float *dy,
                         float *dx);

/* ---- fused kernels (the compiler's fusion pass emits these) --------------
 * C = act(op(A) @ op(B) + bias + R): one GEMM whose threads apply the bias, the residual
 * R and the activation to each block of C they finish, while it is still in cache.
 * bias (n floats) may be NULL; res (m x n, row stride ldr) may be NULL and must not
 * overlap C; act is an enum gn_unary_op (GN_U_COPY: none) with its alpha/beta.
 * bpacked: B as gn_sgemm_prepack wrote it, used in place of packing B, or NULL. */
void gn_gemm_bias_act(int transa, int transb, int64_t m, int64_t n, int64_t k,
                      const float *a, int64_t lda, const float *b, int64_t ldb,
                      const float *bias, const float *res, int64_t ldr, int act,
                      float alpha, float beta, float *c, int64_t ldc, const float *bpacked);
/* A chain of elementwise ops in one pass over memory, tile by tile in cache.
 * The index space is `shape` (ndim dims); input i is read at element strides
 * strides[i*ndim ..] (0 broadcasts). Registers 0..ninputs-1 hold the inputs;
 * instruction j (four int64s: kind 1 unary / 2 binary, op code, register a,
 * register b) writes register ninputs+j with its two floats fprog[2j..] as
 * alpha/beta; the last register is written to the contiguous `out`.
 * At most 16 inputs and 48 instructions; binary codes are the float ones. */
void gn_fused_eltwise(int ndim, const int64_t *shape, int ninputs, const float *const *inputs,
                      const int64_t *strides, int ninstr, const int64_t *prog,
                      const float *fprog, float *out);
/* One elementwise program over several tensors in one call (csrc/multi_eltwise.c; the
 * optimizer updates of all weights): tensor t has sizes[t] elements; its input j is
 * inputs[t*ninputs + j], read at element stride strides[t*ninputs + j] (1, or 0 for one
 * value); registers and instructions as for gn_fused_eltwise; register results[o] is
 * written to the contiguous outputs[t*noutputs + o], which may be the buffer of one of
 * the tensor's stride-1 inputs (updated in place). At most 64 tensors, 16 inputs,
 * 48 instructions and 8 outputs. */
void gn_multi_eltwise(int ntensors, const int64_t *sizes, int ninputs, const float *const *inputs,
                      const int64_t *strides, int ninstr, const int64_t *prog, const float *fprog,
                      int noutputs, const int64_t *results, float *const *outputs);
/* The optimizers' programs compiled ahead of time (csrc/compiled_programs.h), which
 * gn_multi_eltwise runs as C loops instead of interpreting them: the index of the one
 * with these instructions and results, or -1. gn_set_compiled_programs(0) makes it
 * interpret every program (for tests); returns the previous setting. */
int gn_compiled_program_index(int ninputs, int ninstr, const int64_t *prog, int noutputs,
                              const int64_t *results);
int gn_set_compiled_programs(int enable);

/* ---- the plan executor -------------------------------------------------
 * A plan is a flat list of steps; each step is four int64s:
 *   kernel id (enum gn_kernel), offset of its int args in iargs,
 *   offset of its float args in fargs, number of int args.
 * Buffers are named by slot; each slot is three int64s: kind (enum gn_slot),
 * index within that kind, byte offset. */
enum gn_kernel {
    GN_K_GEMM = 1, GN_K_UNARY = 2, GN_K_BINARY = 3, GN_K_WHERE = 4, GN_K_COPY = 5,
    GN_K_CAST = 6, GN_K_REDUCE = 7, GN_K_SOFTMAX = 8, GN_K_BATCH_GEMM = 9, GN_K_FILL = 10,
    GN_K_RANDOM = 11, GN_K_GEMM_BIAS_ACT = 12, GN_K_FUSED_ELTWISE = 13, GN_K_GATHER = 14,
    GN_K_SCATTER_ADD = 15, GN_K_CONV = 40, GN_K_CONV_BACKWARD_INPUT = 41,
    GN_K_CONV_BACKWARD_FILTER = 42, GN_K_POOL = 43, GN_K_POOL_BACKWARD = 44,
    GN_K_CONV_BIAS_ACT = 45, GN_K_CONV_BIAS_ACT_POOL = 46, GN_K_MULTI_ELTWISE = 50,
    GN_K_RNN_FORWARD = 60, GN_K_RNN_BPTT = 61, GN_K_RNN_PARAM_GRAD = 62,
    GN_K_ALLREDUCE_SUM = 70, GN_K_ATTENTION = 71, GN_K_ATTENTION_BACKWARD = 72,
    GN_K_AFFINE_TRANSFORM = 80, GN_K_AFFINE_TRANSFORM_GRAD = 81, GN_K_LAYER_NORM = 82,
    GN_K_LAYER_NORM_GRAD = 83
};
enum gn_slot {
    GN_SLOT_ARENA = 0, GN_SLOT_INPUT = 1, GN_SLOT_OUTPUT = 2, GN_SLOT_WEIGHT = 3,
    GN_SLOT_CONST = 4
};
typedef struct gn_plan {
    int64_t nsteps;
    const int64_t *steps;
    const int64_t *iargs;
    const float *fargs;
    int64_t nslots;
    const int64_t *slots;
    void *const *consts;
    const float *const *packed_b; /* per step, its GEMM's B prepacked, or NULL (may be NULL) */
} gn_plan;
/* Why a step failed. A kernel that returns a status returns one of these; a kernel that
 * returns void and cannot get the scratch memory it needs writes nothing more and counts the
 * failure (gn_no_memory_count), which gn_plan_run reads around each step (a concurrent run
 * in the same process may then report the same failure). */
enum gn_status {
    GN_OK = 0,
    /* GATHER / SCATTER_ADD: an index outside [-n, n) */
    GN_ERR_INDEX = 1, GN_ERR_NO_MEMORY = 2,
    /* arguments out of the kernel's range (nothing written) */
    GN_ERR_BAD_ARGS = 3, GN_ERR_UNKNOWN_KERNEL = 4, GN_ERR_COUNT = 5
};
/* Allocation failures of kernels so far in this process. */
unsigned long gn_no_memory_count(void);
/* Run every step; returns GN_OK, or GN_ERR_COUNT * step + reason (an enum gn_status) for
 * the first step that failed: an index out of range (GATHER, SCATTER_ADD), no memory,
 * arguments its kernel refused, or an unknown kernel. No step after it runs. */
int gn_plan_run(const gn_plan *plan, void *const *inputs, void *const *outputs,
                void *const *weights, void *arena);
/* Run the plan nruns times in one call (compile's steps_per_execution): run r reads input i
 * at inputs[i] + r * input_strides[i] bytes and writes output o at outputs[o] +
 * r * output_strides[o] (a stride of 0: the same buffer every run); the weights carry over
 * from run to run. *runs_done is set to the number of runs that completed. Returns GN_OK,
 * or the failing run's gn_plan_run status (no run after it starts); GN_ERR_NO_MEMORY when
 * the pointer tables cannot be allocated (no run starts). */
int gn_plan_run_steps(const gn_plan *plan, int64_t nruns, int64_t ninputs, void *const *inputs,
                      const int64_t *input_strides, int64_t noutputs, void *const *outputs,
                      const int64_t *output_strides, void *const *weights, void *arena,
                      int64_t *runs_done);

#endif
