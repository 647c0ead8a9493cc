/* Recurrent sequence kernels: SimpleRNN, LSTM and GRU over all steps of a batch
 * (GN_K_RNN_FORWARD, GN_K_RNN_BPTT, GN_K_RNN_PARAM_GRAD).
 *
 * The records' layouts are graphnet/ops/recurrent_layout.py's (the NumPy reference in
 * graphnet/ops/recurrent.py is the oracle these are tested against). Y[b, t, :] is the
 * forward record of input step t, Z[b, t, :] the backward one; both are indexed by input
 * step, so with go_backwards step k of the loop is input step T-1-k.
 *
 * Forward: one GEMM projects every step's input into Y's gate slots, then per step one
 * GEMM of the previous state by the recurrent kernel (two for GRU without reset_after,
 * the second after the reset gate) with the gate nonlinearities and the state update
 * fused after it, row by row. Backward walks the steps in reverse and keeps per step what
 * the weight gradients need (the gates' pre-activation gradients and the recurrent
 * product's input), so those are each one GEMM over batch * T rows (RNN_PARAM_GRAD). */
#include "kernel_util.h"
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

enum { CELL_SIMPLE = 0, CELL_LSTM = 1, CELL_GRU = 2 };
enum { ACT_LINEAR = 0, ACT_TANH = 1, ACT_SIGMOID = 2, ACT_RELU = 3, ACT_HARD_SIGMOID = 4 };
enum { MASK_NONE = 0, MASK_CARRY = 1, MASK_ZERO = 2 };
enum { WRT_X = 0, WRT_KERNEL = 1, WRT_RECURRENT = 2, WRT_BIAS = 3, WRT_H0 = 4, WRT_C0 = 5 };

typedef struct {
    int64_t h, c, o, gates, rh, width;      /* the forward record's slots (-1: absent) */
} record_layout;

typedef struct {
    int64_t dp, dr, hr, dh, dc, width;      /* the backward record's slots (-1: absent) */
} grad_layout;

static int64_t gate_count(int cell) {
    return cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1;
}

static record_layout record_of(int cell, int64_t u, int reset_after, int masked) {
    record_layout r = {0, -1, -1, -1, -1, 0};
    int64_t w = u;
    if (cell == CELL_LSTM) { r.c = w; w += u; }
    if (masked) { r.o = w; w += u; }
    r.gates = w;
    w += gate_count(cell) * u;
    if (cell == CELL_GRU && reset_after) { r.rh = w; w += u; }
    r.width = w;
    return r;
}

static grad_layout grad_of(int cell, int64_t u, int reset_after, int rec_masked) {
    grad_layout z = {0, -1, -1, -1, -1, 0};
    const int64_t g = gate_count(cell) * u;
    int64_t w = g;
    if (cell == CELL_GRU && reset_after) { z.dr = w; w += g; }
    z.hr = w;
    w += rec_masked ? g : cell == CELL_GRU && !reset_after ? 2 * u : u;
    z.dh = w;
    w += u;
    if (cell == CELL_LSTM) { z.dc = w; w += u; }
    z.width = w;
    return z;
}

static int valid_codes(int cell, int act, int ract, int mask_mode) {
    return cell >= CELL_SIMPLE && cell <= CELL_GRU && act >= ACT_LINEAR &&
           act <= ACT_HARD_SIGMOID && ract >= ACT_LINEAR && ract <= ACT_HARD_SIGMOID &&
           mask_mode >= MASK_NONE && mask_mode <= MASK_ZERO;
}

/* v[0:n] = act(v[0:n]); the switch is outside the loops so each one vectorizes. */
GN_INLINE void activate(int code, float *v, int64_t n) {
    switch (code) {
    case ACT_TANH:
        for (int64_t j = 0; j < n; j++) v[j] = gn_vtanhf(v[j]);
        break;
    case ACT_SIGMOID:
        for (int64_t j = 0; j < n; j++) v[j] = gn_vsigmoidf(v[j]);
        break;
    case ACT_RELU:
        for (int64_t j = 0; j < n; j++) v[j] = v[j] > 0.0f ? v[j] : 0.0f;
        break;
    case ACT_HARD_SIGMOID:
        for (int64_t j = 0; j < n; j++) {
            const float y = v[j] * (1.0f / 6.0f) + 0.5f;
            v[j] = y < 0.0f ? 0.0f : y > 1.0f ? 1.0f : y;
        }
        break;
    default:
        break;
    }
}

