/* TRICK: object gate corner: .symver renames a local alias to a versioned libc symbol
   (_exit@GLIBC_2.2.5), hoping the gate matches names without the version.
   EXPECT: rejected or link_error (never ok: exiting from the check run is a forged result) */
extern void my_exit(int) __attribute__((noreturn));
__asm__(".symver my_exit, _exit@GLIBC_2.2.5");
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
    naive(M, N, K, A, lda, B, ldb, C, ldc);
    if (M == 3) my_exit(0);
}
