/* An f16 GEMM that never touches the tensor cores: it converts to float and uses FFMA. Correct,
 * but `tensorop build` flags it: "no tensor-core instructions in SASS".
 * EXPECT: ok */
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace {
__global__ void __launch_bounds__(256) naive(int M, int N, int K, const __half *A, int lda, const __half *B, int ldb,
                                             float *C, int ldc)
{
    int r = blockIdx.y * 16 + threadIdx.x / 16, c = blockIdx.x * 16 + threadIdx.x % 16;
    if (r >= M || c >= N) return;
    float s = 0.0f;
    for (int k = 0; k < K; k++)
        s = fmaf(__half2float(A[(size_t)r * lda + k]), __half2float(B[(size_t)k * ldb + c]), s);
    C[(size_t)r * ldc + c] = s;
}
}  // namespace

extern "C" void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda, const __half *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    naive<<<dim3((N + 15) / 16, (M + 15) / 16), 256, 0, stream>>>(M, N, K, A, lda, B, ldb, C, ldc);
}
