// Depthwise convolutions (EfficientNet's, MobileNet's): one small filter per channel. As a
// GEMM each group is a 1 × size² by size² × n product, all packing and no work; here each
// output row is summed in place, filter tap after filter tap over the whole row, which
// vectorises along the row and adds the products in Darknet's order.
#include "DarknetKernels.h"
#include "tile.h"

#ifdef DS_X86
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

/// out[x] += w × in[x · stride] for x in [first, last); `stride` a constant where inlined.
static inline __attribute__((always_inline)) void tap(float *out, float w, const float *in, int stride, int first, int last) {
    for (int x = first; x < last; x++) out[x] += w * in[(long)x * stride];
}

static inline __attribute__((always_inline)) void depthwise(const ds_convolution *c, const float *weights,
                                                            const ds_epilogue *epilogue, int first_channel,
                                                            int last_channel, int first_row, int last_row, float *out) {
    const int size = c->size, stride = c->stride_x, padding = c->padding, width = c->width, out_width = c->out_width;
    for (int channel = first_channel; channel < last_channel; channel++) {
        const float *plane = c->image + (long)channel * c->height * width, *w = weights + (long)channel * size * size;
        float *result = out + (long)channel * c->out_height * out_width;
        for (int y = first_row; y < last_row; y++) {
            float *row = result + (long)y * out_width;
            for (int x = 0; x < out_width; x++) row[x] = 0;
            for (int dy = 0; dy < size; dy++) {
                const int iy = y * stride - padding + dy;
                if (iy < 0 || iy >= c->height) continue;
                for (int dx = 0; dx < size; dx++) {
                    // The x whose input column x · stride − padding + dx lies in the row.
                    const int start = dx - padding;
                    const int first = start < 0 ? (-start + stride - 1) / stride : 0;
                    const int fit = width - start <= 0 ? 0 : (width - start + stride - 1) / stride;
                    const int last = fit < out_width ? fit : out_width;
                    const float *in = plane + (long)iy * width + start;
                    switch (stride) {
                    case 1: tap(row, w[dy * size + dx], in, 1, first, last); break;
                    case 2: tap(row, w[dy * size + dx], in, 2, first, last); break;
                    default: tap(row, w[dy * size + dx], in, stride, first, last); break;
                    }
                }
            }
        }
        ds_finish(epilogue, channel, result + (long)first_row * out_width, (long)(last_row - first_row) * out_width);
    }
}

#define DS_DEPTHWISE(suffix, attributes)                                                                               \
    attributes static void depthwise_##suffix(const ds_convolution *c, const float *weights,                         \
                                              const ds_epilogue *epilogue, int first_channel, int last_channel,       \
                                              int first_row, int last_row, float *out) {                              \
        depthwise(c, weights, epilogue, first_channel, last_channel, first_row, last_row, out);                        \
    }

DS_DEPTHWISE(portable, )
#ifdef DS_X86
enum { ROWS = 4, MAX_TAPS = 2 * 7 * 7 };

/// The lanes of input columns [column, column + 8) that lie in a row of `width`, as
/// `_mm256_maskload_ps` takes them (a lane's top bit).
__attribute__((target("avx2"))) static inline __m256i inside8(int column, int width) {
    const __m256i lane = _mm256_add_epi32(_mm256_set1_epi32(column), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), lane),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lane));
}

/// As `depthwise_avx512`, eight outputs of each of ROWS rows at a time (stride 2: two loads,
/// their even lanes picked); the same sums in the same order.
__attribute__((target("avx2"))) static void depthwise_avx2(const ds_convolution *c, const float *weights,
                                                          const ds_epilogue *epilogue, int first_channel,
                                                          int last_channel, int first_row, int last_row, float *out) {
    const int size = c->size, stride = c->stride_x, padding = c->padding, width = c->width, out_width = c->out_width;
    if (stride > 2 || size > 7 || epilogue->shortcut) {
        return depthwise(c, weights, epilogue, first_channel, last_channel, first_row, last_row, out);
    }
    const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    for (int x0 = 0; x0 < out_width; x0 += 8) {
        __m256i masks[MAX_TAPS];
        for (int dx = 0; dx < size; dx++) {
            const int column = x0 * stride - padding + dx;
            masks[2 * dx] = inside8(column, width);
            masks[2 * dx + 1] = inside8(column + 8, width);
        }
        const int count = out_width - x0 < 8 ? out_width - x0 : 8;
        const __m256i stored = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int channel = first_channel; channel < last_channel; channel++) {
            const float *plane = c->image + (long)channel * c->height * width, *w = weights + (long)channel * size * size;
            float *result = out + (long)channel * c->out_height * out_width;
            for (int y0 = first_row; y0 < last_row; y0 += ROWS) {
                const int rows = last_row - y0 < ROWS ? last_row - y0 : ROWS;
                __m256 sum[ROWS] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
                for (int dy = 0; dy < size; dy++) {
                    for (int dx = 0; dx < size; dx++) {
                        const __m256 tap = _mm256_set1_ps(w[dy * size + dx]);
                        const int column = x0 * stride - padding + dx;
                        for (int r = 0; r < rows; r++) {
                            const int iy = (y0 + r) * stride - padding + dy;
                            if (iy < 0 || iy >= c->height) continue;
                            const float *in = plane + (long)iy * width + column;
                            __m256 v = _mm256_maskload_ps(in, masks[2 * dx]);
                            if (stride == 2) {
                                const __m256 high = _mm256_maskload_ps(in + 8, masks[2 * dx + 1]);
                                v = _mm256_blend_ps(_mm256_permutevar8x32_ps(v, evens), _mm256_permutevar8x32_ps(high, evens), 0xF0);
                            }
                            sum[r] = _mm256_add_ps(sum[r], _mm256_mul_ps(tap, v));
                        }
                    }
                }
                for (int r = 0; r < rows; r++) {
                    _mm256_maskstore_ps(result + (long)(y0 + r) * out_width + x0, stored, ds_finish_avx2(epilogue, channel, sum[r]));
                }
            }
        }
    }
}

