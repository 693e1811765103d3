/* MKL baseline for GEMM f32 (harness-owned; may call MKL): MKL's own routine for the shape, as its
   user calls it: SGEMV for a row (M = 1: y = x.B, B transposed in row-major) or a column (N = 1:
   y = A.x), SGEMM otherwise. The note (tensorop_lib.h) says which ran. */
#include "tensorop_mkl.h"

static void mkl_warm_up(void)
{
    float a[64], b[64], c[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = 1.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 8, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, 8, 8, 1.0f, a, 8, b, 1, 0.0f, c, 1);
}

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    if (M == 1 && N > 1) {          /* C[0,:] = A[0,:] . B  =  B^T x */
        lib_routine("sgemv");
        cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, B, ldb, A, 1, 0.0f, C, 1);
    } else if (N == 1 && M > 1) {   /* C[:,0] = A . B[:,0] (B's column has stride ldb, C's ldc) */
        lib_routine("sgemv");
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
    } else {
        lib_routine("sgemm");
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
    }
}
