/* One elementwise program over many tensors in one call (the optimizer updates of every
 * weight of a model): the work is split by tiles over all the tensors' elements, so one
 * thread-pool dispatch serves them all. Registers live in a tile-sized store in cache;
 * an input read at stride 0 (a learning rate, a decay factor) stays one value instead of
 * being broadcast into a tile, and an instruction on such values alone computes one
 * value. A result goes straight into its output, or, when a later instruction still reads
 * an input held in that buffer, at the end of the tile: an output may be the buffer of one
 * of the tensor's inputs (a weight updated in place). A program generated ahead of time
 * (compiled_programs.h: the optimizers' updates) runs instead as its C loop, on tensors
 * whose inputs are tiles and single values as it expects: the same values, in registers. */
#include "kernel_util.h"
#include <string.h>
#include "compiled_programs.h"
#include "graphnet.h"
#include "threadpool.h"

#define TILE 256 /* floats per register: 512 ran the mlp update 7-10% slower on a Xeon */
#define CHUNK 8  /* tiles a thread takes at a time */
#define MAX_INPUTS 16
#define MAX_INSTR 48
#define MAX_OUTPUTS 8
#define MAX_TENSORS 64

typedef struct {
    int ninputs, ninstr, noutputs;
    const int64_t *sizes, *strides, *prog, *results;
    const float *const *inputs;
    float *const *outputs;
    const float *fprog;
    const int64_t *first_tile; /* tensor t owns tiles [first_tile[t], first_tile[t + 1]) */
    int ntensors;
    const gn_compiled_program *compiled; /* the program as a C loop, or NULL */
    gn_program_fn loop;
    /* next[u]: how many of thread u's home tiles have been taken (see multi_run) */
    struct { int64_t taken; char pad[56]; } next[GN_TEAM_MAX];
} multi_task_t;

/* z = x op y over n values; xv / yv: the operand is a tile (1) or one value (0). The four
 * arithmetic ops inline (vectorized), the rest through gn_binary with stride 0 or 1. */
#define BIN(expr)                                                                      \
    {                                                                                  \
        if (xv && yv)                                                                  \
            for (int64_t i = 0; i < n; i++) { const float p = x[i], q = y[i]; z[i] = (expr); } \
        else if (xv)                                                                   \
            for (int64_t i = 0; i < n; i++) { const float p = x[i], q = y[0]; z[i] = (expr); } \
        else if (yv)                                                                   \
            for (int64_t i = 0; i < n; i++) { const float p = x[0], q = y[i]; z[i] = (expr); } \
        else { const float p = x[0], q = y[0]; z[0] = (expr); }                        \
        return;                                                                        \
    }

GN_INLINE void tile_binary(int code, int64_t n, const float *x, int xv, const float *y, int yv,
                           float *z) {
    switch (code) {
    case GN_B_ADD: BIN(gn_binary_value(GN_B_ADD, p, q))
    case GN_B_SUB: BIN(gn_binary_value(GN_B_SUB, p, q))
    case GN_B_MUL: BIN(gn_binary_value(GN_B_MUL, p, q))
    case GN_B_DIV: BIN(gn_binary_value(GN_B_DIV, p, q))
    default: {
        const int64_t sx = xv, sy = yv;
        gn_binary(code, 1, &n, x, &sx, y, &sy, z);
    }
    }
}
#undef BIN

/* Per tensor: which registers hold a tile (vec, else one value), and which instructions
 * write their result straight into an output (direct[s], else -1, into the store): those
 * whose output no later instruction reads as an input (it may be that input's buffer). */
