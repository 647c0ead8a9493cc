/* Packing: copy blocks of op(A) and op(B) into the contiguous micro-panel order
 * the micro-kernels stream, zero-padding partial panels so one kernel serves all
 * sizes. Transposes are honoured here, so no transposed copy is ever made. */
#include <string.h>
#include "gemm_internal.h"

/* Copy n floats and zero the rest of a w-wide row; w constant in the hot calls. */
static inline void copy_pad(float *dst, const float *src, int n, int w) {
    int j = 0;
    for (; j < n; j++) dst[j] = src[j];
    for (; j < w; j++) dst[j] = 0.0f;
}

void gn_sgemm_pack_a(int transa, int64_t mc, int64_t kc, const float *a, int64_t lda, int mr,
                     float *ap) {
    for (int64_t i0 = 0; i0 < mc; i0 += mr, ap += mr * kc) {
        const int rows = (int)(mc - i0 < mr ? mc - i0 : mr);
        if (transa) { /* A stored k x m: each k step is mr contiguous floats */
            const float *src = a + i0;
            for (int64_t p = 0; p < kc; p++, src += lda) copy_pad(ap + p * mr, src, rows, mr);
        } else {      /* A stored m x k: scatter each row into column i of the panel */
            for (int i = 0; i < rows; i++) {
                const float *src = a + (i0 + i) * lda;
                float *dst = ap + i;
                for (int64_t p = 0; p < kc; p++) dst[p * mr] = src[p];
            }
            for (int i = rows; i < mr; i++)
                for (int64_t p = 0; p < kc; p++) ap[p * mr + i] = 0.0f;
        }
    }
}

void gn_sgemm_pack_b(int transb, int64_t kc, int64_t nc, const float *b, int64_t ldb, int nr,
                     float *bp) {
    for (int64_t j0 = 0; j0 < nc; j0 += nr, bp += nr * kc) {
        const int cols = (int)(nc - j0 < nr ? nc - j0 : nr);
        if (!transb) { /* B stored k x n: each k step is a contiguous row piece */
            const float *src = b + j0;
            if (cols == 16 && nr == 16) { /* the AVX2 panel */
                for (int64_t p = 0; p < kc; p++, src += ldb) memcpy(bp + p * 16, src, 16 * 4);
            } else {
                for (int64_t p = 0; p < kc; p++, src += ldb) copy_pad(bp + p * nr, src, cols, nr);
            }
        } else {       /* B stored n x k: scatter each row of storage into column j */
            for (int j = 0; j < cols; j++) {
                const float *src = b + (j0 + j) * ldb;
                float *dst = bp + j;
                for (int64_t p = 0; p < kc; p++) dst[p * nr] = src[p];
            }
            for (int j = cols; j < nr; j++)
                for (int64_t p = 0; p < kc; p++) bp[p * nr + j] = 0.0f;
        }
    }
}

/* ---- AVX-512 packers for the 12 x 32 kernel: 16 x 16 register transposes ---- */
#if defined(__x86_64__)
#include <immintrin.h>
#define TGT __attribute__((target("avx512f")))

