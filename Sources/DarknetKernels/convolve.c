// Convolution as a blocked GEMM (after BLIS's layout): weights packed once into panels of
// MR rows (MR depends on the kernel); the im2col columns packed NR at a time into a small
// panel that stays in L1; an MR × NR tile of outputs accumulated in registers over a block
// of K, then stored with the epilogue applied if it was the last block.
#include "DarknetKernels.h"
#include "tile.h"

#include <stdlib.h>
#include <string.h>

#ifdef DS_X86
#include <immintrin.h>
#endif

// Darknet's GEMM adds each product, rounded, to the sum so far, k after k; so do the exact
// tiles (no fused multiply-add, and a K block starts from the sum the last one left), which
// makes a convolution's sums bit for bit Darknet's. The fused tiles, for the folded
// epilogue's convolutions (Winograd's default path), multiply-add in one instruction: on
// Zen 4 ResNet-50 5 % faster, and on CPUs whose adds share the FMA pipes (Intel's) twice
// the products a cycle.
#pragma STDC FP_CONTRACT OFF


int ds_panel_rows(ds_kernel kernel) { return kernel == DS_AVX512 ? 24 : 6; }
// The packed weights of one K block (all panels) should stay in L2.
static const long weight_block_budget = 512 * 1024 / sizeof(float);

static inline float finish_one(const ds_epilogue *e, int channel, float x) {
    if (e->folded) {
        float multiplier, addend;
        ds_fold(e, channel, &multiplier, &addend);
        x = x * multiplier + addend;
        switch (e->activation) {
        case DS_LEAKY: return x > 0 ? x : 0.1f * x;
        case DS_RELU: return x > 0 ? x : 0;
        default: return x;
        }
    }
    if (e->mean) {
        x = (float)((double)(x - e->mean[channel]) * e->inverse[channel]);
        x = x * e->scale[channel];
    }
    return ds_activate_one(e->activation, x + e->bias[channel]);
}

void ds_finish(const ds_epilogue *epilogue, int channel, float *values, long count) {
    for (long i = 0; i < count; i++) values[i] = finish_one(epilogue, channel, values[i]);
    if (epilogue->shortcut) ds_add_shortcut(epilogue, values, count);
}

long ds_packed_weights_count(ds_kernel kernel, int m, int k) {
    const int mr = ds_panel_rows(kernel);
    return (long)((m + mr - 1) / mr) * mr * k;
}

void ds_pack_weights(ds_kernel kernel, const float *weights, int m, int k, float *packed) {
    const int mr = ds_panel_rows(kernel);
    for (int panel = 0; panel < m; panel += mr) {
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < mr; r++) {
                *packed++ = panel + r < m ? weights[(long)(panel + r) * k + p] : 0;
            }
        }
    }
}

/// A panel's columns as runs that each lie in one output row: where each starts in the
/// panel (`at`), and where its first receptive field starts in the input plane.
typedef struct {
    int at[NR + 1], top[NR], left[NR], count;
} column_runs;

static column_runs find_runs(const ds_convolution *c, long n0, int cols) {
    column_runs runs = {.at = {0}, .count = 0};
    while (runs.at[runs.count] < cols) {
        const int r = runs.count;
        const long n = n0 + runs.at[r];
        const int x = (int)(n % c->out_width), room = c->out_width - x;
        runs.top[r] = (int)(n / c->out_width) * c->stride_y - c->padding;
        runs.left[r] = x * c->stride_x - c->padding;
        runs.at[r + 1] = runs.at[r] + (room < cols - runs.at[r] ? room : cols - runs.at[r]);
        runs.count++;
    }
    return runs;
}

/// One im2col row (the window's pixel at offsets dy, dx in `plane`) of a panel, zero beyond `cols`.
/// Runs of at most NR floats: loops, not libc calls.
__attribute__((no_builtin("memcpy", "memset")))
static void pack_row(const ds_convolution *c, const column_runs *runs, const float *plane, int dy, int dx,
                     int cols, float *panel) {
    for (int r = 0; r < runs->count; r++) {
        float *to = panel + runs->at[r];
        const int len = runs->at[r + 1] - runs->at[r], y = runs->top[r] + dy, x = runs->left[r] + dx;
        if (y < 0 || y >= c->height) {
            for (int t = 0; t < len; t++) to[t] = 0;
            continue;
        }
        const float *row = plane + (long)y * c->width;
        for (int t = 0; t < len; t++) {
            const int xt = x + t * c->stride_x;
            to[t] = xt >= 0 && xt < c->width ? row[xt] : 0;
        }
    }
    for (int j = cols; j < NR; j++) panel[j] = 0;
}

/// Packs one im2col row of a panel, as `pack_row` does.
typedef void (*row_packer)(const ds_convolution *c, const column_runs *runs, const float *plane, int dy, int dx,
                           int cols, float *panel);

