/* Validation set, unblocked vectorised: for each row of C, a strip of 32 columns is held in four
   AVX2 accumulators over all of K (A broadcast, B rows loaded unit-stride). No packing and no
   cache blocking: every row of C streams the whole of B again. */
#include <immintrin.h>

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        const float *a = A + (long)i * lda;
        float *c = C + (long)i * ldc;
        int j = 0;
        for (; j + 32 <= N; j += 32) {
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int k = 0; k < K; k++) {
                const float *b = B + (long)k * ldb + j;
                __m256 av = _mm256_broadcast_ss(a + k);
                c0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), c0);
                c1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), c1);
                c2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 16), c2);
                c3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 24), c3);
            }
            _mm256_storeu_ps(c + j, c0);
            _mm256_storeu_ps(c + j + 8, c1);
            _mm256_storeu_ps(c + j + 16, c2);
            _mm256_storeu_ps(c + j + 24, c3);
        }
        for (; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += a[k] * B[(long)k * ldb + j];
            c[j] = s;
        }
    }
}
