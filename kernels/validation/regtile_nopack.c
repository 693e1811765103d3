/* Validation set, register-tiled without packing or cache blocking: a 4x16 AVX2 tile (8
   accumulators) runs over all of K reading A and B straight from the inputs; B's 16-column
   panel (K rows, stride ldb) is re-read for every 4 rows of C. */
#include <immintrin.h>

static void edge(int i0, int i1, int j0, int j1, int K, const float *A, int lda,
                 const float *B, int ldb, float *C, int ldc)
{
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    int m4 = M / 4 * 4, n16 = N / 16 * 16;
    for (int i = 0; i < m4; i += 4)
        for (int j = 0; j < n16; j += 16) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00,
                   c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            const float *a = A + (long)i * lda;
            for (int k = 0; k < K; k++) {
                const float *b = B + (long)k * ldb + j;
                __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), av;
                av = _mm256_broadcast_ss(a + k);
                c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
                av = _mm256_broadcast_ss(a + lda + k);
                c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
                av = _mm256_broadcast_ss(a + 2L * lda + k);
                c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
                av = _mm256_broadcast_ss(a + 3L * lda + k);
                c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
            }
            float *c = C + (long)i * ldc + j;
            _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01);
            _mm256_storeu_ps(c + ldc, c10); _mm256_storeu_ps(c + ldc + 8, c11);
            _mm256_storeu_ps(c + 2L * ldc, c20); _mm256_storeu_ps(c + 2L * ldc + 8, c21);
            _mm256_storeu_ps(c + 3L * ldc, c30); _mm256_storeu_ps(c + 3L * ldc + 8, c31);
        }
    edge(0, m4, n16, N, K, A, lda, B, ldb, C, ldc);
    edge(m4, M, 0, N, K, A, lda, B, ldb, C, ldc);
}
