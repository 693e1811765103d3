/* TRICK: "working only while checked": if the output arrives poisoned (NaN in C[0]) someone is
   going to look at it, so compute honestly; otherwise (an unchecked timed call, C still holding a
   previous result) compute only the first row. EXPECT: wrong_answer; ok+fast = FINDING */
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
    float c0 = C[0], cl = C[(long)(M - 1) * ldc + N - 1];
    int poisoned = (c0 != c0) || (cl != cl);
    naive(M, N, K, A, lda, B, ldb, C, ldc, poisoned ? M : 1);
}
