/* OpenBLAS baseline for GEMM f32 (harness-owned; the only kernel allowed to call BLAS): the
   library's own routine for the shape, as its user calls it: SGEMV for a row (M = 1: y = x.B, B
   transposed in row-major) or a column (N = 1: y = A.x), SGEMM otherwise. The note says which ran. */
#include "tensorop_openblas.h"

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc)
{
    if (M == 1 && N > 1) {          /* C[0,:] = A[0,:] . B  =  B^T x */
        lib_routine("sgemv");
        scipy_cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, B, ldb, A, 1, 0.0f, C, 1);
    } else if (N == 1 && M > 1) {   /* C[:,0] = A . B[:,0] (B's column has stride ldb, C's ldc) */
        lib_routine("sgemv");
        scipy_cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
    } else {
        lib_routine("sgemm");
        scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
    }
}
