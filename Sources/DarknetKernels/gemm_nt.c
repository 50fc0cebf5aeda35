// C += A Bᵀ for row-major A (m × k) and B (n × k): a product whose sums run along rows of
// both operands. Training's weight gradients are such sums (the sums' gradient of a block of
// images times their im2col columns, both laid out along the images' positions), so neither
// needs repacking: each step loads sixteen floats of four rows of A and four of B and makes
// their sixteen products' partial sums in vector lanes, which add up once a block of K.
// OpenBLAS's sgemm, which packs both, ran these at about half the core's multiply-add rate.
#include "DarknetKernels.h"
#include "tile.h"

#ifdef DS_X86
#include <immintrin.h>
#endif

/// Floats of K a block: the rows of A and B a block reads (`rows_per_block` of each) stay in
/// L2, and the lanes' sums are added up once every KC products.
enum { KC = 1024, ROWS_PER_BLOCK = 64 };

/// `ds_gemm_nt` over one block, four rows of A by four of B at a time, for `gemm_block`'s kernel.
typedef void (*gemm_block)(int m, int n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc);

/// Eight partial sums for each of 2 × 2 rows, which the compiler keeps in vector lanes.
static inline __attribute__((always_inline)) void block_portable_rows(int m, int n, long k, const float *a, long lda,
                                                                       const float *b, long ldb, float *c, long ldc) {
    enum { LANES = 8 };
    const long whole = k / LANES * LANES;
    for (int i0 = 0; i0 < m; i0 += 2) {
        for (int j0 = 0; j0 < n; j0 += 2) {
            const float *a0 = a + (long)i0 * lda, *a1 = i0 + 1 < m ? a0 + lda : a0;
            const float *b0 = b + (long)j0 * ldb, *b1 = j0 + 1 < n ? b0 + ldb : b0;
            float s00[LANES] = {0}, s01[LANES] = {0}, s10[LANES] = {0}, s11[LANES] = {0};
            for (long p = 0; p < whole; p += LANES) {
                for (int l = 0; l < LANES; l++) {
                    s00[l] += a0[p + l] * b0[p + l], s01[l] += a0[p + l] * b1[p + l];
                    s10[l] += a1[p + l] * b0[p + l], s11[l] += a1[p + l] * b1[p + l];
                }
            }
            float t00 = 0, t01 = 0, t10 = 0, t11 = 0;
            for (int l = 0; l < LANES; l++) t00 += s00[l], t01 += s01[l], t10 += s10[l], t11 += s11[l];
            for (long p = whole; p < k; p++) t00 += a0[p] * b0[p], t01 += a0[p] * b1[p], t10 += a1[p] * b0[p], t11 += a1[p] * b1[p];
            c[(long)i0 * ldc + j0] += t00;
            if (j0 + 1 < n) c[(long)i0 * ldc + j0 + 1] += t01;
            if (i0 + 1 < m) {
                c[(long)(i0 + 1) * ldc + j0] += t10;
                if (j0 + 1 < n) c[(long)(i0 + 1) * ldc + j0 + 1] += t11;
            }
        }
    }
}

static void block_portable(int m, int n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    block_portable_rows(m, n, k, a, lda, b, ldb, c, ldc);
}

#ifdef DS_X86
__attribute__((target("avx2,fma")))
static void block_avx2(int m, int n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    block_portable_rows(m, n, k, a, lda, b, ldb, c, ldc);
}

