/* Validation set, memory-bound: the j-k-i loop order. The inner loop walks a column of A and a
   column of C (both stride lda/ldc), so every access touches a new cache line once rows no longer
   fit in L1. */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    for (int j = 0; j < N; j++) {
        for (int i = 0; i < M; i++)
            C[(long)i * ldc + j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float b = B[(long)k * ldb + j];
#pragma clang loop vectorize(disable) interleave(disable)
            for (int i = 0; i < M; i++)
                C[(long)i * ldc + j] += A[(long)i * lda + k] * b;
        }
    }
}
