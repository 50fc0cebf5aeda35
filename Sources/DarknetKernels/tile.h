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

/// The x in [0, count) whose column start + x · stride lies in a row of `width` pixels:
/// [*first, *last), empty where none does. The im2col, phase split and maxpool walks' bounds.
static inline void ds_columns_inside(int start, int stride, int width, int count, int *first, int *last) {
    const int low = start < 0 ? (-start + stride - 1) / stride : 0;
    const int fit = width - start <= 0 ? 0 : (width - start + stride - 1) / stride;
    *first = low < count ? low : count;
    *last = fit < count ? fit : count;
    if (*last < *first) *last = *first;
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

#ifdef DS_X86
#include <immintrin.h>

/// Channel `channel`'s epilogue on 8 finished sums (without the shortcut).
__attribute__((target("avx2")))
static inline __m256 ds_finish_avx2(const ds_epilogue *e, int channel, __m256 x) {
    if (e->folded) {
        float multiplier, addend;
        ds_fold(e, channel, &multiplier, &addend);
        x = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(multiplier)), _mm256_set1_ps(addend));
        const __m256 positive = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
        switch (e->activation) {
        case DS_LEAKY: return _mm256_blendv_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.1f)), x, positive);
        case DS_RELU: return _mm256_and_ps(x, positive);
        default: return x;
        }
    }
    if (e->mean) {
        x = _mm256_sub_ps(x, _mm256_set1_ps(e->mean[channel]));
        const __m256d inverse = _mm256_set1_pd(e->inverse[channel]);
        const __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), inverse));
        const __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), inverse));
        x = _mm256_mul_ps(_mm256_set_m128(hi, lo), _mm256_set1_ps(e->scale[channel]));
    }
    x = _mm256_add_ps(x, _mm256_set1_ps(e->bias[channel]));
    const __m256 positive = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
    switch (e->activation) {
    case DS_LEAKY: {
        const __m256d tenth = _mm256_set1_pd(0.1);
        const __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), tenth));
        const __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), tenth));
        return _mm256_blendv_ps(_mm256_set_m128(hi, lo), x, positive);
    }
    case DS_RELU: return _mm256_and_ps(x, positive);
    default: return x;
    }
}

/// `activation` as Darknet rounds it (leaky's 0.1 in double).
__attribute__((target("avx512f")))
static inline __m512 ds_activate_avx512(ds_activation activation, __m512 x) {
    const __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
    switch (activation) {
    case DS_LEAKY: {
        const __m512d tenth = _mm512_set1_pd(0.1);
        const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), tenth));
        const __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))), tenth));
        const __m512 small = _mm512_castpd_ps(
            _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
        return _mm512_mask_blend_ps(positive, small, x);
    }
    case DS_RELU: return _mm512_maskz_mov_ps(positive, x);
    default: return x;
    }
}

__attribute__((target("avx512f")))
static inline __m512 ds_finish_avx512(const ds_epilogue *e, int channel, __m512 x) {
    if (e->folded) {
        float multiplier, addend;
        ds_fold(e, channel, &multiplier, &addend);
        x = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(multiplier)), _mm512_set1_ps(addend));
        const __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
        switch (e->activation) {
        case DS_LEAKY: return _mm512_mask_blend_ps(positive, _mm512_mul_ps(x, _mm512_set1_ps(0.1f)), x);
        case DS_RELU: return _mm512_maskz_mov_ps(positive, x);
        default: return x;
        }
    }
    if (e->mean) {
        x = _mm512_sub_ps(x, _mm512_set1_ps(e->mean[channel]));
        const __m512d inverse = _mm512_set1_pd(e->inverse[channel]);
        const __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), inverse));
        const __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))), inverse));
        x = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
        x = _mm512_mul_ps(x, _mm512_set1_ps(e->scale[channel]));
    }
    return ds_activate_avx512(e->activation, _mm512_add_ps(x, _mm512_set1_ps(e->bias[channel])));
}

#endif

#endif
