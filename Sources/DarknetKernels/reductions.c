// Sums over a channel's values in every image, as Darknet's batch norm takes them
// (`mean_cpu`, `variance_cpu`, `backward_scale_cpu`, `mean_delta_cpu`, `variance_delta_cpu`):
// one float sum per channel, value after value, image after image. Each sum is a chain of
// dependent adds, so one alone waits on the adder's latency; several channels' chains run side
// by side here, each still in its own order, so the results are Darknet's bit for bit.
#include "DarknetKernels.h"

#pragma STDC FP_CONTRACT OFF

/// One step of a sum: `a` the channel's value, `b` the other array's, `m` the channel's mean.
static inline __attribute__((always_inline)) float step(ds_channel_sum kind, float sum, float a, float b, float m) {
    switch (kind) {
    case DS_SUM: return sum + a;
    // Darknet adds pow's double square of the float difference to the float sum.
    case DS_SUM_SQUARED_DEVIATION: {
        const double d = (double)(a - m);
        return (float)((double)sum + d * d);
    }
    case DS_SUM_PRODUCT: return sum + a * b;
    case DS_SUM_PRODUCT_DEVIATION: return sum + a * (b - m);
    }
    return sum;
}

/// The most channels summed side by side.
#define MAX_LANES 8

/// `lanes` channels at a time: more hide a longer chain (the squares' conversions), fewer keep
/// the streams read at once within the cache's ways, as channels' planes a multiple of 4 KiB
/// apart land in the same sets (measured on Zen 4: 4 lanes 0.4 ns a value, 8 lanes 1.7 ns, for
/// products over 224 × 224 planes; the squares 0.7 ns with 8, 0.8 with 4).
static inline __attribute__((always_inline)) void channel_sums(ds_channel_sum kind, int lanes, const float *a,
                                                               const float *b, const float *mean, int batch,
                                                               int channels, long spatial, int first, int last,
                                                               float *out) {
    int c0 = first;
    for (; c0 + lanes <= last; c0 += lanes) {
        float sums[MAX_LANES] = {0}, means[MAX_LANES] = {0};
        if (mean) for (int l = 0; l < lanes; l++) means[l] = mean[c0 + l];
        for (int image = 0; image < batch; image++) {
            const long first = ((long)image * channels + c0) * spatial;
            const float *pa = a + first, *pb = b ? b + first : a + first;
            for (long i = 0; i < spatial; i++) {
                for (int l = 0; l < lanes; l++) sums[l] = step(kind, sums[l], pa[l * spatial + i], pb[l * spatial + i], means[l]);
            }
        }
        for (int l = 0; l < lanes; l++) out[c0 + l] = sums[l];
    }
    for (; c0 < last; c0++) {
        float sum = 0;
        const float m = mean ? mean[c0] : 0;
        for (int image = 0; image < batch; image++) {
            const long first = ((long)image * channels + c0) * spatial;
            const float *pa = a + first, *pb = b ? b + first : a + first;
            for (long i = 0; i < spatial; i++) sum = step(kind, sum, pa[i], pb[i], m);
        }
        out[c0] = sum;
    }
}

void ds_channel_sums(ds_channel_sum kind, const float *a, const float *b, const float *mean, int batch, int channels,
                     long spatial, int first, int last, float *out) {
    // The kind fixed in each copy, so that its loop holds only its own arithmetic.
    switch (kind) {
    case DS_SUM: channel_sums(DS_SUM, 4, a, b, mean, batch, channels, spatial, first, last, out); break;
    case DS_SUM_SQUARED_DEVIATION: channel_sums(DS_SUM_SQUARED_DEVIATION, 8, a, b, mean, batch, channels, spatial, first, last, out); break;
    case DS_SUM_PRODUCT: channel_sums(DS_SUM_PRODUCT, 4, a, b, mean, batch, channels, spatial, first, last, out); break;
    case DS_SUM_PRODUCT_DEVIATION: channel_sums(DS_SUM_PRODUCT_DEVIATION, 4, a, b, mean, batch, channels, spatial, first, last, out); break;
    }
}

