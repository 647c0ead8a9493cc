/* Affine transforms of images and their gradients (GN_K_AFFINE_TRANSFORM,
 * GN_K_AFFINE_TRANSFORM_GRAD), as keras.ops.image.affine_transform computes them through
 * its map_coordinates (every Keras backend alike).
 *
 * Output pixel (y, x) of channel ch of image b reads the input at
 *   y_in = y * b1 + x * b0 + ch * c0 + b2,   x_in = y * a1 + x * a0 + ch * c1 + a2
 * for its transform [a0 a1 a2 b0 b1 b2 c0 c1]: Keras's code puts c0 and c1 on the channel
 * index (no projective division), so the same is done here. "nearest" rounds half to even
 * (torch.round); "bilinear" weighs floor(coordinate) and the next index. A tap's index is
 * then fixed by the fill mode (constant and nearest clamp, wrap, mirror, reflect); in
 * constant mode a tap outside the image reads fill_value instead. The sum over the taps
 * runs in Keras's order (y taps outer, x taps inner).
 *
 * Coordinates are clamped to +-2^24 (NaN to -2^24) before they become indices, so any
 * float input reads only inside the images. The forward pass splits the output rows over
 * the thread pool; the gradients split the images (each thread writes its own images'
 * gradient, in one fixed order: the same sums for any thread count, no atomics). */
#include <math.h>
#include <string.h>
#include "graphnet.h"
#include "threadpool.h"

#define COORD_LIMIT 16777216.0f

typedef struct {
    int64_t index[2];   /* fixed indices of the taps */
    float weight[2];
    int valid[2];       /* 0: the tap reads fill_value (constant mode, outside) */
    int count;
    int clamped;        /* the coordinate was clamped: its derivative is 0 */
} taps;

static int64_t floor_mod(int64_t i, int64_t m) {
    const int64_t r = i % m;
    return r < 0 ? r + m : r;
}

/* Keras's _mirror_index_fixer: the triangular wave of half-period size - 1. */
static int64_t mirror(int64_t i, int64_t size) {
    const int64_t s = size - 1;
    if (s <= 0) return 0;
    const int64_t r = floor_mod(i + s, 2 * s) - s;
    return r < 0 ? -r : r;
}

static int64_t fix_index(int fill_mode, int64_t i, int64_t size) {
    switch (fill_mode) {
    case GN_FILL_WRAP: return floor_mod(i, size);
    case GN_FILL_MIRROR: return mirror(i, size);
    case GN_FILL_REFLECT: return (mirror(2 * i + 1, 2 * size + 1) - 1) / 2;
    default: return i < 0 ? 0 : i >= size ? size - 1 : i;   /* constant, nearest */
    }
}

static void taps_of(float coord, int64_t size, int interpolation, int fill_mode, taps *t) {
    t->clamped = !(coord >= -COORD_LIMIT && coord <= COORD_LIMIT);
    if (t->clamped) coord = coord > 0 ? COORD_LIMIT : -COORD_LIMIT;
    int64_t first;
    if (interpolation == GN_AFFINE_NEAREST) {
        first = (int64_t)rintf(coord);   /* the default rounding: half to even */
        t->count = 1;
        t->weight[0] = 1.0f;
    } else {
        const float lower = floorf(coord);
        t->weight[1] = coord - lower;
        t->weight[0] = 1.0f - t->weight[1];
        first = (int64_t)lower;
        t->count = 2;
    }
    for (int k = 0; k < t->count; k++) {
        const int64_t i = first + k;
        t->valid[k] = fill_mode != GN_FILL_CONSTANT || (i >= 0 && i < size);
        t->index[k] = fix_index(fill_mode, i, size);
    }
}

typedef struct {
    int interpolation, fill_mode;
    int64_t n, h, w, c;
    int64_t sb, sy, sx, sc;   /* element strides of image, row, column, channel */
    const float *images, *transforms, *dy;
    float fill_value;
    float *out;
    double *dtransform;       /* per thread: 8 sums (the transform gradient) */
} affine_task;

static void layout(affine_task *t, int channels_first) {
    t->sb = t->h * t->w * t->c;
    if (channels_first) {
        t->sc = t->h * t->w, t->sy = t->w, t->sx = 1;
    } else {
        t->sy = t->w * t->c, t->sx = t->c, t->sc = 1;
    }
}

