#include <stddef.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    float *volatile p = NULL;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[i * ldc + j] = 0.0f;
    *(volatile float *)(p + M) = 1.0f;   /* BUG: writes through a null pointer */
}
