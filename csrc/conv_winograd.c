/* Convolution forward by Winograd F(2x2, 3x3) (AVX-512): 3x3 kernels, stride 1, no
 * dilation, one group. Each 2x2 block of outputs is computed from a 4x4 block of the
 * input in a transformed space where the convolution becomes 16 independent products
 * (one per transformed point xi) of C values by a C x O matrix: 16 multiplies per 4
 * outputs instead of 36, 2.25x fewer.
 *
 *   U[xi] = G g G^T      (C x O per xi: the weights, transformed at each call)
 *   V[xi] = B^T d B      (per tile of 2x2 outputs and channel)
 *   M[xi] = V[xi] U[xi]  (the register-tile kernels of conv_direct.c, table mode)
 *   y     = A^T M A      (then the epilogue, or each 2x2 block's maximum when a 2x2 max
 *                         pooling is fused: the block is exactly one pooling window)
 *
 * Tiles are taken R at a time (the register tile's rows); a group's V and M stay in L1
 * and the transformed weights of a block of output channels in L2. The transforms use
 * only 1 and 1/2: the results differ from direct summation by a few ulps of the
 * transformed magnitudes. */
#include "conv_internal.h"
#include "epilogue.h"
#include <stdlib.h>
#include <string.h>

/* Weight bytes (16 x C x columns) of one column block kept in L2. */
#define GN_WINO_U_BYTES ((int64_t)512 * 1024)

/* The column tile width for t's outputs (the tile kernel's nr). */
static int64_t wino_nr(const geom_t *t) { return t->o > 32 ? 64 : t->o > 16 ? 32 : 16; }

/* Column tiles per block of transformed weights kept in L2. */
static int64_t wino_ob(const geom_t *t) {
    const int64_t nr = wino_nr(t), otiles = (t->o + nr - 1) / nr;
    const int64_t ob = GN_WINO_U_BYTES / (16 * t->c * nr * (int64_t)sizeof(float));
    return ob < 1 ? 1 : ob > otiles ? otiles : ob;
}

/* Floats of one thread's buffers: V (16 x R x C) and M (16 x R x a block's columns). */
static int64_t wino_scratch(const geom_t *t) {
    const int64_t R = t->o > 32 ? 6 : 12;
    return 16 * R * (t->c + wino_ob(t) * wino_nr(t));
}

/* Floats between the transformed weights of consecutive xi: C x O and a cache line, so the
 * 16 planes (and the weights' 9 taps) do not all fall on one offset modulo 4 KB, where
 * the stores of the transform would stall the loads behind them. */
static int64_t wino_plane(const geom_t *t) { return t->c * t->o + 16; }

/* AVX-512, 3x3 (D 1 with no D padding), stride 1, no dilation, one group, and enough
 * channels for the products to outweigh the transforms. */
static int wino_applies(const geom_t *t) {
    return gn_current_isa() == GN_ISA_AVX512 && t->groups == 1 && t->k[0] == 1 &&
           t->p[0] == 0 && t->in[0] == t->out[0] && t->k[1] == 3 && t->k[2] == 3 &&
           t->s[1] == 1 && t->s[2] == 1 && t->d[1] == 1 && t->d[2] == 1 && t->c >= 8 &&
           t->o >= 16 && 16 * t->c * wino_nr(t) * (int64_t)sizeof(float) <= 2 * GN_WINO_U_BYTES;
}

int64_t gn_conv_winograd_work_len(const geom_t *t, int threads) {
    if (!wino_applies(t)) return 0;
    return 16 * wino_plane(t) + threads * wino_scratch(t);
}

#if defined(__x86_64__)
#include <immintrin.h>
#define TGT __attribute__((target("avx512f,avx2,fma")))
#define UNROLL _Pragma("GCC unroll 16")

