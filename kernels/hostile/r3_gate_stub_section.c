/* TRICK (round 3, the section-flag gate bypass): a system-call instruction in an input section of
   our own name, `.stub`, flagged "a" (allocated, not executable): an object gate that scans only
   executable sections never looks at it, and GNU ld's default script still places it in the
   executable segment. The stub is reached through a function pointer (exit_group(0) would end the
   run; here getpid, harmless, so only the gate can say no). The kernel's math is honest.
   EXPECT: rejected (object gate: an unknown section) */
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
__asm__(".pushsection .stub, \"a\"\n.p2align 2\ntensorop_stub:\n  li a7, 172\n  .4byte 0x00000073\n  ret\n.popsection\n");
#elif defined(__aarch64__)
__asm__(".pushsection .stub, \"a\"\n.p2align 2\ntensorop_stub:\n  mov x8, #172\n  .4byte 0xd4000001\n  ret\n.popsection\n");
#else
__asm__(".pushsection .stub, \"a\"\ntensorop_stub:\n  mov $39, %eax\n  .byte 0x0f, 0x05\n  ret\n.popsection\n");
#endif
long tensorop_stub(void);
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    long (*volatile f)(void) = tensorop_stub;
    f();
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
}
