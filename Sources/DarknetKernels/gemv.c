// A connected layer's product for one image, y = W x: a stream through W (AlexNet's first
// connected layer reads 151 MB of it, once a pass), so its speed is the speed memory is
// read at. OpenBLAS's sgemv read it at 15 GB/s on one Zen 4 core, where the core can read
// 23; this reads it at 21: four rows at a time, sharing each load of x, left to the
// hardware's prefetcher (asking for the rows 1 to 8 KB ahead was 5-40 % slower).
#include "DarknetKernels.h"
#include "tile.h"

#ifdef DS_X86
#include <immintrin.h>
#endif

/// Rows [first, last) of y = W x for a row-major W of `columns` floats a row: eight partial
/// sums a row, which the compiler keeps in vector lanes on any CPU (one sum ran 4x slower).
static inline __attribute__((always_inline)) void gemv_rows(const float *w, long columns, const float *x, float *y,
                                                            long first, long last) {
    enum { LANES = 8 };
    const long whole = columns / LANES * LANES;
    for (long r = first; r < last; r++) {
        const float *row = w + r * columns;
        float sums[LANES] = {0};
        for (long c = 0; c < whole; c += LANES) {
            for (int j = 0; j < LANES; j++) sums[j] += row[c + j] * x[c + j];
        }
        float sum = 0;
        for (int j = 0; j < LANES; j++) sum += sums[j];
        for (long c = whole; c < columns; c++) sum += row[c] * x[c];
        y[r] = sum;
    }
}

#ifdef DS_X86
/// `count` (1 or 4) rows from `r`, sixteen columns a step. Each row's sum takes the same
/// steps whether it goes with three others or alone, so that no split of the rows between
/// threads changes a bit of it.
__attribute__((target("avx512f"), always_inline))
static inline void gemv_avx512_rows(const int count, const float *w, long columns, const float *x, float *y, long r) {
    const long whole = columns & ~15L;
    const __mmask16 rest = (__mmask16)((1u << (columns - whole)) - 1);
    __m512 sums[4];
    for (int i = 0; i < count; i++) sums[i] = _mm512_setzero_ps();
    long c = 0;
    for (; c < whole; c += 16) {
        const __m512 v = _mm512_loadu_ps(x + c);
        for (int i = 0; i < count; i++) sums[i] = _mm512_fmadd_ps(_mm512_loadu_ps(w + (r + i) * columns + c), v, sums[i]);
    }
    const __m512 v = _mm512_maskz_loadu_ps(rest, x + c);
    for (int i = 0; i < count; i++) {
        sums[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(rest, w + (r + i) * columns + c), v, sums[i]);
        y[r + i] = _mm512_reduce_add_ps(sums[i]);
    }
}

__attribute__((target("avx512f")))
static void gemv_avx512(const float *w, long columns, const float *x, float *y, long first, long last) {
    long r = first;
    for (; r + 4 <= last; r += 4) gemv_avx512_rows(4, w, columns, x, y, r);
    for (; r < last; r++) gemv_avx512_rows(1, w, columns, x, y, r);
}

/// As `gemv_avx512_rows`, eight columns a step.
__attribute__((target("avx2,fma"), always_inline))
static inline void gemv_avx2_rows(const int count, const float *w, long columns, const float *x, float *y, long r) {
    const long whole = columns & ~7L;
    __m256 sums[4];
    for (int i = 0; i < count; i++) sums[i] = _mm256_setzero_ps();
    for (long c = 0; c < whole; c += 8) {
        const __m256 v = _mm256_loadu_ps(x + c);
        for (int i = 0; i < count; i++) sums[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w + (r + i) * columns + c), v, sums[i]);
    }
    for (int i = 0; i < count; i++) {
        float lanes[8], sum = 0;
        _mm256_storeu_ps(lanes, sums[i]);
        for (int j = 0; j < 8; j++) sum += lanes[j];
        for (long c = whole; c < columns; c++) sum += w[(r + i) * columns + c] * x[c];
        y[r + i] = sum;
    }
}

__attribute__((target("avx2,fma")))
static void gemv_avx2(const float *w, long columns, const float *x, float *y, long first, long last) {
    long r = first;
    for (; r + 4 <= last; r += 4) gemv_avx2_rows(4, w, columns, x, y, r);
    for (; r < last; r++) gemv_avx2_rows(1, w, columns, x, y, r);
}
#endif

void ds_gemv(const float *weights, long columns, const float *x, float *y, long first_row, long last_row) {
#ifdef DS_X86
    switch (ds_chosen_kernel()) {
    case DS_AVX512: return gemv_avx512(weights, columns, x, y, first_row, last_row);
    case DS_AVX2: return gemv_avx2(weights, columns, x, y, first_row, last_row);
    default: break;
    }
#endif
    gemv_rows(weights, columns, x, y, first_row, last_row);
}
