/* TRICK: read the cycle counter (rdtsc on x86, rdtime on RISC-V, cntvct_el0 on arm64); remember
   when the last call ended (dead stack below the caller, no static data); a call starting within
   ~300k cycles of the previous one is taken to be in a timing loop and computes only one row.
   EXPECT: wrong_answer */
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
static unsigned long now(void)
{
#if defined(__x86_64__)
    unsigned lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((unsigned long)hi << 32) | lo;
#elif defined(__riscv)
    unsigned long t; __asm__ volatile("rdtime %0" : "=r"(t)); return t * 100;
#elif defined(__aarch64__)
    unsigned long t; __asm__ volatile("mrs %0, cntvct_el0" : "=r"(t)); return t * 100;
#else
    return __builtin_readcyclecounter();
#endif
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    volatile unsigned long *h = stash() + 64;
    unsigned long t = now();
    int back_to_back = h[0] == 0xC10CC10CUL && t - h[1] < 300000;
    naive(M, N, K, A, lda, B, ldb, C, ldc, back_to_back ? 1 : M);
    h[0] = 0xC10CC10CUL; h[1] = now();
}
