/* The honest twin of r4_store_buffer_rep_flush.c: the same j-k-i loop in blocks of 16 rows,
   without the `rep stosb`. Its C stores commit 72 stores late and miss L1 once C's column does not
   fit in the L1 sets it maps to (128^3 on x86-qemu).
   EXPECT: ok */
#define P 16

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
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
            }
        }
    }
}