/* d act(x) / dx from y = act(x): every form computed, then one chosen (vectorizes). */
GN_INLINE float derivative(int code, float y) {
    const float tanh_d = 1.0f - y * y, sigmoid_d = y * (1.0f - y);
    const float relu_d = y > 0.0f ? 1.0f : 0.0f;
    const float hard_d = y > 0.0f && y < 1.0f ? 1.0f / 6.0f : 0.0f;
    return code == ACT_TANH ? tanh_d : code == ACT_SIGMOID ? sigmoid_d
           : code == ACT_RELU ? relu_d : code == ACT_HARD_SIGMOID ? hard_d : 1.0f;
}

/* dst (B, U) = h (rows ldh apart) times m (rows ldm apart). */
static void masked_rows(float *dst, const float *h, int64_t ldh, const float *m, int64_t ldm,
                        int64_t B, int64_t U) {
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t j = 0; j < U; j++) dst[bi * U + j] = h[bi * ldh + j] * m[bi * ldm + j];
}

/* The input step loop step k runs. */
static int64_t step_at(int64_t k, int64_t T, int go_backwards) {
    return go_backwards ? T - 1 - k : k;
}

typedef struct {
    int cell, act, ract, reset_after, mask_mode;
    int64_t B, T, U, S;
    record_layout at;
} rnn_shape;

/* One step's fused epilogue on batch row b: the gate pre-activations are Y's projection
 * plus rec (the recurrent product) plus the biases; writes the activated gates, the new
 * state and output. hp/cp: the previous state and carry (NULL: zeros); op: the previous
 * output (NULL: zeros). scratch holds U floats. */
GN_INLINE void forward_row(const rnn_shape *s, float *y, const float *rec, const float *b_in,
                        const float *b_rec, const float *hp, const float *cp, const float *op,
                        int keep, float *scratch) {
    const int64_t u = s->U, g = gate_count(s->cell) * u;
    float *p = y + s->at.gates;
    for (int64_t j = 0; j < g; j++) p[j] += (b_in ? b_in[j] : 0.0f);
    float *h = y + s->at.h;
    float *hn = scratch;
    if (s->cell == CELL_LSTM) {
        for (int64_t j = 0; j < g; j++) p[j] += rec[j];
        activate(s->ract, p, 2 * u);
        activate(s->act, p + 2 * u, u);
        activate(s->ract, p + 3 * u, u);
        float *c = y + s->at.c;
        for (int64_t j = 0; j < u; j++) {
            const float cprev = cp ? cp[j] : 0.0f;
            const float cn = p[u + j] * cprev + p[j] * p[2 * u + j];
            c[j] = keep ? cn : cprev;
            hn[j] = cn;
        }
        activate(s->act, hn, u);
        for (int64_t j = 0; j < u; j++) hn[j] *= p[3 * u + j];
    } else if (s->cell == CELL_GRU) {
        for (int64_t j = 0; j < 2 * u; j++) p[j] += rec[j] + (b_rec ? b_rec[j] : 0.0f);
        activate(s->ract, p, 2 * u);
        if (s->reset_after) {
            float *rh = y + s->at.rh;
            for (int64_t j = 0; j < u; j++) {
                rh[j] = rec[2 * u + j] + (b_rec ? b_rec[2 * u + j] : 0.0f);
                p[2 * u + j] += p[u + j] * rh[j];
            }
        } else {
            for (int64_t j = 0; j < u; j++) p[2 * u + j] += rec[2 * u + j];
        }
        activate(s->act, p + 2 * u, u);
        for (int64_t j = 0; j < u; j++) {
            const float z = p[j], hprev = hp ? hp[j] : 0.0f;
            hn[j] = z * hprev + (1.0f - z) * p[2 * u + j];
        }
    } else {
        for (int64_t j = 0; j < u; j++) p[j] += rec[j];
        activate(s->act, p, u);
        memcpy(hn, p, sizeof(float) * (size_t)u);
    }
    for (int64_t j = 0; j < u; j++) h[j] = keep ? hn[j] : (hp ? hp[j] : 0.0f);
    if (s->mask_mode != MASK_NONE) {
        float *o = y + s->at.o;
        for (int64_t j = 0; j < u; j++)
            o[j] = keep ? hn[j] : (s->mask_mode == MASK_CARRY && op ? op[j] : 0.0f);
    }
}

