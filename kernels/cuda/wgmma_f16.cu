/* f16-in / f32-accumulate GEMM for Hopper (sm_90a): wgmma (HGMMA) from shared memory fed by the
 * tensor memory accelerator (TMA, cp.async.bulk.tensor) through an mbarrier pipeline; tensorop CUDA
 * ABI. One CTA = 3 warpgroups: warpgroup 0 is the producer (one thread issues the TMA loads, the
 * warpgroup gives its registers away with setmaxnreg), warpgroups 1 and 2 are consumers, each
 * owning 64 rows of the 128 x BN block tile and issuing wgmma.m64n<BN>k16 on it. STAGES shared
 * buffers of A (128 x 64) and B (64 x BN) tiles, 128-byte swizzled, full/empty mbarriers per stage.
 * The tile order is grouped by GROUP_M row tiles so that the CTAs in flight share their A and B
 * panels in L2.
 *
 * B is row-major K x N (N contiguous, "MN-major" for wgmma). BMN 1: TMA loads it as it is
 * (64-column boxes) and wgmma reads it transposed (imm-trans-b); BMN 0: a pre-pass transposes B
 * into a K-major workspace and both operands are K-major (the layout every Hopper tutorial uses).
 * A (and B when BMN 1) is used in place when its base is 16-byte aligned and its leading
 * dimension a multiple of 8 halves (TMA's rule), else first copied into an aligned, padded
 * workspace. The workspace is stream-ordered device memory kept across calls (grown as needed).
 * Out-of-bounds parts of a tile (M, N and K tails) are zero-filled by TMA; C is stored with
 * bounds checks.
 *
 * Links with the CUDA driver library for cuTensorMapEncodeTiled (harness/backends/cuda/build.py adds
 * libcuda when the object needs it). A template of the expert generator (harness/generate/templates/cuda.py):
 * the tuner rewrites the #define lines within the declared space. */
/* tensorop-params
{"params": {"BN": [128, 256], "STAGES": [3, 4, 5, 6], "BMN": [0, 1], "GROUP_M": [8, 16]},
 "values": {"BN": 256, "STAGES": 4, "BMN": 1, "GROUP_M": 16},
 "constraints": ["STAGES * (128 + BN) * 64 * 2 + 2048 <= 232448"]}
*/
#define BN 256
#define STAGES 4
#define BMN 1
#define GROUP_M 16

#include <cuda.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#define TNSP_STR2(x) #x
#define TNSP_STR(x) TNSP_STR2(x)
#define TNSP_B TNSP_STR(BMN)

namespace {
constexpr int BM = 128, BK = 64, CONSUMERS = 2, THREADS = 128 * (CONSUMERS + 1);
constexpr int A_TILE = BM * BK, B_TILE = BN * BK;                 /* halves */
constexpr uint32_t STAGE_BYTES = (A_TILE + B_TILE) * 2;
constexpr size_t SMEM_BYTES = (size_t)STAGES * STAGE_BYTES + 2 * STAGES * sizeof(uint64_t) + 1024;

__device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/* ---- mbarriers ---------------------------------------------------------------------------- */
__device__ __forceinline__ void mbar_init(uint64_t *bar, int count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

__device__ __forceinline__ void mbar_expect_tx(uint64_t *bar, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes)
                 : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint64_t *bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}

__device__ __forceinline__ void mbar_wait(uint64_t *bar, int phase)
{
    uint32_t a = smem_addr(bar), done = 0;
    while (!done)
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(a), "r"(phase)
                     : "memory");
}

/* ---- TMA ---------------------------------------------------------------------------------- */
__device__ __forceinline__ void tma_load(void *dst, const CUtensorMap *map, uint64_t *bar, int x, int y)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%3, %4}], [%2];\n" ::"r"(smem_addr(dst)),
                 "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_addr(bar)), "r"(x), "r"(y)
                 : "memory");
}

/* ---- wgmma -------------------------------------------------------------------------------- */
/* Shared-memory matrix descriptor, 128-byte swizzle: start address, leading and stride byte
   offsets (16-byte units), layout type 1 (SWIZZLE_128B) in bits 62-63. */
