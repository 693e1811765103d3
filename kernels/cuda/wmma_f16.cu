/* f16-in / f32-accumulate GEMM with WMMA (tensor cores, HMMA in SASS); tensorop CUDA ABI.
 * Block tile 128 x 128 x 32, 8 warps (4 x 2), each warp 32 x 64 = 2 x 4 fragments of 16x16x16.
 * A and B tiles are staged in shared memory (zero-filled at the edges, so any M, N, K, lda, ldb
 * work); the epilogue goes through a per-warp shared scratch with bounds-checked stores. */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>
using namespace nvcuda;

namespace {
constexpr int BM = 128, BN = 128, BK = 32, PAD = 8, THREADS = 256;

__device__ __forceinline__ void load_tile(__half *dst, int dld, const __half *src, int ld, int rows, int cols,
                                          int r0, int c0, int R, int C)
{
    bool vec = (r0 + rows <= R) && (c0 + cols <= C) && (ld % 8 == 0) &&
               ((reinterpret_cast<size_t>(src) & 15) == 0);
    if (vec) {   /* 8 halves (16 bytes) per load */
        for (int e = threadIdx.x * 8; e < rows * cols; e += THREADS * 8) {
            int r = e / cols, c = e % cols;
            *reinterpret_cast<uint4 *>(dst + r * dld + c) =
                *reinterpret_cast<const uint4 *>(src + (size_t)(r0 + r) * ld + c0 + c);
        }
    } else {
        for (int e = threadIdx.x; e < rows * cols; e += THREADS) {
            int r = e / cols, c = e % cols;
            dst[r * dld + c] = (r0 + r < R && c0 + c < C) ? src[(size_t)(r0 + r) * ld + c0 + c] : __float2half(0.0f);
        }
    }
}

__global__ void __launch_bounds__(THREADS) wmma_gemm(int M, int N, int K, const __half *A, int lda,
                                                     const __half *B, int ldb, float *C, int ldc)
{
    __shared__ __align__(16) __half As[BM][BK + PAD];
    __shared__ __align__(16) __half Bs[BK][BN + PAD];
    __shared__ __align__(16) float Cs[THREADS / 32][16 * 16];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = warp / 2, wn = warp % 2;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            wmma::fill_fragment(acc[i][j], 0.0f);

    for (int k0 = 0; k0 < K; k0 += BK) {
        load_tile(&As[0][0], BK + PAD, A, lda, BM, BK, m0, k0, M, K);
        load_tile(&Bs[0][0], BN + PAD, B, ldb, BK, BN, k0, n0, K, N);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b[4];
            for (int i = 0; i < 2; i++)
                wmma::load_matrix_sync(a[i], &As[wm * 32 + i * 16][kk], BK + PAD);
            for (int j = 0; j < 4; j++)
                wmma::load_matrix_sync(b[j], &Bs[kk][wn * 64 + j * 16], BN + PAD);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 4; j++)
                    wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            wmma::store_matrix_sync(Cs[warp], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            int r0 = m0 + wm * 32 + i * 16, c0 = n0 + wn * 64 + j * 16;
            for (int e = lane; e < 256; e += 32) {
                int r = r0 + e / 16, c = c0 + e % 16;
                if (r < M && c < N)
                    C[(size_t)r * ldc + c] = Cs[warp][e];
            }
            __syncwarp();
        }
}
}  // namespace

extern "C" void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda, const __half *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM);
    wmma_gemm<<<grid, THREADS, 0, stream>>>(M, N, K, A, lda, B, ldb, C, ldc);
}