GN_INLINE void plan_tensor(const multi_task_t *m, int64_t t, int *vec, int *direct) {
    const int nin = m->ninputs, ninstr = m->ninstr;
    for (int j = 0; j < nin; j++) vec[j] = m->strides[t * nin + j] != 0;
    for (int s = 0; s < ninstr; s++) {
        const int64_t *in = m->prog + 4 * s;
        vec[nin + s] = in[0] == 1 ? vec[in[2]] : vec[in[2]] | vec[in[3]];
        direct[s] = -1;
    }
    for (int o = 0; o < m->noutputs; o++) {
        const int s = (int)m->results[o] - nin;
        const float *out = m->outputs[t * m->noutputs + o];
        int ok = vec[nin + s] && direct[s] < 0;
        for (int later = s + 1; later < ninstr && ok; later++) {
            const int64_t *in = m->prog + 4 * later;
            for (int k = 2; k < (in[0] == 1 ? 3 : 4); k++)
                if (in[k] < nin && m->inputs[t * nin + in[k]] == out) ok = 0;
        }
        if (ok) direct[s] = o;
    }
}

/* Tiles [t0, t1) of the flattened list of every tensor's tiles. */
GN_INLINE void run_tiles(const multi_task_t *m, int64_t t0, int64_t t1) {
    const int nin = m->ninputs, ninstr = m->ninstr, nout = m->noutputs;
    float store[ninstr][TILE]; /* ninstr tiles of 1 KiB: in L1 */
    const float *reg[MAX_INPUTS + MAX_INSTR];
    int vec[MAX_INPUTS + MAX_INSTR], direct[MAX_INSTR];
    int64_t t = -1;
    int compiled = 0; /* the current tensor runs through m->loop */
    for (int64_t tile = t0; tile < t1; tile++) {
        if (t < 0 || m->first_tile[t + 1] <= tile) {
            do t++; while (m->first_tile[t + 1] <= tile);
            plan_tensor(m, t, vec, direct);
            unsigned mask = 0;
            for (int j = 0; j < nin; j++) mask |= (unsigned)vec[j] << j;
            compiled = m->compiled && mask == m->compiled->vec;
        }
        const int64_t start = (tile - m->first_tile[t]) * TILE;
        const int64_t len = m->sizes[t] - start < TILE ? m->sizes[t] - start : TILE;
        float *const *outs = m->outputs + t * nout;
        for (int j = 0; j < nin; j++) reg[j] = m->inputs[t * nin + j] + (vec[j] ? start : 0);
        if (compiled) {
            float *out[MAX_OUTPUTS];
            for (int o = 0; o < nout; o++) out[o] = outs[o] + start;
            m->loop(reg, out, len, m->fprog);
            continue;
        }
        for (int s = 0; s < ninstr; s++) {
            const int64_t *in = m->prog + 4 * s;
            const int r = nin + s, a = (int)in[2], b = (int)in[3];
            float *dst = direct[s] >= 0 ? outs[direct[s]] + start : store[s];
            if (in[0] == 1)
                gn_unary((int)in[1], vec[r] ? len : 1, reg[a], dst, m->fprog[2 * s],
                         m->fprog[2 * s + 1]);
            else
                tile_binary((int)in[1], vec[r] ? len : 1, reg[a], vec[a], reg[b], vec[b], dst);
            reg[r] = dst;
        }
        for (int o = 0; o < nout; o++) {
            const int r = (int)m->results[o];
            float *dst = outs[o] + start;
            if (direct[r - nin] == o) continue;
            if (vec[r])
                memcpy(dst, reg[r], (size_t)len * sizeof(float));
            else
                for (int64_t i = 0; i < len; i++) dst[i] = reg[r][0];
        }
    }
}

GN_MULTI(multi_tiles, (const multi_task_t *m, int64_t t0, int64_t t1), run_tiles(m, t0, t1))

/* Thread u's home tiles: the u-th of nt equal parts of every tensor, the part a GEMM
 * split the same way left in u's cache (the weight gradient just computed). Returns how
 * many there are, and with `from` >= 0 runs `count` of them starting at the from-th. */
