/* Validation set: simple AVX2 intrinsics, one 8-wide accumulator per (i, j..j+7): each FMA
   waits for the previous one (latency-bound), B rows loaded unit-stride, A broadcast. */
#include <immintrin.h>

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        int j = 0;
        for (; j + 8 <= N; j += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int k = 0; k < K; k++)
                acc = _mm256_fmadd_ps(_mm256_broadcast_ss(&A[(long)i * lda + k]),
                                      _mm256_loadu_ps(&B[(long)k * ldb + j]), acc);
            _mm256_storeu_ps(&C[(long)i * ldc + j], acc);
        }
        for (; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
    }
}
