/* Convolution forward, direct (AVX-512): an implicit GEMM that never writes an im2col
 * matrix, with the fused epilogue applied to each register tile as it is stored.
 *
 * Rows are output positions, columns output channels, depth the (tap, channel) pairs:
 * the rows of the (Kvol * Cg, O) weights, read in place. A register tile of R rows x
 * V * 16 columns is fed in one of two ways:
 *   - table: the depth is cut into nseg segments of len floats contiguous both in the
 *     input and in the weights (with groups == 1 and no W dilation a segment is a whole
 *     (kd, kh) row of KW taps x C channels, otherwise one tap's cg channels). A tile gets
 *     nseg x R segment pointers: into x, a zero buffer in the padding, or a per-thread
 *     scratch for a segment straddling the W padding;
 *   - packed: one input channel read at W stride 1 (a first layer on grey images or
 *     audio), whose depth is the taps alone (9 for 3x3): a table would cost more than
 *     the products, so the tile's patches are packed tap-major instead, R positions per
 *     tap from a masked vector load per output row they span, and the depth runs whole.
 * With max pooling fused (non-overlapping windows), tile rows run window by window, so
 * a tile's epilogue takes each window's maximum and stores only the pooled rows.
 */
#include "conv_internal.h"
#include "epilogue.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define TGT __attribute__((target("avx512f,avx2,fma")))
#define UNROLL _Pragma("GCC unroll 16")

