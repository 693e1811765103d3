/* Plain-C SGEMM, i-k-j loop order with four rows of C updated together:
 * for each k the four A values a[i..i+3][k] are held in scalars and each
 * B element b[k][j] is loaded once and used for all four rows.  The K
 * dimension is cache-blocked (KC = 128) so the B panel is reused across all
 * row groups; M and N are not blocked.  No packing.  The j loop is left to
 * the compiler's auto-vectoriser.  Leftover rows (M % 4) are done one row at
 * a time.  The first K block writes C, later blocks accumulate. */

#define KC 128

__attribute__((no_builtin("memset", "memcpy")))
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = 0.0f;
    }

    for (int kk = 0; kk < K; kk += KC) {
        int kend = kk + KC < K ? kk + KC : K;
        int i = 0;
        for (; i + 4 <= M; i += 4) {
            const float *a0 = A + (long)(i + 0) * lda;
            const float *a1 = A + (long)(i + 1) * lda;
            const float *a2 = A + (long)(i + 2) * lda;
            const float *a3 = A + (long)(i + 3) * lda;
            float *restrict c0 = C + (long)(i + 0) * ldc;
            float *restrict c1 = C + (long)(i + 1) * ldc;
            float *restrict c2 = C + (long)(i + 2) * ldc;
            float *restrict c3 = C + (long)(i + 3) * ldc;
            for (int k = kk; k < kend; k++) {
                float x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
                const float *restrict b = B + (long)k * ldb;
                for (int j = 0; j < N; j++) {
                    float bj = b[j];
                    c0[j] += x0 * bj;
                    c1[j] += x1 * bj;
                    c2[j] += x2 * bj;
                    c3[j] += x3 * bj;
                }
            }
        }
        for (; i < M; i++) {
            const float *a0 = A + (long)i * lda;
            float *restrict c0 = C + (long)i * ldc;
            for (int k = kk; k < kend; k++) {
                float x0 = a0[k];
                const float *restrict b = B + (long)k * ldb;
                for (int j = 0; j < N; j++)
                    c0[j] += x0 * b[j];
            }
        }
    }
}
