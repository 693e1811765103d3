void tensorop_microkernel_8x8(const float *a, const float *b, float *c, int k);   /* BUG: never defined */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    tensorop_microkernel_8x8(A, B, C, K);
}
