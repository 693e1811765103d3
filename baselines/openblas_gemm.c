/* OpenBLAS baseline (harness-owned; the only kernel allowed to call BLAS).
   scipy-openblas32 exports the CBLAS interface with a scipy_ prefix. */
enum { CblasRowMajor = 101, CblasNoTrans = 111 };
void scipy_cblas_sgemm(int order, int transa, int transb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}