static TGT inline __mmask16 lane_mask(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* Pooled store of a tile whose activation is not done in registers: the rows (64 floats
 * apart in rows), the activation on each, then each window's maximum. */
static TGT void pool_store(float *rows, int mr, int nr, const gn_tile_epi *e, float *y,
                           int64_t ldy) {
    for (int i = 0; i < mr; i++)
        gn_unary(e->act, nr, rows + i * 64, rows + i * 64, e->alpha, e->beta);
    for (int i = 0; i < mr; i += e->pool)
        for (int64_t c = 0; c < nr; c += 16) {
            __m512 mx = _mm512_loadu_ps(rows + i * 64 + c);
            for (int k = 1; k < e->pool; k++)
                mx = _mm512_max_ps(_mm512_loadu_ps(rows + (i + k) * 64 + c), mx);
            _mm512_mask_storeu_ps(y + i / e->pool * ldy + c, lane_mask(nr - c), mx);
        }
}

/* The one body behind every tile kernel: R x V*16 outputs, constant R, V and mode so the
 * accumulators stay in registers. Table mode reads rows of tab (nseg x R pointers to len
 * floats); packed mode reads ap (len x R floats). Rows past mr and lanes past nr are
 * computed but never stored. full: nr is V*16, the weights are read without masks (which
 * would not all fit the mask registers beside the loop's). */
static TGT inline __attribute__((always_inline)) void tile_body(
    const int R, const int V, const int packed, const int full, int64_t nseg, int64_t len,
    const float *const *tab, const float *ap, const float *w, int64_t ldw, float *y,
    int64_t ldy, int mr, int nr, const gn_tile_epi *e) {
    __m512 acc[12][4];
    __mmask16 m[4];
    UNROLL for (int j = 0; j < V; j++) m[j] = full ? (__mmask16)0xFFFF : lane_mask(nr - 16 * j);
    UNROLL for (int i = 0; i < R; i++) {
        UNROLL for (int j = 0; j < V; j++) acc[i][j] = _mm512_setzero_ps();
    }
    if (packed) {
        const float *ws = w;
        for (int64_t l = 0; l < len; l++, ws += ldw, ap += R) {
            __m512 b[4];
            UNROLL for (int j = 0; j < V; j++)
                b[j] = full ? _mm512_loadu_ps(ws + 16 * j)
                            : _mm512_maskz_loadu_ps(m[j], ws + 16 * j);
            UNROLL for (int i = 0; i < R; i++) {
                const __m512 a = _mm512_set1_ps(ap[i]);
                UNROLL for (int j = 0; j < V; j++)
                    acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
            }
        }
    } else {
        for (int64_t sg = 0; sg < nseg; sg++) {
            const float *p[12];
            UNROLL for (int i = 0; i < R; i++) p[i] = tab[sg * R + i];
            const float *ws = w + sg * len * ldw;
            for (int64_t l = 0; l < len; l++, ws += ldw) {
                __m512 b[4];
                UNROLL for (int j = 0; j < V; j++)
                    b[j] = full ? _mm512_loadu_ps(ws + 16 * j)
                                : _mm512_maskz_loadu_ps(m[j], ws + 16 * j);
                UNROLL for (int i = 0; i < R; i++) {
                    const __m512 a = _mm512_set1_ps(p[i][l]);
                    UNROLL for (int j = 0; j < V; j++)
                        acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
                }
            }
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    __m512 bv[4];
    UNROLL for (int j = 0; j < V; j++)
        bv[j] = e->bias ? _mm512_maskz_loadu_ps(m[j], e->bias + 16 * j) : zero;
    UNROLL for (int i = 0; i < R; i++) {
        if (i >= mr) break;
        UNROLL for (int j = 0; j < V; j++) {
            __m512 v = _mm512_add_ps(acc[i][j], bv[j]);
            if (e->res)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m[j], e->res + i * ldy + 16 * j));
            if (e->relu) v = _mm512_max_ps(zero, v); /* max(0, NaN) is NaN, as relu */
            acc[i][j] = v;
        }
    }
    if (!e->pool) {
        UNROLL for (int i = 0; i < R; i++) {
            if (i >= mr) break;
            UNROLL for (int j = 0; j < V; j++)
                _mm512_mask_storeu_ps(y + i * ldy + 16 * j, m[j], acc[i][j]);
        }
        if (e->act != GN_U_COPY)
            for (int i = 0; i < mr; i++)
                gn_unary(e->act, nr, y + i * ldy, y + i * ldy, e->alpha, e->beta);
    } else if (e->act == GN_U_COPY) { /* each window's maximum in registers */
        __m512 mx[4];
        UNROLL for (int i = 0; i < R; i++) {
            if (i >= mr) break;
            const int k = i % e->pool;
            UNROLL for (int j = 0; j < V; j++) {
                /* a later row replaces the maximum only where greater, as pooling does */
                mx[j] = k == 0 ? acc[i][j] : _mm512_max_ps(acc[i][j], mx[j]);
                if (k == e->pool - 1)
                    _mm512_mask_storeu_ps(y + i / e->pool * ldy + 16 * j, m[j], mx[j]);
            }
        }
    } else {
        float tmp[12 * 64];
        UNROLL for (int i = 0; i < R; i++) {
            if (i >= mr) break;
            UNROLL for (int j = 0; j < V; j++)
                _mm512_storeu_ps(tmp + i * 64 + 16 * j, acc[i][j]);
        }
        pool_store(tmp, mr, nr, e, y, ldy);
    }
}

#define TILE_FN(name, R, V, PACKED)                                                          \
    static TGT void name(int64_t nseg, int64_t len, const float *const *tab, const float *ap, \
                         const float *w, int64_t ldw, float *y, int64_t ldy, int mr, int nr,  \
                         const gn_tile_epi *e) {                                                 \
        if (nr == 16 * V)                                                                     \
            tile_body(R, V, PACKED, 1, nseg, len, tab, ap, w, ldw, y, ldy, mr, nr, e);       \
        else                                                                                  \
            tile_body(R, V, PACKED, 0, nseg, len, tab, ap, w, ldw, y, ldy, mr, nr, e);       \
    }
TILE_FN(tile_table_6x4, 6, 4, 0)
TILE_FN(tile_table_12x2, 12, 2, 0)
TILE_FN(tile_table_12x1, 12, 1, 0)
TILE_FN(tile_packed_6x4, 6, 4, 1)
TILE_FN(tile_packed_12x2, 12, 2, 1)
TILE_FN(tile_packed_12x1, 12, 1, 1)

gn_tile_fn gn_conv_tile_kernel(int packed, int nr, int *rows) {
    static const gn_tile_fn fns[2][3] = {{tile_table_6x4, tile_table_12x2, tile_table_12x1},
                                      {tile_packed_6x4, tile_packed_12x2, tile_packed_12x1}};
    *rows = nr > 32 ? 6 : 12;
    return fns[packed != 0][nr > 32 ? 0 : nr > 16 ? 1 : 2];
}

/* Whether a (kd, kh) row of KW taps is one contiguous segment of the input. */
static int direct_rows(const geom_t *t) { return t->groups == 1 && t->d[2] == 1; }

/* Whether the packed mode applies: one input channel, read at W stride 1. */
static int direct_packed(const geom_t *t) { return t->c == 1 && t->s[2] == 1; }

/* Output position (image, D, H, W) of a tile row. */
typedef struct {
    int64_t n, d, h, w;
} pos_t;

/* Positions of rows row0 .. row0 + mr - 1: in output order, or with pooling windows
 * (win, wsz > 0 taps each) window by window, stepped row by row with no divisions. */
static void tile_positions(const geom_t *t, const int64_t *win, int64_t wsz, int64_t row0,
                           int mr, pos_t *pos) {
    const int64_t *out = t->out;
    if (!wsz) {
        int64_t n = row0 / t->pout, q = row0 % t->pout;
        int64_t ow = q % out[2], oh = q / out[2] % out[1], od = q / (out[2] * out[1]);
        for (int r = 0; r < mr; r++) {
            pos[r] = (pos_t){n, od, oh, ow};
            if (++ow == out[2]) {
                ow = 0;
                if (++oh == out[1]) {
                    oh = 0;
                    if (++od == out[0]) od = 0, n++;
                }
            }
        }
        return;
    }
    const int64_t pd = out[0] / win[0], ph = out[1] / win[1], pw = out[2] / win[2];
    const int64_t p = row0 / wsz, e = row0 % wsz, q = p % (pd * ph * pw);
    int64_t n = p / (pd * ph * pw), xw = q % pw, xh = q / pw % ph, xd = q / (pw * ph);
    int64_t ew = e % win[2], eh = e / win[2] % win[1], ed = e / (win[2] * win[1]);
    for (int r = 0; r < mr; r++) {
        pos[r] = (pos_t){n, xd * win[0] + ed, xh * win[1] + eh, xw * win[2] + ew};
        if (++ew < win[2]) continue;
        ew = 0;
        if (++eh < win[1]) continue;
        eh = 0;
        if (++ed < win[0]) continue;
        ed = 0;
        if (++xw < pw) continue;
        xw = 0;
        if (++xh < ph) continue;
        xh = 0;
        if (++xd == pd) xd = 0, n++;
    }
}

/* Fill tab[sg * MR + r] for the tile rows at pos[0 .. mr - 1] (rows past mr repeat the
 * zero buffer). */
static void direct_table(const geom_t *t, const float *x, int64_t j, const pos_t *pos, int mr,
                         int MR, const float **tab, const float *zero, float *scratch,
                         int64_t *src) {
    const int64_t C = t->c;
    if (!direct_rows(t)) {
        for (int r = 0; r < MR; r++) {
            if (r >= mr) {
                for (int64_t kk = 0; kk < t->kvol; kk++) tab[kk * MR + r] = zero;
                continue;
            }
            const float *xn = x + pos[r].n * t->pin * C + j * t->cg;
            window_taps(t, (pos[r].d * t->out[1] + pos[r].h) * t->out[2] + pos[r].w, src);
            for (int64_t kk = 0; kk < t->kvol; kk++)
                tab[kk * MR + r] = src[kk] < 0 ? zero : xn + src[kk] * C;
        }
        return;
    }
    const int64_t nseg = t->k[0] * t->k[1], len = t->k[2] * C;
    int prev_inside = 0;
    for (int r = 0; r < MR; r++) {
        if (r >= mr) {
            for (int64_t sg = 0; sg < nseg; sg++) tab[sg * MR + r] = zero;
            continue;
        }
        const int64_t d0 = pos[r].d * t->s[0] - t->p[0], h0 = pos[r].h * t->s[1] - t->p[1];
        const int64_t w0 = pos[r].w * t->s[2] - t->p[2];
        const float *xn = x + pos[r].n * t->pin * C;
        const int inside = w0 >= 0 && w0 + t->k[2] <= t->in[2];
        if (inside && prev_inside && pos[r].n == pos[r - 1].n && pos[r].d == pos[r - 1].d &&
            pos[r].h == pos[r - 1].h) { /* the previous row's segments, moved along W */
            const int64_t delta = (pos[r].w - pos[r - 1].w) * t->s[2] * C;
            for (int64_t sg = 0; sg < nseg; sg++) {
                const float *prev = tab[sg * MR + r - 1];
                tab[sg * MR + r] = prev == zero ? zero : prev + delta;
            }
            continue;
        }
        prev_inside = inside;
        window_segments(t, xn, d0, h0, w0, zero, scratch + r * len, tab + r, MR);
    }
}

/* Packed mode: ap[kk * MR + r] = x at tap kk of row row0 + r (0 in the padding). The rows
 * are cut into runs within one output W row; a run's values for one tap are consecutive
 * input floats, moved by one masked load and store (masked lanes never fault). Lanes past
 * mr keep older values: their products are never stored. */
static TGT void direct_pack(const geom_t *t, const float *x, int64_t row0, int mr, int MR,
                            float *ap) {
    const int64_t OW = t->out[2], W = t->in[2];
    int64_t n = row0 / t->pout, q = row0 % t->pout;
    int64_t ow = q % OW, oh = q / OW % t->out[1], od = q / (OW * t->out[1]);
    for (int a = 0; a < mr;) {
        const int len = (int)(mr - a < OW - ow ? mr - a : OW - ow);
        const __mmask16 run = (__mmask16)(lane_mask(a + len) & ~lane_mask(a));
        const float *xn = x + n * t->pin;
        const int64_t d0 = od * t->s[0] - t->p[0], h0 = oh * t->s[1] - t->p[1];
        const int64_t w0 = ow - t->p[2] - a; /* input column of lane 0 at kw = 0 */
        float *dst = ap;
        for (int64_t kd = 0; kd < t->k[0]; kd++) {
            const int64_t id = d0 + kd * t->d[0];
            for (int64_t kh = 0; kh < t->k[1]; kh++) {
                const int64_t ih = h0 + kh * t->d[1];
                if (id < 0 || id >= t->in[0] || ih < 0 || ih >= t->in[1]) {
                    for (int64_t kw = 0; kw < t->k[2]; kw++, dst += MR)
                        _mm512_mask_storeu_ps(dst, run, _mm512_setzero_ps());
                    continue;
                }
                const uintptr_t row = (uintptr_t)(xn + (id * t->in[1] + ih) * W);
                for (int64_t kw = 0; kw < t->k[2]; kw++, dst += MR) {
                    const int64_t c0 = w0 + kw * t->d[2];
                    __mmask16 m = run;
                    if (c0 + a < 0 || c0 + a + len > W)
                        m &= (__mmask16)(lane_mask(W - c0) & ~lane_mask(-c0));
                    /* the address of lane 0 may lie outside x: integer arithmetic */
                    const float *p = (const float *)(row + (uintptr_t)(c0 * 4));
                    _mm512_mask_storeu_ps(dst, run, _mm512_maskz_loadu_ps(m, p));
                }
            }
        }
        a += len;
        if ((ow += len) == OW) {
            ow = 0;
            if (++oh == t->out[1]) {
                oh = 0;
                if (++od == t->out[0]) od = 0, n++;
            }
        }
    }
}

/* Weights of one column tile kept in L2 while the rows stream past: column tiles are
 * taken in blocks of about this many bytes. */
#define GN_DIRECT_W_BYTES ((int64_t)384 * 1024)
/* Largest column tile of weights the direct path takes. */
#define GN_DIRECT_MAX_W ((int64_t)512 * 1024)

typedef struct {
    const geom_t *t;
    const float *x, *w;
    float *y;
    const gn_epilogue *e;
    const int64_t *win; /* pooling window, or NULL */
    int64_t wsz;        /* rows per window (0: no pooling) */
    gn_tile_fn tile;
    int MR, NR, packed, rows_seg;
    int64_t nseg, len, rows, tiles, otiles, ob; /* ob: column tiles per weight block */
    int64_t chunk, nchunks;                    /* row tiles per work item, items per block */
    int64_t next;                              /* next work item (atomic) */
} direct_task_t;

/* Work items (column block, chunk of row tiles) taken dynamically, in order: a core the
 * OS lends to another process costs its share of the time, not half of the call, and
 * the threads work on the same weight block at about the same time. */
static void direct_forward_task(void *arg, int tid, int nt) {
    direct_task_t *d = arg;
    const geom_t *t = d->t;
    const gn_epilogue *e = d->e;
    const int MR = d->MR, NR = d->NR;
    const int64_t og = t->og, items = (d->otiles + d->ob - 1) / d->ob * d->nchunks;
    (void)tid, (void)nt;
    const float **tab = NULL;
    float *zero = NULL, *scratch = NULL, *ap = NULL;
    int64_t *src = NULL;
    pos_t pos[12];
    if (d->packed) {
        ap = calloc((size_t)(d->len * MR + 16), sizeof(float));
    } else {
        tab = malloc(sizeof(float *) * (size_t)(d->nseg * MR));
        zero = calloc((size_t)d->len, sizeof(float));
        if (d->rows_seg) scratch = malloc(sizeof(float) * (size_t)(d->nseg * MR * d->len));
        src = malloc(sizeof(int64_t) * (size_t)t->kvol);
    }
    if (d->packed ? !ap : !tab || !zero || (d->rows_seg && !scratch) || !src) {
        gn_note_no_memory();
        __atomic_store_n(&d->next, items, __ATOMIC_RELAXED); /* no thread takes more */
        free(tab);
        free(zero);
        free(scratch);
        free(src);
        free(ap);
        return;
    }
    gn_tile_epi te = {NULL, NULL, e->act == GN_U_RELU, e->act == GN_U_RELU ? GN_U_COPY : e->act,
                   e->alpha, e->beta, (int)d->wsz};
    for (int64_t item; (item = __atomic_fetch_add(&d->next, 1, __ATOMIC_RELAXED)) < items;) {
        const int64_t o0 = item / d->nchunks * d->ob;
        const int64_t o1 = o0 + d->ob < d->otiles ? o0 + d->ob : d->otiles;
        const int64_t t0 = item % d->nchunks * d->chunk;
        const int64_t t1 = t0 + d->chunk < d->tiles ? t0 + d->chunk : d->tiles;
        for (int64_t ti = t0; ti < t1; ti++) {
            const int64_t row0 = ti * MR;
            const int mr = d->rows - row0 < MR ? (int)(d->rows - row0) : MR;
            const int64_t yrow = d->wsz ? row0 / d->wsz : row0; /* first row of y written */
            if (!d->packed) tile_positions(t, d->win, d->wsz, row0, mr, pos);
            for (int64_t j = 0; j < t->groups; j++) {
                if (d->packed) direct_pack(t, d->x, row0, mr, MR, ap);
                else direct_table(t, d->x, j, pos, mr, MR, tab, zero, scratch, src);
                for (int64_t oi = o0; oi < o1; oi++) {
                    const int64_t c0 = j * og + oi * NR;
                    const int nr = og - oi * NR < NR ? (int)(og - oi * NR) : NR;
                    te.bias = e->bias ? e->bias + c0 : NULL;
                    te.res = e->res ? e->res + row0 * e->ldr + c0 : NULL;
                    d->tile(d->nseg, d->len, (const float *const *)tab, ap, d->w + c0, t->o,
                            d->y + yrow * t->o + c0, t->o, mr, nr, &te);
                }
            }
        }
    }
    free(tab);
    free(zero);
    free(scratch);
    free(src);
    free(ap);
}

/* AVX-512, not depthwise (its own loops), and one column tile's weights small enough to
 * stay in L2 (the direct kernel does not block the depth; im2col + GEMM does). The
 * residual, when there is one, must be laid out like y. */
static int use_direct(const geom_t *t, const gn_epilogue *e) {
    const int64_t nr = t->og > 32 ? 64 : t->og > 16 ? 32 : 16;
    return gn_current_isa() == GN_ISA_AVX512 && !is_depthwise(t) && t->og >= 1 &&
           t->cg >= 1 && t->kvol * t->cg * nr * (int64_t)sizeof(float) <= GN_DIRECT_MAX_W &&
           (!e->res || e->ldr == t->o);
}

int gn_conv_direct_forward(const geom_t *t, const int64_t *win, const float *x,
                           const float *w, float *y, const gn_epilogue *e) {
    if (!use_direct(t, e) || (win && e->res)) return 0;
    const int64_t og = t->og;
    int64_t wsz = 0, rows = t->n * t->pout;
    if (win) {
        wsz = win[0] * win[1] * win[2];
        rows = t->n * (t->out[0] / win[0]) * (t->out[1] / win[1]) * (t->out[2] / win[2]) * wsz;
    }
    const int packed = !wsz && direct_packed(t);
    int MR, NR = og > 32 ? 64 : og > 16 ? 32 : 16;
    if (wsz && NR == 64 && 6 % wsz) NR = 32; /* a tile holds whole windows: 12 rows */
    const gn_tile_fn tile = gn_conv_tile_kernel(packed, NR, &MR);
    if (wsz && (wsz > MR || MR % wsz)) return 0;
    if (rows <= 0) return 1;
    const int rows_seg = !packed && direct_rows(t);
    const int64_t nseg = packed ? 1 : rows_seg ? t->k[0] * t->k[1] : t->kvol;
    const int64_t len = packed ? t->kvol : rows_seg ? t->k[2] * t->c : t->cg;
    const int64_t tiles = (rows + MR - 1) / MR, otiles = (og + NR - 1) / NR;
    int64_t ob = GN_DIRECT_W_BYTES / (nseg * len * NR * (int64_t)sizeof(float));
    if (ob < 1) ob = 1;
    if (ob > otiles) ob = otiles;
    const double flops = 2.0 * (double)rows * (double)t->o * (double)(t->kvol * t->cg);
    int nt = gn_get_num_threads();
    if (flops < 16.0 * GN_PAR_MIN_CONV) nt = 1; /* ~5 us of work: not worth waking a team */
    if (nt > tiles) nt = (int)tiles;
    int64_t chunk = tiles / (16 * (int64_t)nt);
    if (chunk < 1) chunk = 1;
    direct_task_t task = {t, x, w, y, e, win, wsz, tile, MR, NR, packed, rows_seg, nseg, len,
                          rows, tiles, otiles, ob, chunk, (tiles + chunk - 1) / chunk, 0};
    gn_parallel(nt, direct_forward_task, &task);
    return 1;
}
#else
int gn_conv_direct_forward(const geom_t *t, const int64_t *win, const float *x,
                           const float *w, float *y, const gn_epilogue *e) {
    (void)t, (void)win, (void)x, (void)w, (void)y, (void)e;
    return 0;
}
#endif
