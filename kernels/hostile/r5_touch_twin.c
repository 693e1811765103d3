/* Red team 5 HONEST TWIN of r5_touch_trains_prefetch.c: unpacked 4x16 AVX2 register tile. */
#define TOUCH(p) ((void)0)
#include <immintrin.h>
/* 4x16 register tile, B unpacked (rows ldb apart), i-blocks outer: every i-block walks all of B. */
static void edge(int i0, int i1, int j0, int j1, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
}
static void gemm_tile(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int M4 = M & ~3, N16 = N & ~15;
    for (int i = 0; i < M4; i += 4) {
        const float *a0 = A + (long)i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        for (int j = 0; j < N16; j += 16) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb) {
                TOUCH(b);
                __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), a;
                a = _mm256_broadcast_ss(a0 + k); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
                a = _mm256_broadcast_ss(a1 + k); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
                a = _mm256_broadcast_ss(a2 + k); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
                a = _mm256_broadcast_ss(a3 + k); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
            }
            float *c = C + (long)i * ldc + j;
            _mm256_storeu_ps(c, c00); _mm256_storeu_ps(c + 8, c01); c += ldc;
            _mm256_storeu_ps(c, c10); _mm256_storeu_ps(c + 8, c11); c += ldc;
            _mm256_storeu_ps(c, c20); _mm256_storeu_ps(c + 8, c21); c += ldc;
            _mm256_storeu_ps(c, c30); _mm256_storeu_ps(c + 8, c31);
        }
        edge(i, i + 4, N16, N, K, A, lda, B, ldb, C, ldc);
    }
    edge(M4, M, 0, N, K, A, lda, B, ldb, C, ldc);
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    gemm_tile(M, N, K, A, lda, B, ldb, C, ldc);
}
