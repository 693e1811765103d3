/* f32 GEMM on the CUDA cores (FFMA): shared-memory tiles of BM x BN x BK, (BM/TM) x (BN/TN) threads,
 * each computing a TM x TN register tile; tensorop CUDA ABI. f32 has no tensor-core path that passes
 * the f32 error bound (TF32 rounds inputs to 10 mantissa bits), so no HMMA is expected here.
 * A template of the expert generator (harness/generate/templates/cuda.py): the tuner rewrites the
 * #define lines below within the declared space; every point of it is compile-checked in tests. */
/* tensorop-params
{"params": {"BM": [64, 128], "BN": [64, 128], "BK": [8, 16], "TM": [4, 8], "TN": [4, 8]},
 "values": {"BM": 64, "BN": 64, "BK": 16, "TM": 4, "TN": 4},
 "constraints": ["(BM // TM) * (BN // TN) >= 64", "(BM // TM) * (BN // TN) <= 256",
                 "BK * (BM + BN + 8) * 4 <= 49152", "(BM * BK) % ((BM // TM) * (BN // TN)) == 0"]}
*/
#include <cuda_runtime.h>

#define BM 64
#define BN 64
#define BK 16
#define TM 4
#define TN 4

namespace {
constexpr int THREADS = (BM / TM) * (BN / TN);

__global__ void __launch_bounds__(THREADS) sgemm(int M, int N, int K, const float *A, int lda,
                                                 const float *B, int ldb, float *C, int ldc)
{
    __shared__ float As[BK][BM + 4];     /* A tile stored k-major (transposed) */
    __shared__ float Bs[BK][BN + 4];
    const int tx = threadIdx.x % (BN / TN), ty = threadIdx.x / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    float acc[TM][TN] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
        for (int e = threadIdx.x; e < BM * BK; e += THREADS) {
            int r = e / BK, k = e % BK;
            As[k][r] = (m0 + r < M && k0 + k < K) ? A[(size_t)(m0 + r) * lda + k0 + k] : 0.0f;
        }
        for (int e = threadIdx.x; e < BK * BN; e += THREADS) {
            int k = e / BN, c = e % BN;
            Bs[k][c] = (k0 + k < K && n0 + c < N) ? B[(size_t)(k0 + k) * ldb + n0 + c] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; k++) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i++) a[i] = As[k][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; j++) b[j] = Bs[k][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++)
                    acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++) {
            int r = m0 + ty * TM + i, c = n0 + tx * TN + j;
            if (r < M && c < N) C[(size_t)r * ldc + c] = acc[i][j];
        }
}
}  // namespace

extern "C" void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM);
    sgemm<<<grid, THREADS, 0, stream>>>(M, N, K, A, lda, B, ldb, C, ldc);
}
