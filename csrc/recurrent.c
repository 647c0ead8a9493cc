/* Recurrent sequence kernels: SimpleRNN, LSTM and GRU over all steps of a batch
 * (GN_K_RNN_FORWARD, GN_K_RNN_BPTT, GN_K_RNN_PARAM_GRAD).
 *
 * The records' layouts are graphnet/ops/recurrent_layout.py's (the NumPy reference in
 * graphnet/ops/recurrent.py is the oracle these are tested against). Y[b, t, :] is the
 * forward record of input step t, Z[b, t, :] the backward one; both are indexed by input
 * step, so with go_backwards step k of the loop is input step T-1-k.
 *
 * Forward: per step, the step's input times the kernel plus the previous state times the
 * recurrent kernel (for GRU without reset_after the h gate's after the reset gate) with
 * the gate nonlinearities and the state update fused after it, a register tile of rows
 * at a time (see "the team over the whole sequence"). Backward walks the steps in reverse and keeps per step what
 * the weight gradients need (the gates' pre-activation gradients and the recurrent
 * product's input), so those are each one GEMM over batch * T rows (RNN_PARAM_GRAD). */
#include "kernel_util.h"
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"
#include "gemm/gemm_internal.h"

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
    int cell, act, ract, go_backwards, reset_after, mask_mode;
    int64_t B, T, U, S;
    record_layout at;
} rnn_shape;

/* One step's fused epilogue on batch row b for units [j0, j1): the gate pre-activations
 * are rec (the step's input and recurrent products: gate q of unit j at
 * rec[q * rs + j - j0]; GRU reset_after keeps the h gate's recurrent product apart, at
 * rec[3 * rs + ...]) plus the biases; writes the activated gates, the new state and
 * output of those units. hp/cp/op: the previous state, carry and output rows (NULL:
 * zeros). scratch holds j1 - j0 floats. */
GN_INLINE void forward_row(const rnn_shape *s, float *y, const float *rec, int64_t rs,
                           const float *b_in, const float *b_rec, const float *hp,
                           const float *cp, const float *op, int keep, int64_t j0, int64_t j1,
                           float *scratch) {
    const int64_t u = s->U, w = j1 - j0, ng = gate_count(s->cell);
    float *p = y + s->at.gates + j0;   /* gate q of unit j0 + i at p[q * u + i] */
    for (int64_t q = 0; q < ng; q++)
        for (int64_t i = 0; i < w; i++)
            p[q * u + i] = rec[q * rs + i] + (b_in ? b_in[q * u + j0 + i] : 0.0f);
    float *hn = scratch;
    if (s->cell == CELL_LSTM) {
        activate(s->ract, p, w);
        activate(s->ract, p + u, w);
        activate(s->act, p + 2 * u, w);
        activate(s->ract, p + 3 * u, w);
        float *c = y + s->at.c + j0;
        for (int64_t i = 0; i < w; i++) {
            const float cprev = cp ? cp[j0 + i] : 0.0f;
            const float cn = p[u + i] * cprev + p[i] * p[2 * u + i];
            c[i] = keep ? cn : cprev;
            hn[i] = cn;
        }
        activate(s->act, hn, w);
        for (int64_t i = 0; i < w; i++) hn[i] *= p[3 * u + i];
    } else if (s->cell == CELL_GRU) {
        for (int64_t q = 0; q < 2 && b_rec; q++)
            for (int64_t i = 0; i < w; i++) p[q * u + i] += b_rec[q * u + j0 + i];
        activate(s->ract, p, w);
        activate(s->ract, p + u, w);
        if (s->reset_after) {
            float *rh = y + s->at.rh + j0;
            for (int64_t i = 0; i < w; i++) {
                rh[i] = rec[3 * rs + i] + (b_rec ? b_rec[2 * u + j0 + i] : 0.0f);
                p[2 * u + i] += p[u + i] * rh[i];
            }
        }
        activate(s->act, p + 2 * u, w);
        for (int64_t i = 0; i < w; i++) {
            const float z = p[i], hprev = hp ? hp[j0 + i] : 0.0f;
            hn[i] = z * hprev + (1.0f - z) * p[2 * u + i];
        }
    } else {
        activate(s->act, p, w);
        memcpy(hn, p, sizeof(float) * (size_t)w);
    }
    float *h = y + s->at.h + j0;
    for (int64_t i = 0; i < w; i++) h[i] = keep ? hn[i] : (hp ? hp[j0 + i] : 0.0f);
    if (s->mask_mode != MASK_NONE) {
        float *o = y + s->at.o + j0;
        for (int64_t i = 0; i < w; i++)
            o[i] = keep ? hn[i] : (s->mask_mode == MASK_CARRY && op ? op[j0 + i] : 0.0f);
    }
}

