/* fp32 GEMM, BLIS style: C = alpha * op(A) op(B) + beta * C, row-major.
 *
 * Large products go through the five BLIS loops around a packed micro-kernel
 * (jc/NC, pc/KC, ic/MC, jr/NR, ir/MR). Skinny products (few rows, or few columns)
 * skip packing and run unpacked kernels straight over A and B, so B is streamed
 * once. Threads each take a block of C and run one of these on it. */
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "../threadpool.h"
#include "graphnet.h"
#include "internal.h"
#include "../epilogue.h"
#include "gemm_internal.h"

#if defined(__GNUC__)
#define GN_TLS __thread
#else
#define GN_TLS
#endif

/* ---- reference --------------------------------------------------------- */

static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f) {
            for (int64_t j = 0; j < n; j++) ci[j] = 0.0f;
        } else {
            for (int64_t j = 0; j < n; j++) ci[j] *= beta;
        }
    }
}

/* BLAS's quick return: 1 when the product is empty or is C = beta * C (A and B are
 * then not referenced), done here; 0 when A * B must be computed. */
static int quick_return(int64_t m, int64_t n, int64_t k, float alpha, float beta, float *c,
                        int64_t ldc) {
    if (m <= 0 || n <= 0) return 1;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return 1;
    }
    return 0;
}

void gn_sgemm_ref(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc) {
    if (quick_return(m, n, k, alpha, beta, c, ldc)) return;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t p = 0; p < k; p++) {
                const float x = transa ? a[p * lda + i] : a[i * lda + p];
                const float y = transb ? b[j * ldb + p] : b[p * ldb + j];
                s += (double)x * (double)y;
            }
            float *cij = c + i * ldc + j;
            *cij = beta == 0.0f ? alpha * (float)s : alpha * (float)s + beta * *cij;
        }
    }
}

/* ---- ISA dispatch ---------------------------------------------------------- */

static const gn_gemm_kernel kernel_ref = {GN_REF_MR, GN_REF_NR, GN_REF_KC, GN_REF_MC,
                                          GN_REF_NC, 2 * GN_REF_NR, 2 * GN_REF_NR, 0,
                                          gn_sgemm_ukr_ref,
                                          gn_sgemm_sup_ref, gn_sgemm_pack_a,
                                          gn_sgemm_pack_b, NULL};
#if defined(__x86_64__)
static const gn_gemm_kernel kernel_avx2 = {GN_AVX2_MR, GN_AVX2_NR, GN_AVX2_KC, GN_AVX2_MC,
                                           GN_AVX2_NC, 64, 32, 1, gn_sgemm_ukr_avx2_6x16,
                                           gn_sgemm_sup_avx2_6x16, gn_sgemm_pack_a,
                                           gn_sgemm_pack_b, NULL};
static const gn_gemm_kernel kernel_avx512 = {GN_AVX512_MR, GN_AVX512_NR, GN_AVX512_KC,
                                             GN_AVX512_MC, GN_AVX512_NC, 256, 128, 1,
                                             gn_sgemm_ukr_avx512_12x32,
                                             gn_sgemm_sup_avx512_12x32,
                                             gn_sgemm_pack_a_avx512, gn_sgemm_pack_b_avx512,
                                             gn_sgemm_dot_avx512};
#endif

static const gn_gemm_kernel *select_kernel(void) {
    switch (gn_current_isa()) {
#if defined(__x86_64__)
    case GN_ISA_AVX512: return &kernel_avx512;
    case GN_ISA_AVX2: return &kernel_avx2;
#endif
    default: return &kernel_ref;
    }
}

const gn_gemm_kernel *gn_gemm_active_kernel(void) { return select_kernel(); }

/* ---- helpers ----------------------------------------------------------------- */

static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }
static int64_t cdiv(int64_t x, int64_t y) { return (x + y - 1) / y; }
static int64_t round_up(int64_t x, int64_t y) { return cdiv(x, y) * y; }

