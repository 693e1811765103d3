/* cuBLAS baseline for the tensorop CUDA GEMM ABI (harness-owned and trusted: built with the object
 * gate skipped and linked with -lcublas; timed through the same driver, gate and statistics as
 * any kernel). Row-major C = A B is column-major C^T = B^T A^T, so cuBLAS gets B first.
 * -DTENSOROP_F16: tensorop_gemm_f16_cuda via cublasGemmEx (f16 inputs, f32 compute and output).
 * f32 keeps cuBLAS's default math (no TF32), as the f32 error bound requires.
 * cuDNN for conv2d follows the same pattern once the conv op lands (issue 11, part 2). */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace {
cublasHandle_t handle() {
    static cublasHandle_t h = nullptr;     /* created on the first (warm-up) call */
    if (!h) {
        cublasCreate(&h);
        cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    }
    return h;
}
}  // namespace

#ifdef TENSOROP_F16
extern "C" void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda, const __half *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    const float one = 1.0f, zero = 0.0f;
    cublasSetStream(handle(), stream);
    cublasGemmEx(handle(), CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, CUDA_R_16F, ldb, A, CUDA_R_16F, lda, &zero,
                 C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}
#else
extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    const float one = 1.0f, zero = 0.0f;
    cublasSetStream(handle(), stream);
    cublasSgemm(handle(), CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, ldb, A, lda, &zero, C, ldc);
}
#endif
