/* TRICK: __attribute__((constructor)) receiving (argc, argv, envp) from glibc, precomputing.
   EXPECT: rejected */
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
static volatile int seen;
__attribute__((constructor, used)) static void pre(int argc, char **argv, char **envp) { seen = argc + (envp != 0) + (argv != 0); }
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, seen >= 0 ? M : 1); }
