/* TRICK: the syscall bytes 0f 05 hidden inside the immediate of a harmless instruction
   (movl $0x050f, %eax = b8 0f 05 00 00); we jump to the middle of that instruction. A linear
   disassembly sees only a mov. After computing C honestly we exit_group(0) through it, so the
   driver never reports. EXPECT: rejected; anything but a non-ok = FINDING */
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
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    __asm__ volatile(
        "  movl $231, %%eax\n  xorl %%edi, %%edi\n  jmp 2f\n"
        "1: movl $0x050f, %%ecx\n"       /* b9 0f 05 00 00: bytes 1..2 are 0f 05 */
        "2: lea 1b+1(%%rip), %%rdx\n  movl $231, %%eax\n  jmp *%%rdx\n"
        ::: "rax", "rcx", "rdx", "rdi", "r11", "memory");
}
