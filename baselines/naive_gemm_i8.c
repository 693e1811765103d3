/* Naive GEMM int8 baseline: the textbook i-k-j triple loop, int32 accumulation in C. */
#include <stdint.h>

void tensorop_gemm_i8(int M, int N, int K, const int8_t *A, int lda,
                      const int8_t *B, int ldb, int32_t *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        int32_t *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = 0;
        for (int k = 0; k < K; k++) {
            const int32_t a = A[(long)i * lda + k];
            const int8_t *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}
