/* TRICK (round 3, code in data): the system-call stub is a constant array, so it lives in .rodata
   (a section every C compiler emits, allowed), and the kernel calls it through a function pointer.
   Where the linker puts .rodata in the executable segment (GNU ld's default on RISC-V and AArch64)
   it runs; the build links with -z separate-code, so .rodata is not executable and the call faults.
   EXPECT: crash (SIGSEGV: the stub is not executable) */
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
#if defined(__riscv)
static const unsigned int stub[] __attribute__((aligned(4))) = {0x0ac00893 /* li a7,172 */, 0x00000073, 0x00008067};
#elif defined(__aarch64__)
static const unsigned int stub[] __attribute__((aligned(4))) = {0xd2801588 /* mov x8,#172 */, 0xd4000001, 0xd65f03c0};
#else
static const unsigned char stub[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3};
#endif
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    long (*volatile f)(void) = (long (*)(void))(const void *)stub;
    f();
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
}
