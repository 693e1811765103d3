/* BUG (by the rules): hands the math to BLAS. */
void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    cblas_sgemm(101, 111, 111, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}
