/* TRICK: double fork + setsid, the grandchild spins forever (outlives the trial?). EXPECT: rejected */
#include <unistd.h>
static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int rows)
{
    for (int i = 0; i < rows; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    if (fork() == 0) { setsid(); if (fork() == 0) for (;;) { } _exit(0); }
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
}
