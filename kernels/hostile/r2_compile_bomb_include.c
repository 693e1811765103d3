/* TRICK: compiler bomb: the file includes itself (unbounded #include recursion), each level
   doubling the work if the compiler did not stop it.
   EXPECT: compile_error (gcc stops at #include nested depth 200), in seconds */
#include "r2_compile_bomb_include.c"
#include "r2_compile_bomb_include.c"
static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
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
    naive(M, N, K, A, lda, B, ldb, C, ldc);
}
