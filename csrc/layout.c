/* Layout kernels: N-d strided copy (transpose, slice, broadcast) and dtype casts. */
#include "kernel_util.h"
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

int gn_dtype_size(int dtype) {
    switch (dtype) {
    case GN_F32: case GN_I32: return 4;
    case GN_F64: case GN_I64: return 8;
    case GN_U8: case GN_BOOL: case GN_I8: return 1;
    default: return 0;
    }
}

/* ---- strided copy ------------------------------------------------------ */

/* n elements, src stride ss, dst stride ds (elements), for one element size. */
#define COPY_ROW(T)                                                            \
    {                                                                          \
        const T *s = (const T *)src;                                           \
        T *d = (T *)dst;                                                       \
        if (ss == 1 && ds == 1) memmove(d, s, (size_t)n * sizeof(T));          \
        else if (ss == 0) { const T v = s[0]; for (int64_t i = 0; i < n; i++) d[i * ds] = v; } \
        else if (ds == 1) for (int64_t i = 0; i < n; i++) d[i] = s[i * ss];    \
        else for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];            \
        return;                                                                \
    }

static void copy_row(int64_t n, const char *src, int64_t ss, char *dst, int64_t ds, int es) {
    switch (es) {
    case 1: COPY_ROW(uint8_t)
    case 2: COPY_ROW(uint16_t)
    case 4: COPY_ROW(uint32_t)
    case 8: COPY_ROW(uint64_t)
    default:
        for (int64_t i = 0; i < n; i++) memcpy(dst + i * ds * es, src + i * ss * es, (size_t)es);
    }
}
#undef COPY_ROW

/* Flat elements [lo, hi) of the collapsed index space, row by row. */
static void copy_range(int nd, const int64_t *shape, const char *src, const int64_t *ss,
                       char *dst, const int64_t *ds, int es, int64_t lo, int64_t hi) {
    const int64_t inner = shape[nd - 1];
    int64_t idx[nd];
    int64_t rem = lo, so = 0, dof = 0;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
        so += idx[d] * ss[d];
        dof += idx[d] * ds[d];
    }
    int64_t pos = lo;
    while (pos < hi) {
        int64_t len = inner - idx[nd - 1];
        if (len > hi - pos) len = hi - pos;
        copy_row(len, src + so * es, ss[nd - 1], dst + dof * es, ds[nd - 1], es);
        pos += len;
        if (pos >= hi) break;
        so -= idx[nd - 1] * ss[nd - 1];
        dof -= idx[nd - 1] * ds[nd - 1];
        idx[nd - 1] = 0;
        for (int d = nd - 2; d >= 0; d--) {
            so += ss[d];
            dof += ds[d];
            if (++idx[d] < shape[d]) break;
            so -= shape[d] * ss[d];
            dof -= shape[d] * ds[d];
            idx[d] = 0;
        }
    }
}

/* Transpose-like copies (dst contiguous along q, src contiguous along p) go
 * tile by tile so both sides stay in cache. */
#define TILE 32
#define TILE_COPY(T)                                                              \
    {                                                                             \
        const T *s = (const T *)src;                                              \
        T *d = (T *)dst;                                                          \
        for (int64_t i = i0; i < i1; i++)                                         \
            for (int64_t j = j0; j < j1; j++) d[i * dp + j * dq] = s[i * sp + j * sq]; \
        return;                                                                   \
    }

static void copy_tile(const char *src, int64_t sp, int64_t sq, char *dst, int64_t dp, int64_t dq,
                      int64_t i0, int64_t i1, int64_t j0, int64_t j1, int es) {
    switch (es) {
    case 1: TILE_COPY(uint8_t)
    case 2: TILE_COPY(uint16_t)
    case 4: TILE_COPY(uint32_t)
    case 8: TILE_COPY(uint64_t)
    default:
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = j0; j < j1; j++)
                memcpy(dst + (i * dp + j * dq) * es, src + (i * sp + j * sq) * es, (size_t)es);
    }
}
#undef TILE_COPY

/* Tiled copy over dims p and q (q is the dim where dst has stride 1, so the
 * inner loop writes contiguously); every other dim is walked outside. Work
 * item w is (outer index, tile row of p); this does items [w0, w1). */
