/* TRICK (round 3, model inputs the kernel controls): the twin's RVV loop with one Zbs instruction
   (bset) in its hot block. QEMU runs it; llvm-mc for the SiFive X280 model cannot decode it, and a
   block that did not decode was costed at 1 cycle per instruction (6.35x OpenBLAS at 128^3). What the
   model cannot decode is now costed at the slowest instruction the core model knows.
   EXPECT rv64-qemu: ok, modelled no cheaper than its twin r3_model_vsetvl_twin.c */
#if !defined(__riscv)
#error "RISC-V only"
#endif
/* one row of C in chunks of vl (e32, m8): C[i, j..j+vl) = sum_k A[i,k] B[k, j..j+vl) */
static void row(const float *a, const float *B, long ldb_bytes, float *c, long n, long K)
{
    while (n > 0) {
        long vl, k = K;
        const float *ap = a, *bp = B;
        __asm__ volatile("vsetvli %0, %1, e32, m8, ta, ma" : "=r"(vl) : "r"(n), "r"(0xd3L) : );
        __asm__ volatile("vmv.v.i v16, 0\n"
                         "1:\n"
                         "  flw ft0, 0(%[a])\n"
                         "  vle32.v v8, (%[b])\n"
                         "  vfmacc.vf v16, ft0, v8\n"
                         "  .insn r 0x33, 1, 0x14, t0, t0, t1\n"
                         "  addi %[a], %[a], 4\n"
                         "  add %[b], %[b], %[ldb]\n"
                         "  addi %[k], %[k], -1\n"
                         "  bnez %[k], 1b\n"
                         "  vse32.v v16, (%[c])\n"
                         : [a] "+r"(ap), [b] "+r"(bp), [k] "+r"(k)
                         : [ldb] "r"(ldb_bytes), [c] "r"(c)
                         : "ft0", "t0", "t1", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18",
                           "v19", "v20", "v21", "v22", "v23", "memory");
        n -= vl;
        B += vl;
        c += vl;
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        if (K == 0) {
            for (int j = 0; j < N; j++) C[(long)i * ldc + j] = 0.0f;
            continue;
        }
        row(A + (long)i * lda, B, (long)ldb * 4, C + (long)i * ldc, N, K);
    }
}
