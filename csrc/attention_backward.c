/* Fused attention backward (FlashAttention-2's backward on the CPU).
 *
 * From the forward's inputs, its output O, the per-query log-sum-exp `lse` it stored and
 * the gradient dO: with P = softmax(S), S = scale Q K^T masked, and D = rowsum(dO * O),
 *   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - D),  dQ = scale dS K,  dK = scale dS^T Q.
 * Each task unit is one (b, n): its queries and dO are packed once (in blocks of NR, the
 * micro-kernel's width), then the keys are swept in blocks of ATT_KEY_TILES * MR; per key
 * block and query block the transposed scores S^T are recomputed into a tile
 * (attention_internal.h), P^T = exp(S^T - lse), and five micro-kernel products follow;
 * dK and dV of the key block are complete after its sweep over the queries, dQ^T
 * accumulates over the key blocks. Nothing of size T x S is ever held: memory is O(T + S)
 * per unit. A masked position's gradient is 0 (its logit is a constant). */
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
    const float *out, *dout, *lse;
    float *dq, *dk, *dv;
    int64_t next;
    int failed;
} backward_task_t;

/* The widths of one unit's buffers: hp, hvp (h, hv rounded up to NR: the columns of the
 * products that write them), hr (h rounded up to MR: the rows of dQ^T), blocks of NR
 * queries. */
typedef struct {
    int64_t mr, nr, bc, hp, hvp, hr, blocks;
} widths_t;

static widths_t widths_of(const backward_task_t *a) {
    const int64_t mr = a->K->mr, nr = a->K->nr;
    return (widths_t){mr, nr, ATT_KEY_TILES * mr, att_round_up(a->p.h, nr),
                      att_round_up(a->p.hv, nr), att_round_up(a->p.h, mr),
                      (a->p.t + nr - 1) / nr};
}

/* Floats of one part's buffers: per query block its packed queries (twice), dO (twice),
 * D, lse, the softmax weights and dQ^T; per key block its packed keys (twice) and values,
 * four score tiles, the dK and dV accumulators. */
static int64_t backward_work(const backward_task_t *a, const widths_t *w) {
    const int64_t h = a->p.h, hv = a->p.hv, nr = w->nr, bc = w->bc;
    return w->blocks * nr * (h + w->hp + hv + w->hvp + 3 + w->hr) +
           bc * (h + hv) + w->hr * bc + 4 * bc * nr + bc * (w->hp + w->hvp);
}

/* P^T = w exp(S^T - lse) in `s`, dS^T = P^T * (dP^T - D) in `dp`, for rows of nr lanes. */
GN_INLINE void softmax_grad_body(float *s, float *dp, int64_t rows, int64_t nr,
                                 const float *lse, const float *w, const float *dsum) {
    for (int64_t j = 0; j < rows; j++)
        for (int64_t i = 0; i < nr; i++) {
            const float pij = w[i] * gn_vexpf(s[j * nr + i] - lse[i]);
            s[j * nr + i] = pij;
            dp[j * nr + i] = pij * (dp[j * nr + i] - dsum[i]);
        }
}
GN_MULTI(softmax_grad, (float *s, float *dp, int64_t rows, int64_t nr, const float *lse,
                        const float *w, const float *dsum),
         softmax_grad_body(s, dp, rows, nr, lse, w, dsum))

#if defined(__x86_64__)
/* softmax_grad for 32-query tiles in AVX-512 registers (att_exp512). */
static ATT_AVX512 void softmax_grad_avx512_32(float *s, float *dp, int64_t rows,
                                              const float *lse, const float *w,
                                              const float *dsum) {
    const __m512 l0 = _mm512_loadu_ps(lse), l1 = _mm512_loadu_ps(lse + 16);
    const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
    const __m512 d0 = _mm512_loadu_ps(dsum), d1 = _mm512_loadu_ps(dsum + 16);
    for (int64_t j = 0; j < rows; j++) {
        float *sj = s + j * 32, *dj = dp + j * 32;
        const __m512 p0 = _mm512_mul_ps(w0, att_exp512(_mm512_sub_ps(_mm512_loadu_ps(sj), l0)));
        const __m512 p1 = _mm512_mul_ps(w1, att_exp512(_mm512_sub_ps(_mm512_loadu_ps(sj + 16),
                                                                      l1)));
        _mm512_storeu_ps(sj, p0);
        _mm512_storeu_ps(sj + 16, p1);
        _mm512_storeu_ps(dj, _mm512_mul_ps(p0, _mm512_sub_ps(_mm512_loadu_ps(dj), d0)));
        _mm512_storeu_ps(dj + 16, _mm512_mul_ps(p1, _mm512_sub_ps(_mm512_loadu_ps(dj + 16), d1)));
    }
}
#endif