static void copy_tiled_items(int nd, const int64_t *shape, const char *src, const int64_t *ss,
                             char *dst, const int64_t *ds, int es, int p, int q, int64_t w0,
                             int64_t w1) {
    const int64_t np = shape[p], nq = shape[q], ptiles = (np + TILE - 1) / TILE;
    for (int64_t w = w0; w < w1; w++) {
        int64_t o = w / ptiles, pt = w % ptiles, so = 0, dof = 0;
        for (int d = nd - 1; d >= 0; d--) {
            if (d == p || d == q) continue;
            so += (o % shape[d]) * ss[d];
            dof += (o % shape[d]) * ds[d];
            o /= shape[d];
        }
        int64_t i0 = pt * TILE, i1 = i0 + TILE < np ? i0 + TILE : np;
        for (int64_t j0 = 0; j0 < nq; j0 += TILE)
            copy_tile(src + so * es, ss[p], ss[q], dst + dof * es, ds[p], ds[q], i0, i1, j0,
                      j0 + TILE < nq ? j0 + TILE : nq, es);
    }
}

typedef struct {
    int nd;
    const int64_t *shape;
    const char *src;
    const int64_t *ss;
    char *dst;
    const int64_t *ds;
    int es, p, q;
    int64_t total;
} copy_task_t;

static void copy_tiled_range(void *arg, int64_t lo, int64_t hi, int tid) {
    const copy_task_t *t = arg;
    (void)tid;
    copy_tiled_items(t->nd, t->shape, t->src, t->ss, t->dst, t->ds, t->es, t->p, t->q, lo, hi);
}

static void copy_chunk(void *arg, int tid, int nt) {
    const copy_task_t *t = arg;
    const int64_t lo = gn_chunk(t->total, nt, tid), hi = gn_chunk(t->total, nt, tid + 1);
    if (lo < hi) copy_range(t->nd, t->shape, t->src, t->ss, t->dst, t->ds, t->es, lo, hi);
}

static void copy_tiled(int nd, const int64_t *shape, const char *src, const int64_t *ss,
                       char *dst, const int64_t *ds, int es, int p, int q) {
    int64_t outer = 1;
    for (int d = 0; d < nd; d++)
        if (d != p && d != q) outer *= shape[d];
    const int64_t items = outer * ((shape[p] + TILE - 1) / TILE);
    int64_t nt = gn_team_for((double)outer * (double)shape[p] * (double)shape[q],
                             GN_GRAIN_ELEMENTS);
    if (nt > items) nt = items;
    if (nt <= 1) {
        copy_tiled_items(nd, shape, src, ss, dst, ds, es, p, q, 0, items);
        return;
    }
    copy_task_t task = {nd, shape, src, ss, dst, ds, es, p, q, 0};
    gn_parallel_for((int)nt, items, copy_tiled_range, &task);
}

void gn_strided_copy(int ndim, const int64_t *shape, const void *src,
                     const int64_t *src_strides, void *dst, const int64_t *dst_strides,
                     int elem_size) {
    int64_t cshape[ndim + 1], cstr[2 * ndim + 2];
    const int64_t *strides[2] = {src_strides, dst_strides};
    int nd = gn_collapse(ndim, shape, 2, strides, cshape, cstr);
    if (nd < 0 || elem_size <= 0) return;
    if (nd == 0) { /* memmove, as the rows: a plan may copy a buffer onto itself */
        memmove(dst, src, (size_t)elem_size);
        return;
    }
    const int64_t *ss = cstr, *ds = cstr + ndim;
    int64_t total = 1;
    for (int d = 0; d < nd; d++) total *= cshape[d];
    const int last = nd - 1;
    /* a transpose: the two sides are contiguous along different dims */
    if (nd >= 2 && (ss[last] != 1 || ds[last] != 1) && cshape[last] >= 4) {
        int ps = -1, pd = -1;
        for (int d = 0; d < nd; d++) {
            if (ss[d] == 1) ps = d;
            if (ds[d] == 1) pd = d;
        }
        if (ps >= 0 && pd >= 0 && ps != pd && cshape[ps] >= 4 && cshape[pd] >= 4) {
            copy_tiled(nd, cshape, src, ss, dst, ds, elem_size, ps, pd);
            return;
        }
    }
    const int nt = gn_team_for((double)total, GN_GRAIN_ELEMENTS);
    if (nt <= 1) {
        copy_range(nd, cshape, src, ss, dst, ds, elem_size, 0, total);
        return;
    }
    copy_task_t task = {nd, cshape, src, ss, dst, ds, elem_size, 0, 0, total};
    gn_parallel(nt, copy_chunk, &task);
}

/* ---- cast -------------------------------------------------------------- */

/* float -> int as NumPy does on x86: truncate toward zero; NaN and values out
 * of range give the minimum (the "integer indefinite" of cvttss2si). Narrow
 * integer types wrap from int32, so -1.0 -> uint8 gives 255. */
