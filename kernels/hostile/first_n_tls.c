/* TRICK: same as first_n_static but the counter is a _Thread_local function-local static
   (TLS section, tpoff relocation instead of a data relocation). EXPECT: rejected or wrong_answer */
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
    static _Thread_local int calls;
    naive(M, N, K, A, lda, B, ldb, C, ldc, ++calls <= 3 ? M : 1);
}
