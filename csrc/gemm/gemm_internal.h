/* Pieces of the fp32 GEMM shared between gemm.c, pack.c and the micro-kernels. */
#ifndef GN_GEMM_INTERNAL_H
#define GN_GEMM_INTERNAL_H
#include <stdint.h>
#include "config.h"

/* Packed micro-kernel: C[0:mr, 0:nr] = alpha * Ap Bp + beta * C, where Ap is an
 * MR x k micro-panel (MR floats per k step) and Bp a k x NR micro-panel (NR floats
 * per k step), both zero padded to full size. Never reads C when beta == 0. */
typedef void (*gn_ukr_fn)(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                          float alpha, float beta, int mr, int nr);

/* Unpacked ("sup") micro-kernel on the caller's matrices: A(i,p) = a[i*rsa + p*csa],
 * B(p,j) = b[p*rsb + j]. Reads only the mr x k and k x nr elements it needs.
 * Tiles: mr <= MR and nr <= NR; or, wide, mr <= MR/2 and nr <= 2*NR; or one row
 * and nr <= wide1, two rows and nr <= wide2 (see gn_gemm_kernel).
 * Same C contract as gn_ukr_fn. */
typedef void (*gn_sup_fn)(int64_t k, const float *a, int64_t rsa, int64_t csa,
                          const float *b, int64_t rsb, float *c, int64_t ldc,
                          float alpha, float beta, int mr, int nr);

/* Dot-product GEMM for B transposed (stored n x k) and A not: C = alpha A B^T + beta C
 * over whole rows, for products with few rows or columns. Never reads C when beta == 0. */
typedef void (*gn_dot_fn)(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                          int64_t ldc);

typedef void (*gn_pack_fn)(int trans, int64_t rows, int64_t cols, const float *x, int64_t ld,
                           int width, float *xp);

/* One ISA's GEMM: register tile, cache blocks, kernels and packers. */
typedef struct {
    int mr, nr;
    int64_t kc, mc, nc;
    int wide1, wide2; /* unpacked tile width for products of one row, of two rows */
    int sup_mid;      /* unpacked kernels also for mid-sized products (see config.h) */
    gn_ukr_fn ukr;
    gn_sup_fn sup;
    gn_pack_fn pack_a, pack_b;
    gn_dot_fn dot; /* NULL: B transposed always goes through packing */
} gn_gemm_kernel;

/* The GEMM of the current ISA (gn_current_isa), for kernels that drive the micro-kernel
 * themselves over operands they pack once (attention tiles, the recurrent sequences). */
const gn_gemm_kernel *gn_sgemm_kernel(void);

/* Pack op(A)[0:mc, 0:kc] into ceil(mc/mr) micro-panels of mr x kc (zero-padded rows). */
void gn_sgemm_pack_a(int transa, int64_t mc, int64_t kc, const float *a, int64_t lda, int mr,
                     float *ap);
/* Pack op(B)[0:kc, 0:nc] into ceil(nc/nr) micro-panels of kc x nr (zero-padded columns);
 * panel q starts at bp + q*kc*nr. */
void gn_sgemm_pack_b(int transb, int64_t kc, int64_t nc, const float *b, int64_t ldb, int nr,
                     float *bp);

#if defined(__x86_64__)
/* The same with AVX-512 transposes, for mr == 12 / nr == 32 (else the above). */
void gn_sgemm_pack_a_avx512(int transa, int64_t mc, int64_t kc, const float *a, int64_t lda,
                            int mr, float *ap);
void gn_sgemm_pack_b_avx512(int transb, int64_t kc, int64_t nc, const float *b, int64_t ldb,
                            int nr, float *bp);
#endif

void gn_sgemm_ukr_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                           float alpha, float beta, int mr, int nr);
void gn_sgemm_sup_ref(int64_t k, const float *a, int64_t rsa, int64_t csa,
                           const float *b, int64_t rsb, float *c, int64_t ldc,
                           float alpha, float beta, int mr, int nr);
#if defined(__x86_64__)
void gn_sgemm_ukr_avx2_6x16(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                            float alpha, float beta, int mr, int nr);
void gn_sgemm_sup_avx2_6x16(int64_t k, const float *a, int64_t rsa, int64_t csa,
                            const float *b, int64_t rsb, float *c, int64_t ldc,
                            float alpha, float beta, int mr, int nr);
void gn_sgemm_ukr_avx512_12x32(int64_t k, const float *a, const float *b, float *c,
                               int64_t ldc, float alpha, float beta, int mr, int nr);
void gn_sgemm_sup_avx512_12x32(int64_t k, const float *a, int64_t rsa, int64_t csa,
                               const float *b, int64_t rsb, float *c, int64_t ldc,
                               float alpha, float beta, int mr, int nr);
void gn_sgemm_dot_avx512(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                         int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                         int64_t ldc);
#endif

#endif