static void softmax_grad_block(float *s, float *dp, int64_t rows, int64_t nr, const float *lse,
                               const float *w, const float *dsum) {
#if defined(__x86_64__)
    if (att_avx512_tiles(nr)) {
        softmax_grad_avx512_32(s, dp, rows, lse, w, dsum);
        return;
    }
#endif
    GN_PICK(softmax_grad)(s, dp, rows, nr, lse, w, dsum);
}

/* The softmax's (lse, weight) for a query whose stored log-sum-exp is x: a query left out
 * everywhere has x = GN_ATT_MASKED (its log S is lost below float's precision there), and
 * each of its S logits GN_ATT_MASKED has the weight 1 / S. */
static void softmax_row(float x, int64_t s, float *lse, float *w) {
    const int everywhere = x <= 0.5f * GN_ATT_MASKED;
    *lse = everywhere ? GN_ATT_MASKED : x;
    *w = everywhere ? 1.0f / (float)s : 1.0f;
}

static void backward_head(const backward_task_t *a, int64_t bi, int64_t nh, float *work) {
    const attention_problem_t *p = &a->p;
    const gn_gemm_kernel *K = a->K;
    const widths_t w = widths_of(a);
    const int64_t mr = w.mr, nr = w.nr, bc = w.bc, h = p->h, hv = p->hv, nb = w.blocks;
    const int64_t ldq = p->n * h, ldv = p->n * hv;
    float *qt = work, *qb = qt + nb * h * nr, *dot = qb + nb * nr * w.hp;
    float *dob = dot + nb * hv * nr, *dsum = dob + nb * nr * w.hvp, *lse = dsum + nb * nr;
    float *pw = lse + nb * nr, *dqt = pw + nb * nr, *ka = dqt + nb * w.hr * nr, *va = ka + bc * h;
    float *kt = va + bc * hv, *sc = kt + w.hr * bc, *dp = sc + bc * nr, *pa = dp + bc * nr;
    float *dsa = pa + bc * nr, *dka = dsa + bc * nr, *dva = dka + bc * w.hp;
    const float *q = p->q + bi * p->t * ldq + nh * h, *o = a->out + bi * p->t * ldv + nh * hv;
    const float *dout = a->dout + bi * p->t * ldv + nh * hv;
    const float *k = p->k + bi * p->s * ldq + nh * h, *v = p->v + bi * p->s * ldv + nh * hv;
    const float *lse_row = a->lse + (bi * p->n + nh) * p->t;
    for (int64_t b = 0; b < nb; b++) { /* the head's queries and dO, packed once */
        const int64_t t0 = b * nr, nq = att_min(nr, p->t - t0);
        K->pack_b(1, h, nq, q + t0 * ldq, ldq, (int)nr, qt + b * h * nr);
        K->pack_b(0, nq, h, q + t0 * ldq, ldq, (int)nr, qb + b * nr * w.hp);
        K->pack_b(1, hv, nq, dout + t0 * ldv, ldv, (int)nr, dot + b * hv * nr);
        K->pack_b(0, nq, hv, dout + t0 * ldv, ldv, (int)nr, dob + b * nr * w.hvp);
        for (int64_t i = 0; i < nr; i++) {
            float d = 0.0f;
            for (int64_t c = 0; i < nq && c < hv; c++)
                d += dout[(t0 + i) * ldv + c] * o[(t0 + i) * ldv + c];
            dsum[t0 + i] = d;
            softmax_row(i < nq ? lse_row[t0 + i] : 0.0f, p->s, lse + t0 + i, pw + t0 + i);
        }
    }
    for (int64_t i = 0; i < nb * w.hr * nr; i++) dqt[i] = 0.0f;
    for (int64_t c0 = 0; c0 < p->s; c0 += bc) {
        const int64_t kc = att_min(bc, p->s - c0);
        K->pack_a(0, kc, h, k + c0 * ldq, ldq, (int)mr, ka);
        K->pack_a(0, kc, hv, v + c0 * ldv, ldv, (int)mr, va);
        K->pack_a(1, h, kc, k + c0 * ldq, ldq, (int)mr, kt);
        for (int64_t i = 0; i < bc * (w.hp + w.hvp); i++) dka[i] = 0.0f;
        /* causal without a mask: query blocks before the key block see none of it */
        const int64_t first = p->causal && !p->mask ? c0 / nr : 0;
        for (int64_t b = first; b < nb; b++) {
            const int64_t t0 = b * nr, nq = att_min(nr, p->t - t0);
            for (int64_t r = 0; r < kc; r += mr) { /* S^T = scale K Q^T, dP^T = V dO^T */
                K->ukr(h, ka + r * h, qt + b * h * nr, sc + r * nr, nr, p->scale, 0.0f,
                       (int)mr, (int)nr);
                K->ukr(hv, va + r * hv, dot + b * hv * nr, dp + r * nr, nr, 1.0f, 0.0f,
                       (int)mr, (int)nr);
            }
            att_mask_tile(p, bi, nh, t0, nq, c0, kc, sc, nr, GN_ATT_MASKED);
            softmax_grad_block(sc, dp, kc, nr, lse + t0, pw + t0, dsum + t0);
            if (p->mask) att_mask_tile(p, bi, nh, t0, nq, c0, kc, dp, nr, 0.0f);
            K->pack_a(0, kc, nq, sc, nr, (int)mr, pa);
            K->pack_a(0, kc, nq, dp, nr, (int)mr, dsa);
            for (int64_t r = 0; r < kc; r += mr) { /* dV += P^T dO, dK += scale dS^T Q */
                for (int64_t c = 0; c < hv; c += nr)
                    K->ukr(nq, pa + r * nq, dob + b * nr * w.hvp + c * nq,
                           dva + r * w.hvp + c, w.hvp, 1.0f, 1.0f, (int)mr, (int)nr);
                for (int64_t c = 0; c < h; c += nr)
                    K->ukr(nq, dsa + r * nq, qb + b * nr * w.hp + c * nq, dka + r * w.hp + c,
                           w.hp, p->scale, 1.0f, (int)mr, (int)nr);
            }
            for (int64_t r = 0; r < h; r += mr) /* dQ^T += scale K^T dS^T */
                K->ukr(kc, kt + r * kc, dp, dqt + b * w.hr * nr + r * nr, nr, p->scale, 1.0f,
                       (int)mr, (int)nr);
        }
        for (int64_t j = 0; j < kc; j++) {
            float *dkj = a->dk + (bi * p->s + c0 + j) * ldq + nh * h;
            float *dvj = a->dv + (bi * p->s + c0 + j) * ldv + nh * hv;
            for (int64_t c = 0; c < h; c++) dkj[c] = dka[j * w.hp + c];
            for (int64_t c = 0; c < hv; c++) dvj[c] = dva[j * w.hvp + c];
        }
    }
    for (int64_t i = 0; i < p->t; i++) {
        const float *col = dqt + i / nr * w.hr * nr + i % nr;
        float *dqi = a->dq + (bi * p->t + i) * ldq + nh * h;
        for (int64_t c = 0; c < h; c++) dqi[c] = col[c * nr];
    }
}

