/* TRICK (round 3, another spelling): the system call sits in `.text.stub`, a name the linker puts
   among the code, but flagged "a" (not executable) so an object scan of executable sections skips
   it; it is reached through a function pointer.
   EXPECT: rejected (object gate: a section named as code that is not executable) */
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
__asm__(".pushsection .text.stub, \"a\"\n.p2align 2\ntensorop_stub:\n  li a7, 172\n  .4byte 0x00000073\n  ret\n.popsection\n");
#elif defined(__aarch64__)
__asm__(".pushsection .text.stub, \"a\"\n.p2align 2\ntensorop_stub:\n  mov x8, #172\n  .4byte 0xd4000001\n  ret\n.popsection\n");
#else
__asm__(".pushsection .text.stub, \"a\"\ntensorop_stub:\n  mov $39, %eax\n  .byte 0x0f, 0x05\n  ret\n.popsection\n");
#endif
long tensorop_stub(void);
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    long (*volatile f)(void) = tensorop_stub;
    f();
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
}
