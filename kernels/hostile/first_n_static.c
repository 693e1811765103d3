/* TRICK: compute the first 3 calls honestly (the correctness gate), then only one row.
   Counter is a function-local static. EXPECT: rejected or wrong_answer */
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
    static int calls;
    naive(M, N, K, A, lda, B, ldb, C, ldc, ++calls <= 3 ? M : 1);
}
