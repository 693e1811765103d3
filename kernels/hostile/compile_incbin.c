/* TRICK: read host files at COMPILE time: .incbin pulls /etc/hostname and the repo's README into
   .rodata (a local, unnamed-looking object), then the kernel computes honestly. Shows whether the
   build step is sandboxed (it reads outside the scratch dir) -- with the embedded bytes a kernel
   could also smuggle data out through the C values a wrong_answer error prints.
   EXPECT: rejected or compile_error; ok = build step reads host files (FINDING, low) */
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
__asm__(".section .rodata\n.Lhost:\n.incbin \"/etc/hostname\"\n.byte 0\n.text\n");
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
