/* Naive GEMM bf16 baseline: the textbook i-k-j triple loop on the inputs widened to f32 one by one
   (tensorop_lowp.h), f32 accumulation in C. */
#include "tensorop_lowp.h"

void tensorop_gemm_bf16(int M, int N, int K, const uint16_t *A, int lda,
                      const uint16_t *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = tensorop_bf16_to_f32(A[(long)i * lda + k]);
            const uint16_t *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++)
                c[j] += a * tensorop_bf16_to_f32(b[j]);
        }
    }
}
