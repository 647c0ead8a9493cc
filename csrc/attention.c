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
    float *packed; /* per (b, n): K as MR-row panels, then V^T as MR-row panels */
    int64_t units, next;
    int failed;
} attention_task_t;

/* Floats of one head's packed keys and values. */
static int64_t packed_head(const attention_task_t *a) {
    const int64_t mr = a->K->mr;
    return att_round_up(a->p.s, mr) * a->p.h + att_round_up(a->p.hv, mr) * a->p.s;
}

/* Packs the keys and values of heads [lo, hi) (as b * N + n) once for all their blocks. */
static void pack_heads(void *arg, int64_t lo, int64_t hi, int tid) {
    const attention_task_t *a = arg;
    (void)tid;
    const attention_problem_t *p = &a->p;
    const int64_t ldq = p->n * p->h, ldv = p->n * p->hv, mr = a->K->mr;
    for (int64_t u = lo; u < hi; u++) {
        const int64_t bi = u / p->n, nh = u % p->n;
        float *kp = a->packed + u * packed_head(a), *vp = kp + att_round_up(p->s, mr) * p->h;
        a->K->pack_a(0, p->s, p->h, p->k + bi * p->s * ldq + nh * p->h, ldq, (int)mr, kp);
        a->K->pack_a(1, p->hv, p->s, p->v + bi * p->s * ldv + nh * p->hv, ldv, (int)mr, vp);
    }
}

/* The running softmax over one transposed block of scores (rows keys, nr query lanes):
 * each query's new maximum, the block's exps in place, the sum and the accumulator (hv rows
 * of nr) rescaled. Flat loops over gn_vexpf so each ISA clone vectorizes them; the running
 * values are locals (nr at most GN_MAX_NR), so with nr a constant they stay in registers
 * across the rows instead of going through memory the tile might alias. */
GN_INLINE void online_softmax_body(float *tile, int64_t rows, int64_t nr, float *mx,
                                   float *sum, float *acc, int64_t hv) {
    float top[GN_MAX_NR], part[GN_MAX_NR];
    for (int64_t i = 0; i < nr; i++) top[i] = mx[i];
    for (int64_t j = 0; j < rows; j++)
        for (int64_t i = 0; i < nr; i++) top[i] = tile[j * nr + i] > top[i] ? tile[j * nr + i]
                                                                            : top[i];
    for (int64_t i = 0; i < nr; i++) {
        part[i] = gn_vexpf(mx[i] - top[i]); /* the old terms' factor (0 on the first block) */
        sum[i] *= part[i];
        mx[i] = top[i];
    }
    for (int64_t d = 0; d < hv; d++)
        for (int64_t i = 0; i < nr; i++) acc[d * nr + i] *= part[i];
    for (int64_t i = 0; i < nr; i++) part[i] = 0.0f;
    for (int64_t j = 0; j < rows; j++)
        for (int64_t i = 0; i < nr; i++) {
            const float e = gn_vexpf(tile[j * nr + i] - top[i]);
            tile[j * nr + i] = e;
            part[i] += e;
        }
    for (int64_t i = 0; i < nr; i++) sum[i] += part[i];
}
/* The body with the micro-kernel's width a constant where it is one: rows of whole vectors. */
GN_INLINE void online_softmax_width(float *tile, int64_t rows, int64_t nr, float *mx,
                                    float *sum, float *acc, int64_t hv) {
    if (nr == 32) online_softmax_body(tile, rows, 32, mx, sum, acc, hv);
    else if (nr == 16) online_softmax_body(tile, rows, 16, mx, sum, acc, hv);
    else if (nr == 8) online_softmax_body(tile, rows, 8, mx, sum, acc, hv);
    else online_softmax_body(tile, rows, nr, mx, sum, acc, hv);
}
GN_MULTI(online_softmax, (float *tile, int64_t rows, int64_t nr, float *mx, float *sum,
                          float *acc, int64_t hv),
         online_softmax_width(tile, rows, nr, mx, sum, acc, hv))

