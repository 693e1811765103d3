/* Scalar SGEMM, k-i-j loop order (outer k), no blocking, no packing.
 * C is zeroed first, then for each k every row i of C gets a[i][k] * row k of B
 * added to it.  Vectorisation and interleaving of the inner j loop are
 * disabled with a clang loop pragma, so the update is one scalar FMA per
 * element. */

__attribute__((no_builtin("memset")))
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
#pragma clang loop vectorize(disable) interleave(disable)
        for (int j = 0; j < N; j++)
            c[j] = 0.0f;
    }

    for (int k = 0; k < K; k++) {
        const float *b = B + (long)k * ldb;
        for (int i = 0; i < M; i++) {
            float a = A[(long)i * lda + k];
            float *c = C + (long)i * ldc;
#pragma clang loop vectorize(disable) interleave(disable)
            for (int j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}