/* Split `total` into equal blocks of at most `cap`, each a multiple of `unit`. */
static int64_t balanced_block(int64_t total, int64_t cap, int64_t unit) {
    return min64(round_up(cdiv(total, cdiv(total, cap)), unit), round_up(total, unit));
}

/* Packing buffers, kept per calling thread so repeated calls do not page-fault. */
static GN_TLS void *ws_raw;
static GN_TLS size_t ws_cap;

static float *workspace(size_t nfloats) {
    if (nfloats > ws_cap) {
        free(ws_raw);
        ws_raw = malloc(nfloats * sizeof(float) + 64);
        ws_cap = ws_raw ? nfloats : 0;
        if (!ws_raw) return NULL;
    }
    return (float *)(((uintptr_t)ws_raw + 63) & ~(uintptr_t)63);
}

/* What to call on each finished block of C: (i0, j0) is the position of the caller's
 * block in the whole C, so the hook sees whole-C coordinates. */
typedef struct {
    gn_block_fn fn;
    const void *ctx;
    int64_t i0, j0;
} hook_t;

static void finish(const hook_t *h, int64_t i, int64_t j, int64_t rows, int64_t cols, float *c,
                   int64_t ldc) {
    if (h && h->fn) h->fn(h->ctx, h->i0 + i, h->j0 + j, rows, cols, c, ldc);
}

/* ---- unpacked path ------------------------------------------------------------ */

/* No packing: each tile of C reads its rows of A and columns of B in place over the
 * whole depth. B must be k x n row-major (not transposed). Few rows (<= MR/2) use
 * one wide row of tiles, so B is streamed exactly once. */
static void gemm_sup(const gn_gemm_kernel *K, int transa, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc) {
    const int wide = m <= K->mr / 2;
    const int R = wide ? (int)m : K->mr;
    const int W = !wide ? K->nr : m == 1 ? K->wide1 : m == 2 ? K->wide2 : 2 * K->nr;
    const int64_t rsa = transa ? 1 : lda, csa = transa ? lda : 1;
    for (int64_t j = 0; j < n; j += W)                        /* jr: W columns */
        for (int64_t i = 0; i < m; i += R)                    /* ir: R rows */
            K->sup(k, a + i * rsa, rsa, csa, b + j, ldb, c + i * ldc + j, ldc, alpha, beta,
                   (int)min64(R, m - i), (int)min64(W, n - j));
}

/* ---- packed path: the five BLIS loops -------------------------------------------- */

/* B packed ahead (gn_sgemm_prepack): per block of KC rows of the depth, the columns as
 * panels of kc x NR; the block starting at row p0 is at data + p0 * npad. */
typedef struct {
    const float *data;
    int64_t kc, npad;
} prepacked_t;

/* Returns 0 when the packing buffers cannot be had. With pre, B's panels come from it:
 * this product's depth starts at row p0 of it (a block boundary) and its columns at
 * column j0 (a multiple of NR). */
static int gemm_packed(const gn_gemm_kernel *K, int transa, int transb, int64_t m, int64_t n,
                       int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                       int64_t ldb, float beta, float *c, int64_t ldc, const prepacked_t *pre,
                       int64_t p0, int64_t j0) {
    const int MR = K->mr, NR = K->nr;
    const int64_t KC = pre ? pre->kc : balanced_block(k, K->kc, 1);
    const int64_t MC = balanced_block(m, K->mc, MR);
    const int64_t NC = balanced_block(n, K->nc, NR);
    float *ap = workspace((size_t)((pre ? 0 : KC * NC) + MC * KC));
    if (!ap) return 0;
    float *bp = ap;
    if (!pre) ap += KC * NC;
    for (int64_t jc = 0; jc < n; jc += NC) {                      /* loop 5: jc, NC columns */
        const int64_t nc = min64(NC, n - jc);
        for (int64_t pc = 0; pc < k; pc += KC) {                  /* loop 4: pc, KC depth */
            const int64_t kc = min64(KC, k - pc);
            const float beta_p = pc == 0 ? beta : 1.0f;
            const float *bpan = bp;
            if (pre) bpan = pre->data + (p0 + pc) * pre->npad + (j0 + jc) * kc;
            else K->pack_b(transb, kc, nc, transb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb,
                           NR, bp);
            for (int64_t ic = 0; ic < m; ic += MC) {              /* loop 3: ic, MC rows */
                const int64_t mc = min64(MC, m - ic);
                K->pack_a(transa, mc, kc, transa ? a + pc * lda + ic : a + ic * lda + pc, lda,
                          MR, ap);
                for (int64_t jr = 0; jr < nc; jr += NR) {         /* loop 2: jr, NR columns */
                    for (int64_t ir = 0; ir < mc; ir += MR) {     /* loop 1: ir, MR rows */
                        K->ukr(kc, ap + ir * kc, bpan + jr * kc, c + (ic + ir) * ldc + jc + jr,
                               ldc, alpha, beta_p, (int)min64(MR, mc - ir),
                               (int)min64(NR, nc - jr));
                    }
                }
            }
        }
    }
    return 1;
}