static int64_t home_tiles(const multi_task_t *m, int u, int nt, int64_t from, int64_t count,
                          void (*run)(const multi_task_t *, int64_t, int64_t)) {
    int64_t seen = 0;
    for (int t = 0; t < m->ntensors; t++) {
        const int64_t a = m->first_tile[t], n = m->first_tile[t + 1] - a;
        const int64_t lo = a + n * u / nt, hi = a + n * (u + 1) / nt;
        if (from >= 0 && count > 0 && from < seen + (hi - lo)) {
            const int64_t t0 = lo + (from > seen ? from - seen : 0);
            const int64_t t1 = t0 + count < hi ? t0 + count : hi;
            run(m, t0, t1);
            count -= t1 - t0;
            from += t1 - t0;
        }
        seen += hi - lo;
    }
    return seen;
}

/* Each thread takes its home tiles CHUNK at a time, then helps the others with theirs,
 * so a thread the OS runs late (another process on its core) leaves its share to the
 * rest and one thread alone runs them all. */
static void multi_run(void *arg, int tid, int nt) {
    multi_task_t *m = arg;
    void (*run)(const multi_task_t *, int64_t, int64_t) = GN_PICK(multi_tiles);
    for (int k = 0; k < nt; k++) {
        const int u = (tid + k) % nt;
        const int64_t total = home_tiles(m, u, nt, -1, 0, run);
        for (;;) {
            const int64_t from = __atomic_fetch_add(&m->next[u].taken, CHUNK, __ATOMIC_RELAXED);
            if (from >= total) break;
            home_tiles(m, u, nt, from, CHUNK, run);
        }
    }
}

static int use_compiled = 1;

int gn_set_compiled_programs(int enable) {
    const int was = __atomic_exchange_n(&use_compiled, enable != 0, __ATOMIC_RELAXED);
    return was;
}

int gn_compiled_program_index(int ninputs, int ninstr, const int64_t *prog, int noutputs,
                              const int64_t *results) {
    const int count = (int)(sizeof compiled_programs / sizeof compiled_programs[0]);
    for (int i = 0; i < count; i++) {
        const gn_compiled_program *c = &compiled_programs[i];
        if (c->ninputs == ninputs && c->ninstr == ninstr && c->noutputs == noutputs &&
            !memcmp(c->code, prog, sizeof(int64_t) * 4 * (size_t)ninstr) &&
            !memcmp(c->results, results, sizeof(int64_t) * (size_t)noutputs))
            return i;
    }
    return -1;
}

void gn_multi_eltwise(int ntensors, const int64_t *sizes, int ninputs, const float *const *inputs,
                      const int64_t *strides, int ninstr, const int64_t *prog, const float *fprog,
                      int noutputs, const int64_t *results, float *const *outputs) {
    if (ntensors < 1 || ntensors > MAX_TENSORS || ninputs < 1 || ninputs > MAX_INPUTS ||
        ninstr < 1 || ninstr > MAX_INSTR || noutputs < 1 || noutputs > MAX_OUTPUTS)
        return;
    int64_t first_tile[ntensors + 1], total = 0;
    first_tile[0] = 0;
    for (int t = 0; t < ntensors; t++) {
        const int64_t n = sizes[t] > 0 ? sizes[t] : 0;
        first_tile[t + 1] = first_tile[t] + (n + TILE - 1) / TILE;
        total += n;
    }
    const int c = __atomic_load_n(&use_compiled, __ATOMIC_RELAXED)
                      ? gn_compiled_program_index(ninputs, ninstr, prog, noutputs, results) : -1;
    multi_task_t task = {ninputs, ninstr, noutputs, sizes, strides, prog, results,
                         inputs, outputs, fprog, first_tile, ntensors,
                         c < 0 ? NULL : &compiled_programs[c],
                         c < 0 ? NULL : compiled_programs[c].pick(), {{0}}};
    gn_parallel(gn_team_for((double)total, GN_GRAIN_ELEMENTS), multi_run, &task);
}
