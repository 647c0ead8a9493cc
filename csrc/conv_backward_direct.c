/* Direct filter gradient (AVX-512): dw = sum over output positions q of the outer product
 * of the input window of q with dy[q], accumulated in registers, with nothing the size of
 * the im2col matrix ever written.
 *
 * The rows of dw, (tap, channel) pairs, are cut into `nseg` segments of `len` rows that
 * are contiguous in the input for every q (as in the direct forward, conv.c): with
 * groups == 1 and no W dilation a segment is a whole (kd, kh) row of KW taps x C
 * channels, otherwise one tap's cg channels. For a block of QB positions a table holds
 * each segment's pointer per position (into x, a zero buffer in the padding, or a
 * scratch copy of a segment that straddles the W padding); a tile of MR rows x NV*16
 * columns of dw then runs down the block: per position, MR broadcasts of the input, NV
 * loads of dy and MR*NV FMAs. Threads take blocks of positions dynamically, each into
 * its own dw (thread 0 into dw itself, the others into partials in the workspace),
 * summed at the end. */
#include "conv_internal.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define GN_TGT512 __attribute__((target("avx512f,avx2,fma")))

/* Positions per block: dy's block (QB x O) stays in L1 / L2 while the tiles run over it. */
#define GN_DWD_QB 192
#define GN_DWD_MR 12

/* dw[r, 0 .. nr) += sum_q tab[q][l0 + r] * dy[q * ldy + 0 .. nr), for r < MR (MR, NV
 * constants: the unused accumulators and branches fold away, the rest are registers). */
#define DW_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DW_ZERO(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define DW_FMA(r)                                                \
    if (MR > r) {                                                \
        const __m512 a = _mm512_set1_ps(p[r]);                   \
        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);               \
        if (NV > 1) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);   \
    }
#define DW_STORE(r)                                                                       \
    if (MR > r) {                                                                         \
        float *d = dw + r * ldw;                                                          \
        _mm512_mask_storeu_ps(d, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, d), c##r##0)); \
        if (NV > 1)                                                                       \
            _mm512_mask_storeu_ps(d + 16, m1,                                             \
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m1, d + 16), c##r##1)); \
    }
GN_TGT512 static inline __attribute__((always_inline)) void
dw_tile(const int MR, const int NV, int64_t nq, const float *const *tab, int64_t l0,
        const float *dy, int64_t ldy, float *dw, int64_t ldw, int nr) {
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF
                         : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
    DW_ROWS(DW_ZERO)
    for (int64_t q = 0; q < nq; q++, dy += ldy) {
        const float *p = tab[q] + l0;
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, dy);
        const __m512 b1 = NV > 1 ? _mm512_maskz_loadu_ps(m1, dy + 16) : b0;
        DW_ROWS(DW_FMA)
    }
    DW_ROWS(DW_STORE)
}

typedef void (*dw_fn)(int64_t, const float *const *, int64_t, const float *, int64_t, float *,
                      int64_t, int);
#define DW_FN(MR, NV)                                                                         \
    GN_TGT512 static void dw_##MR##x##NV(int64_t nq, const float *const *tab, int64_t l0,     \
                                         const float *dy, int64_t ldy, float *dw, int64_t ldw, \
                                         int nr) {                                            \
        dw_tile(MR, NV, nq, tab, l0, dy, ldy, dw, ldw, nr);                                   \
    }
#define DW_FNS(NV) DW_FN(1, NV) DW_FN(2, NV) DW_FN(3, NV) DW_FN(4, NV) DW_FN(5, NV) DW_FN(6, NV) \
    DW_FN(7, NV) DW_FN(8, NV) DW_FN(9, NV) DW_FN(10, NV) DW_FN(11, NV) DW_FN(12, NV)
DW_FNS(1)
DW_FNS(2)
/* dw_fns[NV - 1][MR - 1] */
static const dw_fn dw_fns[2][GN_DWD_MR] = {
    {dw_1x1, dw_2x1, dw_3x1, dw_4x1, dw_5x1, dw_6x1, dw_7x1, dw_8x1, dw_9x1, dw_10x1, dw_11x1,
     dw_12x1},
    {dw_1x2, dw_2x2, dw_3x2, dw_4x2, dw_5x2, dw_6x2, dw_7x2, dw_8x2, dw_9x2, dw_10x2, dw_11x2,
     dw_12x2}};

/* Whether a (kd, kh) row of KW taps is one contiguous segment of the input. */
static int rows_segments(const geom_t *t) { return t->groups == 1 && t->d[2] == 1; }

typedef struct {
    const geom_t *t;
    const float *x, *dy;
    float *dw, *work; /* nt - 1 partial dw, then (segments straddling the W padding) a
                       * scratch of nseg * qb * len floats per thread */
    int straddle; /* segments straddle the W padding (scratch copies needed) */
    int64_t nseg, len, qb, rows, blocks;
    int64_t next; /* next block (atomic) */
} dwd_task_t;

