/* TRICK (red team 10, a76-qemu): the model charged the loads that miss beyond L2 their latencies
   over the misses per overlapping group (rob=), i.e. groups x the *average* latency of their
   members. This is an honest 8x16 register tile walking B unpacked from memory (its twin,
   r10_l3_hits_twin.c), plus five loads per k step of a private 768 KiB array, each on a new page:
   L3 hits on a76-qemu (2 MiB L3). They join the groups of the DRAM misses, lower their average
   latency and fill them up to MLP: 29.7% fewer modelled cycles than the twin for strictly more
   memory work. A group lasts as long as its slowest member: the plugin now counts the groups by
   the slowest level a member went to, and each costs that level's latency.
   EXPECT: ok, modelled no cheaper than the twin (>= 0.97x); cheaper = FINDING */
#define NDUMMY 5
#define DLINES 12288
static int Dstore[DLINES * 16];

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    unsigned t = 0; int *D = Dstore; __asm__ volatile("" : "+r"(D));
    for (int i = 0; i < M; i += 8)
        for (int j = 0; j < N; j += 16) {
            if (i + 8 > M || j + 16 > N) {
                for (int r = i; r < M && r < i + 8; r++)
                    for (int c = j; c < N && c < j + 16; c++) {
                        float s = 0.0f;
                        for (int k = 0; k < K; k++) s += A[(long)r * lda + k] * B[(long)k * ldb + c];
                        C[(long)r * ldc + c] = s;
                    }
                continue;
            }
            float acc[8][16] = {{0}};
            for (int k = 0; k < K; k++) {
                const float *b = B + (long)k * ldb + j;
#if NDUMMY
                for (int d = 0; d < NDUMMY; d++) {
                    int v = D[(t % DLINES) * 16];
                    __asm__ volatile("" :: "r"(v));
                    t += 65;           /* 65 lines: a new page each time */
                }
#endif
                for (int r = 0; r < 8; r++) {
                    float a = A[(long)(i + r) * lda + k];
                    for (int c = 0; c < 16; c++) acc[r][c] += a * b[c];
                }
            }
            for (int r = 0; r < 8; r++)
                for (int c = 0; c < 16; c++) C[(long)(i + r) * ldc + j + c] = acc[r][c];
        }
}