/* In place: r[j] lane i becomes old r[i] lane j. */
static TGT inline void transpose16(__m512 r[16]) {
    __m512 t[16], s[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) { /* s[4g+q], 128-bit lane L: column 4L+q, rows 4g..4g+3 */
        s[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        s[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        s[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        s[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int q = 0; q < 4; q++) {
        const __m512 v1 = _mm512_shuffle_f32x4(s[q], s[4 + q], 0x44);
        const __m512 v2 = _mm512_shuffle_f32x4(s[q], s[4 + q], 0xEE);
        const __m512 w1 = _mm512_shuffle_f32x4(s[8 + q], s[12 + q], 0x44);
        const __m512 w2 = _mm512_shuffle_f32x4(s[8 + q], s[12 + q], 0xEE);
        r[q] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[4 + q] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
        r[8 + q] = _mm512_shuffle_f32x4(v2, w2, 0x88);
        r[12 + q] = _mm512_shuffle_f32x4(v2, w2, 0xDD);
    }
}

/* Load `rows` rows of 16 (or `n` under a mask) floats, rows ld apart; zeros after `rows`. */
static TGT inline void load_rows(__m512 r[16], const float *src, int64_t ld, int rows, int n) {
    const __mmask16 m = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1u);
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld) : _mm512_setzero_ps();
}

TGT void gn_sgemm_pack_a_avx512(int transa, int64_t mc, int64_t kc, const float *a,
                                int64_t lda, int mr, float *ap) {
    if (mr != 12) {
        gn_sgemm_pack_a(transa, mc, kc, a, lda, mr, ap);
        return;
    }
    const __mmask16 m12 = 0x0FFF;
    for (int64_t i0 = 0; i0 < mc; i0 += 12, ap += 12 * kc) {
        const int rows = (int)(mc - i0 < 12 ? mc - i0 : 12); /* the last panel: zero rows */
        if (transa) { /* 12 contiguous floats per k step */
            const __mmask16 live = (__mmask16)((1u << rows) - 1u);
            const float *src = a + i0;
            for (int64_t p = 0; p < kc; p++, src += lda)
                _mm512_mask_storeu_ps(ap + p * 12, m12, _mm512_maskz_loadu_ps(live, src));
        } else {      /* 12 rows x 16 k steps per transpose */
            const float *src = a + i0 * lda;
            for (int64_t p0 = 0; p0 < kc; p0 += 16) {
                const int n = (int)(kc - p0 < 16 ? kc - p0 : 16);
                __m512 r[16];
                load_rows(r, src + p0, lda, rows, n);
                transpose16(r);
                float *dst = ap + p0 * 12;
                /* full stores overlap: each one's 4 spare (zero) lanes are rewritten by
                 * the next; the last is masked to stay inside the panel */
                for (int q = 0; q < n - 1; q++) _mm512_storeu_ps(dst + q * 12, r[q]);
                _mm512_mask_storeu_ps(dst + (n - 1) * 12, m12, r[n - 1]);
            }
        }
    }
}

TGT void gn_sgemm_pack_b_avx512(int transb, int64_t kc, int64_t nc, const float *b,
                                int64_t ldb, int nr, float *bp) {
    if (nr != 32) {
        gn_sgemm_pack_b(transb, kc, nc, b, ldb, nr, bp);
        return;
    }
    const int64_t full = nc / 32; /* complete panels */
    if (!transb) { /* 4 rows at a time, panel by panel: few streams, none aliasing */
        for (int64_t p0 = 0; p0 < kc; p0 += 4) {
            const int64_t p1 = p0 + 4 < kc ? p0 + 4 : kc;
            for (int64_t q = 0; q < full; q++) {
                const float *src = b + p0 * ldb + q * 32;
                float *dst = bp + q * 32 * kc + p0 * 32;
                for (int64_t p = p0; p < p1; p++, src += ldb, dst += 32) {
                    _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
                    _mm512_storeu_ps(dst + 16, _mm512_loadu_ps(src + 16));
                }
            }
        }
    } else {                      /* 32 rows of storage x 16 k steps: two transposes */
        for (int64_t q = 0; q < full; q++) {
            const float *src = b + q * 32 * ldb;
            float *dst = bp + q * 32 * kc;
            for (int64_t p0 = 0; p0 < kc; p0 += 16) {
                const int n = (int)(kc - p0 < 16 ? kc - p0 : 16);
                __m512 lo[16], hi[16];
                load_rows(lo, src + p0, ldb, 16, n);
                load_rows(hi, src + 16 * ldb + p0, ldb, 16, n);
                transpose16(lo);
                transpose16(hi);
                for (int i = 0; i < n; i++) {
                    _mm512_storeu_ps(dst + (p0 + i) * 32, lo[i]);
                    _mm512_storeu_ps(dst + (p0 + i) * 32 + 16, hi[i]);
                }
            }
        }
    }
    if (full * 32 < nc)
        gn_sgemm_pack_b(transb, kc, nc - full * 32, transb ? b + full * 32 * ldb : b + full * 32,
                        ldb, nr, bp + full * 32 * kc);
}
#endif
