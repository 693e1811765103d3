/* Host side of the ABI function reaches past the launch API: it creates its own stream (work
 * there would escape the driver's events) and synchronises the whole device, and exports an
 * extern "C" __global__ symbol. The CUDA object gate rejects it.
 * EXPECT: rejected */
#include <cuda_runtime.h>

extern "C" __global__ void exported(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                    float *C, int ldc)
{
    int r = blockIdx.y * 16 + threadIdx.x / 16, c = blockIdx.x * 16 + threadIdx.x % 16;
    if (r >= M || c >= N) return;
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += A[(size_t)r * lda + k] * B[(size_t)k * ldb + c];
    C[(size_t)r * ldc + c] = s;
}

extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    cudaStream_t mine;
    cudaStreamCreate(&mine);
    exported<<<dim3((N + 15) / 16, (M + 15) / 16), 256, 0, mine>>>(M, N, K, A, lda, B, ldb, C, ldc);
    cudaDeviceSynchronize();
    cudaStreamDestroy(mine);
}
