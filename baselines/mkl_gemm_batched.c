/* MKL baseline for batched GEMM f32 (harness-owned; may call MKL): one cblas_sgemm_batch_strided
   call, MKL's own batched routine. The note (tensorop_lib.h) says which ran. */
#include "tensorop_mkl.h"

static void mkl_warm_up(void)
{
    float a[128], b[128], c[128];
    for (int i = 0; i < 128; i++) a[i] = b[i] = 1.0f;
    cblas_sgemm_batch_strided(CblasRowMajor, CblasNoTrans, CblasNoTrans, 8, 8, 8, 1.0f, a, 8, 64, b, 8, 64,
                              0.0f, c, 8, 64, 2);
}

void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,
                               const float *B, int ldb, long strideB, float *C, int ldc, long strideC)
{
    lib_routine("sgemm_batch_strided");
    cblas_sgemm_batch_strided(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, strideA,
                              B, ldb, strideB, 0.0f, C, ldc, strideC, batch);
}
