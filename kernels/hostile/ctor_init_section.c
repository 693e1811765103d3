/* TRICK: a constructor with no constructor table at all: instructions spliced into the .init
   SECTION. crti.o opens _init in .init and crtn.o closes it; every object linked in between
   contributes its .init bytes to the body of _init, which glibc runs at start-up. Our fragment
   calls a local function. EXPECT: rejected; ok = FINDING (code ran at start-up) */
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
static void __attribute__((used)) pre(void)
{
    /* observable effect: a start-up hook that crashes on purpose would be too loud; instead we
       burn a recognisable amount of time so the harness's behaviour is what decides. */
    for (volatile int i = 0; i < 1000; i++) { }
}
__asm__(".section .init,\"ax\",@progbits\n  call pre\n.text\n");
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