#if defined(__x86_64__)
/* online_softmax for 32-query tiles in AVX-512 registers (att_exp512). */
static ATT_AVX512 void online_softmax_avx512_32(float *tile, int64_t rows, float *mx,
                                                float *sum, float *acc, int64_t hv) {
    __m512 top0 = _mm512_loadu_ps(mx), top1 = _mm512_loadu_ps(mx + 16);
    for (int64_t j = 0; j < rows; j++) {
        top0 = _mm512_max_ps(_mm512_loadu_ps(tile + j * 32), top0);
        top1 = _mm512_max_ps(_mm512_loadu_ps(tile + j * 32 + 16), top1);
    }
    const __m512 keep0 = att_exp512(_mm512_sub_ps(_mm512_loadu_ps(mx), top0));
    const __m512 keep1 = att_exp512(_mm512_sub_ps(_mm512_loadu_ps(mx + 16), top1));
    _mm512_storeu_ps(mx, top0);
    _mm512_storeu_ps(mx + 16, top1);
    for (int64_t d = 0; d < hv; d++) {
        _mm512_storeu_ps(acc + d * 32, _mm512_mul_ps(_mm512_loadu_ps(acc + d * 32), keep0));
        _mm512_storeu_ps(acc + d * 32 + 16,
                         _mm512_mul_ps(_mm512_loadu_ps(acc + d * 32 + 16), keep1));
    }
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (int64_t j = 0; j < rows; j++) {
        const __m512 e0 = att_exp512(_mm512_sub_ps(_mm512_loadu_ps(tile + j * 32), top0));
        const __m512 e1 = att_exp512(_mm512_sub_ps(_mm512_loadu_ps(tile + j * 32 + 16), top1));
        _mm512_storeu_ps(tile + j * 32, e0);
        _mm512_storeu_ps(tile + j * 32 + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    _mm512_storeu_ps(sum, _mm512_fmadd_ps(_mm512_loadu_ps(sum), keep0, s0));
    _mm512_storeu_ps(sum + 16, _mm512_fmadd_ps(_mm512_loadu_ps(sum + 16), keep1, s1));
}
#endif

static void softmax_block(float *tile, int64_t rows, int64_t nr, float *mx, float *sum,
                          float *acc, int64_t hv) {
#if defined(__x86_64__)
    if (att_avx512_tiles(nr)) {
        online_softmax_avx512_32(tile, rows, mx, sum, acc, hv);
        return;
    }
#endif
    GN_PICK(online_softmax)(tile, rows, nr, mx, sum, acc, hv);
}

/* Floats of one part's tiles. */
static int64_t forward_work(const attention_task_t *a) {
    const int64_t mr = a->K->mr, nr = a->K->nr, bc = ATT_KEY_TILES * mr;
    return a->p.h * nr + att_round_up(a->p.hv, mr) * nr + bc * nr + 2 * nr;
}

/* Queries [t0, t0 + nq) of head nh of sample bi. */
static void forward_block(const attention_task_t *a, int64_t bi, int64_t nh, int64_t t0,
                          int64_t nq, float *work) {
    const attention_problem_t *p = &a->p;
    const gn_gemm_kernel *K = a->K;
    const int64_t mr = K->mr, nr = K->nr, bc = ATT_KEY_TILES * mr, h = p->h, hv = p->hv;
    const int64_t hv_rows = att_round_up(hv, mr);
    float *qp = work, *tile = qp + h * nr, *acc = tile + bc * nr, *mx = acc + hv_rows * nr;
    float *sum = mx + nr;
    const int64_t ldq = p->n * h;
    const float *kp = a->packed + (bi * p->n + nh) * packed_head(a);
    const float *vp = kp + att_round_up(p->s, mr) * h;
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
        for (int64_t r = 0; r < kc; r += mr)
            K->ukr(h, kp + (c0 + r) * h, qp, tile + r * nr, nr, p->scale, 0.0f, (int)mr,
                   (int)nr);
        att_mask_tile(p, bi, nh, t0, nq, c0, kc, tile, nr, GN_ATT_MASKED);
        softmax_block(tile, kc, nr, mx, sum, acc, hv);
        /* O^T += V_block^T P^T: the tile is the packed k x NR operand */
        for (int64_t r = 0; r < hv; r += mr)
            K->ukr(kc, vp + r * p->s + c0 * mr, tile, acc + r * nr, nr, 1.0f, 1.0f, (int)mr,
                   (int)nr);
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
                             K, out, lse, NULL, b * n * ((t + K->nr - 1) / K->nr), 0, 0};
    void *raw = malloc(sizeof(float) * (size_t)(b * n * packed_head(&task)) + 64);
    if (!raw) {
        gn_note_no_memory();
        return GN_ERR_NO_MEMORY;
    }
    task.packed = att_aligned(raw);
    const double macs = (double)b * n * t * s * (double)(h + hv);
    int team = gn_team_for(macs, GN_GRAIN_MACS);
    if (gn_in_parallel()) team = 1;
    gn_parallel_for(team > b * n ? (int)(b * n) : team, b * n, pack_heads, &task);
    if (team > task.units) team = (int)task.units;
    if (team > 1) gn_parallel(team, attention_units, &task);
    else attention_units(&task, 0, 1);
    free(raw);
    if (task.failed) {
        gn_note_no_memory();
        return GN_ERR_NO_MEMORY;
    }
    return GN_OK;
}