/// The lanes of input columns [column, column + 16) that lie in a row of `width`.
static inline __mmask16 inside(int column, int width) {
    const int low = column < 0 ? -column : 0, high = width - column < 16 ? width - column : 16;
    return high <= low ? 0 : (__mmask16)(((1u << high) - 1) & ~((1u << low) - 1));
}

/// Sixteen outputs of each of ROWS rows at a time in registers, each tap one masked vector
/// a row (stride 2: two, their even lanes picked): narrow rows (EfficientNet's 14 and 7) are
/// not scalar remainders, and the rows' sums are independent chains that overlap. The same
/// sums in the same order as the portable loop; the epilogue in registers.
__attribute__((target("avx512f"))) static void depthwise_avx512(const ds_convolution *c, const float *weights,
                                                               const ds_epilogue *epilogue, int first_channel,
                                                               int last_channel, int first_row, int last_row, float *out) {
    const int size = c->size, stride = c->stride_x, padding = c->padding, width = c->width, out_width = c->out_width;
    if (stride > 2 || size > 7 || epilogue->shortcut) {
        return depthwise(c, weights, epilogue, first_channel, last_channel, first_row, last_row, out);
    }
    const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int x0 = 0; x0 < out_width; x0 += 16) {
        // Per tap column: the lanes inside the row (two vectors' for stride 2).
        __mmask16 masks[MAX_TAPS];
        for (int dx = 0; dx < size; dx++) {
            const int column = x0 * stride - padding + dx;
            masks[2 * dx] = inside(column, width);
            masks[2 * dx + 1] = inside(column + 16, width);
        }
        const int count = out_width - x0 < 16 ? out_width - x0 : 16;
        const __mmask16 stored = (__mmask16)((1u << count) - 1);
        for (int channel = first_channel; channel < last_channel; channel++) {
            const float *plane = c->image + (long)channel * c->height * width, *w = weights + (long)channel * size * size;
            float *result = out + (long)channel * c->out_height * out_width;
            for (int y0 = first_row; y0 < last_row; y0 += ROWS) {
                const int rows = last_row - y0 < ROWS ? last_row - y0 : ROWS;
                __m512 sum[ROWS] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int dy = 0; dy < size; dy++) {
                    for (int dx = 0; dx < size; dx++) {
                        const __m512 tap = _mm512_set1_ps(w[dy * size + dx]);
                        const int column = x0 * stride - padding + dx;
                        for (int r = 0; r < rows; r++) {
                            const int iy = (y0 + r) * stride - padding + dy;
                            if (iy < 0 || iy >= c->height) continue;
                            const float *in = plane + (long)iy * width + column;
                            const __m512 v = stride == 1 ? _mm512_maskz_loadu_ps(masks[2 * dx], in)
                                                         : _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(masks[2 * dx], in), evens,
                                                                                  _mm512_maskz_loadu_ps(masks[2 * dx + 1], in + 16));
                            sum[r] = _mm512_add_ps(sum[r], _mm512_mul_ps(tap, v));
                        }
                    }
                }
                for (int r = 0; r < rows; r++) {
                    _mm512_mask_storeu_ps(result + (long)(y0 + r) * out_width + x0, stored, ds_finish_avx512(epilogue, channel, sum[r]));
                }
            }
        }
    }
}
#endif

void ds_depthwise(const ds_convolution *c, const float *weights, const ds_epilogue *epilogue, int first_channel,
                  int last_channel, int first_row, int last_row, float *out) {
#ifdef DS_X86
    switch (ds_chosen_kernel()) {
    case DS_AVX512: return depthwise_avx512(c, weights, epilogue, first_channel, last_channel, first_row, last_row, out);
    case DS_AVX2: return depthwise_avx2(c, weights, epilogue, first_channel, last_channel, first_row, last_row, out);
    default: break;
    }
#endif
    depthwise_portable(c, weights, epilogue, first_channel, last_channel, first_row, last_row, out);
}
