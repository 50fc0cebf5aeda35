// Sums over a channel's values in every image, as Darknet's batch norm takes them
// (`mean_cpu`, `variance_cpu`, `backward_bias`, `backward_scale_cpu`, `mean_delta_cpu`,
// `variance_delta_cpu`): one float sum per channel, value after value, image after image.
// Each sum is a chain of dependent adds, so one alone waits on the adder's latency. The
// portable code runs a few channels' chains side by side; on x86, eight channels' values are
// loaded eight at a time and turned (an 8 × 8 transpose), so that one vector add takes the next
// value of each of eight chains. Every chain keeps its own order: the sums are Darknet's bit for bit.
#include "DarknetKernels.h"
#include "tile.h"

#ifdef DS_X86
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

/// Channels whose chains one turned pass runs.
enum { TURNED = 8 };

#ifdef DS_X86
/// Eight floats of each of eight channels, channel l's at p + l·stride, turned: v[j] holds
/// value j of every channel, channel l in lane l.
__attribute__((target("avx2"), always_inline)) static inline void load_turned(const float *p, long stride, __m256 v[8]) {
    __m256 r[8], t[8], u[8];
    for (int l = 0; l < 8; l++) r[l] = _mm256_loadu_ps(p + l * stride);
    for (int l = 0; l < 8; l += 2) t[l] = _mm256_unpacklo_ps(r[l], r[l + 1]), t[l + 1] = _mm256_unpackhi_ps(r[l], r[l + 1]);
    for (int h = 0; h < 8; h += 4) {
        u[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44), u[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
        u[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44), u[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) v[j] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x20), v[j + 4] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x31);
}

/// Value i of each of eight channels (channel l's at p + l·stride + i), one lane each.
__attribute__((target("avx2"), always_inline)) static inline __m256 load_across(const float *p, long stride, long i) {
    float lanes[8];
    for (int l = 0; l < 8; l++) lanes[l] = p[l * stride + i];
    return _mm256_loadu_ps(lanes);
}

/// (float)((double)sum + d·d) for d = (double)(a - m), lane by lane, as Darknet's variance.
__attribute__((target("avx2"), always_inline)) static inline __m256 add_square(__m256 sum, __m256 a, __m256 m) {
    const __m256 d = _mm256_sub_ps(a, m);
    const __m256d low = _mm256_cvtps_pd(_mm256_castps256_ps128(d)), high = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
    const __m256d s0 = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(sum)), _mm256_mul_pd(low, low));
    const __m256d s1 = _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(sum, 1)), _mm256_mul_pd(high, high));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(s0)), _mm256_cvtpd_ps(s1), 1);
}

/// `ds_channel_sums` for channels c0 ..< c0 + 8·blocks: blocks of eight channels side by side,
/// so that their chains hide each other's latency (the squares' conversions make a long one).
__attribute__((target("avx2"), always_inline)) static inline void channel_sums_turned(
    ds_channel_sum kind, int blocks, const float *a, const float *mean, int batch, int channels, long spatial, int c0,
    float *out) {
    __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, m[2];
    for (int k = 0; k < blocks; k++) m[k] = mean ? _mm256_loadu_ps(mean + c0 + TURNED * k) : _mm256_setzero_ps();
    for (int image = 0; image < batch; image++) {
        const float *p = a + ((long)image * channels + c0) * spatial;
        long i = 0;
        for (; i + 8 <= spatial; i += 8) {
            __m256 v[2][8];
            for (int k = 0; k < blocks; k++) load_turned(p + TURNED * k * spatial + i, spatial, v[k]);
            for (int j = 0; j < 8; j++) {
                for (int k = 0; k < blocks; k++) sum[k] = kind == DS_SUM ? _mm256_add_ps(sum[k], v[k][j]) : add_square(sum[k], v[k][j], m[k]);
            }
        }
        for (; i < spatial; i++) {
            for (int k = 0; k < blocks; k++) {
                const __m256 v = load_across(p + TURNED * k * spatial, spatial, i);
                sum[k] = kind == DS_SUM ? _mm256_add_ps(sum[k], v) : add_square(sum[k], v, m[k]);
            }
        }
    }
    for (int k = 0; k < blocks; k++) _mm256_storeu_ps(out + c0 + TURNED * k, sum[k]);
}