/* ---- the team over the whole sequence ---------------------------------------------
 * A step's recurrent product (32 x 128 by 128 x 512 for imdb_lstm) is too small to
 * split over the pool once per step: on two threads the 80 products of a sequence ran
 * no faster than on one (3.3 against 3.5 ms), and the BPTT's took twice as long. So the
 * whole sequence is one task: each thread owns a slice of the units, packs its columns
 * of the kernel and the recurrent kernel (every gate's) once in the micro-kernel's
 * layout, and per step multiplies the step's input and the whole previous state by
 * them, one register tile of rows at a time, with its units' gates applied to each tile
 * while it is in L1. Each step is a phase of chunks of the units that the threads take
 * as they come (two phases for GRU without reset_after, whose second product needs
 * every unit's reset gate): a thread done with its chunks waits only for chunks another
 * thread has started, so a worker the OS has not run costs the step nothing more than
 * its chunks run by the others (the pool's rule, threadpool.h). A barrier per step
 * waited for it: on a loaded 2-vCPU machine, inference of imdb_lstm's shape took 70-155 ms
 * against 48-63 ms with a split GEMM per step. The input
 * product is made per step rather than as one GEMM over every step ahead, whose
 * megabytes of gate projections (5 MB for imdb_lstm) went to memory and came back a
 * step at a time: 85 against 60 us per step on one thread. */

/* Floats of one of the calling thread's two buffers (SHARED: what a call gives its team,
 * PRIVATE: a thread's own scratch), kept between calls so repeated sequences do not
 * page-fault (NULL when it cannot be had). */
enum { SHARED = 0, PRIVATE = 1 };
static float *thread_floats(int which, size_t n) {
    static __thread void *raw[2];
    static __thread size_t cap[2];
    if (n > cap[which]) {
        free(raw[which]);
        raw[which] = malloc(n * sizeof(float) + 64);
        cap[which] = raw[which] ? n : 0;
        if (!raw[which]) return NULL;
    }
    return (float *)(((uintptr_t)raw[which] + 63) & ~(uintptr_t)63);
}

/* One phase of a sequence's work, cut into chunks (a cache line of counters). */
typedef struct {
    unsigned taken, done, pad[14];
} phase_t;

/* The next chunk of the phase nobody has taken, or -1 when every one is taken. */
static int take_chunk(phase_t *p, int chunks) {
    const unsigned c = __atomic_fetch_add(&p->taken, 1, __ATOMIC_ACQ_REL);
    return c < (unsigned)chunks ? (int)c : -1;
}

static void chunk_done(phase_t *p) { __atomic_add_fetch(&p->done, 1, __ATOMIC_RELEASE); }

/* Wait until every chunk of the phase is done: only chunks some thread has started are
 * left, so the wait is short; the core is given away now and then (another thread may
 * need it to finish its chunk). */
static void wait_phase(phase_t *p, int chunks) {
    for (unsigned i = 1; __atomic_load_n(&p->done, __ATOMIC_ACQUIRE) < (unsigned)chunks; i++) {
        if (i % 64 == 0) sched_yield();
#if defined(__x86_64__)
        else __builtin_ia32_pause();
#endif
    }
}

static int64_t round_to(int64_t x, int64_t unit) { return (x + unit - 1) / unit * unit; }

/* Units [unit_lo(c), unit_lo(c + 1)) are chunk c of n. */
static int64_t unit_lo(int64_t U, int c, int n) { return U * c / n; }

/* Threads (and chunks of the units) for a sequence whose per-step product is B x gates*U
 * x depth: the GEMM's grain, and at least one unit each. */
static int team_size(int64_t B, int64_t g, int64_t depth, int64_t U) {
    const int nt = gn_team_for((double)B * (double)g * (double)depth, GN_GRAIN_MACS);
    return nt > U ? (int)U : nt;
}

/* c (mr rows, ldc apart) = beta * c + ap (mr x k, packed) times the w columns of the
 * packed panels at bp, panel q at bp + q * panel_stride. */
static void panel_product(const gn_gemm_kernel *K, int64_t k, const float *ap, const float *bp,
                          int64_t panel_stride, int64_t w, float *c, int64_t ldc, float beta,
                          int mr) {
    for (int64_t j = 0, q = 0; j < w; j += K->nr, q++)
        K->ukr(k, ap, bp + q * panel_stride, c + j, ldc, 1.0f, beta, mr,
               (int)(w - j < K->nr ? w - j : K->nr));
}

/* Pack rows [i0, i0 + mr) of a (depth k, rows lda apart) for the micro-kernel; with m,
 * each times its row of m (rows ldm apart) first, through hm (MR x k floats). */
