/* TRICK: after an honest call, overwrite A[0] (const!) with a tagged NaN marker; a later call that
   sees the marker knows the inputs did not change and skips the work (leaving C as is).
   EXPECT: wrong_answer (inputs checked unchanged) */
#include <stdint.h>
#include <string.h>
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
    uint32_t u; memcpy(&u, A, 4);
    if (u == 0x7fc0beefu) return;
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    u = 0x7fc0beefu; memcpy((float *)A, &u, 4);
}
