/* Gather rows by index and its gradient, the scatter-add (GN_K_GATHER, GN_K_SCATTER_ADD).
 *
 * Over an (outer, n, inner) view of the table: a negative index counts from the end, as
 * in NumPy and Keras; an index outside [-n, n) is never dereferenced. With empty rows
 * (inner 0) only the indices are checked: no loop runs over `outer`, which no buffer then
 * bounds (the plan fuzzer's GATHER of outer 2^63 - 1, inner 0 ran for ever). */
#include <string.h>
#include "graphnet.h"

/* Index j of an int32 or int64 array, made non-negative; -1 when outside [-n, n). */
static int64_t row_of(int index_dtype, const void *indices, int64_t j, int64_t n) {
    int64_t r = index_dtype == GN_I32 ? (int64_t)((const int32_t *)indices)[j]
                                      : ((const int64_t *)indices)[j];
    if (r < 0) r += n;
    return r >= 0 && r < n ? r : -1;
}

int gn_gather(int index_dtype, int elem_size, int64_t outer, int64_t n, int64_t inner,
              int64_t m, const void *indices, const void *x, void *y) {
    const size_t row = (size_t)inner * (size_t)elem_size;
    int bad = 0;
    for (int64_t j = 0; j < m; j++) {
        const int64_t r = row_of(index_dtype, indices, j, n);
        bad |= r < 0;
        for (int64_t o = 0; row && o < outer; o++) {
            char *dst = (char *)y + ((size_t)o * (size_t)m + (size_t)j) * row;
            if (r < 0)
                memset(dst, 0, row);
            else
                memcpy(dst, (const char *)x + ((size_t)o * (size_t)n + (size_t)r) * row, row);
        }
    }
    return bad ? GN_ERR_INDEX : GN_OK;
}

int gn_scatter_add(int index_dtype, int64_t outer, int64_t n, int64_t inner, int64_t m,
                   const void *indices, const float *dy, float *dx) {
    int bad = 0;
    memset(dx, 0, sizeof(float) * (size_t)(outer * n * inner));
    for (int64_t j = 0; j < m; j++) {
        const int64_t r = row_of(index_dtype, indices, j, n);
        if (r < 0) {
            bad = 1;
            continue;
        }
        for (int64_t o = 0; inner > 0 && o < outer; o++) {
            const float *src = dy + (o * m + j) * inner;
            float *dst = dx + (o * n + r) * inner;
            for (int64_t c = 0; c < inner; c++) dst[c] += src[c];
        }
    }
    return bad ? GN_ERR_INDEX : GN_OK;
}
