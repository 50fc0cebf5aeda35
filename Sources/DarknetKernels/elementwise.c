// Passes over whole arrays, value by value: compiled for each instruction set, the one
// `ds_chosen_kernel` names used. Swift builds for the baseline x86-64, whose four-float vectors ran
// these memory-speed loops at a third of that speed. Chosen by our own dispatch, not
// target_clones: its ifunc resolvers run while the program is relocated, before a
// sanitizer's runtime is up, and so crashed every ASan or TSan build at load.
#include "DarknetKernels.h"
#include "tile.h"

#include <float.h>

// As Darknet: each product rounded, then the sum (no fused multiply-add).
#pragma STDC FP_CONTRACT OFF

static inline __attribute__((always_inline)) void activate_all(float *values, long count, ds_activation activation) {
    switch (activation) {
    case DS_LEAKY:
        for (long i = 0; i < count; i++) values[i] = ds_activate_one(DS_LEAKY, values[i]);
        break;
    case DS_RELU:
        for (long i = 0; i < count; i++) values[i] = ds_activate_one(DS_RELU, values[i]);
        break;
    default: break;
    }
}

/// e^x for x in float's range (clamped to it), after Cephes' expf: x = n ln 2 + r with
/// |r| ≤ ln 2 / 2, e^r by a degree-6 polynomial, 2^n put in the exponent. Branch-free, so
/// its loops vectorise.
static inline __attribute__((always_inline)) float exp_poly(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float n = __builtin_rintf(x * 1.44269504088896341f);
    const float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    return e * __builtin_bit_cast(float, ((int)n + 127) << 23);
}

static inline __attribute__((always_inline)) void activate_smooth(float *values, long count, ds_smooth activation) {
    switch (activation) {
    case DS_SWISH:
        for (long i = 0; i < count; i++) values[i] = values[i] / (1.0f + exp_poly(-values[i]));
        break;
    case DS_MISH:
        // tanh(log(1 + e^x)) = n / (n + 2) with n = e^x (e^x + 2); past 20 it is 1 in float
        // (AlexeyAB's softplus threshold), and the clamp keeps n finite.
        for (long i = 0; i < count; i++) {
            const float x = values[i], e = exp_poly(x < 20.0f ? x : 20.0f), n = e * (e + 2.0f);
            values[i] = x * (n / (n + 2.0f));
        }
        break;
    }
}

static inline __attribute__((always_inline)) void add_scaled(float *out, const float *previous, float alpha,
                                                             const float *add, float beta, long count,
                                                             ds_activation activation) {
    switch (activation) {
    case DS_LEAKY:
        for (long i = 0; i < count; i++) out[i] = ds_activate_one(DS_LEAKY, alpha * previous[i] + beta * add[i]);
        break;
    case DS_RELU:
        for (long i = 0; i < count; i++) out[i] = ds_activate_one(DS_RELU, alpha * previous[i] + beta * add[i]);
        break;
    default:
        for (long i = 0; i < count; i++) out[i] = alpha * previous[i] + beta * add[i];
    }
}

/// out[x] = alpha × out[x] + beta × add[x · stride] for x < count; `stride` a constant
/// where this is inlined, so the loads vectorise.
static inline __attribute__((always_inline)) void add_row(float *out, float alpha, const float *add, long stride,
                                                          float beta, long count) {
    for (long x = 0; x < count; x++) out[x] = alpha * out[x] + beta * add[x * stride];
}

static inline __attribute__((always_inline)) void add_sampled(float *out, float alpha, const float *add, long stride,
                                                              float beta, long count) {
    switch (stride) {
    case 1: add_row(out, alpha, add, 1, beta, count); break;
    case 2: add_row(out, alpha, add, 2, beta, count); break;
    default: add_row(out, alpha, add, stride, beta, count); break;
    }
}

/// One output row's windows along x: out[x] = max(out[x], row[x · stride]) for x in
/// [first, last); `stride` a constant where this is inlined, so the loads vectorise.
static inline __attribute__((always_inline)) void pool_row(const float *row, int stride, float *out, int first, int last) {
    for (int x = first; x < last; x++) {
        const float v = row[(long)x * stride];
        out[x] = v > out[x] ? v : out[x];
    }
}

