// Winograd's minimal filtering (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for convolutions of stride 1 that keep the image's size: F(4×4, 3×3),
// F(2×2, 3×3) and F(2×2, 5×5). Each block ("tile") of 4×4 or 2×2 outputs comes from an
// α × α block of input (α = tile + filter − 1: 6, 4, 6) in α² products per channel, where
// the direct convolution takes 144, 36 or 100. The input and output transforms round as
// Darknet's sums do not, so the outputs are within Darknet's parity bounds, not bit for bit:
// the default, with Darknet's own sums as `--convolution darknet`. 2×2 tiles of a 3×3 filter
// are for small images, which have few large tiles.
//
// Tiles go sixteen at a time, one per vector lane: their transformed inputs form, for each
// of the α² points, a channels × 16 panel that the GEMM tile of convolve.c multiplies by
// the transformed weights (packed as it packs weights); the products of each output
// channel then go back through the output transform, batch norm, bias and activation, and
// on request through a 2 × 2 maxpool, whose windows lie inside the tiles.
#include "DarknetKernels.h"
#include "tile.h"

#include <float.h>
#include <string.h>

/// The most points (F(4×4, 3×3)'s 6 × 6) and the widest input tile; groups of fewer tiles
/// than NARROW_BELOW go through the narrow product.
enum { MAX_POINTS = 36, MAX_ALPHA = 6, NARROW_BELOW = 12 };

typedef float v16 __attribute__((vector_size(NR * sizeof(float))));
typedef int v16i __attribute__((vector_size(NR * sizeof(int))));
/// A v16 as it lies in memory: any float's alignment, and aliasing the floats it covers.
typedef float unaligned_v16 __attribute__((vector_size(NR * sizeof(float)), aligned(sizeof(float)), may_alias));

