/* TRICK: #pragma omp parallel for. Without -fopenmp the pragma is ignored, so this is an honest
   serial kernel. EXPECT: ok (not a finding: no extra core is used) */
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
    #pragma omp parallel for
    for (int i = 0; i < M; i++) naive(1, N, K, A + (long)i * lda, lda, B, ldb, C + (long)i * ldc, ldc, 1);
}
