/* tensorop kernel ABI (see docs/ARCHITECTURE.md). Kernels may include this header; they need not. */
#ifndef TENSOROP_H
#define TENSOROP_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
/* C = A * B; row-major; A is MxK (lda >= K), B is KxN (ldb >= N), C is MxN (ldc >= N).
   C is overwritten. The kernel may not call BLAS or any other library routine for the math. */
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc);
/* The same product with low-precision inputs (tensorop_lowp.h): f16 / bf16 bit patterns in,
   f32 accumulation and output; int8 in, exact int32 accumulation and output. */
void tensorop_gemm_f16(int M, int N, int K, const uint16_t *A, int lda,
                       const uint16_t *B, int ldb, float *C, int ldc);
void tensorop_gemm_bf16(int M, int N, int K, const uint16_t *A, int lda,
                        const uint16_t *B, int ldb, float *C, int ldc);
void tensorop_gemm_i8(int M, int N, int K, const int8_t *A, int lda,
                      const int8_t *B, int ldb, int32_t *C, int ldc);
#ifdef __cplusplus
}
#endif
#endif