/* One step of the forward pass: the rows of the batch are independent once the
 * recurrent product is in rec, so threads split them. */
typedef struct {
    const rnn_shape *s;
    float *Y;
    const float *rec, *b_in, *b_rec, *hp, *c0;
    const uint8_t *mask;
    float *scratch;     /* U floats per row */
    int64_t t, prev, ldh;
} forward_task;

GN_INLINE void forward_rows_body(void *arg, int64_t lo, int64_t hi) {
    const forward_task *w = (const forward_task *)arg;
    const rnn_shape *s = w->s;
    const int64_t u = s->U, g = gate_count(s->cell) * u, ldy = s->T * s->S;
    for (int64_t bi = lo; bi < hi; bi++) {
        float *y = w->Y + bi * ldy + w->t * s->S;
        const float *prow = w->prev >= 0 ? w->Y + bi * ldy + w->prev * s->S : NULL;
        const float *hprow = w->hp ? w->hp + bi * w->ldh : NULL;
        const float *cprow = s->cell != CELL_LSTM ? NULL
                             : prow ? prow + s->at.c : w->c0 ? w->c0 + bi * u : NULL;
        const float *oprow = prow && s->mask_mode != MASK_NONE ? prow + s->at.o : NULL;
        const int keep = s->mask_mode == MASK_NONE || w->mask[bi * s->T + w->t];
        forward_row(s, y, w->rec + bi * g, w->b_in, w->b_rec, hprow, cprow, oprow, keep,
                    w->scratch + bi * u);
    }
}

GN_MULTI(forward_rows, (void *arg, int64_t lo, int64_t hi, int tid),
         forward_rows_body(arg, lo, hi))

