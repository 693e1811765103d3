/* Calls printf, malloc and assert on the device: the CUDA object gate rejects it
 * (device-side vprintf/malloc/free/__assertfail are calls into the CUDA runtime's syscalls).
 * EXPECT: rejected */
#include <cassert>
#include <cstdio>
#include <cuda_runtime.h>

namespace {
__global__ void chatty(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    int r = blockIdx.y * 16 + threadIdx.x / 16, c = blockIdx.x * 16 + threadIdx.x % 16;
    if (r >= M || c >= N) return;
    float *scratch = (float *)malloc(sizeof(float));
    assert(scratch);
    *scratch = 0.0f;
    for (int k = 0; k < K; k++)
        *scratch += A[(size_t)r * lda + k] * B[(size_t)k * ldb + c];
    if (r == 0 && c == 0) printf("C[0][0] = %f\n", *scratch);
    C[(size_t)r * ldc + c] = *scratch;
    free(scratch);
}
}  // namespace

extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    chatty<<<dim3((N + 15) / 16, (M + 15) / 16), 256, 0, stream>>>(M, N, K, A, lda, B, ldb, C, ldc);
}
