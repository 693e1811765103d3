/* Validation set: cache-blocked i-k-j loops with vectorisation switched off (scalar code):
   good locality, one scalar FMA per element update. */
#define BI 32
#define BK 64
#define BJ 128
static inline int imin(int a, int b) { return a < b ? a : b; }

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(long)i * ldc + j] = 0.0f;
    for (int i0 = 0; i0 < M; i0 += BI)
        for (int k0 = 0; k0 < K; k0 += BK)
            for (int j0 = 0; j0 < N; j0 += BJ)
                for (int i = i0; i < imin(i0 + BI, M); i++)
                    for (int k = k0; k < imin(k0 + BK, K); k++) {
                        float a = A[(long)i * lda + k];
                        const float *b = B + (long)k * ldb;
                        float *c = C + (long)i * ldc;
#pragma clang loop vectorize(disable) interleave(disable)
                        for (int j = j0; j < imin(j0 + BJ, N); j++)
                            c[j] += a * b[j];
                    }
}