static void pack_rows(const gn_gemm_kernel *K, int mr, int64_t k, const float *a, int64_t lda,
                      const float *m, int64_t ldm, float *hm, float *ap) {
    if (m) {
        masked_rows(hm, a, lda, m, ldm, mr, k);
        a = hm, lda = k;
    }
    K->pack_a(0, mr, k, a, lda, K->mr, ap);
}

typedef struct {
    const rnn_shape *s;
    const gn_gemm_kernel *K;
    int64_t D;
    float *Y;
    const float *x, *W, *R, *b_in, *b_rec, *h0, *c0, *rm;
    const uint8_t *mask;
    float *rh;       /* GRU without reset_after: r * h_prev, B x U, shared by the team */
    int chunks;      /* of the units, per phase */
    int64_t wmax;    /* the widest chunk, rounded up to whole panels */
    phase_t *phases; /* the packing, then one (GRU before reset: two) per step */
    float *packed;   /* per chunk: its slices of W and R, packed */
    float *recs;     /* per chunk: the products of its units, round_to(B, MR) x ldr */
} forward_team;

/* GRU without reset_after, rows [i0, i0 + mr) and the thread's units: rh = reset gate
 * times h_prev (times the h gate's dropout mask), from the z, r product in rec. */
GN_INLINE void gru_reset_state(const forward_team *w, const float *hp, int64_t ldh,
                               const float *rec, int64_t ldr, int64_t wpad, int64_t i0, int mr,
                               int64_t j0, int64_t j1) {
    const rnn_shape *s = w->s;
    const int64_t u = s->U, g = 3 * u;
    for (int64_t bi = i0; bi < i0 + mr; bi++) {
        const float *rc = rec + (bi - i0) * ldr + wpad;
        for (int64_t j = j0; j < j1; j++) {
            float v = rc[j - j0] + (w->b_in ? w->b_in[u + j] : 0.0f);
            activate(s->ract, &v, 1);
            w->rh[bi * u + j] = v * (hp ? hp[bi * ldh + j] : 0.0f) *
                                (w->rm ? w->rm[bi * g + 2 * u + j] : 1.0f);
        }
    }
}

/* Row bi of step t (prev: the step before, -1 at the first) for units [j0, j1); rec is
 * the row's product, gate q at rec[q * rs]. */
GN_INLINE void forward_step_row(const forward_team *w, int64_t t, int64_t prev, const float *hp,
                                int64_t ldh, int64_t bi, const float *rec, int64_t rs,
                                int64_t j0, int64_t j1, float *hn) {
    const rnn_shape *s = w->s;
    const int64_t ldy = s->T * s->S;
    const float *prow = prev >= 0 ? w->Y + bi * ldy + prev * s->S : NULL;
    const float *cprow = s->cell != CELL_LSTM ? NULL
                         : prow ? prow + s->at.c : w->c0 ? w->c0 + bi * s->U : NULL;
    const float *oprow = prow && s->mask_mode != MASK_NONE ? prow + s->at.o : NULL;
    const int keep = s->mask_mode == MASK_NONE || w->mask[bi * s->T + t];
    forward_row(s, w->Y + bi * ldy + t * s->S, rec, rs, w->b_in, w->b_rec,
                hp ? hp + bi * ldh : NULL, cprow, oprow, keep, j0, j1, hn);
}

/* rec's columns for rows [i0, i0 + mr) and gate q of the thread's units (wu of them,
 * wpad apart per gate): the step's input times the packed W slice bw (xp: its packed
 * rows; NULL without features), plus into `into` (rec itself, or GRU reset_after's apart
 * h gate block) the previous state times the packed R slice br (hq: its packed rows,
 * NULL for a zero state). */
static void gate_product(const gn_gemm_kernel *K, int64_t D, int64_t U, const float *xp,
                         const float *bw, const float *hq, const float *br, int64_t wu,
                         float *c, float *into, int64_t ldr, int mr) {
    if (xp)
        panel_product(K, D, xp, bw, D * K->nr, wu, c, ldr, 0.0f, mr);
    else
        for (int r = 0; r < mr; r++) memset(c + r * ldr, 0, sizeof(float) * (size_t)wu);
    if (hq)
        panel_product(K, U, hq, br, U * K->nr, wu, into, ldr, into == c ? 1.0f : 0.0f, mr);
    else if (into != c)
        for (int r = 0; r < mr; r++) memset(into + r * ldr, 0, sizeof(float) * (size_t)wu);
}

/* Chunk c's buffers: its packed W (ng slices of D x wmax) and R (of U x wmax), and its
 * products (ldr floats per row). */