/// Bᵀ applied to an input tile's α values: one dimension of the input transform. It depends
/// on α alone (on the points the transforms evaluate at: 0, ±1, and for α = 6 also ±2).
static inline __attribute__((always_inline)) void input_transform(int alpha, const v16 *d, v16 *o) {
    if (alpha == 4) {
        o[0] = d[0] - d[2];
        o[1] = d[1] + d[2];
        o[2] = d[2] - d[1];
        o[3] = d[1] - d[3];
        return;
    }
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
    o[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
    o[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
    o[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/// Aᵀ applied to α values, giving a tile's `size`: one dimension of the output transform.
static inline __attribute__((always_inline)) void output_transform(int size, int alpha, const v16 *m, v16 *o) {
    if (alpha == 4) {
        o[0] = m[0] + m[1] + m[2];
        o[1] = m[1] - m[2] - m[3];
        return;
    }
    if (size == 2) {
        o[0] = m[0] + m[1] + m[2] + m[3] + m[4];
        o[1] = (m[1] - m[2]) + 2.0f * (m[3] - m[4]) + m[5];
        return;
    }
    const v16 sum12 = m[1] + m[2], difference12 = m[1] - m[2];
    const v16 sum34 = m[3] + m[4], difference34 = m[3] - m[4];
    o[0] = m[0] + sum12 + sum34;
    o[1] = difference12 + 2.0f * difference34;
    o[2] = sum12 + 4.0f * sum34;
    o[3] = difference12 + 8.0f * difference34 + m[5];
}

/// The input tile's edge α for tiles of `size` outputs and a `filter` × `filter` filter.
static inline int alpha_of(int filter, int size) { return size + filter - 1; }

long ds_winograd_tiles(const ds_convolution *c, int size) {
    return (long)((c->height + size - 1) / size) * ((c->width + size - 1) / size);
}

long ds_winograd_scratch_count(ds_kernel kernel, int channels, int filter, int size) {
    const int alpha = alpha_of(filter, size);
    return (long)alpha * alpha * NR * (channels + ds_panel_rows(kernel));
}

long ds_winograd_packed_count(ds_kernel kernel, int m, int channels, int filter, int size) {
    const int alpha = alpha_of(filter, size);
    return alpha * alpha * ds_packed_weights_count(kernel, m, channels);
}

/// G's rows for tiles of `size` and a `filter` × `filter` filter: N × (1, p, p², …) at each
/// finite point p, with the scale N that makes Bᵀ integral, then (0, …, 0, 1) for the point
/// at infinity.
static void filter_transform(int filter, int size, double g[MAX_ALPHA][5]) {
    static const double points[5] = {0, 1, -1, 2, -2};
    static const double scale4[3] = {1, 1.0 / 2, 1.0 / 2};
    static const double scale6[5] = {1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24};
    const int alpha = alpha_of(filter, size);
    memset(g, 0, sizeof(double) * MAX_ALPHA * 5);
    for (int a = 0; a + 1 < alpha; a++) {
        double power = alpha == 4 ? scale4[a] : scale6[a];
        for (int k = 0; k < filter; k++, power *= points[a]) g[a][k] = power;
    }
    g[alpha - 1][filter - 1] = 1;
}

enum { MAX_PANEL_ROWS = 24 };

/// U = G w Gᵀ for one channel of a panel's `rows` filters (the rest of the panel's `mr` rows
/// zero), in double: one rounding per value. The filters in the innermost loops, so that
/// they vectorize. Writes point (a, b)'s `mr` values at `to + (a × α + b) × panel`.
static inline __attribute__((always_inline)) void transform_panel(const float *weights, long filter_stride, int rows,
                                                                  int mr, int filter, int alpha,
                                                                  const double g[MAX_ALPHA][5], float *to, long panel) {
    double w[25][MAX_PANEL_ROWS], gw[MAX_ALPHA][5][MAX_PANEL_ROWS];
    for (int k = 0; k < filter * filter; k++) {
        for (int r = 0; r < mr; r++) w[k][r] = r < rows ? weights[r * filter_stride + k] : 0;
    }
    for (int a = 0; a < alpha; a++) {
        for (int j = 0; j < filter; j++) {
            for (int r = 0; r < mr; r++) gw[a][j][r] = 0;
            for (int i = 0; i < filter; i++) {
                for (int r = 0; r < mr; r++) gw[a][j][r] += g[a][i] * w[i * filter + j][r];
            }
        }
    }
    for (int a = 0; a < alpha; a++) {
        for (int b = 0; b < alpha; b++) {
            double u[MAX_PANEL_ROWS] = {0};
            for (int j = 0; j < filter; j++) {
                for (int r = 0; r < mr; r++) u[r] += gw[a][j][r] * g[b][j];
            }
            float *point = to + (a * alpha + b) * panel;
            for (int r = 0; r < mr; r++) point[r] = (float)u[r];
        }
    }
}

/// Every point's m × channels matrix packed as ds_pack_weights packs (panels of mr filters,
/// channel after channel; the rows past m zero), and a group of mr filters' panels for every
/// point side by side: the GEMM reads them in that order, so one stream from memory (a
/// 14 × 14 layer's 4.7 MB, read once a pass, 15 % faster than point by point). Every float
/// of `packed` written once.
#define DS_PACK_FUNCTION(name, attributes, mr)                                                                           \
    attributes static void name(const float *weights, int m, int channels, int filter, int size, float *packed) {     \
        double g[MAX_ALPHA][5];                                                                                         \
        filter_transform(filter, size, g);                                                                              \
        const int alpha = alpha_of(filter, size), area = filter * filter;                                               \
        const long panel = (long)mr * channels, group = alpha * alpha * panel;                                          \
        for (int f = 0; f < m; f += mr, packed += group) {                                                              \
            const int rows = m - f < mr ? m - f : mr;                                                                   \
            for (int channel = 0; channel < channels; channel++) {                                                      \
                transform_panel(weights + ((long)f * channels + channel) * area, (long)channels * area, rows, mr,      \
                                filter, alpha, g, packed + (long)channel * mr, panel);                                  \
            }                                                                                                           \
        }                                                                                                               \
    }

// The panel's rows a constant in each (ds_panel_rows), so that the loops over them unroll.
DS_PACK_FUNCTION(pack_portable, , 6)
#ifdef DS_X86
DS_PACK_FUNCTION(pack_avx2, __attribute__((target("avx2"))), 6)
DS_PACK_FUNCTION(pack_avx512, __attribute__((target("avx512f"))), 24)
#endif

void ds_winograd_pack_weights(ds_kernel kernel, const float *weights, int m, int channels, int filter, int size,
                              float *packed) {
#ifdef DS_X86
    if (kernel == DS_AVX512) return pack_avx512(weights, m, channels, filter, size, packed);
    if (kernel == DS_AVX2) return pack_avx2(weights, m, channels, filter, size, packed);
#endif
    pack_portable(weights, m, channels, filter, size, packed);
}

/// Where one tile's outputs are: its top-left corner, and how many of its `size` rows and
/// columns lie inside the image.
typedef struct {
    int top, left, rows, columns;
} tile_place;

/// The places of `count` tiles of `size` from `first`, computed once for every channel.
static inline __attribute__((always_inline)) void place_tiles(const ds_convolution *c, int size, long first, int count,
                                                              tile_place *places) {
    const int tiles_wide = (c->width + size - 1) / size;
    for (int t = 0; t < count; t++) {
        const int top = (int)((first + t) / tiles_wide) * size, left = (int)((first + t) % tiles_wide) * size;
        places[t] = (tile_place){top, left, c->height - top < size ? c->height - top : size,
                                 c->width - left < size ? c->width - left : size};
    }
}

/// Transforms the input of `count` tiles into `v`: point-major, then channel, then the
/// 16 tiles. A tile's α × α input block starts `padding` rows and columns before its outputs.
static inline __attribute__((always_inline)) void transform_inputs(const ds_convolution *c, int alpha,
                                                                   const tile_place *places, int count, float *v) {
    const int height = c->height, width = c->width;
    float d[MAX_POINTS][NR] __attribute__((aligned(64)));
    memset(d, 0, sizeof d);
    for (int channel = 0; channel < c->channels; channel++) {
        const float *plane = c->image + (long)channel * height * width;
        for (int t = 0; t < count; t++) {
            const int top = places[t].top - c->padding, left = places[t].left - c->padding;
            if (top >= 0 && top + alpha <= height && left >= 0 && left + alpha <= width) {
                for (int r = 0; r < alpha; r++) {
                    for (int s = 0; s < alpha; s++) d[r * alpha + s][t] = plane[(long)(top + r) * width + left + s];
                }
            } else {
                for (int r = 0; r < alpha; r++) {
                    for (int s = 0; s < alpha; s++) {
                        const int y = top + r, x = left + s;
                        d[r * alpha + s][t] = y >= 0 && y < height && x >= 0 && x < width ? plane[(long)y * width + x] : 0;
                    }
                }
            }
        }
        v16 columns[MAX_ALPHA][MAX_ALPHA];
        for (int s = 0; s < alpha; s++) {
            v16 in[MAX_ALPHA], out[MAX_ALPHA];
            for (int r = 0; r < alpha; r++) in[r] = *(const unaligned_v16 *)(d[r * alpha + s]);
            input_transform(alpha, in, out);
            for (int r = 0; r < alpha; r++) columns[r][s] = out[r];
        }
        for (int r = 0; r < alpha; r++) {
            v16 out[MAX_ALPHA];
            input_transform(alpha, columns[r], out);
            for (int s = 0; s < alpha; s++) {
                *(unaligned_v16 *)(v + ((long)(r * alpha + s) * c->channels + channel) * NR) = out[s];
            }
        }
    }
}

/// A step of Darknet's maxpool, which keeps a later value of the window only if it is
/// larger: `*largest` becomes `v` where `v` is larger. (Pointers, as elsewhere here: vectors
/// passed by value would have an ABI that depends on the instruction set.)
static inline __attribute__((always_inline)) void keep_larger(v16 *largest, const v16 *v) {
    const v16i larger = *v > *largest;
    *largest = (v16)(((v16i)*v & larger) | ((v16i)*largest & ~larger));
}

/// Darknet's 2 × 2 maxpool of stride 2 over the `size` × `size` outputs `x` of 16 tiles (their
/// row i, column j in x[i][j]), into the tiles' places in `out`, whose planes are half as high
/// and wide: each window's values in row order, from -FLT_MAX, as Darknet's loop goes.
static inline __attribute__((always_inline)) void store_pooled(const ds_convolution *c, int size, v16 x[4][4],
                                                               int channel, const tile_place *places, int count,
                                                               float *out) {
    const int half = size / 2, width = c->width / 2;
    const v16 lowest = (v16){0} - FLT_MAX;
    float pooled[2][NR][2] __attribute__((aligned(64)));
    for (int i = 0; i < half; i++) {
        v16 p[2];
        for (int j = 0; j < half; j++) {
            p[j] = lowest;
            keep_larger(&p[j], &x[2 * i][2 * j]);
            keep_larger(&p[j], &x[2 * i][2 * j + 1]);
            keep_larger(&p[j], &x[2 * i + 1][2 * j]);
            keep_larger(&p[j], &x[2 * i + 1][2 * j + 1]);
        }
        if (half == 1) {
            *(unaligned_v16 *)(pooled[i]) = p[0];
            continue;
        }
        *(unaligned_v16 *)(pooled[i][0]) = __builtin_shufflevector(p[0], p[1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        *(unaligned_v16 *)(pooled[i][8]) = __builtin_shufflevector(p[0], p[1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    }
    // Tiles side by side in a row of tiles are side by side in `pooled` too.
    float *plane = out + (long)channel * (c->height / 2) * width;
    for (int t = 0, end; t < count; t = end) {
        for (end = t + 1; end < count && places[end].top == places[t].top; end++) {}
        const long floats = (long)(end - 1 - t) * half + places[end - 1].columns / 2;
        float *to = plane + (long)(places[t].top / 2) * width + places[t].left / 2;
        for (int i = 0; i < places[t].rows / 2; i++, to += width) {
            memcpy(to, half == 1 ? (float *)pooled[i] + t : pooled[i][t], sizeof(float) * floats);
        }
    }
}

/// Output channel `channel`'s products of 16 tiles (NR floats apart, `stride` between
/// points) back to outputs, through the epilogue, into the tiles of `out` that exist (or,
/// when `pooled`, through `store_pooled`).
static inline __attribute__((always_inline)) void transform_outputs(const ds_convolution *c, int size, int alpha,
                                                                    const float *products, long stride,
                                                                    const ds_epilogue *e, int channel,
                                                                    const tile_place *places, int count, int pooled,
                                                                    float *out) {
    v16 rows[4][MAX_ALPHA], y[4][4];
    for (int s = 0; s < alpha; s++) {
        v16 in[MAX_ALPHA], o[4];
        for (int r = 0; r < alpha; r++) in[r] = *(const unaligned_v16 *)(products + (r * alpha + s) * stride);
        output_transform(size, alpha, in, o);
        for (int i = 0; i < size; i++) rows[i][s] = o[i];
    }
    for (int i = 0; i < size; i++) output_transform(size, alpha, rows[i], y[i]);
    // Batch norm and bias as one multiply-add: Darknet's own rounding is gone anyway.
    // Without an epilogue, the sums themselves, added to the outputs below.
    float multiplier = 1, addend = 0;
    if (e) ds_fold(e, channel, &multiplier, &addend);
    const v16 zero = {0};
    v16 x[4][4];
    for (int i = 0; i < size; i++) {
        for (int j = 0; j < size; j++) {
            x[i][j] = e ? y[i][j] * multiplier + addend : y[i][j];
            switch (e ? e->activation : DS_IDENTITY) {
            case DS_LEAKY: x[i][j] = __builtin_elementwise_max(x[i][j], zero) + 0.1f * __builtin_elementwise_min(x[i][j], zero); break;
            case DS_RELU: x[i][j] = __builtin_elementwise_max(x[i][j], zero); break;
            default: break;
            }
        }
    }
    if (pooled) {
        store_pooled(c, size, x, channel, places, count, out);
        return;
    }
    // Each output row of the 16 tiles, regrouped tile by tile: `size` floats a tile.
    float grouped[4][NR][4] __attribute__((aligned(64)));
    for (int i = 0; i < size; i++) {
        if (size == 2) {
            for (int t = 0; t < NR; t++) grouped[i][t][0] = x[i][0][t], grouped[i][t][1] = x[i][1][t];
            continue;
        }
        const v16 pairs01_low = __builtin_shufflevector(x[i][0], x[i][1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const v16 pairs01_high = __builtin_shufflevector(x[i][0], x[i][1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        const v16 pairs23_low = __builtin_shufflevector(x[i][2], x[i][3], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const v16 pairs23_high = __builtin_shufflevector(x[i][2], x[i][3], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        *(unaligned_v16 *)(grouped[i][0]) = __builtin_shufflevector(pairs01_low, pairs23_low, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        *(unaligned_v16 *)(grouped[i][4]) = __builtin_shufflevector(pairs01_low, pairs23_low, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
        *(unaligned_v16 *)(grouped[i][8]) = __builtin_shufflevector(pairs01_high, pairs23_high, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        *(unaligned_v16 *)(grouped[i][12]) = __builtin_shufflevector(pairs01_high, pairs23_high, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    }
    float *plane = out + (long)channel * c->height * c->width;
    if (size == 4) {
        // Tiles side by side in a row of tiles are side by side in `grouped` too: one copy
        // per output row of each run of them.
        for (int t = 0, end; t < count; t = end) {
            for (end = t + 1; end < count && places[end].top == places[t].top; end++) {}
            const long floats = (long)(end - 1 - t) * 4 + places[end - 1].columns;
            float *to = plane + (long)places[t].top * c->width + places[t].left;
            for (int i = 0; i < places[t].rows; i++, to += c->width) {
                if (!e) {
                    const float *from = grouped[i][t];
                    for (long j = 0; j < floats; j++) to[j] += from[j];
                    continue;
                }
                memcpy(to, grouped[i][t], sizeof(float) * floats);
                if (e->shortcut) ds_add_shortcut(e, to, floats);
            }
        }
        return;
    }
    for (int t = 0; t < count; t++) {
        const tile_place place = places[t];
        float *to = plane + (long)place.top * c->width + place.left;
        for (int i = 0; i < place.rows; i++, to += c->width) {
            for (int j = 0; j < place.columns; j++) to[j] = e ? grouped[i][t][j] : to[j] + grouped[i][t][j];
            if (e && e->shortcut) ds_add_shortcut(e, to, place.columns);
        }
    }
}

/// Tiles [first, first + count) (count ≤ 16) of `size`, output channels [first_row, last_row).
static inline __attribute__((always_inline)) void convolve_tiles(ds_kernel kernel, const ds_convolution *c, int size,
                                                                 int alpha, const float *packed, int m,
                                                                 const ds_epilogue *e, long first, int count,
                                                                 int first_row, int last_row, float *scratch, int pooled,
                                                                 float *out) {
    const tile_function tile = ds_tile(kernel, 1);
    // A group of few tiles (the last of an image whose tiles are not a multiple of 16: one
    // of 49 on a 28 × 28 image) leaves most of the tile's lanes empty; the narrow product
    // puts the weights' rows in the lanes instead. Measured faster below 12 tiles.
    const narrow_function narrow = count < NARROW_BELOW ? ds_narrow(kernel, 1) : NULL;
    const int mr = ds_panel_rows(kernel), channels = c->channels, points = alpha * alpha;
    float *v = scratch, *products = scratch + (long)points * channels * NR;
    tile_place places[NR];
    place_tiles(c, size, first, count, places);
    transform_inputs(c, alpha, places, count, v);
    long rows_at[KC_MAX];
    for (int p = 0; p < KC_MAX; p++) rows_at[p] = p * NR;
    for (int row = first_row; row < last_row; row += mr) {
        const int rows = last_row - row < mr ? last_row - row : mr;
        for (int point = 0; point < points; point++) {
            const float *a = packed + ((long)row * points + point * mr) * channels;
            if (narrow) {
                narrow(rows, channels, a, v + (long)point * channels * NR, NR, count, products + (long)point * mr * NR, NR, 1);
                continue;
            }
            for (int k0 = 0; k0 < channels; k0 += KC_MAX) {
                const int kc = channels - k0 < KC_MAX ? channels - k0 : KC_MAX;
                tile(rows, kc, a + (long)k0 * mr, v + ((long)point * channels + k0) * NR, rows_at,
                     products + (long)point * mr * NR, NR, NR, k0 > 0, NULL, row);
            }
        }
        for (int r = 0; r < rows; r++) {
            transform_outputs(c, size, alpha, products + r * NR, (long)mr * NR, e, row + r, places, count, pooled, out);
        }
    }
}

/// The transforms compiled once for each instruction set and tile: vectors of 16 floats
/// become one AVX-512 register, two AVX ones, or four SSE ones.
typedef void (*tiles_function)(ds_kernel kernel, const ds_convolution *c, int size, const float *packed, int m,
                               const ds_epilogue *e, long first, int count, int first_row, int last_row, float *scratch,
                               int pooled, float *out);

#define DS_TILES_FUNCTION(name, attributes)                                                                              \
    attributes static void name(ds_kernel kernel, const ds_convolution *c, int size, const float *packed, int m,        \
                                const ds_epilogue *e, long first, int count, int first_row, int last_row,               \
                                float *scratch, int pooled, float *out) {                                               \
        if (c->size == 5) {                                                                                             \
            convolve_tiles(kernel, c, 2, 6, packed, m, e, first, count, first_row, last_row, scratch, pooled, out);     \
        } else if (size == 2) {                                                                                         \
            convolve_tiles(kernel, c, 2, 4, packed, m, e, first, count, first_row, last_row, scratch, pooled, out);     \
        } else {                                                                                                        \
            convolve_tiles(kernel, c, 4, 6, packed, m, e, first, count, first_row, last_row, scratch, pooled, out);     \
        }                                                                                                               \
    }

DS_TILES_FUNCTION(tiles_portable, )

#ifdef DS_X86
DS_TILES_FUNCTION(tiles_avx2, __attribute__((target("avx2"))))
DS_TILES_FUNCTION(tiles_avx512, __attribute__((target("avx512f"))))

static tiles_function tiles_for(ds_kernel kernel) {
    return kernel == DS_AVX512 ? tiles_avx512 : kernel == DS_AVX2 ? tiles_avx2 : tiles_portable;
}
#else
static tiles_function tiles_for(ds_kernel kernel) { (void)kernel; return tiles_portable; }
#endif

void ds_winograd(ds_kernel kernel, const ds_convolution *c, int size, const float *packed, int m,
                 const ds_epilogue *epilogue, long first, long last, int first_row, int last_row, float *scratch,
                 int pooled, float *out) {
    const tiles_function tiles = tiles_for(kernel);
    for (long t = first; t < last; t += NR) {
        tiles(kernel, c, size, packed, m, epilogue, t, last - t < NR ? (int)(last - t) : NR, first_row, last_row, scratch,
              pooled, out);
    }
}
