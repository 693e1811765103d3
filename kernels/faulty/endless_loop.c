void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    volatile int spin = 1;
    while (spin) {            /* BUG: never returns */
    }
}