/* ---- entry ------------------------------------------------------------------------- */

/* B transposed with few rows or columns: dot products along k, A made row-major
 * first if it is not. Returns 0 when that needs memory it cannot have. */
static int gemm_dot(const gn_gemm_kernel *K, int transa, int64_t m, int64_t n, int64_t k,
                    float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                    float beta, float *c, int64_t ldc) {
    if (transa) {
        float *at = workspace((size_t)(m * k));
        if (!at) return 0;
        for (int64_t p = 0; p < k; p++)
            for (int64_t i = 0; i < m; i++) at[i * k + p] = a[p * lda + i];
        a = at;
        lda = k;
    }
    K->dot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return 1;
}

/* B transposed goes to the dot-product kernel for few rows, or few columns of A as stored. */
static int takes_dot(const gn_gemm_kernel *K, int transa, int transb, int64_t m, int64_t n) {
    return transb && K->dot && (m <= GN_DOT_M || (n <= GN_DOT_N && !transa));
}

/* Unpacked when packing would cost more than it saves: few rows or columns, or A and B
 * small enough to stay in L2 as they are. */
static int takes_sup(const gn_gemm_kernel *K, int transb, int64_t m, int64_t n, int64_t k) {
    return !transb && (m <= GN_SKINNY_M || n <= K->nr ||
                       (K->sup_mid && gn_cpu_is_amd() && m * k <= GN_SUP_MAX_MK &&
                        k * n <= GN_SUP_MAX_KN));
}

/* One thread's product on a block of C; picks the unpacked, dot or packed path (pre, p0,
 * j0: see gemm_packed). */
