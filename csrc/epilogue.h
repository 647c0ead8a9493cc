/* Epilogues of fused contractions: what a GEMM or convolution applies to each block of
 * its output right after computing it, while the block is still in cache, instead of a
 * second pass over memory (csrc/fused.c applies them; csrc/gemm/gemm.c calls a hook). */
#ifndef GRAPHNET_EPILOGUE_H
#define GRAPHNET_EPILOGUE_H
#include <stdint.h>

/* out[i, j] = act(out[i, j] + bias[j] + res[i * ldr + j]): bias and res may be NULL; act
 * is an enum gn_unary_op (GN_U_COPY: none) with its alpha / beta. Coordinates are those
 * of the whole output, whatever block is being finished. */
typedef struct {
    const float *bias;
    const float *res;
    int64_t ldr;
    int act;
    float alpha, beta;
} gn_epilogue;

/* Whether e changes nothing (NULL included). */
int gn_epilogue_empty(const gn_epilogue *e);

/* Apply e to rows [i0, i0 + rows) x columns [j0, j0 + cols) of the output, where c
 * points at element (i0, j0) and ldc is the output's row stride. */
void gn_epilogue_apply(const gn_epilogue *e, int64_t i0, int64_t j0, int64_t rows,
                       int64_t cols, float *c, int64_t ldc);

/* e moved by (i0, j0): the epilogue of the sub-output starting there. */
gn_epilogue gn_epilogue_offset(const gn_epilogue *e, int64_t i0, int64_t j0);

/* The GEMM's hook: called on each finished block of C (rows x cols at (i0, j0), c
 * pointing at it) by the thread that computed it. */
typedef void (*gn_block_fn)(const void *ctx, int64_t i0, int64_t j0, int64_t rows,
                            int64_t cols, float *c, int64_t ldc);

/* C = op(A) @ op(B) (gn_sgemm with alpha 1, beta 0), then done(ctx, ...) on each block of
 * C as it is finished (csrc/gemm/gemm.c); bpacked: B from gn_sgemm_prepack, or NULL. */
void gn_sgemm_then(int transa, int transb, int64_t m, int64_t n, int64_t k, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                   gn_block_fn done, const void *ctx, const float *bpacked);

/* gn_sgemm_then with gn_epilogue_apply as the hook (NULL or empty e: a plain GEMM). */
void gn_sgemm_epilogue(int transa, int transb, int64_t m, int64_t n, int64_t k,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                       int64_t ldc, const gn_epilogue *e, const float *bpacked);

#endif
