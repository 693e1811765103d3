/* TRICK (emulated x86): empty the cycle model's store buffer cheaply. The plugin writes a store into
   the simulated L1 72 stores after it ran (docs/CYCLE_MODEL.md, "Stores commit late"), and a store
   that misses then costs ~7 cycles; QEMU runs each iteration of a `rep stosb` as a block of its own
   and the core model charges it 1/32 cycle. This is the j-k-i loop of r4_store_buffer_twin.c with a
   56-byte `rep stosb` into a stack buffer after every 16 rows: were each iteration a store buffer
   entry, every C store would commit 16 rows after it ran, while the line its load brought in is
   still in L1, and none would miss (red team 4: 9.0 million modelled cycles at 128^3 against the
   twin's 14.8 million). Results are exact. No library call, no system call, no static data.
   EXPECT: ok, modelled no cheaper than the twin; ok with ~40% fewer cycles = FINDING */
#define P 16
#define F (72 - P)

static inline void sbflush(char *buf)
{
    void *d = buf;
    unsigned long n = F;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0) : "memory");
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    char scratch[128];
    for (int j = 0; j < N; j++) {
        for (int i = 0; i < M; i++)
            C[(long)i * ldc + j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float b = B[(long)k * ldb + j];
            for (int i0 = 0; i0 < M; i0 += P) {
                int e = i0 + P < M ? i0 + P : M;
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
                for (int i = i0; i < e; i++)
                    C[(long)i * ldc + j] += A[(long)i * lda + k] * b;
                sbflush(scratch);
            }
        }
    }
}