__device__ __forceinline__ uint64_t desc128(const void *p, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((smem_addr(p) & 0x3FFFF) >> 4) | ((uint64_t)((lbo & 0x3FFFF) >> 4) << 16) |
           ((uint64_t)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

template <int N> __device__ void wgmma_f16(float (&d)[N / 2], uint64_t da, uint64_t db, int scale_d);

#if BN == 256
template <> __device__ __forceinline__ void wgmma_f16<256>(float (&d)[128], uint64_t da, uint64_t db, int scale_d)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63,"
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79,"
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95,"
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111,"
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
        "}, %128, %129, p, 1, 1, 0, " TNSP_B ";\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(da), "l"(db), "r"(scale_d));
}

#endif
#if BN == 128
template <> __device__ __forceinline__ void wgmma_f16<128>(float (&d)[64], uint64_t da, uint64_t db, int scale_d)
{
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, %64, %65, p, 1, 1, 0, " TNSP_B ";\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(scale_d));
}
#endif

/* ---- the GEMM ----------------------------------------------------------------------------- */
__global__ void __launch_bounds__(THREADS, 1) wgmma_gemm(const __grid_constant__ CUtensorMap tmA,
                                                         const __grid_constant__ CUtensorMap tmB, int M, int N,
                                                         int K, float *__restrict__ C, int ldc)
{
    extern __shared__ unsigned char smem_raw[];
    unsigned char *smem = reinterpret_cast<unsigned char *>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) &
                                                            ~static_cast<uintptr_t>(1023));
    __half *sA = reinterpret_cast<__half *>(smem);
    __half *sB = sA + STAGES * A_TILE;
    uint64_t *full = reinterpret_cast<uint64_t *>(sB + STAGES * B_TILE);
    uint64_t *empty = full + STAGES;

    const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
    const int pid = blockIdx.x, per_group = GROUP_M * tiles_n;
    const int first_m = (pid / per_group) * GROUP_M;
    const int group_m = min(tiles_m - first_m, GROUP_M);
    const int tm = first_m + (pid % per_group) % group_m, tn = (pid % per_group) / group_m;
    const int ktiles = (K + BK - 1) / BK;
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;

    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], CONSUMERS * 4);     /* lane 0 of every consumer warp */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) {                                              /* producer */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (tid == 0) {
            for (int kt = 0; kt < ktiles; kt++) {
                const int s = kt % STAGES;
                if (kt >= STAGES) mbar_wait(&empty[s], ((kt / STAGES) - 1) & 1);
                mbar_expect_tx(&full[s], STAGE_BYTES);
                tma_load(sA + s * A_TILE, &tmA, &full[s], kt * BK, tm * BM);
#if BMN
                for (int j = 0; j < BN / 64; j++)               /* 64 x 64 boxes: k rows of 64 columns */
                    tma_load(sB + s * B_TILE + j * 64 * BK, &tmB, &full[s], tn * BN + j * 64, kt * BK);
#else
                tma_load(sB + s * B_TILE, &tmB, &full[s], kt * BK, tn * BN);
#endif
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int c = wg - 1;                                       /* consumer: rows 64c..64c+63 */
    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) d[i] = 0.0f;
    for (int kt = 0; kt < ktiles; kt++) {
        const int s = kt % STAGES;
        mbar_wait(&full[s], (kt / STAGES) & 1);
        const __half *a = sA + s * A_TILE + c * 64 * BK;
        const __half *b = sB + s * B_TILE;
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint64_t da = desc128(a + kk * 16, 16, 1024);
#if BMN
            uint64_t db = desc128(b + kk * 16 * 64, 64 * BK * 2, 1024);  /* LBO: next 64 columns */
#else
            uint64_t db = desc128(b + kk * 16, 16, 1024);
#endif
            wgmma_f16<BN>(d, da, db, 1);
        }
        wgmma_commit();
        wgmma_wait<0>();
        if ((tid & 31) == 0) mbar_arrive(&empty[s]);
    }
    /* accumulator layout of m64nNk16: warp w has rows 16w..16w+15; register 4j+r is
       (row l/4 + 8*(r/2), column 8j + 2*(l%4) + r%2) */
    const int warp = tid / 32, lane = tid % 32;
    const int row0 = tm * BM + c * 64 + warp * 16 + lane / 4;
    const int col0 = tn * BN + 2 * (lane % 4);
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int row = row0 + 8 * (r / 2), col = col0 + 8 * j + (r % 2);
            if (row < M && col < N) C[(size_t)row * ldc + col] = d[4 * j + r];
        }
    }
}

/* Copy a rows x cols half matrix (leading dimension ld) into dst (leading dimension dld >= cols),
   zero beyond cols; transposed (dst is cols x rows, leading dimension dld >= rows) when T. */
