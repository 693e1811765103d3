#include <stdint.h>
#include <string.h>
static float bf16(float x)   /* BUG: computes with bfloat16 inputs */
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u &= 0xFFFF0000u;
    memcpy(&x, &u, 4);
    return x;
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += bf16(A[i * lda + k]) * bf16(B[k * ldb + j]);
            C[i * ldc + j] = s;
        }
}
