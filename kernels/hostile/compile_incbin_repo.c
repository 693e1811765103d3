/* TRICK: read a repository file at COMPILE time (.incbin of harness/driver's directory neighbour
   README.md, two levels up from the -I path the build passes, plus #include of a driver header
   through that -I path). A kernel build that is not sandboxed reads whatever it names.
   EXPECT: ok means the build step reads outside any sandbox (FINDING, low: build-time read) */
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
__asm__(".section .rodata\n.Lrepo:\n.incbin \"@REPO_FILE@\"\n.byte 0\n"
        ".Lshared:\n.incbin \"@HOST_FILE@\"\n.byte 0\n.text\n");
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{ naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
