/* Fused scaled dot-product attention, forward (the CPU form of flash attention).
 *
 * out[b, t, n, :] = sum_s softmax_s(scale * q[b, t, n, :] . k[b, s, n, :], masked) v[b, s, n, :]
 * over (B, T, N, H) queries, (B, S, N, H) keys and (B, S, N, Hv) values, read in place
 * (row stride N * H: no transposes). Each task unit is one block of NR queries (the
 * micro-kernel's width) of one (b, n); the keys are swept in blocks of ATT_KEY_TILES * MR,
 * each block's transposed scores S^T = K Q^T computed by micro-kernel calls into a tile
 * (attention_internal.h), the softmax kept as a running maximum and sum per query (vector
 * lanes), and O^T += V^T P^T accumulated with P^T the tile itself, rescaled by the new
 * maximum. The full T x S score matrix is never written: memory is O(NR * block) per
 * unit. With `lse`, each query's log-sum-exp of its logits is stored for the backward.
 *
 * A masked position's logit is GN_ATT_MASKED (as Keras's torch backend adds), so a row
 * masked everywhere averages every value, as the unfused path does. Causal without a
 * mask skips the key blocks after the block's last query (they are all masked). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "attention_internal.h"
#include "graphnet.h"
#include "internal.h"
#include "threadpool.h"

typedef struct {
    attention_problem_t p;
    const gn_gemm_kernel *K;
    float *out, *lse;
    int64_t units, next;
    int failed;
} attention_task_t;

/* The running softmax over one transposed block of scores (rows keys, nr query lanes):
 * each query's new maximum `top`, the block's exps in place, the sum and the accumulator
 * (hv rows of nr) rescaled. Flat loops over gn_vexpf so each ISA clone vectorizes them. */
GN_INLINE void online_softmax_body(float *tile, int64_t rows, int64_t nr, float *mx,
                                   float *sum, float *top, float *acc, int64_t hv) {
    for (int64_t i = 0; i < nr; i++) top[i] = mx[i];
    for (int64_t j = 0; j < rows; j++)
        for (int64_t i = 0; i < nr; i++) top[i] = tile[j * nr + i] > top[i] ? tile[j * nr + i]
                                                                            : top[i];
    for (int64_t i = 0; i < nr; i++) {
        mx[i] = gn_vexpf(mx[i] - top[i]); /* the old terms' factor (0 on the first block) */
        sum[i] *= mx[i];
    }
    for (int64_t d = 0; d < hv; d++)
        for (int64_t i = 0; i < nr; i++) acc[d * nr + i] *= mx[i];
    for (int64_t j = 0; j < rows; j++)
        for (int64_t i = 0; i < nr; i++) {
            const float e = gn_vexpf(tile[j * nr + i] - top[i]);
            tile[j * nr + i] = e;
            sum[i] += e;
        }
    for (int64_t i = 0; i < nr; i++) mx[i] = top[i];
}
GN_MULTI(online_softmax, (float *tile, int64_t rows, int64_t nr, float *mx, float *sum,
                          float *top, float *acc, int64_t hv),
         online_softmax_body(tile, rows, nr, mx, sum, top, acc, hv))

/* Floats of one part's tiles. */
static int64_t forward_work(const attention_task_t *a) {
    const int64_t mr = a->K->mr, nr = a->K->nr, bc = ATT_KEY_TILES * mr;
    return a->p.h * nr + bc * a->p.h + att_round_up(a->p.hv, mr) * (bc + nr) + bc * nr + 3 * nr;
}