/* Each part takes the next untaken (b, n) until none is left. */
static void backward_units(void *arg, int tid, int nt) {
    backward_task_t *a = arg;
    (void)tid;
    (void)nt;
    const widths_t w = widths_of(a);
    void *raw = malloc(sizeof(float) * (size_t)backward_work(a, &w) + 64);
    if (!raw) {
        __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (;;) {
        const int64_t u = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
        if (u >= a->p.b * a->p.n) break;
        backward_head(a, u / a->p.n, u % a->p.n, att_aligned(raw));
    }
    free(raw);
}

static void zero_floats(int64_t count, float *x) {
    for (int64_t i = 0; i < count; i++) x[i] = 0.0f;
}

int gn_attention_backward(int64_t b, int64_t t, int64_t s, int64_t n, int64_t h, int64_t hv,
                          const float *q, const float *k, const float *v,
                          const uint8_t *mask, const int64_t *mask_strides, int causal,
                          float scale, const float *out, const float *dout, const float *lse,
                          float *dq, float *dk, float *dv) {
    if (s <= 0) return GN_ERR_BAD_ARGS;   /* as the forward: a softmax over no keys */
    if (b <= 0 || n <= 0) return GN_OK;
    if (t <= 0 || hv <= 0) { /* no output to have a gradient: q and k have none */
        zero_floats(b * t * n * h, dq);
        zero_floats(b * s * n * h, dk);
        zero_floats(b * s * n * hv, dv);
        return GN_OK;
    }
    backward_task_t task = {{b, t, s, n, h, hv, q, k, v, mask, mask_strides, causal, scale},
                            gn_sgemm_kernel(), out, dout, lse, dq, dk, dv, 0, 0};
    const double macs = (double)b * n * t * s * (double)(3 * h + 2 * hv);
    int team = gn_team_for(macs, GN_GRAIN_MACS);
    if (gn_in_parallel()) team = 1;
    if (team > b * n) team = (int)(b * n);
    if (team > 1) gn_parallel(team, backward_units, &task);
    else backward_units(&task, 0, 1);
    if (task.failed) {
        gn_note_no_memory();
        return GN_ERR_NO_MEMORY;
    }
    return GN_OK;
}
