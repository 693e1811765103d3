/* Conv2d f32 as an implicit GEMM on the CUDA cores (FFMA); tensorop CUDA conv ABI
 * (harness/driver/tensorop_cuda.h): NCHW x, KCRS w, NKPQ y, zero padding, any stride/pad/R/S.
 *
 * The GEMM view: Y[K x NPQ] = W[K x CRS] * im2col(X)[CRS x NPQ]. No im2col buffer: a block owns a
 * BM x BN tile of Y (output channels x output positions) and walks the reduction as (r, s) outer,
 * channel chunks of BK inner. For a fixed filter tap (r, s) every output position's input pixel
 * (ih, iw) is fixed, so the loads of a BK x BN im2col tile are one bounds test per position and a
 * channel stride (H*W) apart: no per-element division. Tiles go through shared memory, double
 * buffered (the next tile is loaded into registers while the current one is computed); each of
 * 256 threads accumulates a TM x TN register tile from float4 reads of shared memory.
 *
 * Two tile shapes: 128 x 128 x 8 with 8 x 8 per thread when there are enough tiles to fill the
 * GPU, else 64 x 64 x 8 with 4 x 4 per thread (the small layers of a network: more blocks).
 *
 * Indices are 32-bit: N*P*Q, K*C*R*S and one image's C*H*W must stay below 2^31 elements.
 *
 * f32 only: TF32 tensor cores (WMMA tf32) round inputs to 10 mantissa bits and land near 1e-4
 * relative error, ten times over harness/ops/conv2d.py's f32 bound (1e-5 x sqrt(CRS/4096)), so
 * there is no tensor-core variant (3xTF32 splitting would be the way to one).
 */
#include <cuda_runtime.h>