static inline __attribute__((always_inline)) void tile_portable_rows(const int fused, int rows, int kc, const float *a,
                                                                      const float *b, const long *rows_at, float *out,
                                                                      long ldc, int cols, int accumulate,
                                                                      const ds_epilogue *finish, int row0) {
    enum { MR = 6 };
    float acc[MR][NR] = {{0}};
    for (int r = 0; r < rows && accumulate; r++) {
        for (int j = 0; j < cols; j++) acc[r][j] = out[r * ldc + j];
    }
    for (int p = 0; p < kc; p++, a += MR) {
        const float *column = b + rows_at[p];
        for (int r = 0; r < rows; r++) {
            // fmaf: one instruction where the CPU has it (every 64-bit ARM), so the fused
            // sums are the same on every kernel.
            for (int j = 0; j < NR; j++) acc[r][j] = fused ? __builtin_fmaf(a[r], column[j], acc[r][j]) : acc[r][j] + a[r] * column[j];
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < cols; j++) out[r * ldc + j] = finish ? finish_one(finish, row0 + r, acc[r][j]) : acc[r][j];
        if (finish && finish->shortcut) ds_add_shortcut(finish, out + r * ldc, cols);
    }
}

static void tile_portable(int rows, int kc, const float *a, const float *b, const long *rows_at, float *out, long ldc,
                          int cols, int accumulate, const ds_epilogue *finish, int row0) {
    tile_portable_rows(0, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0);
}

static void tile_portable_fused(int rows, int kc, const float *a, const float *b, const long *rows_at, float *out,
                                long ldc, int cols, int accumulate, const ds_epilogue *finish, int row0) {
    tile_portable_rows(1, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0);
}

// Vector code, x86 only; each function compiled for its instruction set and chosen at run time.
#ifdef DS_X86
/// `pack_row` for unit stride in one vector: each run a masked load, whose lanes outside
/// the image read nothing (masked lanes never fault) and are zero.
__attribute__((target("avx512f")))
static void pack_row_avx512(const ds_convolution *c, const column_runs *runs, const float *plane, int dy, int dx,
                            int cols, float *panel) {
    (void)cols;
    __m512 values = _mm512_setzero_ps();
    for (int r = 0; r < runs->count; r++) {
        const int y = runs->top[r] + dy;
        if (y < 0 || y >= c->height) continue;
        const int at = runs->at[r], len = runs->at[r + 1] - at, x = runs->left[r] + dx;
        const int lo = x < 0 ? -x : 0, hi = c->width - x < len ? c->width - x : len;
        if (hi <= lo) continue;
        const __mmask16 lanes = (__mmask16)((((1u << (hi - lo)) - 1)) << (at + lo));
        values = _mm512_mask_loadu_ps(values, lanes, plane + (long)y * c->width + x - at);
    }
    _mm512_store_ps(panel, values);
}

/// `pack_row` for stride 2: each run two masked loads of the floats it spans, and a
/// permutation that keeps every other one.
__attribute__((target("avx512f,bmi2")))
static void pack_row_avx512_stride2(const ds_convolution *c, const column_runs *runs, const float *plane, int dy, int dx,
                                    int cols, float *panel) {
    (void)cols;
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512 values = _mm512_setzero_ps();
    for (int r = 0; r < runs->count; r++) {
        const int y = runs->top[r] + dy;
        if (y < 0 || y >= c->height) continue;
        const int at = runs->at[r], len = runs->at[r + 1] - at, x = runs->left[r] + dx;
        // Lane at + t reads x + 2t: inside the row for t in [lo, hi).
        const int lo = x < 0 ? (1 - x) / 2 : 0, last = (c->width - 1 - x) / 2 + 1;
        const int hi = c->width - 1 - x < 0 ? 0 : last < len ? last : len;
        if (hi <= lo) continue;
        const unsigned lanes = ((1u << (hi - lo)) - 1) << (at + lo);
        // Float 2j after `from` is lane j's: the lanes' bits spread to the even positions.
        const unsigned spread = _pdep_u32(lanes, 0x55555555u);
        const float *from = plane + (long)y * c->width + x - 2 * at;
        const __m512 low = _mm512_maskz_loadu_ps((__mmask16)spread, from);
        const __m512 high = _mm512_maskz_loadu_ps((__mmask16)(spread >> 16), from + 16);
        values = _mm512_mask_mov_ps(values, (__mmask16)lanes, _mm512_permutex2var_ps(low, evens, high));
    }
    _mm512_store_ps(panel, values);
}