static float *chunk_w(const forward_team *w, int c) {
    const int64_t ng = gate_count(w->s->cell);
    return w->packed + c * ng * w->wmax * (w->D + w->s->U);
}

static int64_t rec_width(const forward_team *w) {
    return (gate_count(w->s->cell) + (w->s->cell == CELL_GRU && w->s->reset_after)) * w->wmax;
}

/* This thread's scratch: the packed rows of the input, of the state (per gate with
 * recurrent dropout), the state's masked copy, the new state. */
typedef struct {
    float *xp, *ap, *hm, *hn;
} forward_scratch;

/* Step k's first (GRU before reset: only) phase on chunk c's units: per register tile of
 * rows the step's input and state products, then the gates (GRU before reset: r * h). */
GN_INLINE void forward_chunk(const forward_team *w, int64_t k, int c, const forward_scratch *f) {
    const rnn_shape *s = w->s;
    const gn_gemm_kernel *K = w->K;
    const int64_t B = s->B, T = s->T, D = w->D, U = s->U, S = s->S, ng = gate_count(s->cell);
    const int64_t g = ng * U, MR = K->mr, wpad = w->wmax, ldr = rec_width(w);
    const int64_t j0 = unit_lo(U, c, w->chunks), j1 = unit_lo(U, c + 1, w->chunks);
    const int64_t wu = j1 - j0;
    const int gru_before = s->cell == CELL_GRU && !s->reset_after;
    const int gru_apart = s->cell == CELL_GRU && s->reset_after;   /* h gate's R part apart */
    const float *bw = chunk_w(w, c), *br = bw + ng * wpad * D;
    float *rec = w->recs + c * round_to(B, MR) * ldr;
    const int64_t t = step_at(k, T, s->go_backwards);
    const int64_t prev = k ? step_at(k - 1, T, s->go_backwards) : -1;
    const float *hp = prev >= 0 ? w->Y + prev * S + s->at.h : w->h0;
    const int64_t ldh = prev >= 0 ? T * S : U;
    for (int64_t i0 = 0; i0 < B; i0 += MR) {   /* one register tile of rows */
        const int mr = (int)(B - i0 < MR ? B - i0 : MR);
        float *rc = rec + i0 * ldr;
        if (D > 0) K->pack_a(0, mr, D, w->x + (i0 * T + t) * D, T * D, K->mr, f->xp);
        for (int64_t q = 0; q < (gru_before ? 2 : ng); q++) {
            float *hq = f->ap + (w->rm ? q : 0) * MR * U;
            if (hp && (q == 0 || w->rm))
                pack_rows(K, mr, U, hp + i0 * ldh, ldh, w->rm ? w->rm + i0 * g + q * U : NULL,
                          g, f->hm, hq);
            float *cq = rc + q * wpad;
            gate_product(K, D, U, D > 0 ? f->xp : NULL, bw + q * wpad * D, hp ? hq : NULL,
                         br + q * wpad * U, wu, cq, gru_apart && q == 2 ? rc + 3 * wpad : cq,
                         ldr, mr);
        }
        if (gru_before) {   /* the h gate's input product now, its R product later */
            if (D > 0)
                panel_product(K, D, f->xp, bw + 2 * wpad * D, D * K->nr, wu, rc + 2 * wpad,
                              ldr, 0.0f, mr);
            gru_reset_state(w, hp, ldh, rc, ldr, wpad, i0, mr, j0, j1);
            continue;
        }
        for (int64_t bi = i0; bi < i0 + mr; bi++)
            forward_step_row(w, t, prev, hp, ldh, bi, rc + (bi - i0) * ldr, wpad, j0, j1,
                             f->hn);
    }
}

/* GRU before reset, step k's second phase on chunk c: the h gate's product of every
 * unit's r * h_prev, then the gates. */
GN_INLINE void forward_reset_chunk(const forward_team *w, int64_t k, int c,
                                   const forward_scratch *f) {
    const rnn_shape *s = w->s;
    const gn_gemm_kernel *K = w->K;
    const int64_t B = s->B, T = s->T, U = s->U, S = s->S, MR = K->mr, wpad = w->wmax;
    const int64_t ldr = rec_width(w), D = w->D;
    const int64_t j0 = unit_lo(U, c, w->chunks), j1 = unit_lo(U, c + 1, w->chunks);
    const float *br = chunk_w(w, c) + 3 * wpad * D;
    float *rec = w->recs + c * round_to(B, MR) * ldr;
    const int64_t t = step_at(k, T, s->go_backwards);
    const int64_t prev = k ? step_at(k - 1, T, s->go_backwards) : -1;
    const float *hp = prev >= 0 ? w->Y + prev * S + s->at.h : w->h0;
    const int64_t ldh = prev >= 0 ? T * S : U;
    for (int64_t i0 = 0; i0 < B; i0 += MR) {
        const int mr = (int)(B - i0 < MR ? B - i0 : MR);
        float *rc = rec + i0 * ldr;
        pack_rows(K, mr, U, w->rh + i0 * U, U, NULL, 0, f->hm, f->ap);
        panel_product(K, U, f->ap, br + 2 * wpad * U, U * K->nr, j1 - j0, rc + 2 * wpad, ldr,
                      D > 0 ? 1.0f : 0.0f, mr);
        for (int64_t bi = i0; bi < i0 + mr; bi++)
            forward_step_row(w, t, prev, hp, ldh, bi, rc + (bi - i0) * ldr, wpad, j0, j1,
                             f->hn);
    }
}

