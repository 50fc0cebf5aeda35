// The convolution's inner loops: im2col, GEMM and what follows it (batch norm, bias,
// activation) fused tile by tile, so no column matrix is ever built and each output
// value is written once. With Darknet's epilogue (not folded) each sum is Darknet's, bit for
// bit: products added in k order, each rounded; with the folded one, fused multiply-adds.
// Vector code for x86-64 CPUs with AVX-512 or AVX2, chosen at run time; plain C elsewhere.
#ifndef DARKNET_KERNELS_H
#define DARKNET_KERNELS_H

#include <stddef.h>

/// The inner loops' instruction sets. Each packs weights its own way.
typedef enum { DS_PORTABLE = 0, DS_AVX2 = 1, DS_AVX512 = 2 } ds_kernel;

/// What follows the GEMM for each output channel, as Darknet computes it at test time.
typedef enum { DS_IDENTITY = 0, DS_LEAKY = 1, DS_RELU = 2 } ds_activation;

typedef struct {
    /// Batch norm: NULL without it. Otherwise x = (x - mean) * inverse (in double), x *= scale.
    const float *mean;
    const double *inverse;
    const float *scale;
    /// Added after batch norm.
    const float *bias;
    ds_activation activation;
    /// Nonzero: batch norm and bias folded into one float multiply-add and leaky as 0.1f × x
    /// (`ds_fold`), which is faster where the sums are short, but not Darknet's rounding.
    /// Winograd's convolutions always fold.
    int folded;
    /// Nonzero: a Darknet `[shortcut]` after the convolution (the same shape, alpha = beta = 1)
    /// done in its epilogue: each output, once activated, has the value `shortcut` floats
    /// after it added, then `shortcut_activation` applied, rounded as `ds_add_scaled` rounds.
    long shortcut;
    ds_activation shortcut_activation;
} ds_epilogue;

/// Applies channel `channel`'s epilogue to `count` contiguous values.
void ds_finish(const ds_epilogue *epilogue, int channel, float *values, long count);

/// Applies `activation` to `count` values in place, as Darknet rounds it (leaky's 0.1 in double).
void ds_activate(float *values, long count, ds_activation activation);

/// AlexeyAB's smooth activations, in float with a polynomial exp (within 2e-7 of e^x,
/// relative), which vectorises: they are most of EfficientNet's time otherwise.
typedef enum { DS_SWISH = 0, DS_MISH = 1 } ds_smooth;
void ds_activate_smooth(float *values, long count, ds_smooth activation);

/// out = activation(alpha × previous + beta × add), value by value, as Darknet rounds it
/// (two products, their sum, then the activation).
void ds_add_scaled(float *out, const float *previous, float alpha, const float *add, float beta, long count,
                   ds_activation activation);

/// What `ds_channel_sums` adds up for each value: a, or (a - mean)² (in double, added to the
/// float sum, as Darknet's pow).
typedef enum { DS_SUM = 0, DS_SUM_SQUARED_DEVIATION = 1 } ds_channel_sum;

/// For each channel c in [first, last), out[c] = the float sum, in Darknet's order (image after
/// image, then value after value), of `kind`'s term over the channel's values: `a` is `batch`
/// images of `channels` planes of `spatial` floats, `mean` one per channel (or NULL). On
/// `kernel`'s instructions (which must run here); every kernel's sums are the same.
void ds_channel_sums(ds_kernel kernel, ds_channel_sum kind, const float *a, const float *mean, int batch, int channels,
                     long spatial, int first, int last, float *out);

/// Batch norm's training passes over channels [first, last) of `batch` images of `channels`
/// planes of `spatial` floats, each sum a float chain in Darknet's order, as ds_channel_sums'.
/// Darknet's `backward_bias` and `backward_scale_cpu` in one pass: each plane's sum of
/// `delta` (plane_sums[image × channels + c]) and each channel's of delta × normalized.
void ds_batchnorm_delta_sums(ds_kernel kernel, const float *delta, const float *normalized, int batch, int channels,
                             long spatial, int first, int last, float *plane_sums, float *scale_sums);

