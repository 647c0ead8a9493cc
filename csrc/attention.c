/* Fused scaled dot-product attention, forward (the CPU form of flash attention).
 *
 * out[b, t, n, :] = sum_s softmax_s(scale * q[b, t, n, :] . k[b, s, n, :], masked) v[b, s, n, :]
 * over (B, T, N, H) queries, (B, S, N, H) keys and (B, S, N, Hv) values, read in place
 * (row stride N * H: no transposes). Each task unit is one block of ATT_BR query rows of
 * one (b, n): the keys are swept in blocks of ATT_BC, each block's scores computed by a
 * GEMM into a small tile, the softmax kept as a running maximum and sum per row, and
 * the tile's product with V added into an accumulator rescaled by the new maximum; the
 * full T x S score matrix is never written, so memory is O(T) per unit.
 *
 * A masked position's logit is GN_ATT_MASKED (as Keras's torch backend adds), so a row
 * masked everywhere averages every value, as the unfused path does. Causal without a
 * mask skips the key blocks after the block's last row (they are all masked). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include "kernel_util.h"
#include "graphnet.h"
#include "internal.h"
#include "threadpool.h"

#define ATT_BR 64
#define ATT_BC 128
#define ATT_LANES 16

typedef struct {
    int64_t b, t, s, n, h, hv;
    const float *q, *k, *v;
    const uint8_t *mask;
    const int64_t *ms; /* mask strides over (b, n, t, s), elements, 0 broadcasts */
    int causal;
    float scale;
    float *out;
    int64_t units, next;
    int failed;
} attention_task_t;

static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

/* The running softmax over one block of scores (br rows of bc, row stride ATT_BC): each
 * row's new maximum, its exps in place, the sum and the accumulator rescaled. Flat
 * loops over gn_vexpf so each ISA clone vectorizes them. */
GN_INLINE void online_softmax_body(float *tile, int64_t br, int64_t bc, float *mx,
                                   float *sum, float *acc, int64_t hv) {
    for (int64_t i = 0; i < br; i++) {
        float *row = tile + i * ATT_BC;
        float lane[ATT_LANES];   /* maxima, then sums, in lanes: the loops vectorize */
        for (int l = 0; l < ATT_LANES; l++) lane[l] = mx[i];
        for (int64_t j = 0; j + ATT_LANES <= bc; j += ATT_LANES)
            for (int l = 0; l < ATT_LANES; l++)
                lane[l] = row[j + l] > lane[l] ? row[j + l] : lane[l];
        float top = mx[i];
        for (int l = 0; l < ATT_LANES; l++) top = lane[l] > top ? lane[l] : top;
        for (int64_t j = bc / ATT_LANES * ATT_LANES; j < bc; j++) top = row[j] > top ? row[j] : top;
        for (int64_t j = 0; j < bc; j++) row[j] = gn_vexpf(row[j] - top);
        for (int l = 0; l < ATT_LANES; l++) lane[l] = 0.0f;
        for (int64_t j = 0; j + ATT_LANES <= bc; j += ATT_LANES)
            for (int l = 0; l < ATT_LANES; l++) lane[l] += row[j + l];
        float s = 0.0f;
        for (int l = 0; l < ATT_LANES; l++) s += lane[l];
        for (int64_t j = bc / ATT_LANES * ATT_LANES; j < bc; j++) s += row[j];
        const float keep = gn_vexpf(mx[i] - top);
        sum[i] = sum[i] * keep + s;
        mx[i] = top;
        float *ai = acc + i * hv;
        for (int64_t d = 0; d < hv; d++) ai[d] *= keep;
    }
}
GN_MULTI(online_softmax, (float *tile, int64_t br, int64_t bc, float *mx, float *sum,
                          float *acc, int64_t hv),
         online_softmax_body(tile, br, bc, mx, sum, acc, hv))

