/* TRICK: constructor registered by hand: a pointer placed in .init_array (and .preinit_array,
   honoured only in executables) with section attributes; no "constructor" attribute anywhere.
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
static void pre(int argc, char **argv, char **envp) { (void)argc; (void)argv; (void)envp; }
__attribute__((used, section(".init_array"))) static void (*const p1)(int, char **, char **) = pre;
__attribute__((used, section(".preinit_array"))) static void (*const p2)(int, char **, char **) = pre;
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