/// delta ×= scale[c] in place, then Darknet's `mean_delta_cpu` and `variance_delta_cpu` sums
/// of it in the same pass: Σ delta and Σ delta × (x - mean[c]).
void ds_batchnorm_scale_delta(ds_kernel kernel, float *delta, const float *scale, const float *x, const float *mean,
                              int batch, int channels, long spatial, int first, int last, float *mean_sums,
                              float *variance_sums);

/// Darknet's `normalize_cpu`, its scale and bias, then its activation: normalized =
/// (float)((double)(sums - mean[c]) / divisor[c]), values = activation(normalized × scale[c] + bias[c]).
void ds_batchnorm_normalize(const float *sums, float *values, float *normalized, const float *mean,
                            const double *divisor, const float *scale, const float *bias, int batch, int channels,
                            long spatial, int first, int last, ds_activation activation);

/// Darknet's `normalize_delta_cpu`: delta = (float)((double)delta / root[c] + variance_share[c]
/// × (double)(x - mean[c]) / n + mean_share[c]).
void ds_batchnorm_normalize_delta(float *delta, const float *x, const float *mean, const double *root,
                                  const double *variance_share, const double *mean_share, double n, int batch,
                                  int channels, long spatial, int first, int last);

/// out[x] = alpha × out[x] + beta × add[x × stride] for x < count, rounded as `ds_add_scaled`:
/// a shortcut's row, where the layer it adds is larger (`stride` > 1) or of the same size.
void ds_add_sampled(float *out, float alpha, const float *add, long stride, float beta, long count);

/// Darknet's maxpool over `planes` planes of height × width: each output the largest
/// input of its size × size window, which starts `offset` rows and columns before
/// (output x × stride_x, y × stride_y); cells outside the plane never win.
void ds_maxpool(const float *in, int height, int width, float *out, int out_height, int out_width, int size, int stride_x,
                int stride_y, int offset, long planes);

/// The backward pass of `ds_maxpool` with size 2 and stride 2 over `planes` planes of even
/// height and width: each window's delta (`delta`, planes of height/2 × width/2) added to
/// the gradient of the cell of `in` that won it (the first of the largest).
void ds_maxpool_halves_backward(const float *in, int height, int width, const float *delta, float *gradient, long planes);

/// y[r] = Σ over c of weights[r × columns + c] × x[c], for rows [first_row, last_row): a
/// connected layer's product for one image, on `ds_chosen_kernel`'s instructions.
void ds_gemv(const float *weights, long columns, const float *x, float *y, long first_row, long last_row);

/// c[i × ldc + j] += Σ over p < k of a[i × lda + p] × b[j × ldb + p], for i < m, j < n: BLAS's
/// sgemm with B transposed and beta 1, on `kernel`'s instructions (which must run here), by
/// fused multiply-adds in no fixed order.
void ds_gemm_nt(ds_kernel kernel, int m, int n, long k, const float *a, long lda, const float *b, long ldb, float *c,
                long ldc);

/// Whether this CPU can run `kernel`.
int ds_kernel_runs_here(ds_kernel kernel);

/// The kernel named `name` ("avx512", "avx2" or "portable"), or -1 for any other name.
int ds_kernel_named(const char *name);

/// The environment variable that names the kernels' instruction set (`ds_chosen_kernel`).
#define DS_ISA_VARIABLE "DARKSCOPE_ISA"

/// The kernels every pass uses: the one the environment variable DARKSCOPE_ISA names if
/// this CPU runs it (to measure or test a narrower instruction set on a wider CPU), else
/// the widest this CPU runs. Read once; the same for the whole process.
ds_kernel ds_chosen_kernel(void);

/// Rows of a weight panel: as many accumulators as `kernel`'s registers hold.
int ds_panel_rows(ds_kernel kernel);

/// Floats `ds_pack_weights` writes for an m × k weight matrix.
long ds_packed_weights_count(ds_kernel kernel, int m, int k);

/// Reorders an m × k row-major weight matrix into the panels `kernel` reads.
void ds_pack_weights(ds_kernel kernel, const float *weights, int m, int k, float *packed);