/* tab[sg * qb + i] for positions q0 .. q0 + nq - 1 of group j. */
static void dwd_table(const dwd_task_t *d, int64_t j, int64_t q0, int64_t nq, const float **tab,
                      const float *zero, float *scratch, int64_t *src) {
    const geom_t *t = d->t;
    const int64_t C = t->c, qb = d->qb, len = d->len;
    if (!rows_segments(t)) {
        for (int64_t i = 0; i < nq; i++) {
            const int64_t g = q0 + i;
            const float *xn = d->x + g / t->pout * t->pin * C + j * t->cg;
            window_taps(t, g % t->pout, src);
            for (int64_t kk = 0; kk < t->kvol; kk++)
                tab[kk * qb + i] = src[kk] < 0 ? zero : xn + src[kk] * C;
        }
        return;
    }
    int64_t n = q0 / t->pout, q = q0 % t->pout;
    int64_t ow = q % t->out[2], oh = q / t->out[2] % t->out[1], od = q / (t->out[2] * t->out[1]);
    for (int64_t i = 0; i < nq; i++) {
        if (i > 0 && ++ow == t->out[2]) {
            ow = 0;
            if (++oh == t->out[1]) {
                oh = 0;
                if (++od == t->out[0]) od = 0, n++;
            }
        }
        const int64_t d0 = od * t->s[0] - t->p[0], h0 = oh * t->s[1] - t->p[1];
        const int64_t w0 = ow * t->s[2] - t->p[2];
        const float *xn = d->x + n * t->pin * C;
        window_segments(t, xn, d0, h0, w0, zero, scratch + i * len, tab + i, qb);
    }
}

static void dwd_run(void *arg, int tid, int nt) {
    dwd_task_t *d = arg;
    const geom_t *t = d->t;
    const int64_t og = t->og, O = t->o, wsize = filter_size(t), len = d->len, qb = d->qb;
    const int NV = og > 16 ? 2 : 1, NR = 16 * NV;
    float *mine = tid == 0 ? d->dw : d->work + (tid - 1) * wsize;
    float *scratch = d->straddle ? d->work + (nt - 1) * wsize + tid * d->nseg * qb * len : NULL;
    const float **tab = malloc(sizeof(float *) * (size_t)(d->nseg * qb));
    float *zero = calloc((size_t)len, sizeof(float));
    int64_t *src = malloc(sizeof(int64_t) * (size_t)t->kvol);
    memset(mine, 0, sizeof(float) * (size_t)wsize);
    if (!tab || !zero || !src) { /* no thread takes another block; on to the barrier */
        gn_note_no_memory();
        __atomic_store_n(&d->next, d->blocks, __ATOMIC_RELAXED);
    }
    for (int64_t b; (b = __atomic_fetch_add(&d->next, 1, __ATOMIC_RELAXED)) < d->blocks;) {
        const int64_t q0 = b * qb, nq = d->rows - q0 < qb ? d->rows - q0 : qb;
        for (int64_t j = 0; j < t->groups; j++) {
            dwd_table(d, j, q0, nq, tab, zero, scratch, src);
            const float *dyj = d->dy + q0 * O + j * og;
            for (int64_t sg = 0; sg < d->nseg; sg++)
                for (int64_t l0 = 0; l0 < len; l0 += GN_DWD_MR) {
                    const int mr = len - l0 < GN_DWD_MR ? (int)(len - l0) : GN_DWD_MR;
                    float *dwr = mine + (sg * len + l0) * O + j * og;
                    for (int64_t o0 = 0; o0 < og; o0 += NR)
                        dw_fns[NV - 1][mr - 1](nq, tab + sg * qb, l0, dyj + o0, O, dwr + o0, O,
                                               og - o0 < NR ? (int)(og - o0) : NR);
                }
        }
    }
    free(tab);
    free(zero);
    free(src);
    gn_barrier(nt);
    float *dw = d->dw;
    for (int64_t i = wsize * tid / nt, end = wsize * (tid + 1) / nt; i < end; i++) {
        float acc = dw[i];
        for (int k = 1; k < nt; k++) acc += d->work[(k - 1) * wsize + i];
        dw[i] = acc;
    }
}

int gn_conv_backward_filter_direct(const geom_t *t, const float *x, const float *dy, float *dw,
                                   float *work, int64_t work_len) {
    if (gn_current_isa() != GN_ISA_AVX512 || is_depthwise(t)) return 0;
    const int rs = rows_segments(t);
    const int64_t nseg = rs ? t->k[0] * t->k[1] : t->kvol, len = rs ? t->k[2] * t->c : t->cg;
    /* segments straddle the W padding: on the left, or past the right edge */
    const int straddle = rs && (t->p[2] > 0 || (t->out[2] - 1) * t->s[2] - t->p[2] + t->k[2] >
                                                   t->in[2]);
    const int64_t rows = t->n * t->pout, wsize = filter_size(t);
    const double flops = 2.0 * (double)rows * (double)(wsize);
    int nt = flops < 4.0 * GN_PAR_MIN_CONV ? 1 : gn_get_num_threads();
    int64_t qb = GN_DWD_QB < rows ? GN_DWD_QB : rows;
    for (; nt >= 1; nt--) { /* the partials and (rows mode) each thread's scratch must fit */
        const int64_t left = work_len - (nt - 1) * wsize;
        if (left < 0) continue;
        if (!straddle) break;
        const int64_t fit = left / (nt * nseg * len);
        if (fit >= 16 || fit >= qb) {
            qb = fit < qb ? fit : qb;
            break;
        }
    }
    if (nt < 1) return 0;
    const int64_t blocks = (rows + qb - 1) / qb;
    if (nt > blocks) nt = (int)blocks;
    dwd_task_t task = {t, x, dy, dw, work, straddle, nseg, len, qb, rows, blocks, 0};
    gn_parallel(nt, dwd_run, &task);
    return 1;
}
#else
int gn_conv_backward_filter_direct(const geom_t *t, const float *x, const float *dy, float *dw,
                                   float *work, int64_t work_len) {
    (void)t, (void)x, (void)dy, (void)dw, (void)work, (void)work_len;
    return 0;
}
#endif
