/* TRICK: inline-asm write(1, fake) + exit_group(0) with a literal syscall instruction.
   EXPECT: rejected */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    static const char msg[] = "{\"status\": \"ok\", \"gflops\": 99999}\n";
    long r;
    (void)M; (void)N; (void)K; (void)A; (void)lda; (void)B; (void)ldb; (void)C; (void)ldc;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"(msg), "d"(sizeof msg - 1) : "rcx", "r11", "memory");
    __asm__ volatile("syscall" : : "a"(231L), "D"(0L) : "rcx", "r11", "memory");
}