/* Queries [t0, t0 + nq) of head nh of sample bi. */
static void forward_block(const attention_task_t *a, int64_t bi, int64_t nh, int64_t t0,
                          int64_t nq, float *work) {
    const attention_problem_t *p = &a->p;
    const gn_gemm_kernel *K = a->K;
    const int64_t mr = K->mr, nr = K->nr, bc = ATT_KEY_TILES * mr, h = p->h, hv = p->hv;
    const int64_t hv_rows = att_round_up(hv, mr);
    float *qp = work, *kp = qp + h * nr, *vp = kp + bc * h, *tile = vp + hv_rows * bc;
    float *acc = tile + bc * nr, *mx = acc + hv_rows * nr, *sum = mx + nr, *top = sum + nr;
    const int64_t ldq = p->n * h, ldv = p->n * hv;
    const float *k = p->k + bi * p->s * ldq + nh * h, *v = p->v + bi * p->s * ldv + nh * hv;
    K->pack_b(1, h, nq, p->q + (bi * p->t + t0) * ldq + nh * h, ldq, (int)nr, qp);
    for (int64_t i = 0; i < nr; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0.0f;
    }
    for (int64_t i = 0; i < hv_rows * nr; i++) acc[i] = 0.0f;
    const int64_t s_end = att_key_end(p, t0, nq);
    for (int64_t c0 = 0; c0 < s_end; c0 += bc) {
        const int64_t kc = att_min(bc, s_end - c0);
        /* S^T = scale K_block Q^T, MR keys per call */
        K->pack_a(0, kc, h, k + c0 * ldq, ldq, (int)mr, kp);
        for (int64_t r = 0; r < kc; r += mr)
            K->ukr(h, kp + r * h, qp, tile + r * nr, nr, p->scale, 0.0f, (int)mr, (int)nr);
        att_mask_tile(p, bi, nh, t0, nq, c0, kc, tile, nr, GN_ATT_MASKED);
        GN_PICK(online_softmax)(tile, kc, nr, mx, sum, top, acc, hv);
        /* O^T += V_block^T P^T: the tile is the packed k x NR operand */
        K->pack_a(1, hv, kc, v + c0 * ldv, ldv, (int)mr, vp);
        for (int64_t r = 0; r < hv; r += mr)
            K->ukr(kc, vp + r * kc, tile, acc + r * nr, nr, 1.0f, 1.0f, (int)mr, (int)nr);
    }
    for (int64_t i = 0; i < nq; i++) {
        float *o = a->out + ((bi * p->t + t0 + i) * p->n + nh) * hv;
        const float inv = 1.0f / sum[i];
        for (int64_t d = 0; d < hv; d++) o[d] = acc[d * nr + i] * inv;
        if (a->lse) a->lse[(bi * p->n + nh) * p->t + t0 + i] = mx[i] + logf(sum[i]);
    }
}

/* Each part takes the next untaken block of queries until none is left. */
static void attention_units(void *arg, int tid, int nt) {
    attention_task_t *a = arg;
    (void)tid;
    (void)nt;
    void *raw = malloc(sizeof(float) * (size_t)forward_work(a) + 64);
    if (!raw) {
        __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    const int64_t nr = a->K->nr, blocks = (a->p.t + nr - 1) / nr;
    for (;;) {
        const int64_t u = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
        if (u >= a->units) break;
        const int64_t qb = u % blocks, bn = u / blocks, t0 = qb * nr;
        forward_block(a, bn / a->p.n, bn % a->p.n, t0, att_min(nr, a->p.t - t0),
                      att_aligned(raw));
    }
    free(raw);
}

int gn_attention(int64_t b, int64_t t, int64_t s, int64_t n, int64_t h, int64_t hv,
                 const float *q, const float *k, const float *v, const uint8_t *mask,
                 const int64_t *mask_strides, int causal, float scale, float *out,
                 float *lse) {
    if (s <= 0) return GN_ERR_BAD_ARGS;   /* softmax over no keys */
    if (b <= 0 || t <= 0 || n <= 0 || hv <= 0) return GN_OK;
    const gn_gemm_kernel *K = gn_sgemm_kernel();
    attention_task_t task = {{b, t, s, n, h, hv, q, k, v, mask, mask_strides, causal, scale},
                             K, out, lse, b * n * ((t + K->nr - 1) / K->nr), 0, 0};
    const double macs = (double)b * n * t * s * (double)(h + hv);
    int team = gn_team_for(macs, GN_GRAIN_MACS);
    if (gn_in_parallel()) team = 1;
    if (team > task.units) team = (int)task.units;
    if (team > 1) gn_parallel(team, attention_units, &task);
    else attention_units(&task, 0, 1);
    if (task.failed) {
        gn_note_no_memory();
        return GN_ERR_NO_MEMORY;
    }
    return GN_OK;
}
