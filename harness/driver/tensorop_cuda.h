/* tensorop CUDA kernel ABI (see docs/CUDA.md). Kernels may include this header; they need not.
 *
 * C = A * B; row-major; A is M x K (lda >= K), B is K x N (ldb >= N), C is M x N (ldc >= N), C is
 * overwritten (float, whatever the input type). A, B and C are DEVICE pointers. The function is
 * host code: it enqueues its work on `stream` (and only there: no other streams, no device-wide
 * synchronisation, no allocation outside the stream-ordered allocator) and returns; the harness's
 * driver synchronises and times with CUDA events recorded on the same stream. The kernel may not
 * call cuBLAS/cuDNN or any other library routine for the math.
 *
 *   f32:          float inputs, float accumulation (tensor cores would need TF32, which fails
 *                 the f32 error bound; FFMA is expected)
 *   f16:          __half inputs, float accumulation and output (HMMA/HGMMA with f32 accumulators)
 *
 * Conv2d f32 (the CPU ABI's layouts and semantics, harness/ops/conv2d.py, on device pointers):
 * y = conv(x, w): x is N x C x H x W (NCHW), w is K x C x R x S, zero padding `pad` on all sides,
 * y is N x K x P x Q with P = (H + 2*pad - R)/stride + 1, Q = (W + 2*pad - S)/stride + 1; y is
 * overwritten. Same stream rules as the GEMMs; f32 bound, so FFMA (no TF32).
 */
#ifndef TENSOROP_CUDA_H
#define TENSOROP_CUDA_H
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#ifdef __cplusplus
extern "C" {
#endif
void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float *C, int ldc, cudaStream_t stream);
void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda, const __half *B, int ldb,
                            float *C, int ldc, cudaStream_t stream);
void tensorop_conv2d_f32_cuda(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                              const float *x, const float *w, float *y, cudaStream_t stream);
#ifdef __cplusplus
}
#endif
#endif
