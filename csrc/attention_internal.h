/* Pieces shared by the fused attention forward (attention.c) and backward
 * (attention_backward.c): the problem, its tiling over the GEMM micro-kernel, masking.
 *
 * Both work on transposed score tiles: a tile holds a block of keys as rows and NR
 * queries as columns (S^T = K Q^T), so each micro-kernel call writes MR keys x NR
 * queries, the per-query softmax statistics are vector lanes, and the tile itself is the
 * packed k x NR operand of the next product (O^T += V^T P^T). Operands are packed once
 * per block by the GEMM's own packers, which zero-pad the edges; every call is a full
 * register tile. */
#ifndef GN_ATTENTION_INTERNAL_H
#define GN_ATTENTION_INTERNAL_H
#include <stdint.h>
#include "gemm/gemm_internal.h"
#include "kernel_util.h"

/* Keys per block, in register tiles of MR keys (96 with AVX-512). */
#define ATT_KEY_TILES 8

typedef struct {
    int64_t b, t, s, n, h, hv;
    const float *q, *k, *v;
    const uint8_t *mask;
    const int64_t *ms; /* mask strides over (b, n, t, s), elements, 0 broadcasts */
    int causal;
    float scale;
} attention_problem_t;

GN_INLINE int64_t att_min(int64_t x, int64_t y) { return x < y ? x : y; }
GN_INLINE int64_t att_round_up(int64_t x, int64_t y) { return (x + y - 1) / y * y; }

/* Floats of an aligned scratch block and the block (64-byte aligned) inside `raw`. */
GN_INLINE float *att_aligned(void *raw) {
    return (float *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
}

/* Sets `value` at the left-out positions of a transposed tile (keys c0.. as rows of
 * stride ld, queries t0.. as columns): the mask's zeros and, causal, keys after the
 * query. Without a mask only the causal tiles that cross the diagonal are touched. */
GN_INLINE void att_mask_tile(const attention_problem_t *a, int64_t bi, int64_t nh, int64_t t0,
                             int64_t nq, int64_t c0, int64_t kc, float *tile, int64_t ld,
                             float value) {
    if (a->mask) {
        for (int64_t i = 0; i < nq; i++) {
            const uint8_t *m = a->mask + bi * a->ms[0] + nh * a->ms[1] + (t0 + i) * a->ms[2];
            for (int64_t j = 0; j < kc; j++)
                if (!m[(c0 + j) * a->ms[3]] || (a->causal && c0 + j > t0 + i))
                    tile[j * ld + i] = value;
        }
    } else if (a->causal && c0 + kc - 1 > t0) {
        for (int64_t j = 0; j < kc; j++) /* key c0 + j is seen from query c0 + j on */
            for (int64_t i = 0; i < att_min(nq, c0 + j - t0); i++) tile[j * ld + i] = value;
    }
}

/* The keys a query block [t0, t0 + nq) can see at all: causal without a mask stops at
 * the block's last query (later keys are left out of every row; a mask may leave a row
 * out everywhere, and such a row averages every value, so then all keys are swept). */
GN_INLINE int64_t att_key_end(const attention_problem_t *a, int64_t t0, int64_t nq) {
    return a->causal && !a->mask ? att_min(a->s, t0 + nq) : a->s;
}

#if defined(__x86_64__)
#include <immintrin.h>
#define ATT_AVX512 __attribute__((target("avx512f")))

/* Whether the AVX-512 tile loops apply: that ISA's 32-query tiles (two vectors a row). */
GN_INLINE int att_avx512_tiles(int64_t nr) { return gn_current_isa() == GN_ISA_AVX512 && nr == 32; }

/* exp(x) for x <= ~0 (a logit minus its row's maximum): gn_vexpf's reduction and
 * polynomial in fused multiply-adds (the -std=c99 build never contracts the portable
 * one), 2^n applied by vscalefps; below -104 it is 0 (or one denormal), NaN stays NaN. */
static inline ATT_AVX512 __attribute__((always_inline)) __m512 att_exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x); /* NaN: the second operand */
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}
#else
GN_INLINE int att_avx512_tiles(int64_t nr) { (void)nr; return 0; }
#endif

#endif