static inline __attribute__((always_inline)) void maxpool(const float *in, int height, int width, float *out,
                                                          int out_height, int out_width, int size, int stride,
                                                          int stride_y, int offset, long planes) {
    if (size == 2 && stride == 2 && stride_y == 2 && offset == 0 && 2 * out_width <= width && 2 * out_height <= height) {
        // Windows of 2 × 2 inside the image: their four cells in the same order, in one loop.
        for (long plane = 0; plane < planes; plane++, in += (long)height * width) {
            for (int y = 0; y < out_height; y++, out += out_width) {
                const float *top = in + 2L * y * width, *bottom = top + width;
                for (int x = 0; x < out_width; x++) {
                    float m = -FLT_MAX;
                    m = top[2 * x] > m ? top[2 * x] : m;
                    m = top[2 * x + 1] > m ? top[2 * x + 1] : m;
                    m = bottom[2 * x] > m ? bottom[2 * x] : m;
                    out[x] = bottom[2 * x + 1] > m ? bottom[2 * x + 1] : m;
                }
            }
        }
        return;
    }
    for (long plane = 0; plane < planes; plane++, in += (long)height * width) {
        for (int y = 0; y < out_height; y++, out += out_width) {
            for (int x = 0; x < out_width; x++) out[x] = -FLT_MAX;
            for (int dy = 0; dy < size; dy++) {
                const int iy = y * stride_y + offset + dy;
                if (iy < 0 || iy >= height) continue;
                for (int dx = 0; dx < size; dx++) {
                    // The x whose column offset + dx + x · stride lies inside the row.
                    const int start = offset + dx;
                    int first, last;
                    ds_columns_inside(start, stride, width, out_width, &first, &last);
                    const float *row = in + (long)iy * width + start;
                    switch (stride) {
                    case 1: pool_row(row, 1, out, first, last); break;
                    case 2: pool_row(row, 2, out, first, last); break;
                    default: pool_row(row, stride, out, first, last); break;
                    }
                }
            }
        }
    }
}

/// `ds_maxpool_halves_backward`'s body: each window's four cells, each adding its output's
/// delta or nothing, without branches (which cell wins is a coin toss), so that it vectorises.
static inline __attribute__((always_inline)) void maxpool_halves_backward(const float *in, int height, int width,
                                                                          const float *delta, float *gradient,
                                                                          long planes) {
    const int out_width = width / 2;
    for (long plane = 0; plane < planes; plane++) {
        for (int y = 0; y < height / 2; y++, delta += out_width) {
            const float *top = in + (2L * y + plane * height) * width, *bottom = top + width;
            float *gradient_top = gradient + (2L * y + plane * height) * width, *gradient_bottom = gradient_top + width;
            for (int x = 0; x < out_width; x++) {
                const float a = top[2 * x], b = top[2 * x + 1], c = bottom[2 * x], d = bottom[2 * x + 1], g = delta[x];
                // The forward's order: the first of the largest wins.
                const int b_wins = b > a;
                const float ab = b_wins ? b : a;
                const int c_wins = c > ab;
                const int d_wins = d > (c_wins ? c : ab);
                gradient_top[2 * x] += !b_wins && !c_wins && !d_wins ? g : 0;
                gradient_top[2 * x + 1] += b_wins && !c_wins && !d_wins ? g : 0;
                gradient_bottom[2 * x] += c_wins && !d_wins ? g : 0;
                gradient_bottom[2 * x + 1] += d_wins ? g : 0;
            }
        }
    }
}

/// Batch norm's normalization as Darknet's `normalize_cpu` rounds it, then its scale and bias,
/// then `activation` (a constant where this is inlined).
static inline __attribute__((always_inline)) void normalize_activated(const float *sums, float *values, float *normalized,
                                                                      const float *mean, const double *divisor,
                                                                      const float *scale, const float *bias, int batch,
                                                                      int channels, long spatial, int first, int last,
                                                                      ds_activation activation) {
    for (int image = 0; image < batch; image++) {
        for (int c = first; c < last; c++) {
            const long at = ((long)image * channels + c) * spatial;
            const float m = mean[c], s = scale[c], b = bias[c];
            const double d = divisor[c];
            for (long i = 0; i < spatial; i++) {
                const float x = (float)((double)(sums[at + i] - m) / d);
                normalized[at + i] = x;
                values[at + i] = ds_activate_one(activation, x * s + b);
            }
        }
    }
}

static inline __attribute__((always_inline)) void normalize(const float *sums, float *values, float *normalized,
                                                            const float *mean, const double *divisor, const float *scale,
                                                            const float *bias, int batch, int channels, long spatial,
                                                            int first, int last, ds_activation activation) {
    switch (activation) {
    case DS_LEAKY: normalize_activated(sums, values, normalized, mean, divisor, scale, bias, batch, channels, spatial, first, last, DS_LEAKY); break;
    case DS_RELU: normalize_activated(sums, values, normalized, mean, divisor, scale, bias, batch, channels, spatial, first, last, DS_RELU); break;
    default: normalize_activated(sums, values, normalized, mean, divisor, scale, bias, batch, channels, spatial, first, last, DS_IDENTITY); break;
    }
}

/// Darknet's `normalize_delta_cpu`, with the channels' shares worked out.
static inline __attribute__((always_inline)) void normalize_delta(float *delta, const float *x, const float *mean,
                                                                  const double *root, const double *variance_share,
                                                                  const double *mean_share, double n, int batch,
                                                                  int channels, long spatial, int first, int last) {
    for (int image = 0; image < batch; image++) {
        for (int c = first; c < last; c++) {
            const long at = ((long)image * channels + c) * spatial;
            const float m = mean[c];
            const double r = root[c], v = variance_share[c], s = mean_share[c];
            for (long i = 0; i < spatial; i++) {
                delta[at + i] = (float)((double)delta[at + i] / r + v * (double)(x[at + i] - m) / n + s);
            }
        }
    }
}

