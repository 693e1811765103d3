/* tensorop timing driver for CUDA Conv2d f32 (harness-owned, never LLM-written).
 *
 * The CUDA twin of conv2d_driver.c, with the contract and trust mechanisms of
 * cuda_gemm_driver.cu (the plumbing, request and modes are shared: tensorop_cuda_driver.h and
 * tensorop_cuda_modes.h). Linked with the kernel's object, which provides
 * (harness/driver/tensorop_cuda.h; device pointers, work enqueued on `stream`):
 *   void tensorop_conv2d_f32_cuda(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
 *                                 const float *x, const float *w, float *y, cudaStream_t stream);
 *   x NCHW, w KCRS, y NKPQ, P = (H + 2*pad - R)/stride + 1, Q = (W + 2*pad - S)/stride + 1.
 * With -DTENSOROP_PAIR a second kernel, tensorop_conv2d_f32_cuda_b, is linked for paired timing.
 *
 * case=N,C,H,W,K,R,S,stride,pad,seed (as conv2d_driver.c).
 *
 * Trust (docs/THREAT_MODEL.md): the kernel is hostile until shown otherwise.
 *  - Inputs are generated ON THE DEVICE from seeds: x is stream 0 and w stream 1 of the seed, in
 *    their NCHW / KCRS element order, with the splitmix64 counter generator harness/ops/conv2d.py
 *    reproduces in NumPy. The element function (conv_input_element) is __host__ __device__, and a
 *    test compiles its host instantiation against NumPy (tests/cuda_conv_inputs.cu).
 *  - Every buffer has GUARD words before and after it: NaN around x and w (a kernel reading out of
 *    bounds gets NaN into its output), the output's poison NaN around y. y, guards included, is
 *    poisoned before every call; the guards of y are checked unwritten after every verified call;
 *    x and w, guards included, are checked unchanged by digest.
 *  - Timed calls are verified calls: fresh seeds per call in rotating sets; after each sample
 *    EVERY call's output is checked on the device with a Freivalds projection in double. Conv is
 *    Y[K x NPQ] = W[K x CRS] im2col(X)[CRS x NPQ]; for a random +-1 vector v over the output
 *    positions (n, p, q), drawn after the call: T = im2col(X) v (colv_kernel, O(CRS NPQ)), then
 *    z_k = (Y v)_k against (W T)_k (residual_kernel), ||z - W T|| / ||W T||, twice. One sample
 *    chosen by the harness (`pick`) is copied back to pick.bin for the full NumPy gate.
 *  - Time is CUDA events on the kernel's stream; the L2 is flushed before every sample and every
 *    warm-up call. A CUDA error ends the run with a record naming it.
 */
#include "tensorop_cuda_driver.h"

#define OP_NAME "conv2d"
#define DTYPE "f32"
#define KERNEL_SYMBOL tensorop_conv2d_f32_cuda
#define KERNEL_SYMBOL_B tensorop_conv2d_f32_cuda_b
#define PAD_IN_BITS 0x7FC0BEEFu      /* the guards around x and w */
#define GUARD 64                     /* floats before and after every buffer (keeps 256-byte alignment) */

extern "C" void KERNEL_SYMBOL(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                              const float *x, const float *w, float *y, cudaStream_t stream);
#ifdef TENSOROP_PAIR
extern "C" void KERNEL_SYMBOL_B(int N, int C, int H, int W, int K, int R, int S, int stride, int pad,
                                const float *x, const float *w, float *y, cudaStream_t stream);
#endif
typedef void (*op_fn)(int, int, int, int, int, int, int, int, int, const float *, const float *, float *,
                      cudaStream_t);

/* ---- inputs (bit-identical to harness/ops/conv2d.py) ------------------------------------ */
__host__ __device__ static inline float f32_from_bits(uint32_t b)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(b);
#else
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
#endif
}

/* Element e of a guarded input allocation of n values: GUARD NaNs, the n inputs of stream
   `stream_` of `seed` in their layout order, GUARD NaNs. */
__host__ __device__ static inline float conv_input_element(uint64_t seed, uint64_t stream_, size_t e, size_t n)
{
    return (e >= GUARD && e < GUARD + n) ? uniform_pm1(seed, stream_, (uint64_t)(e - GUARD)) : f32_from_bits(PAD_IN_BITS);
}

__global__ void fill_kernel(float *X, size_t n, uint64_t seed, uint64_t stream_)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n + 2 * GUARD; e += (size_t)gridDim.x * blockDim.x)
        X[e] = conv_input_element(seed, stream_, e, n);
}