/// `pack_row` for stride 4 (AlexNet's first layer): each run four masked loads of the floats
/// it spans, and two permutations and a shuffle that keep every fourth one.
__attribute__((target("avx512f,bmi2")))
static void pack_row_avx512_stride4(const ds_convolution *c, const column_runs *runs, const float *plane, int dy, int dx,
                                    int cols, float *panel) {
    (void)cols;
    // Lanes 0-7 take floats 0, 4, ..., 28 of the two registers permuted.
    const __m512i fourths = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    __m512 values = _mm512_setzero_ps();
    for (int r = 0; r < runs->count; r++) {
        const int y = runs->top[r] + dy;
        if (y < 0 || y >= c->height) continue;
        const int at = runs->at[r], len = runs->at[r + 1] - at, x = runs->left[r] + dx;
        // Lane at + t reads x + 4t: inside the row for t in [lo, hi).
        const int lo = x < 0 ? (3 - x) / 4 : 0, last = (c->width - 1 - x) / 4 + 1;
        const int hi = c->width - 1 - x < 0 ? 0 : last < len ? last : len;
        if (hi <= lo) continue;
        const unsigned lanes = ((1u << (hi - lo)) - 1) << (at + lo);
        // Float 4j after `from` is lane j's: the lanes' bits spread to every fourth position.
        const unsigned long long spread = _pdep_u64(lanes, 0x1111111111111111ull);
        const float *from = plane + (long)y * c->width + x - 4 * at;
        __m512 q[4];
        for (int i = 0; i < 4; i++) q[i] = _mm512_maskz_loadu_ps((__mmask16)(spread >> (16 * i)), from + 16 * i);
        const __m512 low = _mm512_permutex2var_ps(q[0], fourths, q[1]), high = _mm512_permutex2var_ps(q[2], fourths, q[3]);
        values = _mm512_mask_mov_ps(values, (__mmask16)lanes, _mm512_shuffle_f32x4(low, high, 0x44));
    }
    _mm512_store_ps(panel, values);
}

__attribute__((target("avx2,fma"), always_inline))
static inline void tile_avx2_rows(const int fused, const int rows, int kc, const float *a, const float *b, const long *rows_at, float *out, long ldc,
                                  int cols, int accumulate, const ds_epilogue *finish, int row0) {
    enum { MR = 6 };
    __m256 acc[MR][2];
    // A partial tile goes through `edge`, so that loads and stores stay whole vectors.
    float edge[MR][NR] __attribute__((aligned(32)));
    float *base = cols < NR ? edge[0] : out;
    const long stride = cols < NR ? NR : ldc;
    for (int r = 0; r < rows && accumulate && cols < NR; r++) memcpy(edge[r], out + r * ldc, sizeof(float) * cols);
    for (int r = 0; r < rows; r++) {
        acc[r][0] = accumulate ? _mm256_loadu_ps(base + r * stride) : _mm256_setzero_ps();
        acc[r][1] = accumulate ? _mm256_loadu_ps(base + r * stride + 8) : _mm256_setzero_ps();
    }
    for (int p = 0; p < kc; p++, a += MR) {
        // As the AVX-512 tile: ask for the streamed weights 3 KB ahead (128 steps; 64 were 12 % slower).
        __builtin_prefetch(a + 128 * MR);
        const __m256 b0 = _mm256_loadu_ps(b + rows_at[p]), b1 = _mm256_loadu_ps(b + rows_at[p] + 8);
        for (int r = 0; r < rows; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r);
            acc[r][0] = fused ? _mm256_fmadd_ps(x, b0, acc[r][0]) : _mm256_add_ps(acc[r][0], _mm256_mul_ps(x, b0));
            acc[r][1] = fused ? _mm256_fmadd_ps(x, b1, acc[r][1]) : _mm256_add_ps(acc[r][1], _mm256_mul_ps(x, b1));
        }
    }
    for (int r = 0; r < rows; r++) {
        if (finish) {
            acc[r][0] = ds_finish_avx2(finish, row0 + r, acc[r][0]);
            acc[r][1] = ds_finish_avx2(finish, row0 + r, acc[r][1]);
        }
        _mm256_storeu_ps(base + r * stride, acc[r][0]);
        _mm256_storeu_ps(base + r * stride + 8, acc[r][1]);
    }
    if (cols < NR) {
        for (int r = 0; r < rows; r++) memcpy(out + r * ldc, edge[r], sizeof(float) * cols);
    }
    for (int r = 0; r < rows && finish && finish->shortcut; r++) ds_add_shortcut(finish, out + r * ldc, cols);
}

