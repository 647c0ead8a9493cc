/* Batched fp32 GEMM: one product per index of a batch shape, each operand offset by its
 * batch strides (0 where it broadcasts).
 *
 * Many small products (attention's batch x heads, 128 x 128 x 32 each) are dispatched
 * over the batch on the thread pool: each thread takes whole products, one after
 * another, and runs each alone with the usual packing (gn_sgemm inside a task runs on
 * its thread). A few large products instead run one after another, each threaded over
 * its own blocks of C, so no thread waits for a lone last product. */
#include <stdint.h>
#include "../threadpool.h"
#include "graphnet.h"

typedef struct {
    int ta, tb;
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float beta;
    float *c;
    int64_t ldc, nb;
    int nd;
    const int64_t *shape, *as, *bs, *cs;
    int64_t next; /* the next product nobody has taken */
} batch_task_t;

/* Product bi of the batch, its operands found through the batch strides. */
static void batch_product(const batch_task_t *t, int64_t bi) {
    int64_t rem = bi, ao = 0, bo = 0, co = 0;
    for (int d = t->nd - 1; d >= 0; d--) {
        const int64_t idx = rem % t->shape[d];
        rem /= t->shape[d];
        ao += idx * t->as[d];
        bo += idx * t->bs[d];
        co += idx * t->cs[d];
    }
    gn_sgemm(t->ta, t->tb, t->m, t->n, t->k, t->alpha, t->a + ao, t->lda, t->b + bo, t->ldb,
             t->beta, t->c + co, t->ldc);
}

/* Each part takes the next untaken product until none is left, so a slow thread costs
 * at most one product's time and one thread alone runs them all. */
static void batch_products(void *arg, int tid, int nt) {
    batch_task_t *t = arg;
    (void)tid;
    (void)nt;
    for (;;) {
        const int64_t bi = __atomic_fetch_add(&t->next, 1, __ATOMIC_RELAXED);
        if (bi >= t->nb) return;
        batch_product(t, bi);
    }
}

void gn_sgemm_batch(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                    float *c, int64_t ldc, int64_t nb, int nd, const int64_t *shape,
                    const int64_t *a_strides, const int64_t *b_strides,
                    const int64_t *c_strides) {
    batch_task_t task = {transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nb,
                         nd, shape, a_strides, b_strides, c_strides, 0};
    if (nb <= 0) return;
    const double macs = (double)m * (double)n * (double)k;
    int team = gn_team_for(macs * (double)nb, GN_GRAIN_MACS);
    if (gn_in_parallel()) team = 1;
    /* over the batch when each thread gets two products or more, or when one product is
     * too small to wake the team on its own */
    const int over_batch = team > 1 && (nb >= 2 * (int64_t)team ||
                                        gn_team_for(macs, GN_GRAIN_MACS) == 1);
    if (over_batch) {
        gn_parallel(nb < team ? (int)nb : team, batch_products, &task);
        return;
    }
    for (int64_t bi = 0; bi < nb; bi++) batch_product(&task, bi);
}