/// `channel_sums_turned` with its kind and blocks fixed.
__attribute__((target("avx2"))) static void channel_sums_on_avx(ds_channel_sum kind, const float *a, const float *mean,
                                                                int batch, int channels, long spatial, int first,
                                                                int last, float *out) {
    int c0 = first;
    for (; c0 + 2 * TURNED <= last; c0 += 2 * TURNED) {
        if (kind == DS_SUM) channel_sums_turned(DS_SUM, 2, a, mean, batch, channels, spatial, c0, out);
        else channel_sums_turned(DS_SUM_SQUARED_DEVIATION, 2, a, mean, batch, channels, spatial, c0, out);
    }
    if (c0 == last) return;
    if (kind == DS_SUM) channel_sums_turned(DS_SUM, 1, a, mean, batch, channels, spatial, c0, out);
    else channel_sums_turned(DS_SUM_SQUARED_DEVIATION, 1, a, mean, batch, channels, spatial, c0, out);
}
#endif

/// One step of a sum: `a` the channel's value, `m` its mean.
static inline __attribute__((always_inline)) float step(ds_channel_sum kind, float sum, float a, float m) {
    switch (kind) {
    case DS_SUM: return sum + a;
    // Darknet adds pow's double square of the float difference to the float sum.
    case DS_SUM_SQUARED_DEVIATION: {
        const double d = (double)(a - m);
        return (float)((double)sum + d * d);
    }
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
                                                               const float *mean, int batch, int channels, long spatial,
                                                               int first, int last, float *out) {
    int c0 = first;
    for (; c0 + lanes <= last; c0 += lanes) {
        float sums[MAX_LANES] = {0}, means[MAX_LANES] = {0};
        if (mean) for (int l = 0; l < lanes; l++) means[l] = mean[c0 + l];
        for (int image = 0; image < batch; image++) {
            const float *p = a + ((long)image * channels + c0) * spatial;
            for (long i = 0; i < spatial; i++) {
                for (int l = 0; l < lanes; l++) sums[l] = step(kind, sums[l], p[l * spatial + i], means[l]);
            }
        }
        for (int l = 0; l < lanes; l++) out[c0 + l] = sums[l];
    }
    for (; c0 < last; c0++) {
        float sum = 0;
        const float m = mean ? mean[c0] : 0;
        for (int image = 0; image < batch; image++) {
            const float *p = a + ((long)image * channels + c0) * spatial;
            for (long i = 0; i < spatial; i++) sum = step(kind, sum, p[i], m);
        }
        out[c0] = sum;
    }
}

/// The first channel the portable code takes: on x86, what whole turned blocks leave.
static int turn(ds_kernel kernel, int first, int last) {
#ifdef DS_X86
    if (kernel != DS_PORTABLE) return first + (last - first) / TURNED * TURNED;
#endif
    (void)kernel, (void)last;
    return first;
}

void ds_channel_sums(ds_kernel kernel, ds_channel_sum kind, const float *a, const float *mean, int batch, int channels,
                     long spatial, int first, int last, float *out) {
    const int rest = turn(kernel, first, last);
#ifdef DS_X86
    if (rest > first) channel_sums_on_avx(kind, a, mean, batch, channels, spatial, first, rest, out);
#endif
    // The kind fixed in each copy, so that its loop holds only its own arithmetic.
    if (kind == DS_SUM) channel_sums(DS_SUM, 4, a, mean, batch, channels, spatial, rest, last, out);
    else channel_sums(DS_SUM_SQUARED_DEVIATION, 8, a, mean, batch, channels, spatial, rest, last, out);
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

#ifdef DS_X86
/// `ds_batchnorm_delta_sums` for channels c0 ..< c0 + 8, turned.
__attribute__((target("avx2"))) static void delta_sums_turned(const float *delta, const float *normalized, int batch,
                                                              int channels, long spatial, int c0, float *plane_sums,
                                                              float *scale_sums) {
    __m256 scale = _mm256_setzero_ps();
    for (int image = 0; image < batch; image++) {
        const long at = ((long)image * channels + c0) * spatial;
        const float *d = delta + at, *x = normalized + at;
        __m256 plane = _mm256_setzero_ps();
        long i = 0;
        for (; i + 8 <= spatial; i += 8) {
            __m256 vd[8], vx[8];
            load_turned(d + i, spatial, vd);
            load_turned(x + i, spatial, vx);
            for (int j = 0; j < 8; j++) {
                plane = _mm256_add_ps(plane, vd[j]);
                scale = _mm256_add_ps(scale, _mm256_mul_ps(vd[j], vx[j]));
            }
        }
        for (; i < spatial; i++) {
            const __m256 vd = load_across(d, spatial, i);
            plane = _mm256_add_ps(plane, vd);
            scale = _mm256_add_ps(scale, _mm256_mul_ps(vd, load_across(x, spatial, i)));
        }
        _mm256_storeu_ps(plane_sums + (long)image * channels + c0, plane);
    }
    _mm256_storeu_ps(scale_sums + c0, scale);
}
#endif

void ds_batchnorm_delta_sums(ds_kernel kernel, const float *delta, const float *normalized, int batch, int channels,
                             long spatial, int first, int last, float *plane_sums, float *scale_sums) {
    int c0 = turn(kernel, first, last);
#ifdef DS_X86
    for (int c = first; c < c0; c += TURNED) delta_sums_turned(delta, normalized, batch, channels, spatial, c, plane_sums, scale_sums);
#endif
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

#ifdef DS_X86
/// `ds_batchnorm_scale_delta` for channels c0 ..< c0 + 8: the deltas scaled where they lie, then turned.
__attribute__((target("avx2"))) static void scale_delta_turned(float *delta, const float *scale, const float *x,
                                                               const float *mean, int batch, int channels, long spatial,
                                                               int c0, float *mean_sums, float *variance_sums) {
    __m256 means = _mm256_setzero_ps(), variances = _mm256_setzero_ps();
    const __m256 m = _mm256_loadu_ps(mean + c0);
    for (int image = 0; image < batch; image++) {
        const long at = ((long)image * channels + c0) * spatial;
        float *d = delta + at;
        const float *v = x + at;
        long i = 0;
        for (; i + 8 <= spatial; i += 8) {
            for (int l = 0; l < 8; l++) {
                float *row = d + l * spatial + i;
                _mm256_storeu_ps(row, _mm256_mul_ps(_mm256_loadu_ps(row), _mm256_set1_ps(scale[c0 + l])));
            }
            __m256 vd[8], vx[8];
            load_turned(d + i, spatial, vd);
            load_turned(v + i, spatial, vx);
            for (int j = 0; j < 8; j++) {
                means = _mm256_add_ps(means, vd[j]);
                variances = _mm256_add_ps(variances, _mm256_mul_ps(vd[j], _mm256_sub_ps(vx[j], m)));
            }
        }
        for (; i < spatial; i++) {
            for (int l = 0; l < 8; l++) d[l * spatial + i] *= scale[c0 + l];
            const __m256 vd = load_across(d, spatial, i);
            means = _mm256_add_ps(means, vd);
            variances = _mm256_add_ps(variances, _mm256_mul_ps(vd, _mm256_sub_ps(load_across(v, spatial, i), m)));
        }
    }
    _mm256_storeu_ps(mean_sums + c0, means);
    _mm256_storeu_ps(variance_sums + c0, variances);
}
#endif

void ds_batchnorm_scale_delta(ds_kernel kernel, float *delta, const float *scale, const float *x, const float *mean,
                              int batch, int channels, long spatial, int first, int last, float *mean_sums,
                              float *variance_sums) {
    int c0 = turn(kernel, first, last);
#ifdef DS_X86
    for (int c = first; c < c0; c += TURNED) scale_delta_turned(delta, scale, x, mean, batch, channels, spatial, c, mean_sums, variance_sums);
#endif
    for (; c0 + PAIRED_LANES <= last; c0 += PAIRED_LANES) {
        scale_delta(PAIRED_LANES, delta, scale, x, mean, batch, channels, spatial, c0, mean_sums, variance_sums);
    }
    if (c0 < last) scale_delta(last - c0, delta, scale, x, mean, batch, channels, spatial, c0, mean_sums, variance_sums);
}