/// [Σ a, Σ b, Σ c, Σ d] of four vectors' lanes.
__attribute__((target("avx512f"), always_inline))
static inline __m128 sum4_avx512(__m512 a, __m512 b, __m512 c, __m512 d) {
    // In each 128-bit lane: [a0 + a2, b0 + b2, a1 + a3, b1 + b3], then [Σa, Σb, Σc, Σd] of the lane.
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    const __m512 lanes = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                       _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(lanes),
                                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(lanes), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

/// Four rows of A (the first `rows` of them real) by `cols` (1 to 4) rows of B.
__attribute__((target("avx512f"), always_inline))
static inline void block_avx512_cols(const int cols, int rows, long k, const float *a, long lda, const float *b, long ldb,
                                     float *c, long ldc) {
    const float *ar[4], *br[4];
    for (int i = 0; i < 4; i++) ar[i] = a + (i < rows ? i : 0) * lda;
    for (int j = 0; j < cols; j++) br[j] = b + j * ldb;
    __m512 acc[4][4];
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < cols; j++) acc[i][j] = _mm512_setzero_ps();
    }
    long p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 x[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) x[i] = _mm512_loadu_ps(ar[i] + p);
#pragma clang loop unroll(full)
        for (int j = 0; j < cols; j++) {
            const __m512 y = _mm512_loadu_ps(br[j] + p);
#pragma clang loop unroll(full)
            for (int i = 0; i < 4; i++) acc[i][j] = _mm512_fmadd_ps(x[i], y, acc[i][j]);
        }
    }
    if (p < k) {
        const __mmask16 rest = (__mmask16)((1u << (k - p)) - 1);
        __m512 x[4];
#pragma clang loop unroll(full)
        for (int i = 0; i < 4; i++) x[i] = _mm512_maskz_loadu_ps(rest, ar[i] + p);
#pragma clang loop unroll(full)
        for (int j = 0; j < cols; j++) {
            const __m512 y = _mm512_maskz_loadu_ps(rest, br[j] + p);
#pragma clang loop unroll(full)
            for (int i = 0; i < 4; i++) acc[i][j] = _mm512_fmadd_ps(x[i], y, acc[i][j]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    for (int i = 0; i < rows; i++) {
        float sums[4];
        _mm_storeu_ps(sums, sum4_avx512(acc[i][0], cols > 1 ? acc[i][1] : zero, cols > 2 ? acc[i][2] : zero,
                                        cols > 3 ? acc[i][3] : zero));
        for (int j = 0; j < cols; j++) c[i * ldc + j] += sums[j];
    }
}

__attribute__((target("avx512f")))
static void block_avx512(int m, int n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    for (int i = 0; i < m; i += 4) {
        const int rows = m - i < 4 ? m - i : 4;
        const float *ai = a + (long)i * lda;
        float *ci = c + (long)i * ldc;
        int j = 0;
        for (; j + 4 <= n; j += 4) block_avx512_cols(4, rows, k, ai, lda, b + (long)j * ldb, ldb, ci + j, ldc);
        switch (n - j) {
        case 3: block_avx512_cols(3, rows, k, ai, lda, b + (long)j * ldb, ldb, ci + j, ldc); break;
        case 2: block_avx512_cols(2, rows, k, ai, lda, b + (long)j * ldb, ldb, ci + j, ldc); break;
        case 1: block_avx512_cols(1, rows, k, ai, lda, b + (long)j * ldb, ldb, ci + j, ldc); break;
        default: break;
        }
    }
}
#endif

void ds_gemm_nt(ds_kernel kernel, int m, int n, long k, const float *a, long lda, const float *b, long ldb, float *c,
                long ldc) {
#ifdef DS_X86
    const gemm_block block = kernel == DS_AVX512 ? block_avx512 : kernel == DS_AVX2 ? block_avx2 : block_portable;
#else
    const gemm_block block = block_portable;
    (void)kernel;
#endif
    for (long p = 0; p < k; p += KC) {
        const long kc = k - p < KC ? k - p : KC;
        for (int i = 0; i < m; i += ROWS_PER_BLOCK) {
            for (int j = 0; j < n; j += ROWS_PER_BLOCK) {
                block(m - i < ROWS_PER_BLOCK ? m - i : ROWS_PER_BLOCK, n - j < ROWS_PER_BLOCK ? n - j : ROWS_PER_BLOCK, kc,
                      a + (long)i * lda + p, lda, b + (long)j * ldb + p, ldb, c + (long)i * ldc + j, ldc);
            }
        }
    }
}