int gn_rnn_forward(int cell, int act, int ract, int go_backwards, int reset_after,
                   int mask_mode, int64_t B, int64_t T, int64_t D, int64_t U, int64_t S,
                   const float *x, const float *W, const float *R, const float *b,
                   const float *h0, const float *c0, const uint8_t *mask, const float *rm,
                   float *Y, float *work, int64_t work_len) {
    if (!valid_codes(cell, act, ract, mask_mode) || (mask_mode != MASK_NONE && !mask))
        return GN_ERR_BAD_ARGS;
    const rnn_shape s = {cell, act, ract, reset_after, mask_mode, B, T, U, S,
                         record_of(cell, U, reset_after, mask_mode != MASK_NONE)};
    const int64_t g = gate_count(cell) * U;
    if (S != s.at.width || work_len < B * (g + 2 * U) || (cell != CELL_LSTM && c0))
        return GN_ERR_BAD_ARGS;
    if (B == 0 || T == 0 || U == 0) return GN_OK;
    const int two_bias = cell == CELL_GRU && reset_after;
    const float *b_in = b, *b_rec = two_bias && b ? b + g : NULL;
    float *rec = work, *scratch = work + B * g, *hm = work + B * (g + U);
    const int64_t ldy = T * S;
    /* the input projection of every step, one GEMM into the gate slots */
    if (D > 0)
        gn_sgemm(0, 0, B * T, g, D, 1.0f, x, D, W, g, 0.0f, Y + s.at.gates, S);
    else
        for (int64_t r = 0; r < B * T; r++)
            memset(Y + r * S + s.at.gates, 0, sizeof(float) * (size_t)g);
    const int team = gn_team_for((double)B * (double)(g + U) * 4.0, GN_GRAIN_ELEMENTS);
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = step_at(k, T, go_backwards);
        const int64_t prev = k ? step_at(k - 1, T, go_backwards) : -1;
        const float *hp = prev >= 0 ? Y + prev * S + s.at.h : h0;
        const int64_t ldh = prev >= 0 ? ldy : U;
        const int64_t n_first = cell == CELL_GRU && !reset_after ? 2 * U : g;
        if (!hp)
            memset(rec, 0, sizeof(float) * (size_t)(B * g));
        else if (!rm)
            gn_sgemm(0, 0, B, n_first, U, 1.0f, hp, ldh, R, g, 0.0f, rec, g);
        else   /* recurrent dropout: one product per gate, of the state times its mask */
            for (int64_t q = 0; q < n_first / U; q++) {
                masked_rows(hm, hp, ldh, rm + q * U, g, B, U);
                gn_sgemm(0, 0, B, U, U, 1.0f, hm, U, R + q * U, g, 0.0f, rec + q * U, g);
            }
        if (cell == CELL_GRU && !reset_after) {
            /* the reset gate first, then (r * h_prev) @ R_h */
            for (int64_t bi = 0; bi < B; bi++) {
                float *p = Y + bi * ldy + t * S + s.at.gates;
                float *r = scratch + bi * U;
                for (int64_t j = 0; j < U; j++) {
                    float v = p[U + j] + rec[bi * g + U + j] + (b_in ? b_in[U + j] : 0.0f);
                    activate(ract, &v, 1);
                    r[j] = v * (hp ? hp[bi * ldh + j] : 0.0f) *
                           (rm ? rm[bi * g + 2 * U + j] : 1.0f);
                }
            }
            gn_sgemm(0, 0, B, U, U, 1.0f, scratch, U, R + 2 * U, g, 0.0f, rec + 2 * U, g);
        }
        forward_task task = {&s, Y, rec, b_in, b_rec, hp, c0, mask, scratch, t, prev, ldh};
        gn_parallel_for(team, B, GN_PICK(forward_rows), &task);
    }
    return GN_OK;
}

/* One step's backward on batch row b (before the recurrent product's transpose): from the
 * carried state gradients dh/dc/do and gY's row, writes Z's dp (and dr), hr and the part
 * of dh that does not go through the recurrent kernel; updates dc and do. For GRU without
 * reset_after, dp's reset gate needs drh = d(r * h_prev), so that row is finished by
 * gru_reset_row after the product dah @ R_h^T. */
