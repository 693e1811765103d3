/* AVX2/FMA SGEMM with an 8x8 register tile: eight __m256 accumulators, one per
 * row of the tile, each holding 8 columns of C.  For every k one vector of B
 * (8 columns of row k) is loaded straight from the input matrix (no packing of
 * A or B) and each of the 8 A values a[i+r][k] is broadcast and FMA'd into its
 * row accumulator.  Loops are blocked on K (KB = 256) and M (MB = 64); N is
 * not blocked.  The first K block starts from zero, later ones load C.
 * Edge tiles use a row count below 8 and masked loads/stores for the columns. */

#include <immintrin.h>

#define KB 256
#define MB 64

static inline __m256i col_mask(int n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* full 8x8 tile */
__attribute__((no_builtin("memset", "memcpy")))
static inline void tile8x8(int k0, int k1, const float *A, int lda,
                           const float *B, int ldb, float *C, int ldc, int first)
{
    __m256 c0, c1, c2, c3, c4, c5, c6, c7;
    if (first) {
        c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = _mm256_setzero_ps();
    } else {
        c0 = _mm256_loadu_ps(C + 0L * ldc);
        c1 = _mm256_loadu_ps(C + 1L * ldc);
        c2 = _mm256_loadu_ps(C + 2L * ldc);
        c3 = _mm256_loadu_ps(C + 3L * ldc);
        c4 = _mm256_loadu_ps(C + 4L * ldc);
        c5 = _mm256_loadu_ps(C + 5L * ldc);
        c6 = _mm256_loadu_ps(C + 6L * ldc);
        c7 = _mm256_loadu_ps(C + 7L * ldc);
    }
    for (int k = k0; k < k1; k++) {
        __m256 b = _mm256_loadu_ps(B + (long)k * ldb);
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 0L * lda + k), b, c0);
        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 1L * lda + k), b, c1);
        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 2L * lda + k), b, c2);
        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 3L * lda + k), b, c3);
        c4 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 4L * lda + k), b, c4);
        c5 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 5L * lda + k), b, c5);
        c6 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 6L * lda + k), b, c6);
        c7 = _mm256_fmadd_ps(_mm256_broadcast_ss(A + 7L * lda + k), b, c7);
    }
    _mm256_storeu_ps(C + 0L * ldc, c0);
    _mm256_storeu_ps(C + 1L * ldc, c1);
    _mm256_storeu_ps(C + 2L * ldc, c2);
    _mm256_storeu_ps(C + 3L * ldc, c3);
    _mm256_storeu_ps(C + 4L * ldc, c4);
    _mm256_storeu_ps(C + 5L * ldc, c5);
    _mm256_storeu_ps(C + 6L * ldc, c6);
    _mm256_storeu_ps(C + 7L * ldc, c7);
}

/* edge tile: mr <= 8 rows, nr <= 8 columns (masked) */
__attribute__((no_builtin("memset", "memcpy")))
static void tile_edge(int mr, int nr, int k0, int k1, const float *A, int lda,
                      const float *B, int ldb, float *C, int ldc, int first)
{
    __m256i m = col_mask(nr);
    __m256 acc[8];
    for (int r = 0; r < mr; r++)
        acc[r] = first ? _mm256_setzero_ps()
                       : _mm256_maskload_ps(C + (long)r * ldc, m);
    for (int k = k0; k < k1; k++) {
        __m256 b = _mm256_maskload_ps(B + (long)k * ldb, m);
        for (int r = 0; r < mr; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + (long)r * lda + k),
                                     b, acc[r]);
    }
    for (int r = 0; r < mr; r++)
        _mm256_maskstore_ps(C + (long)r * ldc, m, acc[r]);
}

__attribute__((no_builtin("memset", "memcpy")))
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int kk = 0; kk < K; kk += KB) {
        int kend = kk + KB < K ? kk + KB : K;
        int first = (kk == 0);
        for (int ii = 0; ii < M; ii += MB) {
            int iend = ii + MB < M ? ii + MB : M;
            for (int i = ii; i < iend; i += 8) {
                int mr = iend - i < 8 ? iend - i : 8;
                const float *a = A + (long)i * lda;
                float *c = C + (long)i * ldc;
                int j = 0;
                if (mr == 8) {
                    for (; j + 8 <= N; j += 8)
                        tile8x8(kk, kend, a, lda, B + j, ldb, c + j, ldc, first);
                } else {
                    for (; j + 8 <= N; j += 8)
                        tile_edge(mr, 8, kk, kend, a, lda, B + j, ldb, c + j, ldc, first);
                }
                if (j < N)
                    tile_edge(mr, N - j, kk, kend, a, lda, B + j, ldb, c + j, ldc, first);
            }
        }
    }
}
