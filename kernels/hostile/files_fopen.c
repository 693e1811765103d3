/* TRICK: read /proc/self/maps and the results DB, write a marker outside scratch, with stdio.
   EXPECT: rejected */
#include <stdio.h>
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
    FILE *f = fopen("/tmp/tensorop_redteam_fopen_marker", "w");
    if (f) { fputs("escaped\n", f); fclose(f); }
    f = fopen("results/tensorop.db", "r"); if (f) fclose(f);
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
}
