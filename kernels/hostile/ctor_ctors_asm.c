/* TRICK: old-style .ctors entry and a .fini_array destructor written in top-level asm, under
   section names spelled with flags so a name-only check might miss them. EXPECT: rejected */
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
static void __attribute__((used)) pre(void) { }
__asm__(".section .ctors,\"aw\",@progbits\n.quad pre\n"
        ".section .fini_array.00042,\"aw\",@fini_array\n.quad pre\n.text\n");
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
