/* TRICK: memoise across calls on the (A, B, C, shape) tuple. The first call for a tuple computes C
 * and keeps a copy in stream-ordered device memory; a later call with the same pointers copies
 * the saved result into C instead of computing (a device-to-device copy is ~100x cheaper than
 * the GEMM). Rotating input sets bring the same pointers back with fresh inputs.
 * EXPECT: wrong_answer */
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

struct Entry { const void *a, *b; void *c; int m, n, k; void *saved; };
}  // namespace

extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    static Entry memo[64];
    static int used;
    size_t bytes = (size_t)M * ldc * sizeof(float);
    for (int i = 0; i < used; i++)
        if (memo[i].a == A && memo[i].b == B && memo[i].c == C && memo[i].m == M && memo[i].n == N && memo[i].k == K) {
            cudaMemcpyAsync(C, memo[i].saved, bytes, cudaMemcpyDeviceToDevice, stream);
            return;
        }
    naive<<<dim3((N + 15) / 16, (M + 15) / 16), 256, 0, stream>>>(M, N, K, A, lda, B, ldb, C, ldc);
    if (used < 64) {
        void *saved = nullptr;
        if (cudaMallocAsync(&saved, bytes, stream) == cudaSuccess) {
            cudaMemcpyAsync(saved, C, bytes, cudaMemcpyDeviceToDevice, stream);
            memo[used++] = Entry{A, B, C, M, N, K, saved};
        }
    }
}