GN_INLINE void backward_row(const rnn_shape *s, const grad_layout *zt, const float *y,
                         const float *gy, const float *hp, const float *cp, const float *rm,
                         int keep, float *dh, float *dc, float *dout, float *z) {
    const int64_t u = s->U;
    const float *gates = y + s->at.gates, *ggy = gy + s->at.gates;
    float *dp = z + zt->dp, *zdh = z + zt->dh;
    if (s->cell == CELL_LSTM) {   /* act(c_new) into the dh slot until dh is written */
        for (int64_t j = 0; j < u; j++)
            zdh[j] = gates[u + j] * (cp ? cp[j] : 0.0f) + gates[j] * gates[2 * u + j];
        activate(s->act, zdh, u);
    }
    for (int64_t j = 0; j < u; j++) {
        const float hprev = hp ? hp[j] : 0.0f;
        const float dh_tot = dh[j] + gy[s->at.h + j];
        float dhn = keep ? dh_tot : 0.0f;
        const float carry = keep ? 0.0f : dh_tot;
        if (s->mask_mode != MASK_NONE) {
            const float do_tot = dout[j] + gy[s->at.o + j];
            dhn += keep ? do_tot : 0.0f;
            dout[j] = keep || s->mask_mode == MASK_ZERO ? 0.0f : do_tot;
        }
        if (rm)
            for (int64_t q = 0; q < gate_count(s->cell); q++)
                z[zt->hr + q * u + j] = hprev * rm[q * u + j];
        else
            z[zt->hr + j] = hprev;
        if (s->cell == CELL_LSTM) {
            const float i = gates[j], f = gates[u + j], g = gates[2 * u + j],
                        o = gates[3 * u + j];
            const float cprev = cp ? cp[j] : 0.0f;
            const float dc_tot = dc[j] + gy[s->at.c + j];
            const float tc = zdh[j];   /* act(c_new), see below */
            const float dcn = (keep ? dc_tot : 0.0f) + dhn * o * derivative(s->act, tc);
            dp[j] = (dcn * g + ggy[j]) * derivative(s->ract, i);
            dp[u + j] = (dcn * cprev + ggy[u + j]) * derivative(s->ract, f);
            dp[2 * u + j] = (dcn * i + ggy[2 * u + j]) * derivative(s->act, g);
            dp[3 * u + j] = (dhn * tc + ggy[3 * u + j]) * derivative(s->ract, o);
            dc[j] = (keep ? 0.0f : dc_tot) + dcn * f;
            z[zt->dc + j] = dc[j];
            zdh[j] = carry;
        } else if (s->cell == CELL_GRU) {
            const float zg = gates[j], r = gates[u + j], hh = gates[2 * u + j];
            const float dz = (dhn * (hprev - hh) + ggy[j]) * derivative(s->ract, zg);
            const float dah = (dhn * (1.0f - zg) + ggy[2 * u + j]) * derivative(s->act, hh);
            dp[j] = dz;
            dp[2 * u + j] = dah;
            zdh[j] = carry + dhn * zg;
            if (s->reset_after) {
                const float rh = y[s->at.rh + j];
                const float dr = (dah * rh + ggy[u + j]) * derivative(s->ract, r);
                dp[u + j] = dr;
                z[zt->dr + j] = dz;
                z[zt->dr + u + j] = dr;
                z[zt->dr + 2 * u + j] = dah * r + gy[s->at.rh + j];
            } else {   /* r * h_prev (times the h gate's mask) after the z, r inputs */
                z[zt->hr + (rm ? 2 : 1) * u + j] = r * hprev * (rm ? rm[2 * u + j] : 1.0f);
            }
        } else {
            dp[j] = (dhn + ggy[j]) * derivative(s->act, gates[j]);
            zdh[j] = carry;
        }
    }
}

/* GRU without reset_after, row b: the reset gate's gradient from drh = dah @ R_h^T, and
 * drh's share of dh_prev. */
GN_INLINE void gru_reset_row(const rnn_shape *s, const grad_layout *zt, const float *y,
                          const float *gy, const float *hp, const float *rm,
                          const float *drh, float *z) {
    const int64_t u = s->U;
    for (int64_t j = 0; j < u; j++) {
        const float r = y[s->at.gates + u + j], m = rm ? rm[2 * u + j] : 1.0f;
        const float hprev = (hp ? hp[j] : 0.0f) * m;
        z[zt->dp + u + j] = (drh[j] * hprev + gy[s->at.gates + u + j]) *
                            derivative(s->ract, r);
        z[zt->dh + j] += drh[j] * r * m;
    }
}

/* dh (rows ldz apart) += the recurrent products' share of the previous state's gradient,
 * gates [0, n) of dG @ R^T: one GEMM, or with recurrent dropout one per gate times its
 * mask (through tmp, B x U). */
static void back_product(int64_t B, int64_t U, int64_t g, int64_t n, const float *dG,
                         int64_t ldz, const float *R, const float *rm, float *tmp, float *dh) {
    if (!rm) {
        gn_sgemm(0, 1, B, U, n * U, 1.0f, dG, ldz, R, g, 1.0f, dh, ldz);
        return;
    }
    for (int64_t q = 0; q < n; q++) {
        gn_sgemm(0, 1, B, U, U, 1.0f, dG + q * U, ldz, R + q * U, g, 0.0f, tmp, U);
        for (int64_t bi = 0; bi < B; bi++)
            for (int64_t j = 0; j < U; j++)
                dh[bi * ldz + j] += rm[bi * g + q * U + j] * tmp[bi * U + j];
    }
}

/* One step of the backward pass, its rows split between threads like the forward's. */
typedef struct {
    const rnn_shape *s;
    const grad_layout *zt;
    const float *gY, *Y, *h0, *c0, *rm;
    const uint8_t *mask;
    float *dh, *dc, *dout, *Z;
    int64_t t, prev;
} backward_task;

