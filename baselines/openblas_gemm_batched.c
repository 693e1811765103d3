/* Batched GEMM f32 baseline: one OpenBLAS SGEMM per matrix (harness-owned; may call BLAS). */
enum { CblasRowMajor = 101, CblasNoTrans = 111 };
void scipy_cblas_sgemm(int order, int transa, int transb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,
                               const float *B, int ldb, long strideB, float *C, int ldc, long strideC)
{
    for (int b = 0; b < batch; b++)
        scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A + b * strideA, lda,
                          B + b * strideB, ldb, 0.0f, C + b * strideC, ldc);
}
