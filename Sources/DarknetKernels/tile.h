// What convolve.c shares with winograd.c: the blocked GEMM's register tile and narrow product, and the folded epilogue.
#ifndef DARKNET_KERNELS_TILE_H
#define DARKNET_KERNELS_TILE_H

#include "DarknetKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define DS_X86 1
#endif

/// Columns of a tile (one vector of floats with AVX-512), and the longest K block.
enum { NR = 16, KC_MAX = 256 };

/// One tile: `rows` × NR outputs at `out` (row stride `ldc`, `cols` of them real),
/// over a K block of `kc`; `a` is the block's packed weights; row p of its columns is
/// the NR floats at `b + rows_at[p]`. Adds to the outputs if `accumulate`; applies
/// `finish` (rows numbered from `row0`) unless it is NULL.
typedef void (*tile_function)(int rows, int kc, const float *a, const float *b, const long *rows_at, float *out, long ldc,
                              int cols, int accumulate, const ds_epilogue *finish, int row0);

/// The tile `kernel` uses: with each product added to its sum in one rounding if `fused`
/// (the folded epilogue's convolutions), else rounded first, as Darknet adds them.
tile_function ds_tile(ds_kernel kernel, int fused);

/// out[r × row_stride + j × column_stride] = Σ over p < k of a[p][r] × b[p × b_stride + j], for
/// rows r < `rows` of one packed weight panel `a` and `columns` columns: for a few columns, the
/// panel's rows in the vector lanes. The sums are the tile's (fused alike), to the bit.
typedef void (*narrow_function)(int rows, int k, const float *a, const float *b, long b_stride, int columns, float *out,
                                long row_stride, long column_stride);

/// `kernel`'s narrow product, fused or not as `ds_tile`'s, or NULL where it has none (then the tile does it).
narrow_function ds_narrow(ds_kernel kernel, int fused);

/// Channel `channel`'s batch norm and bias as one multiply-add, x × multiplier + addend:
/// the folded epilogue's (computed in double, rounded once each).
static inline void ds_fold(const ds_epilogue *e, int channel, float *multiplier, float *addend) {
    double product = 1, sum = e->bias[channel];
    if (e->mean) {
        product = e->inverse[channel] * e->scale[channel];
        sum -= e->mean[channel] * product;
    }
    *multiplier = (float)product;
    *addend = (float)sum;
}

/// Darknet's rounding of `activation` (leaky's 0.1 in double).
static inline __attribute__((always_inline)) float ds_activate_one(ds_activation activation, float x) {
    switch (activation) {
    case DS_LEAKY: return x > 0 ? x : (float)(0.1 * (double)x);
    case DS_RELU: return x > 0 ? x : 0;
    default: return x;
    }
}

/// The epilogue's shortcut (`ds_epilogue.shortcut`) over `count` finished outputs at `out`.
/// Inlined, so that the loop is vectorised for the caller's instruction set.
static inline __attribute__((always_inline)) void ds_add_shortcut(const ds_epilogue *e, float *out, long count) {
    const float *add = out + e->shortcut;
    switch (e->shortcut_activation) {
    case DS_LEAKY:
        for (long i = 0; i < count; i++) out[i] = ds_activate_one(DS_LEAKY, out[i] + add[i]);
        break;
    case DS_RELU:
        for (long i = 0; i < count; i++) out[i] = ds_activate_one(DS_RELU, out[i] + add[i]);
        break;
    default:
        for (long i = 0; i < count; i++) out[i] = out[i] + add[i];
    }
}

#endif