/// One copy per row count, so that the accumulators stay in registers.
#define DS_TILE_AVX2(name, fused)                                                                                        \
    __attribute__((target("avx2,fma"))) static void name(int rows, int kc, const float *a, const float *b,              \
                                                         const long *rows_at, float *out, long ldc, int cols,          \
                                                         int accumulate, const ds_epilogue *finish, int row0) {        \
        switch (rows) {                                                                                                 \
        case 6: tile_avx2_rows(fused, 6, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break;          \
        case 5: tile_avx2_rows(fused, 5, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break;          \
        case 4: tile_avx2_rows(fused, 4, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break;          \
        case 3: tile_avx2_rows(fused, 3, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break;          \
        case 2: tile_avx2_rows(fused, 2, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break;          \
        default: tile_avx2_rows(fused, 1, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break;         \
        }                                                                                                               \
    }

DS_TILE_AVX2(tile_avx2, 0)
DS_TILE_AVX2(tile_avx2_fused, 1)

/// The epilogue's shortcut (`ds_epilogue.shortcut`) for the `mask` lanes of finished outputs
/// `x`, which go to `at`.
__attribute__((target("avx512f")))
static inline __m512 shortcut_avx512(const ds_epilogue *e, __m512 x, const float *at, __mmask16 mask) {
    return ds_activate_avx512(e->shortcut_activation, _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, at + e->shortcut)));
}

/// `rows` (a multiple of 4) rows computed, the first `real` of them stored.
__attribute__((target("avx512f"), always_inline))
static inline void tile_avx512_rows(const int fused, const int rows, int real, int kc, const float *a, const float *b, const long *rows_at,
                                    float *out, long ldc, int cols, int accumulate, const ds_epilogue *finish, int row0) {
    enum { MR = 24 };
    const __mmask16 mask = (__mmask16)((1u << cols) - 1);
    __m512 acc[MR];
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++) {
        acc[r] = accumulate && r < real ? _mm512_maskz_loadu_ps(mask, out + r * ldc) : _mm512_setzero_ps();
    }
    for (int p = 0; p < kc; p++, a += MR) {
        // The weights stream from memory where nothing else reuses them (Winograd's on a
        // 14 × 14 or 7 × 7 image: 5 to 75 MB a layer, read once a pass), faster than the
        // hardware prefetcher fetches them: ask 32 steps (3 KB) ahead. 10-20 % on those layers.
        __builtin_prefetch(a + 32 * MR);
        const __m512 column = _mm512_loadu_ps(b + rows_at[p]);
#pragma clang loop unroll(full)
        for (int r = 0; r < rows; r++) {
            const __m512 x = _mm512_set1_ps(a[r]);
            acc[r] = fused ? _mm512_fmadd_ps(x, column, acc[r]) : _mm512_add_ps(acc[r], _mm512_mul_ps(x, column));
        }
    }
    // Unrolled like the loops above: a loop to `real` would index the accumulators at run
    // time and so spill them all to the stack (5 % of a Winograd layer, whose sums are short).
#pragma clang loop unroll(full)
    for (int r = 0; r < rows; r++) {
        if (r < real) {
            __m512 x = finish ? ds_finish_avx512(finish, row0 + r, acc[r]) : acc[r];
            if (finish && finish->shortcut) x = shortcut_avx512(finish, x, out + r * ldc, mask);
            _mm512_mask_storeu_ps(out + r * ldc, mask, x);
        }
    }
}

/// One copy per multiple of four rows, so that the accumulators stay in registers.
#define DS_TILE_AVX512(name, fused)                                                                                      \
    __attribute__((target("avx512f"))) static void name(int rows, int kc, const float *a, const float *b,              \
                                                        const long *rows_at, float *out, long ldc, int cols,           \
                                                        int accumulate, const ds_epilogue *finish, int row0) {         \
        switch ((rows + 3) / 4) {                                                                                       \
        case 6: tile_avx512_rows(fused, 24, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break; \
        case 5: tile_avx512_rows(fused, 20, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break; \
        case 4: tile_avx512_rows(fused, 16, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break; \
        case 3: tile_avx512_rows(fused, 12, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break; \
        case 2: tile_avx512_rows(fused, 8, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break;  \
        default: tile_avx512_rows(fused, 4, rows, kc, a, b, rows_at, out, ldc, cols, accumulate, finish, row0); break; \
        }                                                                                                               \
    }

DS_TILE_AVX512(tile_avx512, 0)
DS_TILE_AVX512(tile_avx512_fused, 1)

/// `narrow_avx512` for `columns` (1 to 4) columns, so that the sums stay in registers.
__attribute__((target("avx512f"), always_inline))
static inline void narrow_avx512_columns(const int fused, const int columns, int rows, int k, const float *a, const float *b, long b_stride,
                                         float *out, long row_stride, long column_stride) {
    enum { MR = 24 };
    __m512 low[4], high[4];
#pragma clang loop unroll(full)
    for (int j = 0; j < columns; j++) low[j] = high[j] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++, a += MR, b += b_stride) {
        const __m512 first = _mm512_loadu_ps(a), rest = _mm512_maskz_loadu_ps(0xff, a + 16);
#pragma clang loop unroll(full)
        for (int j = 0; j < columns; j++) {
            const __m512 x = _mm512_set1_ps(b[j]);
            low[j] = fused ? _mm512_fmadd_ps(first, x, low[j]) : _mm512_add_ps(low[j], _mm512_mul_ps(first, x));
            high[j] = fused ? _mm512_fmadd_ps(rest, x, high[j]) : _mm512_add_ps(high[j], _mm512_mul_ps(rest, x));
        }
    }
    float sums[4][32] __attribute__((aligned(64)));
#pragma clang loop unroll(full)
    for (int j = 0; j < columns; j++) _mm512_store_ps(sums[j], low[j]), _mm512_store_ps(sums[j] + 16, high[j]);
    for (int j = 0; j < columns; j++) {
        for (int r = 0; r < rows; r++) out[r * row_stride + j * column_stride] = sums[j][r];
    }
}

/// The product of one packed weight panel (24 rows) and `columns` columns, with the panel's
/// rows in the vector lanes rather than the columns: for a few columns, which would leave
/// most of the tile's 16 lanes empty. Sums in k order, fused or not as the tile's, so equal to them.
#define DS_NARROW_AVX512(name, fused)                                                                                    \
    __attribute__((target("avx512f"))) static void name(int rows, int k, const float *a, const float *b,               \
                                                        long b_stride, int columns, float *out, long row_stride,        \
                                                        long column_stride) {                                           \
        for (int j = 0; j < columns; j += 4, b += 4, out += 4 * column_stride) {                                        \
            switch (columns - j < 4 ? columns - j : 4) {                                                                \
            case 4: narrow_avx512_columns(fused, 4, rows, k, a, b, b_stride, out, row_stride, column_stride); break;   \
            case 3: narrow_avx512_columns(fused, 3, rows, k, a, b, b_stride, out, row_stride, column_stride); break;   \
            case 2: narrow_avx512_columns(fused, 2, rows, k, a, b, b_stride, out, row_stride, column_stride); break;   \
            default: narrow_avx512_columns(fused, 1, rows, k, a, b, b_stride, out, row_stride, column_stride); break;  \
            }                                                                                                           \
        }                                                                                                               \
    }

DS_NARROW_AVX512(narrow_avx512, 0)
DS_NARROW_AVX512(narrow_avx512_fused, 1)

/// A 1 × 1 convolution of a single column (a 1 × 1 image, after a global average pool),
/// by `narrow_avx512`; then the epilogue, channel by channel.
__attribute__((target("avx512f")))
static void convolve_column_avx512(const float *column, int k, const float *packed, const ds_epilogue *epilogue,
                                   int first_row, int last_row, float *out) {
    enum { MR = 24 };
    for (int row = first_row; row < last_row; row += MR) {
        const int rows = last_row - row < MR ? last_row - row : MR;
        (epilogue->folded ? narrow_avx512_fused : narrow_avx512)(rows, k, packed + (long)row * k, column, 1, 1, out + row, 1, 0);
        for (int r = 0; r < rows; r++) ds_finish(epilogue, row + r, out + row + r, 1);
    }
}

/// `convolve_column_avx512` for the AVX2 kernel's panels of 6 rows: each panel's rows in
/// the lanes, four panels side by side (one panel's chain of sums alone waits on the adder),
/// each sum in k order, fused or not as the tile's, so equal to it.
__attribute__((target("avx2,fma")))
static void convolve_column_avx2(const float *column, int k, const float *packed, const ds_epilogue *epilogue,
                                 int first_row, int last_row, float *out) {
    enum { MR = 6, PANELS = 4 };
    const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    for (int row = first_row; row < last_row; row += MR * PANELS) {
        const float *a[PANELS];
        // Panels past the last row read the first again, and are not stored.
        for (int p = 0; p < PANELS; p++) a[p] = packed + (long)(row + MR * p < last_row ? row + MR * p : row) * k;
        __m256 sums[PANELS];
        for (int p = 0; p < PANELS; p++) sums[p] = _mm256_setzero_ps();
        for (int q = 0; q < k; q++) {
            const __m256 x = _mm256_broadcast_ss(column + q);
#pragma clang loop unroll(full)
            for (int p = 0; p < PANELS; p++) {
                const __m256 w = _mm256_maskload_ps(a[p] + (long)q * MR, six);
                sums[p] = epilogue->folded ? _mm256_fmadd_ps(w, x, sums[p]) : _mm256_add_ps(sums[p], _mm256_mul_ps(w, x));
            }
        }
        for (int p = 0; p < PANELS && row + MR * p < last_row; p++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, sums[p]);
            for (int r = 0; r < MR && row + MR * p + r < last_row; r++) {
                const int channel = row + MR * p + r;
                out[channel] = lanes[r];
                ds_finish(epilogue, channel, out + channel, 1);
            }
        }
    }
}

tile_function ds_tile(ds_kernel kernel, int fused) {
    switch (kernel) {
    case DS_AVX512: return fused ? tile_avx512_fused : tile_avx512;
    case DS_AVX2: return fused ? tile_avx2_fused : tile_avx2;
    default: return fused ? tile_portable_fused : tile_portable;
    }
}

narrow_function ds_narrow(ds_kernel kernel, int fused) {
    return kernel != DS_AVX512 ? NULL : fused ? narrow_avx512_fused : narrow_avx512;
}

/// The row packer each instruction set uses.
static row_packer packer(ds_kernel kernel, int stride) {
    if (kernel != DS_AVX512) return pack_row;
    switch (stride) {
    case 1: return pack_row_avx512;
    case 2: return __builtin_cpu_supports("bmi2") ? pack_row_avx512_stride2 : pack_row;
    case 4: return __builtin_cpu_supports("bmi2") ? pack_row_avx512_stride4 : pack_row;
    default: return pack_row;
    }
}

#else
tile_function ds_tile(ds_kernel kernel, int fused) { (void)kernel; return fused ? tile_portable_fused : tile_portable; }

narrow_function ds_narrow(ds_kernel kernel, int fused) { (void)kernel, (void)fused; return NULL; }

static row_packer packer(ds_kernel kernel, int stride) { (void)kernel, (void)stride; return pack_row; }

#endif

/// `ds_split_phases`'s planes: window tap d (0 ≤ d < size) of output y lies in phase
/// (d - padding) mod s, row y + q for q = ⌊(d - padding) / s⌋ ≥ low, stored `-low` rows down.
typedef struct {
    int stride, low, height, width;
} phase_layout;

static inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int phase_layout_of(const ds_convolution *c, phase_layout *layout) {
    if (c->stride_x != c->stride_y || c->dilation != 1 || c->out_height * c->out_width < 2) return 0;
    const int s = c->stride_x, low = floor_div(-c->padding, s), high = floor_div(c->size - 1 - c->padding, s);
    *layout = (phase_layout){.stride = s, .low = low, .height = c->out_height + high - low, .width = c->out_width + high - low};
    return 1;
}

long ds_phases_count(const ds_convolution *c) {
    phase_layout l;
    // NR floats more: a panel's row at the end of the last plane is read whole.
    return phase_layout_of(c, &l) ? (long)c->channels * l.stride * l.stride * l.height * l.width + NR : 0;
}

/// to[X] = from[X · stride] for X < count; `stride` a constant where this is inlined, so the loads vectorise.
static inline __attribute__((always_inline)) void gather_row(float *to, const float *from, int stride, int count) {
    for (int X = 0; X < count; X++) to[X] = from[(long)X * stride];
}

/// `gather_row` with its common strides fixed.
static void gather(float *to, const float *from, int stride, int count) {
    switch (stride) {
    case 1: gather_row(to, from, 1, count); break;
    case 2: gather_row(to, from, 2, count); break;
    case 4: gather_row(to, from, 4, count); break;
    default: gather_row(to, from, stride, count); break;
    }
}

/// A phase row's zeros are a few floats at its ends: a loop, not a libc call per row end.
__attribute__((no_builtin("memset")))
static inline void zero(float *to, long count) {
    for (long i = 0; i < count; i++) to[i] = 0;
}

/// Pixel x = s·i + rx of an image row goes to column i - low of its phase rx: for s = 2, the
/// row's even and odd pixels, both planes' rows written in one pass over it.
static void split_row_pair(float *restrict even, float *restrict odd, const float *restrict row, int width, int low,
                           int phase_width) {
    const int pairs = width / 2, start = -low, end = start + pairs < phase_width ? start + pairs : phase_width;
    zero(even, start), zero(odd, start);
    for (int i = 0; i < end - start; i++) even[start + i] = row[2 * i], odd[start + i] = row[2 * i + 1];
    int even_end = end, odd_end = end;
    if (width % 2 && end < phase_width) even[end] = row[width - 1], even_end++;
    zero(even + even_end, phase_width - even_end), zero(odd + odd_end, phase_width - odd_end);
}

void ds_split_phases(const ds_convolution *c, long first, long last, float *phases) {
    phase_layout l;
    if (!phase_layout_of(c, &l) || first >= last) return;
    const int s = l.stride;
    const long plane_size = (long)l.height * l.width;
    // Output row y reads rows y to y + high - low of each plane.
    const int top = (int)(first / c->out_width), bottom = (int)((last - 1) / c->out_width) + l.height - c->out_height + 1;
    for (int channel = 0; channel < c->channels; channel++) {
        const float *image = c->image + (long)channel * c->height * c->width;
        float *planes = phases + (long)channel * s * s * plane_size;
        for (int ry = 0; ry < s; ry++) {
            for (int Y = top; Y < bottom; Y++) {
                const int y = s * (Y + l.low) + ry;
                float *to = planes + (long)ry * s * plane_size + (long)Y * l.width;
                if (y < 0 || y >= c->height) {
                    for (int rx = 0; rx < s; rx++) zero(to + rx * plane_size, l.width);
                } else if (s == 2) {
                    split_row_pair(to, to + plane_size, image + (long)y * c->width, c->width, l.low, l.width);
                } else {
                    for (int rx = 0; rx < s; rx++, to += plane_size) {
                        // Row X of the phase is pixel x0 + s·X: inside the row for X in [inside, outside).
                        const int x0 = s * l.low + rx;
                        int inside, outside;
                        ds_columns_inside(x0, s, c->width, l.width, &inside, &outside);
                        zero(to, inside);
                        gather(to + inside, image + (long)y * c->width + x0 + (long)s * inside, s, outside - inside);
                        zero(to + outside, l.width - outside);
                    }
                }
            }
        }
    }
    zero(phases + (long)c->channels * s * s * plane_size, NR);
}

/// `ds_im2col` of a stride-1 convolution whose output is as large as its input: each column
/// row is the plane shifted by the tap, so its rows inside the image are one copy, after which
/// the values shifted in from the neighbouring rows (a padding's width a row) are zeroed. For
/// small images, whose rows are too short for a copy of each to pay. The zeroing between rows
/// is a padding's width: loops, not libc calls.
__attribute__((no_builtin("memset")))
static void im2col_shifted(const ds_convolution *c, float *columns, long row_stride) {
    const int w = c->width, h = c->height;
    for (int channel = 0; channel < c->channels; channel++) {
        const float *plane = c->image + (long)channel * h * w;
        for (int dy = 0; dy < c->size; dy++) {
            for (int dx = 0; dx < c->size; dx++, columns += row_stride) {
                const int shift = dx - c->padding, down = dy - c->padding;
                int first, last;
                ds_columns_inside(shift, 1, w, w, &first, &last);
                // Rows y inside: 0 <= y + down < h.
                const int y0 = down < 0 ? -down : 0, y1 = down > 0 ? h - down : h;
                if (first >= last || y0 >= y1) {
                    memset(columns, 0, sizeof(float) * h * w);
                    continue;
                }
                memset(columns, 0, sizeof(float) * ((long)y0 * w + first));
                const long from = (long)y0 * w + first, to = (long)(y1 - 1) * w + last;
                memcpy(columns + from, plane + from + (long)down * w + shift, sizeof(float) * (to - from));
                for (int y = y0; y + 1 < y1; y++) {
                    for (int x = last; x < w + first; x++) columns[(long)y * w + x] = 0;
                }
                memset(columns + to, 0, sizeof(float) * ((long)h * w - to));
            }
        }
    }
}

void ds_im2col(const ds_convolution *c, float *columns, long row_stride) {
    const int out_width = c->out_width, sx = c->stride_x;
    if (sx == 1 && c->stride_y == 1 && c->dilation == 1 && out_width == c->width && c->out_height == c->height &&
        c->width <= 32) {
        return im2col_shifted(c, columns, row_stride);
    }
    for (int channel = 0; channel < c->channels; channel++) {
        const float *plane = c->image + (long)channel * c->height * c->width;
        for (int dy = 0; dy < c->size; dy++) {
            for (int dx = 0; dx < c->size; dx++, columns += row_stride) {
                // Output x reads column x · stride + shift: inside the row for x in [first, last).
                const int shift = dx * c->dilation - c->padding;
                int first, last;
                ds_columns_inside(shift, sx, c->width, out_width, &first, &last);
                for (int y = 0; y < c->out_height; y++) {
                    const int iy = y * c->stride_y + dy * c->dilation - c->padding;
                    float *to = columns + (long)y * out_width;
                    if (iy < 0 || iy >= c->height) {
                        for (int x = 0; x < out_width; x++) to[x] = 0;
                        continue;
                    }
                    const float *from = plane + (long)iy * c->width + shift;
                    for (int x = 0; x < first; x++) to[x] = 0;
                    gather(to + first, from + (long)sx * first, sx, last - first);
                    for (int x = last; x < out_width; x++) to[x] = 0;
                }
            }
        }
    }
}

/// Writes im2col rows [k0, k0 + kc) of output columns [n0, n0 + cols) into `panel`,
/// NR floats a row, zero beyond `cols`.
static void pack_columns(ds_kernel kernel, const ds_convolution *c, int k0, int kc, long n0, int cols, float *panel) {
    const column_runs runs = find_runs(c, n0, cols);
    const row_packer pack = packer(kernel, c->stride_x);
    const int area = c->size * c->size;
    int channel = k0 / area, dy = k0 % area / c->size, dx = k0 % c->size;
    for (int p = 0; p < kc; p++, panel += NR) {
        pack(c, &runs, c->image + (long)channel * c->height * c->width, dy * c->dilation, dx * c->dilation, cols, panel);
        if (++dx == c->size) {
            dx = 0;
            if (++dy == c->size) dy = 0, channel++;
        }
    }
}

void ds_convolve(ds_kernel kernel, const ds_convolution *c, const float *packed, int m, const ds_epilogue *epilogue,
                 long first, long last, int first_row, int last_row, float *out) {
    const tile_function tile = ds_tile(kernel, epilogue ? epilogue->folded : 1);
    const int mr = ds_panel_rows(kernel);
    const int k = c->channels * c->size * c->size;
    const long n = (long)c->out_height * c->out_width;
    const long padded_m = (m + mr - 1) / mr * mr;
#ifdef DS_X86
    if (epilogue && n == 1 && c->size == 1 && first == 0 && last == 1) {
        if (kernel == DS_AVX512) return convolve_column_avx512(c->image, k, packed, epilogue, first_row, last_row, out);
        if (kernel == DS_AVX2) return convolve_column_avx2(c->image, k, packed, epilogue, first_row, last_row, out);
    }
#endif
    // A K block stays in L2 to serve every column panel of the call; with one or two panels
    // (a 4 × 4 or 1 × 32 image) it serves none twice, and the longest blocks stream the
    // weights best: each panel's rows, KC_MAX of them at a time, rather than a few.
    int kc = last - first <= 2 * NR ? KC_MAX : weight_block_budget / padded_m;
    kc = kc < 32 ? 32 : kc > KC_MAX ? KC_MAX : kc;
    // Blocks of equal size: a short last block would reload every output tile for little work.
    kc = (k + (k + kc - 1) / kc - 1) / ((k + kc - 1) / kc);
    float panel[KC_MAX * NR] __attribute__((aligned(64)));
    // Where the rows of a packed panel are, and, for a panel whose receptive fields lie
    // inside the image with unit stride, where they are in the image itself (so it is
    // read in place: a 1×1 convolution always is, being a 1 × n image).
    long packed_rows[KC_MAX], image_rows[KC_MAX], phase_rows[KC_MAX];
    for (int p = 0; p < KC_MAX; p++) packed_rows[p] = p * NR;
    phase_layout phases;
    const int split = c->phases && phase_layout_of(c, &phases);
    for (int k0 = 0; k0 < k; k0 += kc) {
        const int block = k - k0 < kc ? k - k0 : kc;
        const ds_epilogue *finish = k0 + block == k ? epilogue : NULL;
        for (int p = 0; p < block; p++) {
            const int channel = (k0 + p) / (c->size * c->size), dy = (k0 + p) / c->size % c->size, dx = (k0 + p) % c->size;
            image_rows[p] = ((long)channel * c->height + dy) * c->width + dx;
            if (split) {
                const int s = phases.stride, ty = dy - c->padding, tx = dx - c->padding;
                const int qy = floor_div(ty, s), qx = floor_div(tx, s);
                const long plane = ((long)channel * s + (ty - qy * s)) * s + (tx - qx * s);
                phase_rows[p] = (plane * phases.height + qy - phases.low) * phases.width + qx - phases.low;
            }
        }
        for (long n0 = first; n0 < last; n0 += NR) {
            const int cols = last - n0 < NR ? (int)(last - n0) : NR;
            const int y = (int)(n0 / c->out_width), x = (int)(n0 % c->out_width);
            const int top = y - c->padding, left = x - c->padding;
            const float *columns = panel;
            const long *rows_at = packed_rows;
            if (split && x + cols <= c->out_width) {
                columns = c->phases + (long)y * phases.width + x;
                rows_at = phase_rows;
            } else if (c->stride_x == 1 && c->stride_y == 1 && c->dilation == 1 && cols == NR && x + NR <= c->out_width && top >= 0 && top + c->size <= c->height &&
                left >= 0 && left + NR - 1 + c->size <= c->width) {
                columns = c->image + (long)top * c->width + left;
                rows_at = image_rows;
            } else {
                pack_columns(kernel, c, k0, block, n0, cols, panel);
            }
            for (int row = first_row; row < last_row; row += mr) {
                const int rows = last_row - row < mr ? last_row - row : mr;
                tile(rows, block, packed + ((long)row * k + (long)k0 * mr), columns, rows_at, out + row * n + n0, n,
                     cols, k0 > 0 || !epilogue, finish, row);
            }
        }
    }
}

int ds_kernel_runs_here(ds_kernel kernel) {
#ifdef DS_X86
    switch (kernel) {
    case DS_AVX512: return __builtin_cpu_supports("avx512f");
    case DS_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return 1;
    }
#else
    return kernel == DS_PORTABLE;
#endif
}

int ds_kernel_named(const char *name) {
    static const char *const names[] = {[DS_PORTABLE] = "portable", [DS_AVX2] = "avx2", [DS_AVX512] = "avx512"};
    for (int kernel = 0; kernel < (int)(sizeof names / sizeof *names); kernel++) {
        if (name && strcmp(name, names[kernel]) == 0) return kernel;
    }
    return -1;
}

ds_kernel ds_chosen_kernel(void) {
    // Relaxed atomics: racing first calls find the same answer, and ThreadSanitizer sees no race.
    static int chosen = -1;
    int kernel = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (kernel < 0) {
        kernel = ds_kernel_named(getenv(DS_ISA_VARIABLE));
        if (kernel < 0 || !ds_kernel_runs_here((ds_kernel)kernel)) {
            kernel = ds_kernel_runs_here(DS_AVX512) ? DS_AVX512 : ds_kernel_runs_here(DS_AVX2) ? DS_AVX2 : DS_PORTABLE;
        }
        __atomic_store_n(&chosen, kernel, __ATOMIC_RELAXED);
    }
    return (ds_kernel)kernel;
}
