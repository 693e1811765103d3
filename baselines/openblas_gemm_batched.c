/* Batched GEMM f32 baseline: one OpenBLAS SGEMM per matrix (harness-owned; may call BLAS). */
#include "tensorop_openblas.h"

void tensorop_gemm_batched_f32(int batch, int M, int N, int K, const float *A, int lda, long strideA,
                               const float *B, int ldb, long strideB, float *C, int ldc, long strideC)
{
    lib_routine("sgemm per matrix");
    for (int b = 0; b < batch; b++)
        scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A + b * strideA, lda,
                          B + b * strideB, ldb, 0.0f, C + b * strideC, ldc);
}
