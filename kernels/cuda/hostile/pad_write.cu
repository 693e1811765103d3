/* TRICK (or bug): computes C right and also writes the row padding between N and ldc (a
 * "vectorised" store that rounds N up to 4). The driver's padding check must see it.
 * EXPECT: wrong_answer */
#include <cuda_runtime.h>

namespace {
__global__ void __launch_bounds__(256) naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                             float *C, int ldc)
{
    int r = blockIdx.y * 16 + threadIdx.x / 16, c = blockIdx.x * 16 + threadIdx.x % 16;
    int n4 = (N + 3) / 4 * 4;
    if (r >= M || c >= n4 || c >= ldc) return;
    float s = 0.0f;
    if (c < N)
        for (int k = 0; k < K; k++) s = fmaf(A[(size_t)r * lda + k], B[(size_t)k * ldb + c], s);
    C[(size_t)r * ldc + c] = s;
}
}  // namespace

extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    naive<<<dim3((N + 3 + 15) / 16, (M + 15) / 16), 256, 0, stream>>>(M, N, K, A, lda, B, ldb, C, ldc);
}
