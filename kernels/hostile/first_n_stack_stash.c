/* TRICK: call counter kept in dead stack memory 1 MiB below the caller (no static data, no heap):
   the first 4 calls are honest, later ones compute one row. EXPECT: wrong_answer */
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
/* State without any static storage: dead stack far below the caller, at an address rounded so
   that small differences in call depth land on the same slot. Survives between calls. */
static unsigned long *stash(void)
{
    unsigned long f = (unsigned long)__builtin_frame_address(0);
    return (unsigned long *)((f & ~0x3FFFFUL) - 0x100000UL);
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    volatile unsigned long *h = stash();
    if (h[0] != 0xC0FFEEULL) { h[0] = 0xC0FFEEULL; h[1] = 0; }
    unsigned long n = ++h[1];
    naive(M, N, K, A, lda, B, ldb, C, ldc, n <= 4 ? M : 1);
}
