/* Validation set: the i-k-j loop with vectorisation switched off: unit-stride scalar updates of
   C's row, no cache blocking (B is streamed once per row of C). */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
#pragma clang loop vectorize(disable) interleave(disable)
            for (int j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}