template <bool T>
__global__ void __launch_bounds__(256) repack(const __half *__restrict__ src, int rows, int cols, int ld,
                                              __half *__restrict__ dst, int dld)
{
    __shared__ __half tile[32][33];
    const int r0 = blockIdx.y * 32, c0 = blockIdx.x * 32;
    const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
    if constexpr (!T) {
        for (int y = ty; y < 32; y += 8) {
            int r = r0 + y, cc = c0 + tx;
            if (r < rows && cc < dld) dst[(size_t)r * dld + cc] = cc < cols ? src[(size_t)r * ld + cc] : __float2half(0.0f);
        }
    } else {
    for (int y = ty; y < 32; y += 8) {
        int r = r0 + y, cc = c0 + tx;
        tile[y][tx] = (r < rows && cc < cols) ? src[(size_t)r * ld + cc] : __float2half(0.0f);
    }
    __syncthreads();
    for (int y = ty; y < 32; y += 8) {            /* dst row = source column c0 + y, column = source row */
        int cc = c0 + y, r = r0 + tx;
        if (cc < cols && r < dld) dst[(size_t)cc * dld + r] = tile[tx][y];
    }
    }
}

static bool encode(CUtensorMap *map, const void *ptr, int inner, int outer, int ld, int box_inner, int box_outer)
{
    cuuint64_t dims[2] = {(cuuint64_t)inner, (cuuint64_t)outer};
    cuuint64_t strides[1] = {(cuuint64_t)ld * 2};
    cuuint32_t box[2] = {(cuuint32_t)box_inner, (cuuint32_t)box_outer};
    cuuint32_t elem[2] = {1, 1};
    return cuTensorMapEncodeTiled(map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, const_cast<void *>(ptr), dims, strides, box,
                                  elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                  CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

static bool tma_ok(const void *p, int ld) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0 && ld % 8 == 0; }
static int round8(int x) { return (x + 7) / 8 * 8; }
}  // namespace

extern "C" void tensorop_gemm_f16_cuda(int M, int N, int K, const __half *A, int lda, const __half *B, int ldb,
                                       float *C, int ldc, cudaStream_t stream)
{
    static void *ws;
    static size_t ws_bytes;
    static bool attr;
    if (M <= 0 || N <= 0 || K <= 0) return;
    const bool copy_a = !tma_ok(A, lda);
    const int la = copy_a ? round8(K) : lda;
#if BMN
    const bool copy_b = !tma_ok(B, ldb);
    const int lb = copy_b ? round8(N) : ldb;
    const size_t b_bytes = copy_b ? (size_t)K * lb * 2 : 0;
#else
    const bool copy_b = true;
    const int lb = round8(K);                       /* Bt: N x lb, K-major */
    const size_t b_bytes = (size_t)N * lb * 2;
#endif
    const size_t a_bytes = copy_a ? ((size_t)M * la * 2 + 255) / 256 * 256 : 0;
    if (a_bytes + b_bytes > ws_bytes) {
        if (ws) cudaFreeAsync(ws, stream);
        ws = nullptr;
        ws_bytes = 0;
        if (cudaMallocAsync(&ws, a_bytes + b_bytes, stream) != cudaSuccess) return;
        ws_bytes = a_bytes + b_bytes;
    }
    const __half *a = A, *b = B;
    if (copy_a) {
        __half *dst = static_cast<__half *>(ws);
        repack<false><<<dim3((la + 31) / 32, (M + 31) / 32), 256, 0, stream>>>(A, M, K, lda, dst, la);
        a = dst;
    }
    if (copy_b) {
        __half *dst = reinterpret_cast<__half *>(static_cast<unsigned char *>(ws) + a_bytes);
#if BMN
        repack<false><<<dim3((lb + 31) / 32, (K + 31) / 32), 256, 0, stream>>>(B, K, N, ldb, dst, lb);
#else
        repack<true><<<dim3((N + 31) / 32, (lb + 31) / 32), 256, 0, stream>>>(B, K, N, ldb, dst, lb);
#endif
        b = dst;
    }
    CUtensorMap ta, tb;
    if (!encode(&ta, a, K, M, la, BK, BM)) return;
#if BMN
    if (!encode(&tb, b, N, K, lb, 64, BK)) return;
#else
    if (!encode(&tb, b, K, N, lb, BK, BN)) return;
#endif
    if (!attr) {
        cudaFuncSetAttribute(wgmma_gemm, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SMEM_BYTES);
        attr = true;
    }
    const int tiles = ((M + BM - 1) / BM) * ((N + BN - 1) / BN);
    wgmma_gemm<<<tiles, THREADS, SMEM_BYTES, stream>>>(ta, tb, M, N, K, C, ldc);
}