static size_t forward_private(const forward_team *w) {
    const int64_t MR = w->K->mr, U = w->s->U, groups = w->rm ? gate_count(w->s->cell) : 1;
    return (size_t)(MR * w->D + groups * MR * U + MR * U + w->wmax);
}

GN_INLINE void forward_team_body(void *arg, int tid, int nt) {
    forward_team *w = (forward_team *)arg;
    const rnn_shape *s = w->s;
    const gn_gemm_kernel *K = w->K;
    const int64_t T = s->T, D = w->D, U = s->U, ng = gate_count(s->cell), MR = K->mr;
    const int64_t groups = w->rm ? ng : 1, wpad = w->wmax;
    const int per_step = s->cell == CELL_GRU && !s->reset_after ? 2 : 1;
    (void)tid, (void)nt;
    float *buf = thread_floats(PRIVATE, forward_private(w));
    if (!buf) return;   /* the others take its chunks (the caller's buffers are checked) */
    const forward_scratch f = {buf, buf + MR * D, buf + MR * D + groups * MR * U,
                               buf + MR * D + (groups + 1) * MR * U};
    for (int c; (c = take_chunk(&w->phases[0], w->chunks)) >= 0; chunk_done(&w->phases[0])) {
        const int64_t j0 = unit_lo(U, c, w->chunks), wu = unit_lo(U, c + 1, w->chunks) - j0;
        float *bw = chunk_w(w, c), *br = bw + ng * wpad * D;
        for (int64_t q = 0; q < ng; q++) {
            if (D > 0) K->pack_b(0, D, wu, w->W + q * U + j0, ng * U, K->nr, bw + q * wpad * D);
            K->pack_b(0, U, wu, w->R + q * U + j0, ng * U, K->nr, br + q * wpad * U);
        }
    }
    wait_phase(&w->phases[0], w->chunks);
    for (int64_t k = 0; k < T; k++) {
        phase_t *p = &w->phases[1 + k * per_step];
        for (int c; (c = take_chunk(p, w->chunks)) >= 0; chunk_done(p)) forward_chunk(w, k, c, &f);
        wait_phase(p, w->chunks);   /* every unit of this step's state is written */
        if (per_step == 1) continue;
        for (int c; (c = take_chunk(p + 1, w->chunks)) >= 0; chunk_done(p + 1))
            forward_reset_chunk(w, k, c, &f);
        wait_phase(p + 1, w->chunks);
    }
}

GN_MULTI(forward_team_run, (void *arg, int tid, int nt), forward_team_body(arg, tid, nt))

int gn_rnn_forward(int cell, int act, int ract, int go_backwards, int reset_after,
                   int mask_mode, int64_t B, int64_t T, int64_t D, int64_t U, int64_t S,
                   const float *x, const float *W, const float *R, const float *b,
                   const float *h0, const float *c0, const uint8_t *mask, const float *rm,
                   float *Y, float *work, int64_t work_len) {
    if (!valid_codes(cell, act, ract, mask_mode) || (mask_mode != MASK_NONE && !mask))
        return GN_ERR_BAD_ARGS;
    const rnn_shape s = {cell, act, ract, go_backwards, reset_after, mask_mode, B, T, U, S,
                         record_of(cell, U, reset_after, mask_mode != MASK_NONE)};
    const int64_t g = gate_count(cell) * U;
    if (S != s.at.width || work_len < B * (g + 2 * U) || (cell != CELL_LSTM && c0))
        return GN_ERR_BAD_ARGS;
    if (B == 0 || T == 0 || U == 0) return GN_OK;
    const int two_bias = cell == CELL_GRU && reset_after;
    const gn_gemm_kernel *K = gn_sgemm_kernel();
    const int nt = team_size(B, g, D + U, U), per_step = cell == CELL_GRU && !reset_after ? 2 : 1;
    forward_team task = {&s, K, D, Y, x, W, R, b, two_bias && b ? b + g : NULL, h0, c0, rm,
                         mask, work, nt, round_to(U - unit_lo(U, nt - 1, nt), K->nr),
                         NULL, NULL, NULL};
    const int64_t n_phases = 1 + T * per_step, phase_floats = (int64_t)(sizeof(phase_t) / 4);
    const int64_t packed = nt * gate_count(cell) * task.wmax * (D + U);
    const int64_t recs = nt * round_to(B, K->mr) * rec_width(&task);
    float *shared = thread_floats(SHARED, (size_t)(n_phases * phase_floats + packed + recs));
    if (!shared || !thread_floats(PRIVATE, forward_private(&task))) return GN_ERR_NO_MEMORY;
    memset(shared, 0, sizeof(phase_t) * (size_t)n_phases);
    task.phases = (phase_t *)shared;
    task.packed = shared + n_phases * phase_floats;
    task.recs = task.packed + packed;
    gn_parallel(nt, GN_PICK(forward_team_run), &task);
    return GN_OK;
}