/* Query rows [r0, r0 + br) of head n of sample b; work holds ATT_BR * (ATT_BC + hv + 2). */
static void attention_block(const attention_task_t *a, int64_t bi, int64_t n, int64_t r0,
                            int64_t br, float *work) {
    float *tile = work, *acc = work + ATT_BR * ATT_BC, *mx = acc + ATT_BR * a->hv;
    float *sum = mx + ATT_BR;
    const int64_t ldq = a->n * a->h, ldv = a->n * a->hv;
    const float *q = a->q + (bi * a->t + r0) * ldq + n * a->h;
    const float *k = a->k + bi * a->s * ldq + n * a->h;
    const float *v = a->v + bi * a->s * ldv + n * a->hv;
    for (int64_t i = 0; i < br; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0.0f;
    }
    for (int64_t i = 0; i < br * a->hv; i++) acc[i] = 0.0f;
    const int64_t s_end = a->causal && !a->mask ? min64(a->s, r0 + br) : a->s;
    for (int64_t c0 = 0; c0 < s_end; c0 += ATT_BC) {
        const int64_t bc = min64(ATT_BC, s_end - c0);
        /* scores of the block: scale * Q_rows K_block^T */
        gn_sgemm(0, 1, br, bc, a->h, a->scale, q, ldq, k + c0 * ldq, ldq, 0.0f, tile, ATT_BC);
        for (int64_t i = 0; i < br; i++) {
            float *row = tile + i * ATT_BC;
            const int64_t ti = r0 + i;
            if (a->mask) {
                const uint8_t *m = a->mask + bi * a->ms[0] + n * a->ms[1] + ti * a->ms[2];
                for (int64_t j = 0; j < bc; j++)
                    if (!m[(c0 + j) * a->ms[3]] || (a->causal && c0 + j > ti))
                        row[j] = GN_ATT_MASKED;
            } else if (a->causal) {
                for (int64_t j = ti - c0 + 1 > 0 ? ti - c0 + 1 : 0; j < bc; j++)
                    row[j] = GN_ATT_MASKED;
            }
        }
        GN_PICK(online_softmax)(tile, br, bc, mx, sum, acc, a->hv);
        /* acc += P_block V_block */
        gn_sgemm(0, 0, br, a->hv, bc, 1.0f, tile, ATT_BC, v + c0 * ldv, ldv, 1.0f, acc, a->hv);
    }
    for (int64_t i = 0; i < br; i++) {
        float *o = a->out + ((bi * a->t + r0 + i) * a->n + n) * a->hv;
        const float inv = 1.0f / sum[i];
        for (int64_t d = 0; d < a->hv; d++) o[d] = acc[i * a->hv + d] * inv;
    }
}

/* Each part takes the next untaken block of query rows until none is left. */
static void attention_units(void *arg, int tid, int nt) {
    attention_task_t *a = arg;
    (void)tid;
    (void)nt;
    float *work = malloc(sizeof(float) * (size_t)(ATT_BR * (ATT_BC + a->hv + 2)));
    if (!work) {
        __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    const int64_t row_blocks = (a->t + ATT_BR - 1) / ATT_BR;
    for (;;) {
        const int64_t u = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
        if (u >= a->units) break;
        const int64_t rb = u % row_blocks, bn = u / row_blocks;
        const int64_t r0 = rb * ATT_BR;
        attention_block(a, bn / a->n, bn % a->n, r0, min64(ATT_BR, a->t - r0), work);
    }
    free(work);
}

int gn_attention(int64_t b, int64_t t, int64_t s, int64_t n, int64_t h, int64_t hv,
                 const float *q, const float *k, const float *v, const uint8_t *mask,
                 const int64_t *mask_strides, int causal, float scale, float *out) {
    if (s <= 0) return GN_ERR_BAD_ARGS;   /* softmax over no keys */
    if (b <= 0 || t <= 0 || n <= 0 || hv <= 0) return GN_OK;
    attention_task_t task = {b, t, s, n, h, hv, q, k, v, mask, mask_strides, causal, scale,
                             out, b * n * ((t + ATT_BR - 1) / ATT_BR), 0, 0};
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
