/* TRICK: the syscall instruction as raw bytes (.byte 0x0f,0x05) inside a .text blob, not a mnemonic.
   EXPECT: rejected */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    (void)M; (void)N; (void)K; (void)A; (void)lda; (void)B; (void)ldb; (void)C; (void)ldc;
    __asm__ volatile("movl $231, %%eax\n xorl %%edi, %%edi\n .byte 0x0f, 0x05" ::: "rax", "rdi", "rcx", "r11", "memory");
}