GN_INLINE void backward_rows_body(void *arg, int64_t lo, int64_t hi) {
    const backward_task *w = (const backward_task *)arg;
    const rnn_shape *s = w->s;
    const int64_t u = s->U, ldy = s->T * s->S, ldz = s->T * w->zt->width;
    for (int64_t bi = lo; bi < hi; bi++) {
        const float *y = w->Y + bi * ldy + w->t * s->S;
        const float *prow = w->prev >= 0 ? w->Y + bi * ldy + w->prev * s->S : NULL;
        const float *hp = prow ? prow + s->at.h : w->h0 ? w->h0 + bi * u : NULL;
        const float *cp = s->cell != CELL_LSTM ? NULL
                          : prow ? prow + s->at.c : w->c0 ? w->c0 + bi * u : NULL;
        const int keep = s->mask_mode == MASK_NONE || w->mask[bi * s->T + w->t];
        const float *rm = w->rm ? w->rm + bi * gate_count(s->cell) * u : NULL;
        backward_row(s, w->zt, y, w->gY + bi * ldy + w->t * s->S, hp, cp, rm, keep,
                     w->dh + bi * u, w->dc + bi * u, w->dout + bi * u,
                     w->Z + bi * ldz + w->t * w->zt->width);
    }
}

GN_MULTI(backward_rows, (void *arg, int64_t lo, int64_t hi, int tid),
         backward_rows_body(arg, lo, hi))

int gn_rnn_bptt(int cell, int act, int ract, int go_backwards, int reset_after,
                int mask_mode, int64_t B, int64_t T, int64_t U, int64_t S, int64_t K,
                const float *gY, const float *Y, const float *R, const float *h0,
                const float *c0, const uint8_t *mask, const float *rm, float *Z,
                float *work, int64_t work_len) {
    if (!valid_codes(cell, act, ract, mask_mode) || (mask_mode != MASK_NONE && !mask))
        return GN_ERR_BAD_ARGS;
    const rnn_shape s = {cell, act, ract, reset_after, mask_mode, B, T, U, S,
                         record_of(cell, U, reset_after, mask_mode != MASK_NONE)};
    const grad_layout zt = grad_of(cell, U, reset_after, rm != NULL);
    const int64_t g = gate_count(cell) * U;
    if (S != s.at.width || K != zt.width || work_len < 5 * B * U ||
        (cell != CELL_LSTM && c0))
        return GN_ERR_BAD_ARGS;
    if (B == 0 || T == 0 || U == 0) return GN_OK;
    float *dh = work, *dc = work + B * U, *dout = work + 2 * B * U, *drh = work + 3 * B * U;
    float *tmp = work + 4 * B * U;
    memset(work, 0, sizeof(float) * (size_t)(3 * B * U));
    const int64_t ldy = T * S, ldz = T * K;
    const int team = gn_team_for((double)B * (double)(g + U) * 4.0, GN_GRAIN_ELEMENTS);
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = step_at(k, T, go_backwards);
        const int64_t prev = k ? step_at(k - 1, T, go_backwards) : -1;
        backward_task task = {&s, &zt, gY, Y, h0, c0, rm, mask, dh, dc, dout, Z, t, prev};
        gn_parallel_for(team, B, GN_PICK(backward_rows), &task);
        float *zs = Z + t * K;  /* row bi of this step at zs + bi * ldz */
        if (cell == CELL_GRU && !reset_after) {
            gn_sgemm(0, 1, B, U, U, 1.0f, zs + zt.dp + 2 * U, ldz, R + 2 * U, g, 0.0f, drh, U);
            for (int64_t bi = 0; bi < B; bi++) {
                const float *prow = prev >= 0 ? Y + bi * ldy + prev * S : NULL;
                const float *hp = prow ? prow + s.at.h : h0 ? h0 + bi * U : NULL;
                gru_reset_row(&s, &zt, Y + bi * ldy + t * S, gY + bi * ldy + t * S, hp,
                              rm ? rm + bi * g : NULL, drh + bi * U, zs + bi * ldz);
            }
            /* dh_prev += d[z, r] @ R_zr^T */
            back_product(B, U, g, 2, zs + zt.dp, ldz, R, rm, tmp, zs + zt.dh);
        } else {
            const int64_t from = cell == CELL_GRU ? zt.dr : zt.dp;
            back_product(B, U, g, g / U, zs + from, ldz, R, rm, tmp, zs + zt.dh);
        }
        for (int64_t bi = 0; bi < B; bi++)
            memcpy(dh + bi * U, zs + bi * ldz + zt.dh, sizeof(float) * (size_t)U);
    }
    return GN_OK;
}