/// Each pass compiled once per instruction set, from the bodies above.
#define DS_PASSES(suffix, attributes)                                                                                  \
    attributes static void activate_##suffix(float *values, long count, ds_activation activation) {                    \
        activate_all(values, count, activation);                                                                        \
    }                                                                                                                   \
    attributes static void activate_smooth_##suffix(float *values, long count, ds_smooth activation) {                 \
        activate_smooth(values, count, activation);                                                                     \
    }                                                                                                                   \
    attributes static void add_scaled_##suffix(float *out, const float *previous, float alpha, const float *add,       \
                                               float beta, long count, ds_activation activation) {                     \
        add_scaled(out, previous, alpha, add, beta, count, activation);                                                 \
    }                                                                                                                   \
    attributes static void add_sampled_##suffix(float *out, float alpha, const float *add, long stride, float beta,   \
                                                long count) {                                                           \
        add_sampled(out, alpha, add, stride, beta, count);                                                              \
    }                                                                                                                   \
    attributes static void maxpool_##suffix(const float *in, int height, int width, float *out, int out_height,        \
                                            int out_width, int size, int stride, int stride_y, int offset,             \
                                            long planes) {                                                             \
        maxpool(in, height, width, out, out_height, out_width, size, stride, stride_y, offset, planes);                 \
    }                                                                                                                   \
    attributes static void normalize_##suffix(const float *sums, float *values, float *normalized, const float *mean,    \
                                              const double *divisor, const float *scale, const float *bias, int batch,  \
                                              int channels, long spatial, int first, int last,                          \
                                              ds_activation activation) {                                               \
        normalize(sums, values, normalized, mean, divisor, scale, bias, batch, channels, spatial, first, last,          \
                  activation);                                                                                          \
    }                                                                                                                   \
    attributes static void normalize_delta_##suffix(float *delta, const float *x, const float *mean,                   \
                                                    const double *root, const double *variance_share,                  \
                                                    const double *mean_share, double n, int batch, int channels,       \
                                                    long spatial, int first, int last) {                                \
        normalize_delta(delta, x, mean, root, variance_share, mean_share, n, batch, channels, spatial, first, last);   \
    }                                                                                                                   \
    attributes static void maxpool_halves_backward_##suffix(const float *in, int height, int width, const float *delta, \
                                                            float *gradient, long planes) {                             \
        maxpool_halves_backward(in, height, width, delta, gradient, planes);                                            \
    }

DS_PASSES(portable, )
#ifdef DS_X86
DS_PASSES(avx2, __attribute__((target("avx2"))))
DS_PASSES(avx512, __attribute__((target("avx512f"))))
#endif

#ifdef DS_X86
#define DS_DISPATCH(pass, ...)                                                                                          \
    switch (ds_chosen_kernel()) {                                                                                          \
    case DS_AVX512: pass##_avx512(__VA_ARGS__); break;                                                                  \
    case DS_AVX2: pass##_avx2(__VA_ARGS__); break;                                                                      \
    default: pass##_portable(__VA_ARGS__); break;                                                                       \
    }
#else
#define DS_DISPATCH(pass, ...) pass##_portable(__VA_ARGS__)
#endif

void ds_activate(float *values, long count, ds_activation activation) {
    DS_DISPATCH(activate, values, count, activation)
}

void ds_activate_smooth(float *values, long count, ds_smooth activation) {
    DS_DISPATCH(activate_smooth, values, count, activation)
}

void ds_add_scaled(float *out, const float *previous, float alpha, const float *add, float beta, long count,
                   ds_activation activation) {
    DS_DISPATCH(add_scaled, out, previous, alpha, add, beta, count, activation)
}

void ds_add_sampled(float *out, float alpha, const float *add, long stride, float beta, long count) {
    DS_DISPATCH(add_sampled, out, alpha, add, stride, beta, count)
}

void ds_maxpool(const float *in, int height, int width, float *out, int out_height, int out_width, int size, int stride_x,
                int stride_y, int offset, long planes) {
    DS_DISPATCH(maxpool, in, height, width, out, out_height, out_width, size, stride_x, stride_y, offset, planes)
}

void ds_maxpool_halves_backward(const float *in, int height, int width, const float *delta, float *gradient, long planes) {
    DS_DISPATCH(maxpool_halves_backward, in, height, width, delta, gradient, planes)
}

void ds_batchnorm_normalize(const float *sums, float *values, float *normalized, const float *mean,
                            const double *divisor, const float *scale, const float *bias, int batch, int channels,
                            long spatial, int first, int last, ds_activation activation) {
    DS_DISPATCH(normalize, sums, values, normalized, mean, divisor, scale, bias, batch, channels, spatial, first, last,
                activation)
}

void ds_batchnorm_normalize_delta(float *delta, const float *x, const float *mean, const double *root,
                                  const double *variance_share, const double *mean_share, double n, int batch,
                                  int channels, long spatial, int first, int last) {
    DS_DISPATCH(normalize_delta, delta, x, mean, root, variance_share, mean_share, n, batch, channels, spatial, first,
                last)
}