/* ---- buffers ----------------------------------------------------------------------------- */
#define TENSOROP_CASE_CONV2D
#include "tensorop_cases.h"     /* op_case, op_parse_case */

typedef struct {
    float *xg, *wg, *yg;         /* allocations, guards included */
    float *x, *w, *y;            /* what the kernel gets: xg + GUARD, ... */
    size_t nx, nw, ny;           /* elements inside the guards */
    uint64_t seed;
    unsigned long long hx, hw;
} buffers;

static void alloc_set(const op_case *c, buffers *b)
{
    b->nx = (size_t)c->N * c->C * c->H * c->W;
    b->nw = (size_t)c->K * c->C * c->R * c->S;
    b->ny = (size_t)c->N * c->K * c->P * c->Q;
    b->xg = (float *)dalloc((b->nx + 2 * GUARD) * sizeof(float));
    b->wg = (float *)dalloc((b->nw + 2 * GUARD) * sizeof(float));
    b->yg = (float *)dalloc((b->ny + 2 * GUARD) * sizeof(float));
    b->x = b->xg + GUARD;
    b->w = b->wg + GUARD;
    b->y = b->yg + GUARD;
}

static void free_set(buffers *b)
{
    cudaFree(b->xg);
    cudaFree(b->wg);
    cudaFree(b->yg);
}

static void fill_set(const op_case *c, buffers *b, uint64_t seed, scratch_t *s)
{
    b->seed = seed;
    fill_kernel<<<grid_for(b->nx + 2 * GUARD), 256, 0, stream>>>(b->xg, b->nx, seed, 0);
    fill_kernel<<<grid_for(b->nw + 2 * GUARD), 256, 0, stream>>>(b->wg, b->nw, seed, 1);
    poison_kernel<<<grid_for(b->ny + 2 * GUARD), 256, 0, stream>>>(b->yg, b->ny + 2 * GUARD);
    CK(cudaGetLastError(), "filling the inputs");
    b->hx = digest(b->xg, b->nx + 2 * GUARD, s);
    b->hw = digest(b->wg, b->nw + 2 * GUARD, s);
}

static double op_set_bytes(const op_case *c)
{
    return 4.0 * ((double)c->N * c->C * c->H * c->W + (double)c->K * c->C * c->R * c->S +
                  (double)c->N * c->K * c->P * c->Q + 6.0 * GUARD);
}

static size_t op_scratch_doubles(const op_case *c)
{
    return (size_t)c->C * c->R * c->S;
}

/* ---- verification ------------------------------------------------------------------------ */
/* Sum over the block's threads (256), valid in thread 0; `red` holds 8 doubles. */
__device__ static inline double block_sum(double v, double *red)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    double t = 0.0;
    if (threadIdx.x == 0)
        for (int i = 0; i < (int)(blockDim.x >> 5); i++) t += red[i];
    __syncthreads();
    return t;
}

/* T[c,r,s] = sum over output positions e = (n, p, q) of v_e x_pad[n, c, p*stride + r - pad, q*stride + s - pad],
   one block per (c, r, s). */
__global__ void __launch_bounds__(256) colv_kernel(const float *x, op_case c, uint64_t draw, int rep, double *T)
{
    __shared__ double red[8];
    const size_t RS = (size_t)c.R * c.S, CRS = (size_t)c.C * RS, PQ = (size_t)c.P * c.Q, NPQ = (size_t)c.N * PQ;
    for (size_t crs = blockIdx.x; crs < CRS; crs += gridDim.x) {
        const int ch = (int)(crs / RS), r = (int)(crs % RS) / c.S, s = (int)(crs % RS) % c.S;
        double t = 0.0;
        for (size_t e = threadIdx.x; e < NPQ; e += blockDim.x) {
            const size_t n = e / PQ, pq = e % PQ;
            const int p = (int)(pq / c.Q), q = (int)(pq % c.Q);
            const int ih = p * c.stride + r - c.pad, iw = q * c.stride + s - c.pad;
            if (ih >= 0 && ih < c.H && iw >= 0 && iw < c.W)
                t += sign_of(draw, rep, e) * (double)x[((n * c.C + ch) * c.H + ih) * c.W + iw];
        }
        t = block_sum(t, red);
        if (threadIdx.x == 0) T[crs] = t;
    }
}