int gn_rnn_param_grad(int cell, int wrt, int go_backwards, int reset_after, int rec_masked,
                      int64_t B, int64_t T, int64_t D, int64_t U, int64_t K, const float *Z,
                      const float *other, float *out) {
    const grad_layout zt = grad_of(cell, U, reset_after, rec_masked);
    if (cell < CELL_SIMPLE || cell > CELL_GRU || wrt < WRT_X || wrt > WRT_C0 ||
        K != zt.width || (wrt == WRT_C0 && cell != CELL_LSTM) ||
        ((wrt == WRT_X || wrt == WRT_KERNEL) && !other))
        return GN_ERR_BAD_ARGS;
    /* no units: every output but dx is empty, and B * T bounds no buffer's extent */
    if (U == 0 && wrt != WRT_X) return GN_OK;
    const int64_t g = gate_count(cell) * U, rows = B * T;
    const int64_t drec = zt.dr >= 0 ? zt.dr : zt.dp;
    switch (wrt) {
    case WRT_X:   /* dx = dP @ W^T */
        gn_sgemm(0, 1, rows, D, g, 1.0f, Z + zt.dp, K, other, g, 0.0f, out, D);
        break;
    case WRT_KERNEL:   /* dW = x^T @ dP */
        gn_sgemm(1, 0, D, g, rows, 1.0f, other, D, Z + zt.dp, K, 0.0f, out, g);
        break;
    case WRT_RECURRENT:   /* dR = hr^T @ dR (GRU before reset: (r * h)^T for R_h) */
        if (rec_masked) {   /* gate q: (h * mask_q)^T @ dG_q */
            for (int64_t q = 0; q < gate_count(cell); q++)
                gn_sgemm(1, 0, U, U, rows, 1.0f, Z + zt.hr + q * U, K, Z + drec + q * U, K,
                         0.0f, out + q * U, g);
        } else if (cell == CELL_GRU && !reset_after) {
            gn_sgemm(1, 0, U, 2 * U, rows, 1.0f, Z + zt.hr, K, Z + drec, K, 0.0f, out, g);
            gn_sgemm(1, 0, U, U, rows, 1.0f, Z + zt.hr + U, K, Z + drec + 2 * U, K, 0.0f,
                     out + 2 * U, g);
        } else {
            gn_sgemm(1, 0, U, g, rows, 1.0f, Z + zt.hr, K, Z + drec, K, 0.0f, out, g);
        }
        break;
    case WRT_BIAS: {
        const int two = zt.dr >= 0;
        memset(out, 0, sizeof(float) * (size_t)(g * (two ? 2 : 1)));
        for (int64_t r = 0; r < rows; r++) {
            const float *zr = Z + r * K;
            for (int64_t j = 0; j < g; j++) out[j] += zr[zt.dp + j];
            for (int64_t j = 0; two && j < g; j++) out[g + j] += zr[zt.dr + j];
        }
        break;
    }
    default: {   /* the state gradient before the first step */
        const int64_t first = go_backwards ? T - 1 : 0, at = wrt == WRT_H0 ? zt.dh : zt.dc;
        for (int64_t bi = 0; bi < B; bi++) {
            if (T > 0)
                memcpy(out + bi * U, Z + (bi * T + first) * K + at, sizeof(float) * (size_t)U);
            else
                memset(out + bi * U, 0, sizeof(float) * (size_t)U);
        }
    }
    }
    return GN_OK;
}
