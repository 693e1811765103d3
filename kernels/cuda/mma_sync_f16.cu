/* f16-in / f32-accumulate GEMM with PTX mma.sync.m16n8k16 and ldmatrix (tensor cores, HMMA);
 * tensorop CUDA ABI. WM x WN warps per block, each warp MI x NJ mma tiles of 16 x 8 (default: block
 * tile 128 x 128 x 32, 8 warps of 64 x 32); A fragments by ldmatrix.x4, B fragments by
 * ldmatrix.x4.trans from the row-major K x N tile. Shared tiles are padded by 8 halves
 * (conflict-free ldmatrix). A template of the expert generator (harness/generate/templates/cuda.py):
 * the tuner rewrites the #define lines within the declared space; every point is compile-checked
 * for sm_80 and sm_90a in tests (HMMA in the SASS, no spills). */
/* tensorop-params
{"params": {"WM": [2, 4], "WN": [2, 4], "MI": [2, 4], "NJ": [4, 8], "BK": [32, 64]},
 "values": {"WM": 2, "WN": 4, "MI": 4, "NJ": 4, "BK": 32},
 "constraints": ["MI * NJ <= 16", "WM * WN <= 8", "(WM * MI * 16 * (BK + 8) + BK * (WN * NJ * 8 + 8)) * 2 <= 49152"]}
*/
#define WM 2
#define WN 4
#define MI 4
#define NJ 4
#define BK 32

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

namespace {
constexpr int BM = WM * MI * 16, BN = WN * NJ * 8, PAD = 8, THREADS = WM * WN * 32;

__device__ __forceinline__ void load_tile(__half *dst, int dld, const __half *src, int ld, int rows, int cols,
                                          int r0, int c0, int R, int C)
{
    bool vec = (r0 + rows <= R) && (c0 + cols <= C) && (ld % 8 == 0) &&
               ((reinterpret_cast<size_t>(src) & 15) == 0);
    if (vec) {
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

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const __half *p)
{
    uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const __half *p)
{
    uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__global__ void __launch_bounds__(THREADS) mma_gemm(int M, int N, int K, const __half *A, int lda,
                                                    const __half *B, int ldb, float *C, int ldc)
{
    __shared__ __align__(16) __half As[BM][BK + PAD];
    __shared__ __align__(16) __half Bs[BK][BN + PAD];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = warp / WN, wn = warp % WN;         /* warp tile: rows wm*MI*16.., cols wn*NJ*8.. */
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    float acc[MI][NJ][4] = {};

    for (int k0 = 0; k0 < K; k0 += BK) {
        load_tile(&As[0][0], BK + PAD, A, lda, BM, BK, m0, k0, M, K);
        load_tile(&Bs[0][0], BN + PAD, B, ldb, BK, BN, k0, n0, K, N);
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t a[MI][4], b[NJ / 2][4];
#pragma unroll
            for (int i = 0; i < MI; i++)
                ldmatrix_x4(a[i], &As[wm * MI * 16 + i * 16 + (lane % 16)][kk + (lane / 16) * 8]);
#pragma unroll
            for (int j = 0; j < NJ / 2; j++)  /* two n8 tiles per ldmatrix.x4.trans */
                ldmatrix_x4_trans(b[j], &Bs[kk + (lane % 16)][wn * NJ * 8 + j * 16 + (lane / 16) * 8]);
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++)
                    mma16816(acc[i][j], a[i], b[j / 2][(j % 2) * 2], b[j / 2][(j % 2) * 2 + 1]);
        }
        __syncthreads();
    }
    for (int i = 0; i < MI; i++)
        for (int j = 0; j < NJ; j++) {
            int r = m0 + wm * MI * 16 + i * 16 + lane / 4, c = n0 + wn * NJ * 8 + j * 8 + (lane % 4) * 2;
            for (int h = 0; h < 2; h++) {        /* c0,c1: row r; c2,c3: row r + 8 */
                int rr = r + h * 8;
                if (rr < M && c < N) C[(size_t)rr * ldc + c] = acc[i][j][2 * h];
                if (rr < M && c + 1 < N) C[(size_t)rr * ldc + c + 1] = acc[i][j][2 * h + 1];
            }
        }
}
}  // namespace

extern "C" void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda, const __half *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    dim3 grid((N + BN - 1) / BN, (M + BM - 1) / BM);
    mma_gemm<<<grid, THREADS, 0, stream>>>(M, N, K, A, lda, B, ldb, C, ldc);
}
