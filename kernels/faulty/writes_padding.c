#include <string.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        memset(C + (long)i * ldc, 0, sizeof(float) * ldc);   /* BUG: clears the padding too */
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++)
                C[i * ldc + j] += A[i * lda + k] * B[k * ldb + j];
    }
}