static TGT inline __mmask16 lane_mask(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* U[xi][c][o] = (G g G^T)[xi] for the 3x3 filter g of each (c, o); G's rows are
 * (1, 0, 0), (1/2, 1/2, 1/2), (1/2, -1/2, 1/2), (0, 0, 1). */
static TGT void filter_transform(const geom_t *t, const float *w, float *U) {
    const int64_t C = t->c, O = t->o, plane = wino_plane(t);
    const __m512 half = _mm512_set1_ps(0.5f);
    for (int64_t c = 0; c < C; c++)
        for (int64_t o = 0; o < O; o += 16) {
            const __mmask16 m = lane_mask(O - o);
            __m512 g[3][3], u[4][3];
            UNROLL for (int k = 0; k < 9; k++)
                g[k / 3][k % 3] = _mm512_maskz_loadu_ps(m, w + (k * C + c) * O + o);
            UNROLL for (int j = 0; j < 3; j++) {
                const __m512 s = _mm512_add_ps(g[0][j], g[2][j]);
                u[0][j] = g[0][j];
                u[1][j] = _mm512_mul_ps(half, _mm512_add_ps(s, g[1][j]));
                u[2][j] = _mm512_mul_ps(half, _mm512_sub_ps(s, g[1][j]));
                u[3][j] = g[2][j];
            }
            UNROLL for (int i = 0; i < 4; i++) {
                const __m512 s = _mm512_add_ps(u[i][0], u[i][2]);
                const __m512 v[4] = {u[i][0], _mm512_mul_ps(half, _mm512_add_ps(s, u[i][1])),
                                     _mm512_mul_ps(half, _mm512_sub_ps(s, u[i][1])), u[i][2]};
                UNROLL for (int j = 0; j < 4; j++)
                    _mm512_mask_storeu_ps(U + (i * 4 + j) * plane + c * O + o, m, v[j]);
            }
        }
}

/* Position of a tile: image (with D folded in) and tile row / column. */
typedef struct {
    int64_t nd, ty, tx;
} wtile_t;

/* V[xi] row (v + xi * ldv) of one tile: B^T d B of its 4x4 input block (zero outside the
 * input); B^T's rows are (1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1). */
static TGT void input_transform(const geom_t *t, const float *x, wtile_t p, float *v,
                                int64_t ldv) {
    const int64_t C = t->c, H = t->in[1], W = t->in[2];
    const int64_t iy0 = 2 * p.ty - t->p[1], ix0 = 2 * p.tx - t->p[2];
    const float *xn = x + p.nd * H * W * C;
    const float *src[4][4];
    UNROLL for (int i = 0; i < 4; i++) {
        UNROLL for (int j = 0; j < 4; j++) {
            const int64_t iy = iy0 + i, ix = ix0 + j;
            src[i][j] = iy >= 0 && iy < H && ix >= 0 && ix < W ? xn + (iy * W + ix) * C : NULL;
        }
    }
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = lane_mask(C - c);
        __m512 d[4][4], r[4][4];
        UNROLL for (int i = 0; i < 4; i++) {
            UNROLL for (int j = 0; j < 4; j++)
                d[i][j] = src[i][j] ? _mm512_maskz_loadu_ps(m, src[i][j] + c) : _mm512_setzero_ps();
        }
        UNROLL for (int j = 0; j < 4; j++) {
            r[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
            r[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
            r[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
            r[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
        }
        UNROLL for (int i = 0; i < 4; i++) {
            const __m512 q[4] = {_mm512_sub_ps(r[i][0], r[i][2]), _mm512_add_ps(r[i][1], r[i][2]),
                                 _mm512_sub_ps(r[i][2], r[i][1]), _mm512_sub_ps(r[i][1], r[i][3])};
            UNROLL for (int j = 0; j < 4; j++)
                _mm512_mask_storeu_ps(v + (i * 4 + j) * ldv + c, m, q[j]);
        }
    }
}

/* Output of one tile for columns [o0, o1): A^T M A (A^T's rows (1, 1, 1, 0) and
 * (0, 1, -1, -1)), the epilogue, and the store of the 2x2 block (its in-bounds part) or
 * of its maximum at the pooled position. mt + xi * ldm is the tile's M[xi] row. */
static TGT void output_transform(const geom_t *t, const float *mt, int64_t ldm, wtile_t p,
                                 int64_t o0, int64_t o1, const gn_epilogue *e, int pool,
                                 float *y) {
    const int64_t O = t->o, OH = t->out[1], OW = t->out[2];
    const int relu = e->act == GN_U_RELU, other = !relu && e->act != GN_U_COPY;
    const int64_t oy = 2 * p.ty, ox = 2 * p.tx;
    const int in[2][2] = {{1, ox + 1 < OW}, {oy + 1 < OH, oy + 1 < OH && ox + 1 < OW}};
    float *yb = pool ? y + ((p.nd * (OH / 2) + p.ty) * (OW / 2) + p.tx) * O
                     : y + ((p.nd * OH + oy) * OW + ox) * O;
    const float *rb = e->res ? e->res + ((p.nd * OH + oy) * OW + ox) * e->ldr : NULL;
    for (int64_t o = o0; o < o1; o += 16) {
        const __mmask16 m = lane_mask(o1 - o);
        __m512 q[2][4], out[2][2];
        __m512 mm[16];
        UNROLL for (int xi = 0; xi < 16; xi++) mm[xi] = _mm512_maskz_loadu_ps(m, mt + xi * ldm + o);
        UNROLL for (int j = 0; j < 4; j++) {
            q[0][j] = _mm512_add_ps(_mm512_add_ps(mm[j], mm[4 + j]), mm[8 + j]);
            q[1][j] = _mm512_sub_ps(_mm512_sub_ps(mm[4 + j], mm[8 + j]), mm[12 + j]);
        }
        const __m512 b = e->bias ? _mm512_maskz_loadu_ps(m, e->bias + o) : _mm512_setzero_ps();
        UNROLL for (int a = 0; a < 2; a++) {
            out[a][0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(q[a][0], q[a][1]), q[a][2]), b);
            out[a][1] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(q[a][1], q[a][2]), q[a][3]), b);
            UNROLL for (int c = 0; c < 2; c++) {
                if (rb && in[a][c])
                    out[a][c] = _mm512_add_ps(out[a][c], _mm512_maskz_loadu_ps(
                        m, rb + (a * OW + c) * e->ldr + o));
                if (relu) out[a][c] = _mm512_max_ps(_mm512_setzero_ps(), out[a][c]);
            }
        }
        if (other) { /* the activation on the four vectors, through the stack */
            float tmp[64];
            UNROLL for (int k = 0; k < 4; k++) _mm512_storeu_ps(tmp + 16 * k, out[k / 2][k % 2]);
            gn_unary(e->act, 64, tmp, tmp, e->alpha, e->beta);
            UNROLL for (int k = 0; k < 4; k++) out[k / 2][k % 2] = _mm512_loadu_ps(tmp + 16 * k);
        }
        if (pool) { /* a later output replaces the maximum only where greater */
            __m512 mx = out[0][0];
            mx = _mm512_max_ps(out[0][1], mx);
            mx = _mm512_max_ps(out[1][0], mx);
            mx = _mm512_max_ps(out[1][1], mx);
            _mm512_mask_storeu_ps(yb + o, m, mx);
            continue;
        }
        UNROLL for (int a = 0; a < 2; a++) {
            UNROLL for (int c = 0; c < 2; c++)
                if (in[a][c]) _mm512_mask_storeu_ps(yb + (a * OW + c) * O + o, m, out[a][c]);
        }
    }
}

typedef struct {
    const geom_t *t;
    const float *x, *U;
    float *y, *work;
    const gn_epilogue *e;
    gn_tile_fn tile;
    int R, pool;
    int64_t nr, th, tw, tiles, groups, ob, otiles, chunk, nchunks, scratch;
    int64_t next; /* next work item (atomic) */
} wino_task_t;

/* Work items (column block, chunk of tile groups) taken dynamically, as in the direct
 * path. Per group: the R tiles' V, then for each xi and column tile the product, then the
 * output transform of the block's columns. */
static void wino_task(void *arg, int tid, int nt) {
    wino_task_t *d = arg;
    const geom_t *t = d->t;
    const int R = d->R;
    const int64_t C = t->c, O = t->o, cols = d->ob * d->nr, plane = wino_plane(t);
    const int64_t items = (d->otiles + d->ob - 1) / d->ob * d->nchunks;
    float *V = d->work + tid * d->scratch, *M = V + 16 * R * C;
    const float *tab[16 * 12];
    const gn_tile_epi plain = {NULL, NULL, 0, GN_U_COPY, 0.0f, 0.0f, 0};
    wtile_t pos[12];
    (void)nt;
    for (int xi = 0; xi < 16; xi++)
        for (int r = 0; r < R; r++) tab[xi * R + r] = V + (xi * R + r) * C;
    for (int64_t item; (item = __atomic_fetch_add(&d->next, 1, __ATOMIC_RELAXED)) < items;) {
        const int64_t oc0 = item / d->nchunks * cols;
        const int64_t oc1 = oc0 + cols < O ? oc0 + cols : O;
        const int64_t g0 = item % d->nchunks * d->chunk;
        const int64_t g1 = g0 + d->chunk < d->groups ? g0 + d->chunk : d->groups;
        /* the first tile's position, then stepped tile by tile */
        wtile_t p = {g0 * R / (d->th * d->tw), g0 * R / d->tw % d->th, g0 * R % d->tw};
        for (int64_t g = g0; g < g1; g++) {
            const int mr = d->tiles - g * R < R ? (int)(d->tiles - g * R) : R;
            for (int r = 0; r < mr; r++) {
                pos[r] = p;
                input_transform(t, d->x, p, V + r * C, R * C);
                if (++p.tx == d->tw) {
                    p.tx = 0;
                    if (++p.ty == d->th) p.ty = 0, p.nd++;
                }
            }
            for (int xi = 0; xi < 16 && mr < R; xi++) /* the last group: rows past mr */
                for (int r = mr; r < R; r++) tab[xi * R + r] = tab[xi * R];
            for (int xi = 0; xi < 16; xi++)
                for (int64_t o = oc0; o < oc1; o += d->nr) {
                    const int nr = oc1 - o < d->nr ? (int)(oc1 - o) : (int)d->nr;
                    d->tile(1, C, tab + xi * R, NULL, d->U + xi * plane + o, O,
                            M + xi * R * cols + (o - oc0), cols, mr, nr, &plain);
                }
            for (int r = 0; r < mr; r++)
                output_transform(t, M + r * cols - oc0, R * cols, pos[r], oc0, oc1, d->e,
                                 d->pool, d->y);
            for (int xi = 0; xi < 16 && mr < R; xi++)
                for (int r = mr; r < R; r++) tab[xi * R + r] = V + (xi * R + r) * C;
        }
    }
}

int gn_conv_winograd_forward(const geom_t *t, const int64_t *win, const float *x,
                             const float *w, float *y, const gn_epilogue *e, float *work,
                             int64_t work_len) {
    const int pool = win != NULL;
    if (!wino_applies(t) || (pool && (win[0] != 1 || win[1] != 2 || win[2] != 2 || e->res)) ||
        (e->res && e->ldr != t->o))
        return 0;
    const int64_t scratch = wino_scratch(t), ufloats = 16 * wino_plane(t);
    int nt = gn_get_num_threads();
    if (work_len - ufloats < nt * scratch) nt = (int)((work_len - ufloats) / scratch);
    if (nt < 1) return 0;
    /* tiles: every 2x2 output block, or only the whole pooling windows */
    const int64_t th = pool ? t->out[1] / 2 : (t->out[1] + 1) / 2;
    const int64_t tw = pool ? t->out[2] / 2 : (t->out[2] + 1) / 2;
    const int64_t tiles = t->n * t->out[0] * th * tw;
    if (tiles <= 0) return 1;
    int R;
    const int64_t nr = wino_nr(t);
    const gn_tile_fn tile = gn_conv_tile_kernel(0, (int)nr, &R);
    const int64_t groups = (tiles + R - 1) / R, otiles = (t->o + nr - 1) / nr, ob = wino_ob(t);
    filter_transform(t, w, work);
    if ((double)tiles * 16.0 * (double)(t->c * t->o) < 2.0 * GN_PAR_MIN_CONV) nt = 1;
    if (nt > groups) nt = (int)groups;
    int64_t chunk = groups / (16 * (int64_t)nt);
    if (chunk < 1) chunk = 1;
    wino_task_t task = {t, x, work, y, work + ufloats, e, tile, R, pool, nr, th, tw, tiles,
                        groups, ob, otiles, chunk, (groups + chunk - 1) / chunk, scratch, 0};
    gn_parallel(nt, wino_task, &task);
    return 1;
}
#else
int gn_conv_winograd_forward(const geom_t *t, const int64_t *win, const float *x,
                             const float *w, float *y, const gn_epilogue *e, float *work,
                             int64_t work_len) {
    (void)t, (void)win, (void)x, (void)w, (void)y, (void)e, (void)work, (void)work_len;
    return 0;
}
#endif
