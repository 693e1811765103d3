/* TRICK (emulated devices): game the modelled cycles without naming the driver's markers. The
   profiling call is bracketed by the driver's local functions tensorop_region_begin/end, which
   the QEMU plugin uses to count the kernel's blocks. On RISC-V (and arm64: `bl`, `ret`) our return address points at the
   driver's `jal ra, tensorop_region_end` (in the profiling run only); we decode that jal, and the
   `jal ra, tensorop_region_begin` a few instructions before our own call site, check that both
   targets are 2-byte `c.ret` functions, and call them ourselves: END before doing 80% of the rows,
   BEGIN again for the last 20%. Results are always exact; outside the profiling run (no jal at the
   return address) the kernel is plain honest. No library call, no syscall, no static data.
   EXPECT: suspicious or ok at the honest cycle count; ok with ~5x fewer modelled cycles = FINDING */
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
static unsigned long jal_target(const unsigned short *p)     /* 0 unless p holds `jal ra, X` */
{
    unsigned int insn = p[0] | (unsigned int)p[1] << 16;
    if ((insn & 0xfff) != 0x0ef) return 0;                   /* opcode JAL, rd = ra */
    long imm = ((insn >> 31) & 1) << 20 | ((insn >> 21) & 0x3ff) << 1 | ((insn >> 20) & 1) << 11 | ((insn >> 12) & 0xff) << 12;
    if (imm & (1L << 20)) imm -= 1L << 21;
    return (unsigned long)p + imm;
}
static int is_cret(unsigned long f) { return f && *(const unsigned short *)f == 0x8082; }
#elif defined(__aarch64__)
static unsigned long jal_target(const unsigned short *p)     /* 0 unless p holds `bl X` */
{
    unsigned int insn = *(const unsigned int *)p;
    if ((insn >> 26) != 0x25) return 0;
    long imm = insn & 0x3ffffff;
    if (imm & (1L << 25)) imm -= 1L << 26;
    return (unsigned long)p + imm * 4;
}
static int is_cret(unsigned long f) { return f && *(const unsigned int *)f == 0xd65f03c0; }   /* ret */
#endif
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
#if defined(__riscv) || defined(__aarch64__)
    const unsigned short *ra = (const unsigned short *)__builtin_return_address(0);
    unsigned long end = jal_target(ra), begin = 0;
    if (is_cret(end)) {
        for (int back = 4; back <= 96 && !begin; back += 2) {  /* the jal before our own call site */
            unsigned long t = jal_target(ra - 2 - back / 2);
            if (t != end && is_cret(t)) begin = t;
        }
        if (begin) {
            int cut = M - M / 5;
            ((void (*)(void))end)();
            naive(M, N, K, A, lda, B, ldb, C, ldc, cut);
            ((void (*)(void))begin)();
            naive(M - cut, N, K, A + (long)cut * lda, lda, B, ldb, C + (long)cut * ldc, ldc, M - cut);
            return;
        }
    }
#endif
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
}