/* The taps of output pixel (y, x) of channel ch under transform m. */
static void pixel_taps(const affine_task *t, const float *m, int64_t y, int64_t x, int64_t ch,
                       taps *ty, taps *tx) {
    const float fy = (float)y, fx = (float)x, fc = (float)ch;
    taps_of(fy * m[4] + fx * m[3] + fc * m[6] + m[5], t->h, t->interpolation, t->fill_mode, ty);
    taps_of(fy * m[1] + fx * m[0] + fc * m[7] + m[2], t->w, t->interpolation, t->fill_mode, tx);
}

static float tap_value(const affine_task *t, const float *img, const taps *ty, int ky,
                       const taps *tx, int kx) {
    return ty->valid[ky] && tx->valid[kx]
        ? img[ty->index[ky] * t->sy + tx->index[kx] * t->sx] : t->fill_value;
}

/* One output pixel's taps in Keras's order: their weights (wy * wx) and where they read
 * (-1: fill_value). */
typedef struct {
    int count;
    float weight[4];
    int64_t offset[4];
} pixel_reads;

static void reads_of(const affine_task *t, const taps *ty, const taps *tx, pixel_reads *r) {
    r->count = 0;
    for (int ky = 0; ky < ty->count; ky++)
        for (int kx = 0; kx < tx->count; kx++, r->count++) {
            r->weight[r->count] = ty->weight[ky] * tx->weight[kx];
            r->offset[r->count] = ty->valid[ky] && tx->valid[kx]
                ? ty->index[ky] * t->sy + tx->index[kx] * t->sx : -1;
        }
}

/* Channels [c0, c1) of one output pixel from one image's reads. */
static void write_channels(const affine_task *t, const float *img, const pixel_reads *r,
                           int64_t c0, int64_t c1, float *out) {
    for (int64_t ch = c0; ch < c1; ch++) {
        float sum = 0.0f;
        for (int k = 0; k < r->count; k++)
            sum += r->weight[k] * (r->offset[k] < 0 ? t->fill_value
                                                    : img[r->offset[k] + ch * t->sc]);
        out[ch * t->sc] = sum;
    }
}

/* Rows [lo, hi) of the (n * h) output rows. */
static void forward_rows(void *ctx, int64_t lo, int64_t hi, int tid) {
    const affine_task *t = (const affine_task *)ctx;
    (void)tid;
    for (int64_t row = lo; row < hi; row++) {
        const int64_t b = row / t->h, y = row % t->h;
        const float *m = t->transforms + 8 * b, *img = t->images + b * t->sb;
        const int per_channel = m[6] != 0.0f || m[7] != 0.0f;
        float *out = t->out + b * t->sb + y * t->sy;
        taps ty, tx;
        pixel_reads r;
        for (int64_t x = 0; x < t->w; x++) {
            if (!per_channel) {   /* one set of taps for every channel */
                pixel_taps(t, m, y, x, 0, &ty, &tx);
                reads_of(t, &ty, &tx, &r);
                write_channels(t, img, &r, 0, t->c, out + x * t->sx);
                continue;
            }
            for (int64_t ch = 0; ch < t->c; ch++) {
                pixel_taps(t, m, y, x, ch, &ty, &tx);
                reads_of(t, &ty, &tx, &r);
                write_channels(t, img, &r, ch, ch + 1, out + x * t->sx);
            }
        }
    }
}

/* Images [lo, hi): their gradient, dx += weight * dy over every valid tap. */
static void images_grad(void *ctx, int64_t lo, int64_t hi, int tid) {
    const affine_task *t = (const affine_task *)ctx;
    (void)tid;
    for (int64_t b = lo; b < hi; b++) {
        float *dx = t->out + b * t->sb;
        memset(dx, 0, (size_t)t->sb * sizeof(float));
        const float *m = t->transforms + 8 * b;
        const int per_channel = m[6] != 0.0f || m[7] != 0.0f;
        taps ty, tx;
        for (int64_t y = 0; y < t->h; y++)
            for (int64_t x = 0; x < t->w; x++)
                for (int64_t ch = 0; ch < t->c; ch++) {
                    if (ch == 0 || per_channel) pixel_taps(t, m, y, x, ch, &ty, &tx);
                    const float g = t->dy[b * t->sb + y * t->sy + x * t->sx + ch * t->sc];
                    float *d = dx + ch * t->sc;
                    for (int ky = 0; ky < ty.count; ky++)
                        for (int kx = 0; kx < tx.count; kx++)
                            if (ty.valid[ky] && tx.valid[kx])
                                d[ty.index[ky] * t->sy + tx.index[kx] * t->sx] +=
                                    ty.weight[ky] * tx.weight[kx] * g;
                }
    }
}

