/* tensorop kernel ABI (see DESIGN.md). Kernels may include this header; they need not. */
#ifndef TENSOROP_H
#define TENSOROP_H
#ifdef __cplusplus
extern "C" {
#endif
/* C = A * B; row-major; A is MxK (lda >= K), B is KxN (ldb >= N), C is MxN (ldc >= N).
   C is overwritten. The kernel may not call BLAS or any other library routine for the math. */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc);
#ifdef __cplusplus
}
#endif
#endif
