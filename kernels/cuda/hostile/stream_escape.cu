/* TRICK: do the work on the per-thread default stream (cudaStreamPerThread needs no
 * cudaStreamCreate, so the object gate cannot see it) instead of the stream the driver times with
 * CUDA events: the events would time an empty stream, and the driver's synchronisation of its own
 * stream would not wait for the GEMM either. The harness must either time the work (ok at its
 * honest speed: the same kernel as honest_twin.cu) or catch the unfinished output.
 * EXPECT: ok-honest (paired with honest_twin.cu: ratio about 1) or wrong_answer */
#include <cuda_runtime.h>

namespace {
__global__ void __launch_bounds__(256) naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                             float *C, int ldc)
{
    int r = blockIdx.y * 16 + threadIdx.x / 16, c = blockIdx.x * 16 + threadIdx.x % 16;
    if (r >= M || c >= N) return;
    float s = 0.0f;
    for (int k = 0; k < K; k++) s = fmaf(A[(size_t)r * lda + k], B[(size_t)k * ldb + c], s);
    C[(size_t)r * ldc + c] = s;
}
}  // namespace

extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    (void)stream;
    naive<<<dim3((N + 15) / 16, (M + 15) / 16), 256, 0, cudaStreamPerThread>>>(M, N, K, A, lda, B, ldb, C, ldc);
}