namespace {
constexpr int THREADS = 256;

struct ConvShape {
    int N, C, H, W, K, R, S, stride, pad, P, Q;
    long long NPQ;
};

/* MINB: blocks per SM the register budget must allow (2 for the 128 x 128 tile: 127 registers) */
template <int BM, int BN, int BK, int TM, int TN, int MINB>
__global__ void __launch_bounds__(THREADS, MINB) conv_igemm(ConvShape sh, const float *__restrict__ x,
                                                            const float *__restrict__ w, float *__restrict__ y)
{
    static_assert(BM == 16 * TM && BN == 16 * TN && TM % 4 == 0 && TN % 4 == 0, "16 x 16 threads, float4 groups");
    constexpr int A_PER = BM * BK / THREADS, B_PER = BK * BN / THREADS;
    constexpr int A_ROWS = THREADS / BK, B_ROWS = THREADS / BN;   /* row step of a thread's loads */
    static_assert(A_PER * THREADS == BM * BK && B_PER * THREADS == BK * BN, "tiles split evenly");
    __shared__ __align__(16) float As[2][BK][BM + 4];   /* W tile, k-major (transposed) */
    __shared__ __align__(16) float Bs[2][BK][BN + 4];   /* im2col(X) tile */

    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int k0 = blockIdx.y * BM;
    const long long col0 = (long long)blockIdx.x * BN;
    const int RS = sh.R * sh.S, HW = sh.H * sh.W, CRS = sh.C * RS;
    const int iters = RS * ((sh.C + BK - 1) / BK);

    /* this thread's im2col column (fixed for the whole reduction) */
    const int bcol = tid % BN, brow = tid / BN;
    const int col = (int)col0 + bcol;
    const bool col_ok = col < sh.NPQ;
    int ih0 = 0, iw0 = 0;
    const float *xn = x;
    if (col_ok) {
        const int PQ = sh.P * sh.Q;
        const int n = col / PQ;
        const int pq = col - n * PQ, p = pq / sh.Q, q = pq - p * sh.Q;
        ih0 = p * sh.stride - sh.pad;
        iw0 = q * sh.stride - sh.pad;
        xn = x + (size_t)n * sh.C * HW;
    }
    /* this thread's W rows and column */
    const int akk = tid % BK, arow = tid / BK;

    float areg[A_PER], breg[B_PER];
    /* the reduction position of the next tile to load: filter tap (r, s), channel chunk c0 */
    int lr = 0, ls = 0, lc0 = 0;
    auto load = [&]() {
        const int rs = lr * sh.S + ls, ca = lc0 + akk;
#pragma unroll
        for (int i = 0; i < A_PER; i++) {
            const int k = k0 + arow + i * A_ROWS;
            areg[i] = (k < sh.K && ca < sh.C) ? __ldg(w + (k * CRS + ca * RS + rs)) : 0.0f;
        }
        const int ih = ih0 + lr, iw = iw0 + ls;
        const bool pix = col_ok && ih >= 0 && ih < sh.H && iw >= 0 && iw < sh.W;
        const int xo = ih * sh.W + iw;
#pragma unroll
        for (int i = 0; i < B_PER; i++) {
            const int c = lc0 + brow + i * B_ROWS;
            breg[i] = (pix && c < sh.C) ? __ldg(xn + (c * HW + xo)) : 0.0f;
        }
        lc0 += BK;                              /* advance: channels, then s, then r */
        if (lc0 >= sh.C) {
            lc0 = 0;
            if (++ls == sh.S) { ls = 0; lr++; }
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int i = 0; i < A_PER; i++) As[buf][akk][arow + i * A_ROWS] = areg[i];
#pragma unroll
        for (int i = 0; i < B_PER; i++) Bs[buf][brow + i * B_ROWS][bcol] = breg[i];
    };

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

    load();
    store(0);
    __syncthreads();
    int buf = 0;
    for (int it = 0; it < iters; it++) {
        const bool more = it + 1 < iters;
        if (more) load();                 /* global loads in flight during the FFMAs */
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
#pragma unroll
            for (int g = 0; g < TM / 4; g++) {
                const float4 v = *reinterpret_cast<const float4 *>(&As[buf][kk][g * 64 + ty * 4]);
                a[g * 4 + 0] = v.x; a[g * 4 + 1] = v.y; a[g * 4 + 2] = v.z; a[g * 4 + 3] = v.w;
            }
#pragma unroll
            for (int g = 0; g < TN / 4; g++) {
                const float4 v = *reinterpret_cast<const float4 *>(&Bs[buf][kk][g * 64 + tx * 4]);
                b[g * 4 + 0] = v.x; b[g * 4 + 1] = v.y; b[g * 4 + 2] = v.z; b[g * 4 + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (more) store(buf ^ 1);               /* the other buffer: nobody reads it this round */
        __syncthreads();
        buf ^= 1;
    }

    /* y[n][k][p][q] = Y[k][n*PQ + pq] */
    const int PQ = sh.P * sh.Q;
#pragma unroll
    for (int gj = 0; gj < TN / 4; gj++)
#pragma unroll
        for (int jj = 0; jj < 4; jj++) {
            const int c = (int)col0 + gj * 64 + tx * 4 + jj;
            if (c >= sh.NPQ) continue;
            const int n = c / PQ;
            float *yc = y + (size_t)n * sh.K * PQ + (c - n * PQ);
#pragma unroll
            for (int gi = 0; gi < TM / 4; gi++)
#pragma unroll
                for (int ii = 0; ii < 4; ii++) {
                    const int k = k0 + gi * 64 + ty * 4 + ii;
                    if (k < sh.K) yc[(size_t)k * PQ] = acc[gi * 4 + ii][gj * 4 + jj];
                }
        }
}

template <int BM, int BN, int BK, int TM, int TN>
void launch(const ConvShape &sh, const float *x, const float *w, float *y, cudaStream_t stream)
{
    dim3 grid((unsigned)((sh.NPQ + BN - 1) / BN), (unsigned)((sh.K + BM - 1) / BM));
    conv_igemm<BM, BN, BK, TM, TN, (BM >= 128 ? 2 : 1)><<<grid, THREADS, 0, stream>>>(sh, x, w, y);
}
}  // namespace

extern "C" void tensorop_conv2d_f32_cuda(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                                         const float *x, const float *w, float *y, cudaStream_t stream)
{
    ConvShape sh{N, C, H, W, K, R, S, stride, pad, (H + 2 * pad - R) / stride + 1, (W + 2 * pad - S) / stride + 1, 0};
    sh.NPQ = (long long)N * sh.P * sh.Q;
    int dev = 0, sms = 132;
    if (cudaGetDevice(&dev) == cudaSuccess)
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    const long long big_tiles = ((K + 127) / 128) * ((sh.NPQ + 127) / 128);
    if (big_tiles >= sms)
        launch<128, 128, 8, 8, 8>(sh, x, w, y, stream);
    else
        launch<64, 64, 8, 4, 4>(sh, x, w, y, stream);
}
