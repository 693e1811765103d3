/* TRICK: the ABI function itself is a GNU IFUNC: its resolver runs during relocation processing,
   before main and before any constructor -- start-up code execution without a constructor. The
   only global symbol is the ABI name (STT_GNU_IFUNC). EXPECT: rejected; ok = FINDING */
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
static void impl(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{ naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
static void *resolve(void) { for (volatile int i = 0; i < 1000; i++) { } return (void *)impl; }
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) __attribute__((ifunc("resolve")));