/* One step's backward on batch row b (before the recurrent product's transpose): from the
 * carried state gradients dh/dc/do and gY's row, writes Z's dp (and dr), hr and the part
 * of dh that does not go through the recurrent kernel; updates dc and do. For GRU without
 * reset_after, dp's reset gate needs drh = d(r * h_prev), so that row is finished by
 * gru_reset_row after the product dah @ R_h^T. */
GN_INLINE void backward_row(const rnn_shape *s, const grad_layout *zt, const float *y,
                         const float *gy, const float *hp, const float *cp, const float *rm,
                         int keep, float *dh, float *dc, float *dout, float *z, int64_t j0,
                         int64_t j1) {
    const int64_t u = s->U;
    const float *gates = y + s->at.gates, *ggy = gy + s->at.gates;
    float *dp = z + zt->dp, *zdh = z + zt->dh;
    if (s->cell == CELL_LSTM) {   /* act(c_new) into the dh slot until dh is written */
        for (int64_t j = j0; j < j1; j++)
            zdh[j] = gates[u + j] * (cp ? cp[j] : 0.0f) + gates[j] * gates[2 * u + j];
        activate(s->act, zdh + j0, j1 - j0);
    }
    for (int64_t j = j0; j < j1; j++) {
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
                          const float *drh, float *z, int64_t j0, int64_t j1) {
    const int64_t u = s->U;
    for (int64_t j = j0; j < j1; j++) {
        const float r = y[s->at.gates + u + j], m = rm ? rm[2 * u + j] : 1.0f;
        const float hprev = (hp ? hp[j] : 0.0f) * m;
        z[zt->dp + u + j] = (drh[j] * hprev + gy[s->at.gates + u + j]) *
                            derivative(s->ract, r);
        z[zt->dh + j] += drh[j] * r * m;
    }
}

/* The backward team (see "the team over the whole sequence"): per step, a phase of the
 * elementwise backward of each chunk's units, then one of each chunk's share of
 * dh_prev = dG @ R^T over every unit's gate gradients dG, with R^T's columns of the
 * chunk packed once; GRU without reset_after first makes drh = dah @ R_h^T and the reset
 * gate's gradient the same way, a phase between them. */
typedef struct {
    const rnn_shape *s;
    const grad_layout *zt;
    const gn_gemm_kernel *K;
    const float *gY, *Y, *R, *h0, *c0, *rm;
    const uint8_t *mask;
    float *dh, *dc, *dout, *drh, *Z;   /* dh, dc, dout, drh: B x U, rows U apart */
    int chunks;
    int64_t wmax;      /* the widest chunk, rounded up to whole panels */
    phase_t *phases;   /* the packing, then two (GRU before reset: three) per step */
    float *packed;     /* per chunk: its columns of R^T (and of R_h^T), packed */
} backward_team;

/* Rows [i0, i0 + mr) of dst (rows ldd apart) at the thread's units += dG @ the packed
 * R^T columns bp (depth groups * U): one product, or with recurrent dropout one per
 * gate into tmp (mr x wpad), each times its gate's mask of the previous state. */
static void back_rows(const backward_team *w, const float *dG, int64_t ldz, const float *bp,
                      int64_t groups, int64_t i0, int mr, int64_t j0, int64_t wu, int64_t wpad,
                      float *ap, float *tmp, float *dst, int64_t ldd) {
    const gn_gemm_kernel *K = w->K;
    const int64_t U = w->s->U, depth = groups * U, g = gate_count(w->s->cell) * U;
    K->pack_a(0, mr, depth, dG + i0 * ldz, ldz, K->mr, ap);
    if (!w->rm) {
        panel_product(K, depth, ap, bp, depth * K->nr, wu, dst + i0 * ldd + j0, ldd, 1.0f, mr);
        return;
    }
    for (int64_t q = 0; q < groups; q++) {
        panel_product(K, U, ap + q * U * K->mr, bp + q * U * K->nr, depth * K->nr, wu, tmp,
                      wpad, 0.0f, mr);
        for (int r = 0; r < mr; r++) {
            const float *m = w->rm + (i0 + r) * g + q * U + j0;
            float *d = dst + (i0 + r) * ldd + j0;
            for (int64_t j = 0; j < wu; j++) d[j] += m[j] * tmp[r * wpad + j];
        }
    }
}

/* The previous step's rows (or h0, c0) beside row bi of step t. */
GN_INLINE const float *previous_row(const backward_team *w, int64_t prev, int64_t bi,
                                    int64_t slot, const float *first) {
    const rnn_shape *s = w->s;
    if (prev >= 0) return w->Y + bi * s->T * s->S + prev * s->S + slot;
    return first ? first + bi * s->U : NULL;
}

/* The depth of dh_prev's product: the gates whose gradients it reads (GRU before reset:
 * only z and r's); and the floats of a chunk's packed R^T (and R_h^T). */
static int64_t back_groups(const rnn_shape *s) {
    return s->cell == CELL_GRU && !s->reset_after ? 2 : gate_count(s->cell);
}

static int64_t back_packed(const backward_team *w) {
    const int gru_before = w->s->cell == CELL_GRU && !w->s->reset_after;
    return w->wmax * (back_groups(w->s) * w->s->U + (gru_before ? w->s->U : 0));
}

static size_t back_private(const backward_team *w) {
    return (size_t)(w->K->mr * gate_count(w->s->cell) * w->s->U + w->K->mr * w->wmax);
}

/* Step k's phase `part` (0: the elementwise backward, 1: GRU before reset's reset gate,
 * 2: dh_prev's product) on chunk c's units; ap, tmp: this thread's scratch. */
GN_INLINE void backward_chunk(const backward_team *w, int64_t k, int part, int c, float *ap,
                              float *tmp) {
    const rnn_shape *s = w->s;
    const grad_layout *zt = w->zt;
    const gn_gemm_kernel *K = w->K;
    const int64_t B = s->B, T = s->T, U = s->U, S = s->S, g = gate_count(s->cell) * U;
    const int64_t ldy = T * S, ldz = T * zt->width, MR = K->mr, wpad = w->wmax;
    const int64_t j0 = unit_lo(U, c, w->chunks), j1 = unit_lo(U, c + 1, w->chunks);
    const int64_t wu = j1 - j0, groups = back_groups(s);
    /* dh_prev's product reads the gates' gradients from dp (GRU reset_after: dr, whose
     * third block is d(r * (h_prev R_h + b_h))) */
    const int64_t from = s->cell == CELL_GRU && s->reset_after ? zt->dr : zt->dp;
    const float *bp = w->packed + c * back_packed(w), *bp_h = bp + wpad * groups * U;
    const int64_t t = step_at(k, T, s->go_backwards);
    const int64_t prev = k ? step_at(k - 1, T, s->go_backwards) : -1;
    float *zs = w->Z + t * zt->width;   /* row bi of this step at zs + bi * ldz */
    if (part == 0) {
        for (int64_t bi = 0; bi < B; bi++) {
            const int keep = s->mask_mode == MASK_NONE || w->mask[bi * T + t];
            backward_row(s, zt, w->Y + bi * ldy + t * S, w->gY + bi * ldy + t * S,
                         previous_row(w, prev, bi, s->at.h, w->h0),
                         s->cell == CELL_LSTM ? previous_row(w, prev, bi, s->at.c, w->c0) : NULL,
                         w->rm ? w->rm + bi * g : NULL, keep, w->dh + bi * U, w->dc + bi * U,
                         w->dout + bi * U, zs + bi * ldz, j0, j1);
        }
    } else if (part == 1) {
        for (int64_t i0 = 0; i0 < B; i0 += MR) {
            const int mr = (int)(B - i0 < MR ? B - i0 : MR);
            K->pack_a(0, mr, U, zs + i0 * ldz + zt->dp + 2 * U, ldz, K->mr, ap);
            panel_product(K, U, ap, bp_h, U * K->nr, wu, w->drh + i0 * U + j0, U, 0.0f, mr);
        }
        for (int64_t bi = 0; bi < B; bi++)
            gru_reset_row(s, zt, w->Y + bi * ldy + t * S, w->gY + bi * ldy + t * S,
                          previous_row(w, prev, bi, s->at.h, w->h0),
                          w->rm ? w->rm + bi * g : NULL, w->drh + bi * U, zs + bi * ldz, j0, j1);
    } else {
        for (int64_t i0 = 0; i0 < B; i0 += MR) {
            const int mr = (int)(B - i0 < MR ? B - i0 : MR);
            back_rows(w, zs + from, ldz, bp, groups, i0, mr, j0, wu, wpad, ap, tmp, zs + zt->dh,
                      ldz);
            for (int64_t bi = i0; bi < i0 + mr; bi++)
                memcpy(w->dh + bi * U + j0, zs + bi * ldz + zt->dh + j0,
                       sizeof(float) * (size_t)wu);
        }
    }
}

GN_INLINE void backward_team_body(void *arg, int tid, int nt) {
    backward_team *w = (backward_team *)arg;
    const rnn_shape *s = w->s;
    const gn_gemm_kernel *K = w->K;
    const int64_t T = s->T, U = s->U, g = gate_count(s->cell) * U, groups = back_groups(s);
    const int gru_before = s->cell == CELL_GRU && !s->reset_after, per_step = 2 + gru_before;
    (void)tid, (void)nt;
    float *ap = thread_floats(PRIVATE, back_private(w));
    if (!ap) return;   /* the others take its chunks (the caller's buffers are checked) */
    float *tmp = ap + K->mr * g;
    for (int c; (c = take_chunk(&w->phases[0], w->chunks)) >= 0; chunk_done(&w->phases[0])) {
        const int64_t j0 = unit_lo(U, c, w->chunks), wu = unit_lo(U, c + 1, w->chunks) - j0;
        float *bp = w->packed + c * back_packed(w);
        K->pack_b(1, groups * U, wu, w->R + j0 * g, g, K->nr, bp);   /* R^T's columns j0.. */
        if (gru_before)
            K->pack_b(1, U, wu, w->R + j0 * g + 2 * U, g, K->nr, bp + w->wmax * groups * U);
    }
    wait_phase(&w->phases[0], w->chunks);
    for (int64_t k = T - 1; k >= 0; k--) {
        phase_t *p = &w->phases[1 + (T - 1 - k) * per_step];
        for (int part = 0; part < 3; part++) {
            if (part == 1 && !gru_before) continue;
            for (int c; (c = take_chunk(p, w->chunks)) >= 0; chunk_done(p))
                backward_chunk(w, k, part, c, ap, tmp);
            wait_phase(p, w->chunks);
            p++;
        }
    }
}

GN_MULTI(backward_team_run, (void *arg, int tid, int nt), backward_team_body(arg, tid, nt))

int gn_rnn_bptt(int cell, int act, int ract, int go_backwards, int reset_after,
                int mask_mode, int64_t B, int64_t T, int64_t U, int64_t S, int64_t K,
                const float *gY, const float *Y, const float *R, const float *h0,
                const float *c0, const uint8_t *mask, const float *rm, float *Z,
                float *work, int64_t work_len) {
    if (!valid_codes(cell, act, ract, mask_mode) || (mask_mode != MASK_NONE && !mask))
        return GN_ERR_BAD_ARGS;
    const rnn_shape s = {cell, act, ract, go_backwards, reset_after, mask_mode, B, T, U, S,
                         record_of(cell, U, reset_after, mask_mode != MASK_NONE)};
    const grad_layout zt = grad_of(cell, U, reset_after, rm != NULL);
    const int64_t g = gate_count(cell) * U;
    if (S != s.at.width || K != zt.width || work_len < 5 * B * U ||
        (cell != CELL_LSTM && c0))
        return GN_ERR_BAD_ARGS;
    if (B == 0 || T == 0 || U == 0) return GN_OK;
    memset(work, 0, sizeof(float) * (size_t)(3 * B * U));
    const gn_gemm_kernel *gk = gn_sgemm_kernel();
    const int nt = team_size(B, g, U, U), per_step = cell == CELL_GRU && !reset_after ? 3 : 2;
    backward_team task = {&s, &zt, gk, gY, Y, R, h0, c0, rm, mask, work, work + B * U,
                          work + 2 * B * U, work + 3 * B * U, Z, nt,
                          round_to(U - unit_lo(U, nt - 1, nt), gk->nr), NULL, NULL};
    const int64_t n_phases = 1 + T * per_step, phase_floats = (int64_t)(sizeof(phase_t) / 4);
    float *shared = thread_floats(SHARED, (size_t)(n_phases * phase_floats +
                                                   nt * back_packed(&task)));
    if (!shared || !thread_floats(PRIVATE, back_private(&task))) return GN_ERR_NO_MEMORY;
    memset(shared, 0, sizeof(phase_t) * (size_t)n_phases);
    task.phases = (phase_t *)shared;
    task.packed = shared + n_phases * phase_floats;
    gn_parallel(nt, GN_PICK(backward_team_run), &task);
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