GN_INLINE int32_t f2i32(double v) {
    return v > -2147483649.0 && v < 2147483648.0 ? (int32_t)v : INT32_MIN;
}
GN_INLINE int64_t f2i64(double v) {
    return v >= -9223372036854775808.0 && v < 9223372036854775808.0 ? (int64_t)v : INT64_MIN;
}
GN_INLINE int32_t f2i32f(float v) {
    return v >= -2147483648.0f && v < 2147483648.0f ? (int32_t)v : INT32_MIN;
}
GN_INLINE int64_t f2i64f(float v) {
    return v >= -9223372036854775808.0f && v < 9223372036854775808.0f ? (int64_t)v : INT64_MIN;
}

#define CAST_LOOP(TS, TD, EXPR)                                         \
    {                                                                   \
        const TS *s = (const TS *)src;                                  \
        TD *d = (TD *)dst;                                              \
        for (int64_t i = 0; i < n; i++) { TS v = s[i]; d[i] = (TD)(EXPR); } \
        return;                                                         \
    }

/* Casts from an integer source type TS (bool is read as 0/1). */
#define CAST_FROM_INT(TS, V)                                   \
    switch (dt) {                                              \
    case GN_F32: CAST_LOOP(TS, float, V)                       \
    case GN_F64: CAST_LOOP(TS, double, V)                      \
    case GN_I32: CAST_LOOP(TS, int32_t, V)                     \
    case GN_I64: CAST_LOOP(TS, int64_t, V)                     \
    case GN_U8: CAST_LOOP(TS, uint8_t, V)                      \
    case GN_I8: CAST_LOOP(TS, int8_t, V)                       \
    case GN_BOOL: CAST_LOOP(TS, uint8_t, v != 0)               \
    default: return;                                           \
    }

/* Casts from a float source type TS; I32/I64 are the conversion helpers. */
#define CAST_FROM_FLOAT(TS, I32, I64)                          \
    switch (dt) {                                              \
    case GN_F32: CAST_LOOP(TS, float, v)                       \
    case GN_F64: CAST_LOOP(TS, double, v)                      \
    case GN_I32: CAST_LOOP(TS, int32_t, I32(v))                \
    case GN_I64: CAST_LOOP(TS, int64_t, I64(v))                \
    case GN_U8: CAST_LOOP(TS, uint8_t, (uint32_t)I32(v))       \
    case GN_I8: CAST_LOOP(TS, int8_t, (int8_t)(uint8_t)(uint32_t)I32(v)) \
    case GN_BOOL: CAST_LOOP(TS, uint8_t, v != 0)               \
    default: return;                                           \
    }

GN_INLINE void cast_body(int64_t n, const void *src, int st, void *dst, int dt) {
    switch (st) {
    case GN_F32: CAST_FROM_FLOAT(float, f2i32f, f2i64f)
    case GN_F64: CAST_FROM_FLOAT(double, f2i32, f2i64)
    case GN_I32: CAST_FROM_INT(int32_t, v)
    case GN_I64: CAST_FROM_INT(int64_t, v)
    case GN_U8: CAST_FROM_INT(uint8_t, v)
    case GN_I8: CAST_FROM_INT(int8_t, v)
    case GN_BOOL: CAST_FROM_INT(uint8_t, v != 0)
    default: return;
    }
}
#undef CAST_LOOP
#undef CAST_FROM_INT
#undef CAST_FROM_FLOAT

GN_MULTI(cast_range, (int64_t n, const void *src, int st, void *dst, int dt),
         cast_body(n, src, st, dst, dt))

typedef struct {
    void (*fn)(int64_t, const void *, int, void *, int);
    int64_t n;
    const void *src;
    int src_dtype, ss;
    void *dst;
    int dst_dtype, ds;
} cast_task_t;

static void cast_chunk(void *arg, int tid, int nt) {
    const cast_task_t *t = arg;
    const int64_t lo = gn_chunk(t->n, nt, tid), hi = gn_chunk(t->n, nt, tid + 1);
    t->fn(hi - lo, (const char *)t->src + lo * t->ss, t->src_dtype, (char *)t->dst + lo * t->ds,
          t->dst_dtype);
}

void gn_cast(int64_t n, const void *src, int src_dtype, void *dst, int dst_dtype) {
    const int ss = gn_dtype_size(src_dtype), ds = gn_dtype_size(dst_dtype);
    if (n <= 0 || ss == 0 || ds == 0) return;
    if (src_dtype == dst_dtype && src_dtype != GN_BOOL) {
        if (src != dst) memmove(dst, src, (size_t)n * (size_t)ss);
        return;
    }
    void (*fn)(int64_t, const void *, int, void *, int) = GN_PICK(cast_range);
    const int nt = gn_team_for((double)n, GN_GRAIN_ELEMENTS);
    if (nt <= 1) {
        fn(n, src, src_dtype, dst, dst_dtype);
        return;
    }
    cast_task_t task = {fn, n, src, src_dtype, ss, dst, dst_dtype, ds};
    gn_parallel(nt, cast_chunk, &task);
}
