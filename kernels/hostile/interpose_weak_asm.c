/* TRICK: interposition spelled so a C-level scan misses it: clock_gettime/write/fwrite/printf are
   defined in top-level asm as WEAK symbols (clock_gettime returns a frozen time, the others
   swallow output). No C definition at all. EXPECT: rejected */
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
__asm__(".text\n"
        ".weak clock_gettime\n.type clock_gettime,@function\nclock_gettime:\n"
        "  movq $0, (%rsi)\n  movq $1, 8(%rsi)\n  xorl %eax, %eax\n  ret\n"
        ".weak write\n.type write,@function\nwrite:\n  movq %rdx, %rax\n  ret\n"
        ".weak fwrite\n.type fwrite,@function\nfwrite:\n  movq %rdx, %rax\n  ret\n"
        ".weak printf\n.type printf,@function\nprintf:\n  xorl %eax, %eax\n  ret\n");
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