static void gemm_path(const gn_gemm_kernel *K, int transa, int transb, int64_t m, int64_t n,
                      int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                      int64_t ldb, float beta, float *c, int64_t ldc, const prepacked_t *pre,
                      int64_t p0, int64_t j0) {
    if (takes_dot(K, transa, transb, m, n) &&
        gemm_dot(K, transa, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        return;
    if (takes_sup(K, transb, m, n, k) ||
        !gemm_packed(K, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pre, p0,
                     j0)) {
        if (!transb) gemm_sup(K, transa, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else gn_sgemm_ref(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

/* The block's product, then the hook on the whole block: one pass of the thread that
 * wrote it (measured ahead of finishing each strip or tile inside the loops, whose loads
 * of C just stored stall the micro-kernel's stream of stores). */
static void gemm_block(const gn_gemm_kernel *K, int transa, int transb, int64_t m, int64_t n,
                       int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                       int64_t ldb, float beta, float *c, int64_t ldc, const hook_t *h,
                       const prepacked_t *pre) {
    gemm_path(K, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pre, 0, h->j0);
    finish(h, 0, 0, m, n, c, ldc);
}

/* One product as the threaded paths share it: C = alpha op(A) op(B) + beta C, the hook
 * on finished parts of C. */
typedef struct {
    const gn_gemm_kernel *K;
    int transa, transb;
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float beta;
    float *c;
    int64_t ldc;
    gn_block_fn done; /* hook on finished blocks, or NULL */
    const void *ctx;
    const prepacked_t *pre; /* B packed ahead, or NULL */
} product_t;

/* Where op(A)(i, p) and op(B)(p, j) are stored. */
static const float *a_at(const product_t *g, int64_t i, int64_t p) {
    return g->transa ? g->a + p * g->lda + i : g->a + i * g->lda + p;
}
static const float *b_at(const product_t *g, int64_t p, int64_t j) {
    return g->transb ? g->b + j * g->ldb + p : g->b + p * g->ldb + j;
}

typedef struct {
    product_t p;
    int tm, tn;              /* the grid of blocks of C */
    int64_t mtiles, ntiles;  /* register tiles along m and n */
    int claimed[GN_MAX_THREADS];
} gemm_task_t;

/* Block b belongs to thread b; a thread done with its own takes any block nobody has
 * started, so a worker the OS is slow to run (another process on the core) costs at
 * most its block's time, and one thread alone runs them all. */
static void gemm_blocks(void *arg, int tid, int nt) {
    gemm_task_t *task = arg;
    const product_t *g = &task->p;
    const gn_gemm_kernel *K = g->K;
    const int nblocks = task->tm * task->tn;
    (void)nt;
    for (int q = 0; q < nblocks; q++) {
        const int blk = (tid + q) % nblocks;
        if (__atomic_fetch_add(&task->claimed[blk], 1, __ATOMIC_RELAXED)) continue;
        const int ti = blk / task->tn, tj = blk % task->tn;
        const int64_t i0 = task->mtiles * ti / task->tm * K->mr;
        const int64_t i1 = min64(task->mtiles * (ti + 1) / task->tm * K->mr, g->m);
        const int64_t j0 = task->ntiles * tj / task->tn * K->nr;
        const int64_t j1 = min64(task->ntiles * (tj + 1) / task->tn * K->nr, g->n);
        const hook_t h = {g->done, g->ctx, i0, j0};
        gemm_block(K, g->transa, g->transb, i1 - i0, j1 - j0, g->k, g->alpha, a_at(g, i0, 0),
                   g->lda, b_at(g, 0, j0), g->ldb, g->beta, g->c + i0 * g->ldc + j0, g->ldc,
                   &h, g->pre);
    }
}

/* ---- depth sweeps of few-row products ------------------------------------------------ */

/* A product of few rows streams B once per call. When B is larger than the L2 cache, a
 * sweep in the same order every call finds none of it there: the cache keeps the lines
 * used last, which the next sweep needs last. So the depth is cut into chunks swept
 * forward and backward on alternate calls: each sweep starts on the chunks the previous
 * one left in the cache (mnist_cnn's dense layer at batch 1, 1 x 128 x 9216 with 2.4 MB
 * of B per thread against a 2 MB L2, on 2 threads: 58 -> 38-41 us). Each chunk's product
 * goes to its own partial, summed in chunk order, so the result does not depend on the
 * direction. */
static int sweep_chunks(const product_t *g, int64_t depth) {
    const int64_t bytes = depth * g->n * (int64_t)sizeof(float);
    if (g->transb || g->m > GN_SKINNY_M || bytes <= GN_SWEEP_MIN_BYTES) return 1;
    const int64_t by_bytes = bytes / GN_SWEEP_CHUNK;
    const int64_t by_depth = depth / (GN_SWEEP_MIN_DEPTH * g->m);
    const int64_t chunks = min64(by_bytes, by_depth);
    return chunks < 2 ? 1 : (int)chunks;
}

/* Per B (hashed by address), the direction of its next sweep. */
static unsigned char sweep_backward[64];

static int next_sweep_backward(const float *b) {
    unsigned char *flag = &sweep_backward[((uintptr_t)b >> 12) % 64];
    return __atomic_fetch_xor(flag, 1, __ATOMIC_RELAXED) & 1;
}

/* Floats of partials for sweeping a depth of `depth` (0 when it is not chunked). */
static int64_t sweep_floats(const product_t *g, int64_t depth) {
    const int chunks = sweep_chunks(g, depth);
    return chunks > 1 ? chunks * g->m * g->n : 0;
}

/* C = alpha op(A) op(B) + beta C over the depth p0 .. p1, in chunks when it is long
 * (`partials`: sweep_floats(g, p1 - p0) floats). */
static void depth_slice(const product_t *g, int64_t p0, int64_t p1, float beta, float *c,
                        int64_t ldc, float *partials, int backward) {
    const int chunks = sweep_chunks(g, p1 - p0);
    if (chunks == 1) {
        gemm_path(g->K, g->transa, g->transb, g->m, g->n, p1 - p0, g->alpha, a_at(g, 0, p0),
                  g->lda, b_at(g, p0, 0), g->ldb, beta, c, ldc, g->pre, p0, 0);
        return;
    }
    const int64_t mn = g->m * g->n;
    for (int q = 0; q < chunks; q++) {
        const int ch = backward ? chunks - 1 - q : q;
        const int64_t a0 = p0 + (p1 - p0) * ch / chunks, a1 = p0 + (p1 - p0) * (ch + 1) / chunks;
        gemm_path(g->K, g->transa, g->transb, g->m, g->n, a1 - a0, g->alpha, a_at(g, 0, a0),
                  g->lda, b_at(g, a0, 0), g->ldb, 0.0f, partials + ch * mn, g->n, NULL, 0, 0);
    }
    for (int64_t i = 0; i < g->m; i++) {
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < g->n; j++) {
            float s = partials[i * g->n + j];
            for (int ch = 1; ch < chunks; ch++) s += partials[ch * mn + i * g->n + j];
            ci[j] = beta == 0.0f ? s : s + beta * ci[j];
        }
    }
}

/* K split, for a small C over a long depth (a dense layer on a flattened feature map:
 * 128 x 128 x 9216): a grid of blocks of C would have every thread pack the whole of A
 * or of B, so instead each thread takes a slice of the depth into its own C (thread 0
 * into the caller's C with beta, the others into partials); the caller then sums the
 * partials into C and runs the hook (no barrier inside the task, so the caller can take
 * over a slice no worker has started; the sum is m n (nt - 1) adds against m n k / nt
 * multiply-adds per slice, and k is long). */
typedef struct {
    product_t p;
    float *partial;  /* (threads - 1) x m x n */
    float *sweeps;   /* per thread, `stride` floats of depth_slice's partials */
    int64_t stride;
    int backward;
    int parts; /* slices the pool ran: fewer than asked when the team was busy */
} ksplit_task_t;

/* Thread tid's share of the depth: as many whole blocks of the prepacked B for each, if
 * there is one (else gemm_depth drops it). */
static int64_t depth_start(const product_t *g, int tid, int nt) {
    if (!g->pre) return g->k * tid / nt;
    return min64(g->k, cdiv(g->k, g->pre->kc) * tid / nt * g->pre->kc);
}

static void gemm_ksplit(void *arg, int tid, int nt) {
    ksplit_task_t *task = arg;
    const product_t *g = &task->p;
    if (tid == 0) task->parts = nt;
    const int64_t p0 = depth_start(g, tid, nt), p1 = depth_start(g, tid + 1, nt);
    float *c = tid ? task->partial + (tid - 1) * g->m * g->n : g->c;
    depth_slice(g, p0, p1, tid ? 0.0f : g->beta, c, tid ? g->n : g->ldc,
                task->sweeps + tid * task->stride, task->backward);
}

/* C += the partials of slices 1 .. parts - 1, then the hook on all of C. */
static void ksplit_sum(const ksplit_task_t *task) {
    const product_t *g = &task->p;
    const int nt = task->parts;
    const int64_t mn = g->m * g->n;
    for (int64_t i = 0; i < g->m; i++) {
        float *ci = g->c + i * g->ldc;
        for (int t = 1; t < nt; t++) {
            const float *pi = task->partial + (t - 1) * mn + i * g->n;
            for (int64_t j = 0; j < g->n; j++) ci[j] += pi[j];
        }
    }
    const hook_t h = {g->done, g->ctx, 0, 0};
    finish(&h, 0, 0, g->m, g->n, g->c, g->ldc);
}

/* The floats of partials of C a depth split over nt threads writes, and whether they
 * are few enough to allocate per call (4 MB). */
static double split_partials(int64_t m, int64_t n, int nt) {
    return (double)m * (double)n * (nt - 1);
}
static int partials_fit(double partials) { return partials <= (double)(1 << 20); }

/* Whether to split the depth: C has few rows (GEMV-like: each thread then streams whole
 * rows of B, where a split of the columns would have it read the same part of every row,
 * which maps to a fraction of the cache sets: 1 x 512 x 784 and 1 x 512 x 512 in turn,
 * as a dense network at batch 1, ran 2x faster once each thread's weights stayed in its
 * L2), or the depth is long next to both sides of C and the partials of C are small. */
static int use_ksplit(int64_t m, int64_t n, int64_t k, int nt) {
    if (nt > 1 && m <= GN_SKINNY_M && k >= 64 * nt) return 1;
    return nt > 1 && k >= 1024 && k >= 8 * (m > n ? m : n) &&
           partials_fit(split_partials(m, n, nt));
}

/* Whether a depth split over nt threads moves less than the best grid of blocks of C,
 * whose threads pack A tn times and B tm times (grid_cost: m tn + n tm, per unit of
 * depth): the split packs each once, and writes and reads (nt - 1) partials of C.
 * 128 x 512 x 784 (a dense layer at batch 128) 402 -> 387 us on two threads,
 * 200 x 300 x 1000 473 -> 437, 128 x 256 x 2048 514 -> 473. */
static int ksplit_packs_less(int64_t m, int64_t n, int64_t k, int nt, double grid_cost) {
    const double partials = split_partials(m, n, nt);
    return partials_fit(partials) && (double)(m + n) + partials / (double)k < grid_cost;
}

/* The depth split over nt threads (nt == 1: one chunked sweep); 0 when the partials
 * cannot be had. Each thread's sweep partials are sized for the whole depth: when the
 * team is busy (another application thread runs a kernel) the task runs on this thread
 * alone and its one slice is all of k; pages a smaller slice leaves untouched cost nothing. */
static int gemm_depth(const product_t *g, int nt) {
    const int64_t mn = g->m * g->n, stride = sweep_floats(g, g->k);
    float *partial = malloc(sizeof(float) * (size_t)(mn * (nt - 1) + stride * nt + 1));
    if (!partial) return 0;
    ksplit_task_t task = {*g, partial, partial + mn * (nt - 1), stride,
                          stride ? next_sweep_backward(g->b) : 0, 1};
    if (g->pre && cdiv(g->k, g->pre->kc) % nt) task.p.pre = NULL; /* uneven in whole blocks */
    if (nt == 1) gemm_ksplit(&task, 0, 1);
    else gn_parallel(nt, gemm_ksplit, &task);
    ksplit_sum(&task);
    free(partial);
    return 1;
}

/* ---- B packed ahead ---------------------------------------------------------------- */

/* gn_sgemm_prepack's buffer: this header (16 floats), then the panels from the next
 * 64-byte boundary. */
typedef struct {
    int64_t magic, isa, nr, kc, k, n, transb, unused;
} prepack_header_t;
#define PREPACK_MAGIC 0x6b63617065727067LL
#define PREPACK_HEADER ((int64_t)(sizeof(prepack_header_t) / sizeof(float)))

static float *prepack_data(const float *dst) {
    return (float *)(((uintptr_t)(dst + PREPACK_HEADER) + 63) & ~(uintptr_t)63);
}

int64_t gn_sgemm_prepack_size(int transa, int transb, int64_t m, int64_t n, int64_t k) {
    const gn_gemm_kernel *K = select_kernel();
    if (m <= 0 || n <= 0 || k <= 0 || takes_dot(K, transa, transb, m, n) ||
        takes_sup(K, transb, m, n, k))
        return 0;
    return PREPACK_HEADER + 16 + round_up(n, K->nr) * k;
}

void gn_sgemm_prepack(int transb, int64_t k, int64_t n, const float *b, int64_t ldb,
                      float *dst) {
    const gn_gemm_kernel *K = select_kernel();
    const int64_t KC = balanced_block(k, K->kc, 1), npad = round_up(n, K->nr);
    const prepack_header_t h = {PREPACK_MAGIC, gn_current_isa(), K->nr, KC, k, n, transb, 0};
    memcpy(dst, &h, sizeof h);
    float *data = prepack_data(dst);
    for (int64_t pc = 0; pc < k; pc += KC)
        K->pack_b(transb, min64(KC, k - pc), n, transb ? b + pc : b + pc * ldb, ldb, K->nr,
                  data + pc * npad);
}

/* The prepacked B in `packed` when it was written for this product under this ISA. */
static int prepacked_view(const gn_gemm_kernel *K, const float *packed, int transb, int64_t k,
                          int64_t n, prepacked_t *out) {
    prepack_header_t h;
    if (!packed) return 0;
    memcpy(&h, packed, sizeof h);
    if (h.magic != PREPACK_MAGIC || h.isa != gn_current_isa() || h.nr != K->nr ||
        h.kc != balanced_block(k, K->kc, 1) || h.k != k || h.n != n || h.transb != transb)
        return 0;
    *out = (prepacked_t){prepack_data(packed), h.kc, round_up(n, K->nr)};
    return 1;
}

static void gemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc, gn_block_fn done, const void *ctx, const float *bpacked) {
    const hook_t whole = {done, ctx, 0, 0};
    if (quick_return(m, n, k, alpha, beta, c, ldc)) {
        if (m > 0 && n > 0) finish(&whole, 0, 0, m, n, c, ldc);
        return;
    }
    const gn_gemm_kernel *K = select_kernel();
    /* Threads split C into a tm x tn grid of blocks and run independent products, so
     * there is no barrier to wait at: A is packed tn times and B tm times, so pick the
     * grid that packs least, or split the depth when that packs less still. Blocks are
     * whole register tiles. */
    const int64_t mtiles = cdiv(m, K->mr), ntiles = cdiv(n, K->nr);
    int nt = gn_team_for((double)m * (double)n * (double)k, GN_GRAIN_MACS), tm = 1, tn = 1;
    if (nt > GN_MAX_THREADS) nt = GN_MAX_THREADS;
    if (gn_in_parallel()) nt = 1; /* the caller's task already has the cores */
    prepacked_t pre;
    const product_t prod = {K, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                            done, ctx,
                            prepacked_view(K, bpacked, transb, k, n, &pre) ? &pre : NULL};
    if ((use_ksplit(m, n, k, nt) || (nt == 1 && sweep_chunks(&prod, k) > 1)) &&
        gemm_depth(&prod, nt))
        return;
    const int team = nt;
    double best = -1.0;
    for (; nt > 1 && tm * tn == 1; nt--) {
        for (int x = 1; x <= nt; x++) {
            if (nt % x || x > mtiles || nt / x > ntiles) continue;
            const double cost = (double)m * (nt / x) + (double)n * x;
            if (best < 0.0 || cost < best) best = cost, tm = x, tn = nt / x;
        }
    }
    if (best > 0.0 && ksplit_packs_less(m, n, k, team, best) && gemm_depth(&prod, team))
        return;
    if (tm * tn == 1) {
        gemm_block(K, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &whole,
                   prod.pre);
        return;
    }
    gemm_task_t task = {prod, tm, tn, mtiles, ntiles, {0}};
    gn_parallel(tm * tn, gemm_blocks, &task);
}

void gn_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb,
              float beta, float *c, int64_t ldc) {
    gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, NULL, NULL);
}

void gn_sgemm_then(int transa, int transb, int64_t m, int64_t n, int64_t k, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                   gn_block_fn done, const void *ctx, const float *bpacked) {
    gemm(transa, transb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc, done, ctx, bpacked);
}
