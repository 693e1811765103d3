/* TRICK: object gate corner: a COMMON symbol (st_shndx SHN_COMMON, not a section index): state
   that is global but not "defined" in a section, in case the gate only looks at defined ones.
   EXPECT: rejected (defines global symbol) */
__attribute__((common)) int tensorop_calls_seen;
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
    tensorop_calls_seen++;
    naive(M, N, K, A, lda, B, ldb, C, ldc);
}