/// The input of one convolution: `channels` planes of height × width floats. Output (y, x)'s
/// window starts at (y · stride_y − padding, x · stride_x − padding) and takes every
/// `dilation`-th pixel, `size` of them across and down.
typedef struct {
    const float *image;
    int channels, height, width;
    int size, stride_x, stride_y, dilation, padding;
    int out_height, out_width;
    /// NULL, or the image as `ds_split_phases` lays it out: then every panel of outputs that
    /// lies in one output row is read in place, at any stride, edges included.
    const float *phases;
} ds_convolution;

/// Darknet's im2col of `convolution`'s image: row (c, dy, dx), `row_stride` floats after the
/// last, holds at y × out_width + x the pixel its window's tap (dy, dx) reads, or 0 outside
/// the image.
void ds_im2col(const ds_convolution *convolution, float *columns, long row_stride);

/// Floats `ds_split_phases` writes for `convolution`; 0 where it does not apply (unequal
/// strides, dilation, a 1 × 1 image).
long ds_phases_count(const ds_convolution *convolution);

/// The image split by phase for a convolution of stride s: s × s planes a channel, plane
/// (ry, rx) holding pixels (s·Y + ry, s·X + rx), zero-padded around so that each window's
/// taps, stride 1 apart in their planes, never leave them. Only the rows that output columns
/// [first, last) read are written: a thread splits what its share of the columns needs.
void ds_split_phases(const ds_convolution *convolution, long first, long last, float *phases);

/// Computes output columns [first, last) (positions y * out_width + x) of rows
/// [first_row, last_row) (first_row a multiple of `ds_panel_rows(kernel)`) of the m:
/// out[row * out_height * out_width + column] = epilogue(sum over k of weights × im2col),
/// with weights packed by `ds_pack_weights(kernel, ·, m, channels * size * size, ·)`.
/// With `epilogue` NULL, out[…] += the sum, by fused multiply-adds: a gradient added to.
/// `kernel` must run here.
void ds_convolve(ds_kernel kernel, const ds_convolution *convolution, const float *packed, int m,
                 const ds_epilogue *epilogue, long first, long last, int first_row, int last_row, float *out);

/// A depthwise convolution (Darknet's groups = channels = filters: one size × size filter a
/// channel, `weights` in Darknet's order; stride_x = stride_y, dilation 1): channels [first_channel, last_channel), output
/// rows [first_row, last_row), each sum in Darknet's order (k ascending, each product
/// rounded: its GEMM's, bit for bit), then the channel's epilogue.
void ds_depthwise(const ds_convolution *convolution, const float *weights, const ds_epilogue *epilogue,
                  int first_channel, int last_channel, int first_row, int last_row, float *out);

/// Winograd's F(4×4, 3×3), F(2×2, 3×3) and F(2×2, 5×5), for convolutions of stride 1 (and
/// dilation 1) that keep the image's size only (see winograd.c). Faster, and not Darknet's sums: its error is
/// measured, not nil. The outputs come in tiles of `size` × `size` (4 or 2; 2 for a 5 × 5
/// `filter`), numbered row after row.
long ds_winograd_tiles(const ds_convolution *convolution, int size);

/// Floats `ds_winograd_pack_weights` writes for m filters of `channels` planes.
long ds_winograd_packed_count(ds_kernel kernel, int m, int channels, int filter, int size);

/// Transforms m × channels × filter × filter weights (Darknet's order) and packs them for `kernel`.
void ds_winograd_pack_weights(ds_kernel kernel, const float *weights, int m, int channels, int filter, int size,
                              float *packed);

/// Floats of working memory one call of `ds_winograd` needs.
long ds_winograd_scratch_count(ds_kernel kernel, int channels, int filter, int size);

/// As `ds_convolve`, over tiles [first, last) (first a multiple of 16) instead of columns.
/// Calls running at once need `scratch` each their own. With `epilogue` NULL, the sums are
/// added to the outputs, as `ds_convolve`'s (`pooled` must be 0). When `pooled` (the image's height
/// and width even), writes instead what Darknet's maxpool of size 2 and stride 2 makes of
/// those outputs: planes of height/2 × width/2, each value the largest of its 2 × 2 window.
void ds_winograd(ds_kernel kernel, const ds_convolution *convolution, int size, const float *packed, int m,
                 const ds_epilogue *epilogue, long first, long last, int first_row, int last_row, float *scratch,
                 int pooled, float *out);

#endif