// Batch norm's backward sums, two kinds to a pass where Darknet makes two passes: the
// values are read once, and each channel's two chains run side by side. Four channels at
// a time: their eight chains hide the adder's latency, and their streams stay within the
// L1's ways (planes often lie a multiple of 4 KiB apart).
enum { PAIRED_LANES = 4 };

/// `lanes` channels from c0 of `ds_batchnorm_delta_sums`; a constant where it is inlined, so
/// that the lanes' sums stay in registers.
static inline __attribute__((always_inline)) void delta_sums(int lanes, const float *delta, const float *normalized,
                                                             int batch, int channels, long spatial, int c0,
                                                             float *plane_sums, float *scale_sums) {
    float scale[PAIRED_LANES] = {0};
    for (int image = 0; image < batch; image++) {
        const long at = ((long)image * channels + c0) * spatial;
        const float *d = delta + at, *x = normalized + at;
        float plane[PAIRED_LANES] = {0};
        for (long i = 0; i < spatial; i++) {
            for (int l = 0; l < lanes; l++) {
                plane[l] = plane[l] + d[l * spatial + i];
                scale[l] = scale[l] + d[l * spatial + i] * x[l * spatial + i];
            }
        }
        for (int l = 0; l < lanes; l++) plane_sums[(long)image * channels + c0 + l] = plane[l];
    }
    for (int l = 0; l < lanes; l++) scale_sums[c0 + l] = scale[l];
}

void ds_batchnorm_delta_sums(const float *delta, const float *normalized, int batch, int channels, long spatial,
                             int first, int last, float *plane_sums, float *scale_sums) {
    int c0 = first;
    for (; c0 + PAIRED_LANES <= last; c0 += PAIRED_LANES) {
        delta_sums(PAIRED_LANES, delta, normalized, batch, channels, spatial, c0, plane_sums, scale_sums);
    }
    if (c0 < last) delta_sums(last - c0, delta, normalized, batch, channels, spatial, c0, plane_sums, scale_sums);
}

/// `lanes` channels from c0 of `ds_batchnorm_scale_delta`, as `delta_sums`.
static inline __attribute__((always_inline)) void scale_delta(int lanes, float *delta, const float *scale,
                                                              const float *x, const float *mean, int batch,
                                                              int channels, long spatial, int c0, float *mean_sums,
                                                              float *variance_sums) {
    float means[PAIRED_LANES] = {0}, variances[PAIRED_LANES] = {0}, s[PAIRED_LANES] = {0}, m[PAIRED_LANES] = {0};
    for (int l = 0; l < lanes; l++) s[l] = scale[c0 + l], m[l] = mean[c0 + l];
    for (int image = 0; image < batch; image++) {
        const long at = ((long)image * channels + c0) * spatial;
        float *d = delta + at;
        const float *v = x + at;
        for (long i = 0; i < spatial; i++) {
            for (int l = 0; l < lanes; l++) {
                const float scaled = d[l * spatial + i] * s[l];
                d[l * spatial + i] = scaled;
                means[l] = means[l] + scaled;
                variances[l] = variances[l] + scaled * (v[l * spatial + i] - m[l]);
            }
        }
    }
    for (int l = 0; l < lanes; l++) mean_sums[c0 + l] = means[l], variance_sums[c0 + l] = variances[l];
}

void ds_batchnorm_scale_delta(float *delta, const float *scale, const float *x, const float *mean, int batch,
                              int channels, long spatial, int first, int last, float *mean_sums, float *variance_sums) {
    int c0 = first;
    for (; c0 + PAIRED_LANES <= last; c0 += PAIRED_LANES) {
        scale_delta(PAIRED_LANES, delta, scale, x, mean, batch, channels, spatial, c0, mean_sums, variance_sums);
    }
    if (c0 < last) scale_delta(last - c0, delta, scale, x, mean, batch, channels, spatial, c0, mean_sums, variance_sums);
}
