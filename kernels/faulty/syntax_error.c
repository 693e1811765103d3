void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        C[i * ldc] = A[i * lda]   /* BUG: missing semicolon */
}