/* For each output channel k (one block each): got = sum_e v_e y[n, k, p, q], ref = sum_crs w[k, crs] T[crs];
   acc[0] += (got - ref)^2, acc[1] += ref^2. */
__global__ void __launch_bounds__(256) residual_kernel(const float *w, const float *y, op_case c, const double *T,
                                                       uint64_t draw, int rep, double *acc)
{
    __shared__ double red[8];
    const size_t CRS = (size_t)c.C * c.R * c.S, PQ = (size_t)c.P * c.Q, NPQ = (size_t)c.N * PQ;
    for (int k = blockIdx.x; k < c.K; k += gridDim.x) {
        double ref = 0.0, got = 0.0;
        for (size_t i = threadIdx.x; i < CRS; i += blockDim.x)
            ref += (double)w[(size_t)k * CRS + i] * T[i];
        for (size_t e = threadIdx.x; e < NPQ; e += blockDim.x) {
            const size_t n = e / PQ, pq = e % PQ;
            got += sign_of(draw, rep, e) * (double)y[(n * c.K + k) * PQ + pq];
        }
        ref = block_sum(ref, red);
        got = block_sum(got, red);
        if (threadIdx.x == 0) {
            atomicAdd(&acc[0], (got - ref) * (got - ref));
            atomicAdd(&acc[1], ref * ref);
        }
    }
}

/* Words of y's guards that are not the poison any more (written out of bounds). */
__global__ void guard_kernel(const float *yg, size_t ny, unsigned long long *bad)
{
    unsigned long long n = 0;
    for (size_t e = threadIdx.x; e < 2 * GUARD; e += blockDim.x) {
        size_t at = e < GUARD ? e : ny + e;
        n += __float_as_uint(yg[at]) != POISON_BITS;
    }
    if (n) atomicAdd(bad, n);
}

static int blocks_for(size_t n)
{
    return (int)(n < 1 ? 1 : n > 65535 ? 65535 : n);
}

static verdict freivalds(const op_case *c, const buffers *b, uint64_t draw, double tol, scratch_t *s)
{
    verdict v = {0, 0.0, ""};
    unsigned long long hx = digest(b->xg, b->nx + 2 * GUARD, s), hw = digest(b->wg, b->nw + 2 * GUARD, s);
    if (hx != b->hx || hw != b->hw) {
        v.failed = 1;
        v.rel_err = INFINITY;
        snprintf(v.why, sizeof v.why, "the kernel modified its input %s or the guard words around it (x and w are "
                 "const)", hx != b->hx ? "x" : "w");
        return v;
    }
    unsigned long long bad = 0;
    CK(cudaMemsetAsync(&s->cnt[0], 0, sizeof bad, stream), "verify");
    guard_kernel<<<1, 128, 0, stream>>>(b->yg, b->ny, &s->cnt[0]);
    CK(cudaMemcpyAsync(&bad, &s->cnt[0], sizeof bad, cudaMemcpyDeviceToHost, stream), "verify");
    CK(cudaStreamSynchronize(stream), "verify");
    if (bad) {
        v.failed = 1;
        v.rel_err = INFINITY;
        snprintf(v.why, sizeof v.why, "wrote %llu words outside y (the %d guard words before or after it)", bad, GUARD);
        return v;
    }
    double worst = 0.0;
    const size_t crs = (size_t)c->C * c->R * c->S;
    for (int rep = 0; rep < 2; rep++) {
        double acc[2];
        CK(cudaMemsetAsync(s->acc, 0, 2 * sizeof(double), stream), "verify");
        colv_kernel<<<blocks_for(crs), 256, 0, stream>>>(b->x, *c, draw, rep, s->y);
        residual_kernel<<<blocks_for((size_t)c->K), 256, 0, stream>>>(b->w, b->y, *c, s->y, draw, rep, s->acc);
        CK(cudaMemcpyAsync(acc, s->acc, sizeof acc, cudaMemcpyDeviceToHost, stream), "verify");
        CK(cudaStreamSynchronize(stream), "verify");
        if (projection_fails(acc, tol, &worst, &v))
            return v;
    }
    v.rel_err = worst;
    return v;
}

static int write_output(const char *name, const buffers *b)
{
    return write_device_floats(name, b->y, b->ny);
}

static void call(op_fn f, const op_case *c, buffers *b)
{
    f(c->N, c->C, c->H, c->W, c->K, c->R, c->S, c->stride, c->pad, b->x, b->w, b->y, stream);
}

#include "tensorop_cuda_modes.h"
