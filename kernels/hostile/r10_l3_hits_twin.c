/* Twin of r10_l3_hits_shorten_groups.c: the same kernel, its five extra loads per k step on four
   lines that stay in L1. EXPECT: ok */
#define NDUMMY 5
#define DLINES 4
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