/* Images [lo, hi): their transform's gradient. The bilinear output is linear in each
 * tap weight, and the weights move with the coordinate at slope -1 (lower) and +1
 * (upper); nearest's rounding has slope 0, as torch's round. */
static void transform_grad(void *ctx, int64_t lo, int64_t hi, int tid) {
    const affine_task *t = (const affine_task *)ctx;
    (void)tid;
    for (int64_t b = lo; b < hi; b++) {
        const float *m = t->transforms + 8 * b;
        double sum[8] = {0};
        taps ty, tx;
        for (int64_t y = 0; y < t->h && t->interpolation == GN_AFFINE_BILINEAR; y++)
            for (int64_t x = 0; x < t->w; x++)
                for (int64_t ch = 0; ch < t->c; ch++) {
                    pixel_taps(t, m, y, x, ch, &ty, &tx);
                    const float *img = t->images + b * t->sb + ch * t->sc;
                    const double g = t->dy[b * t->sb + y * t->sy + x * t->sx + ch * t->sc];
                    double gy = 0.0, gx = 0.0;
                    for (int k = 0; k < 2; k++) {
                        gy += tx.weight[k] * (tap_value(t, img, &ty, 1, &tx, k) -
                                              tap_value(t, img, &ty, 0, &tx, k));
                        gx += ty.weight[k] * (tap_value(t, img, &ty, k, &tx, 1) -
                                              tap_value(t, img, &ty, k, &tx, 0));
                    }
                    gy = ty.clamped ? 0.0 : gy * g;
                    gx = tx.clamped ? 0.0 : gx * g;
                    sum[0] += gx * x, sum[1] += gx * y, sum[2] += gx, sum[7] += gx * ch;
                    sum[3] += gy * x, sum[4] += gy * y, sum[5] += gy, sum[6] += gy * ch;
                }
        for (int k = 0; k < 8; k++) t->out[8 * b + k] = (float)sum[k];
    }
}

static int known_modes(int interpolation, int fill_mode) {
    return (interpolation == GN_AFFINE_NEAREST || interpolation == GN_AFFINE_BILINEAR) &&
           fill_mode >= GN_FILL_CONSTANT && fill_mode <= GN_FILL_REFLECT;
}

int gn_affine_transform(int interpolation, int fill_mode, int channels_first, int64_t n,
                        int64_t h, int64_t w, int64_t c, const float *images,
                        const float *transforms, float fill_value, float *out) {
    if (!known_modes(interpolation, fill_mode)) return GN_ERR_BAD_ARGS;
    affine_task t = {interpolation, fill_mode, n, h, w, c, 0, 0, 0, 0, images, transforms,
                     NULL, fill_value, out, NULL};
    layout(&t, channels_first);
    if (n == 0 || h == 0 || w == 0 || c == 0) return GN_OK;
    const double work = (double)n * (double)h * (double)w * (double)c * 4.0;
    gn_parallel_for(gn_team_for(work, GN_GRAIN_ELEMENTS), n * h, forward_rows, &t);
    return GN_OK;
}

int gn_affine_transform_grad(int wrt, int interpolation, int fill_mode, int channels_first,
                             int64_t n, int64_t h, int64_t w, int64_t c, const float *images,
                             const float *transforms, const float *dy, float fill_value,
                             float *grad) {
    if (!known_modes(interpolation, fill_mode) || (wrt != 0 && wrt != 1) ||
        (wrt == 1 && images == NULL))
        return GN_ERR_BAD_ARGS;
    affine_task t = {interpolation, fill_mode, n, h, w, c, 0, 0, 0, 0, images, transforms,
                     dy, fill_value, grad, NULL};
    layout(&t, channels_first);
    if (t.sb == 0) {   /* empty images: no loop over a dimension no buffer bounds */
        if (wrt == 1) memset(grad, 0, (size_t)n * 8 * sizeof(float));
        return GN_OK;
    }
    const double work = (double)n * (double)h * (double)w * (double)c * (wrt ? 12.0 : 4.0);
    gn_parallel_for(gn_team_for(work, GN_GRAIN_ELEMENTS), n, wrt ? transform_grad : images_grad,
                    &t);
    return GN_OK;
}
