/* tensorop timing driver for CUDA GEMM (harness-owned, never LLM-written).
 *
 * The CUDA twin of gemm_driver.c, with the same contract: the request on standard input, ONE
 * JSON record on file descriptor 3, stdout/stderr only shown. Built by harness/backends/cuda/build.py
 * with nvcc for the device's sm_XX and linked with the kernel's object, which provides
 * (harness/driver/tensorop_cuda.h; device pointers, work enqueued on `stream`):
 *   f32 (default):       void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda,
 *                            const float *B, int ldb, float *C, int ldc, cudaStream_t stream);
 *   f16 (-DTENSOROP_F16): the same with const __half *A, *B (f32 accumulation and output).
 * With -DTENSOROP_PAIR a second kernel, <symbol>_b, is linked for paired timing.
 *
 * Trust (docs/THREAT_MODEL.md): the kernel is hostile until shown otherwise.
 *  - Inputs are generated ON THE DEVICE from seeds with the counter-based generator of
 *    gemm_driver.c (splitmix64 of the element's logical index), which harness/ops/gemm.py
 *    reproduces bit for bit in NumPy; f16 inputs are the same f32 values rounded to nearest
 *    even (NumPy's astype(float16)). Padding of A and B holds a NaN; C, padding included, is
 *    poisoned with another NaN before every call.
 *  - Timed calls are verified calls: each sample's calls run on fresh inputs (new seeds) in
 *    rotating buffer sets, one set per call; after the sample EVERY call's output is checked on
 *    the device with a Freivalds projection in double (two random +-1 vectors drawn after the
 *    call: ||C x - A (B x)|| / ||A (B x)||), its ldc padding checked unwritten, and A and B
 *    checked unchanged (a digest of their bits taken at fill time). One sample chosen by the
 *    harness (`pick`) is copied back to pick.bin for the full NumPy gate.
 *  - Time is CUDA events recorded on the kernel's stream around the sample's calls; the L2 cache
 *    is flushed (a write over 2 x its size, or flush_bytes) before every sample and every
 *    warm-up call. A CUDA error (illegal address, launch failure) ends the run with a record
 *    naming it.
 *
 * The plumbing (channel, errors, RNG, digest, L2 flush, request, modes, statistics, pairing) is
 * shared with every CUDA op's driver: tensorop_cuda_driver.h and tensorop_cuda_modes.h.
 * Request lines (key=value), as gemm_driver.c:
 *   mode=check|time|pair
 *   case=M,N,K,lda,ldb,ldc,seed
 *   tol= warmup= min_sample_s= min_samples= max_samples= max_time_s= rel_ci= flush_bytes= max_sets= pick=
 * Exit status: 0 ok (the record says whether verification passed), 2 bad request, 3 no memory,
 * 4 cannot write an output, 5 no result channel, 6 CUDA error (record written).
 */
#include "tensorop_cuda_driver.h"

#define OP_NAME "gemm"
#ifdef TENSOROP_F16
typedef __half in_t;
#define KERNEL_SYMBOL tensorop_gemm_f16_cuda
#define KERNEL_SYMBOL_B tensorop_gemm_f16_cuda_b
#define DTYPE "f16"
#define PAD_IN_BITS 0x7EEFu
#else
typedef float in_t;
#define KERNEL_SYMBOL tensorop_gemm_f32_cuda
#define KERNEL_SYMBOL_B tensorop_gemm_f32_cuda_b
#define DTYPE "f32"
#define PAD_IN_BITS 0x7FC0BEEFu
#endif

extern "C" void KERNEL_SYMBOL(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb,
                              float *C, int ldc, cudaStream_t stream);
#ifdef TENSOROP_PAIR
extern "C" void KERNEL_SYMBOL_B(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb,
                                float *C, int ldc, cudaStream_t stream);
#endif
typedef void (*op_fn)(int, int, int, const in_t *, int, const in_t *, int, float *, int, cudaStream_t);

/* ---- inputs (bit-identical to harness/ops/gemm.py) -------------------------------------- */
/* Host and device share these: a test compiles the host instantiation against NumPy. */
__host__ __device__ static inline in_t to_in(float v)
{
#ifdef TENSOROP_F16
    return __float2half_rn(v);
#else
    return v;
#endif
}

__host__ __device__ static inline in_t pad_in(void)
{
#ifdef TENSOROP_F16
    return __ushort_as_half((unsigned short)PAD_IN_BITS);
#else
    union { uint32_t u; float f; } bits = {PAD_IN_BITS};
    return bits.f;
#endif
}

/* Element (i, j) of a rows x ld input with `cols` columns: the uniform value, rounded to in_t,
   or the padding NaN beyond the columns. */
__host__ __device__ static inline in_t gemm_input_element(uint64_t seed, uint64_t stream_, size_t i, size_t j,
                                                          int cols)
{
    return j < (size_t)cols ? to_in(uniform_pm1(seed, stream_, (uint64_t)i * cols + j)) : pad_in();
}

__device__ static inline double in_to_double(in_t v)
{
#ifdef TENSOROP_F16
    return (double)__half2float(v);
#else
    return (double)v;
#endif
}

__global__ void fill_kernel(in_t *X, int rows, int cols, int ld, uint64_t seed, uint64_t stream_)
{
    size_t n = (size_t)rows * ld;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        X[e] = gemm_input_element(seed, stream_, e / ld, e % ld, cols);
    }
}

/* y = B x, one warp per row of B. */
__global__ void bx_kernel(const in_t *B, int K, int N, int ldb, uint64_t draw, int rep, double *y)
{
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
    if (warp >= K) return;
    const in_t *row = B + (size_t)warp * ldb;
    double s = 0.0;
    for (int j = lane; j < N; j += 32)
        s += in_to_double(row[j]) * sign_of(draw, rep, j);
    for (int o = 16; o > 0; o >>= 1)
        s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0) y[warp] = s;
}

/* num += (C x - A y)_i^2, den += (A y)_i^2, bad += writes into the ldc padding; one warp per row. */
__global__ void residual_kernel(const in_t *A, int lda, const float *C, int ldc, int M, int N, int K,
                                const double *y, uint64_t draw, int rep, double *acc, unsigned long long *bad)
{
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
    if (warp >= M) return;
    const in_t *arow = A + (size_t)warp * lda;
    const float *crow = C + (size_t)warp * ldc;
    double ay = 0.0, cx = 0.0;
    unsigned long long pad = 0;
    for (int k = lane; k < K; k += 32)
        ay += in_to_double(arow[k]) * y[k];
    for (int j = lane; j < N; j += 32)
        cx += (double)crow[j] * sign_of(draw, rep, j);
    if (rep == 0)
        for (int j = N + lane; j < ldc; j += 32)
            pad += __float_as_uint(crow[j]) != POISON_BITS;
    for (int o = 16; o > 0; o >>= 1) {
        ay += __shfl_down_sync(0xffffffffu, ay, o);
        cx += __shfl_down_sync(0xffffffffu, cx, o);
        pad += __shfl_down_sync(0xffffffffu, pad, o);
    }
    if (lane == 0) {
        atomicAdd(&acc[0], (cx - ay) * (cx - ay));
        atomicAdd(&acc[1], ay * ay);
        if (pad) atomicAdd(bad, pad);
    }
}

/* ---- buffers ----------------------------------------------------------------------------- */
#define TENSOROP_CASE_GEMM
#include "tensorop_cases.h"     /* op_case, op_parse_case */

typedef struct {
    in_t *A, *B;
    float *C;
    size_t na, nb, nc;
    uint64_t seed;
    unsigned long long ha, hb;
} buffers;

static void alloc_set(const op_case *c, buffers *b)
{
    b->na = (size_t)c->M * c->lda;
    b->nb = (size_t)c->K * c->ldb;
    b->nc = (size_t)c->M * c->ldc;
    b->A = (in_t *)dalloc(b->na * sizeof(in_t));
    b->B = (in_t *)dalloc(b->nb * sizeof(in_t));
    b->C = (float *)dalloc(b->nc * sizeof(float));
}

static void free_set(buffers *b)
{
    cudaFree(b->A);
    cudaFree(b->B);
    cudaFree(b->C);
}

static void fill_set(const op_case *c, buffers *b, uint64_t seed, scratch_t *s)
{
    b->seed = seed;
    fill_kernel<<<grid_for(b->na), 256, 0, stream>>>(b->A, c->M, c->K, c->lda, seed, 0);
    fill_kernel<<<grid_for(b->nb), 256, 0, stream>>>(b->B, c->K, c->N, c->ldb, seed, 1);
    poison_kernel<<<grid_for(b->nc), 256, 0, stream>>>(b->C, b->nc);
    CK(cudaGetLastError(), "filling the inputs");
    b->ha = digest(b->A, b->na, s);
    b->hb = digest(b->B, b->nb, s);
}

static double op_set_bytes(const op_case *c)
{
    return (double)sizeof(in_t) * ((double)c->M * c->lda + (double)c->K * c->ldb) + 4.0 * c->M * c->ldc;
}

static size_t op_scratch_doubles(const op_case *c)
{
    return (size_t)c->K;
}

/* ---- verification ------------------------------------------------------------------------ */
static verdict freivalds(const op_case *c, const buffers *b, uint64_t draw, double tol, scratch_t *s)
{
    verdict v = {0, 0.0, ""};
    unsigned long long ha = digest(b->A, b->na, s), hb = digest(b->B, b->nb, s);
    if (ha != b->ha || hb != b->hb) {
        v.failed = 1;
        v.rel_err = INFINITY;
        snprintf(v.why, sizeof v.why, "the kernel modified its input %s (A and B are const)", ha != b->ha ? "A" : "B");
        return v;
    }
    double worst = 0.0;
    for (int rep = 0; rep < 2; rep++) {
        double acc[2];
        unsigned long long bad = 0;
        CK(cudaMemsetAsync(s->acc, 0, 2 * sizeof(double), stream), "verify");
        CK(cudaMemsetAsync(&s->cnt[0], 0, sizeof bad, stream), "verify");
        bx_kernel<<<(c->K * 32 + 255) / 256, 256, 0, stream>>>(b->B, c->K, c->N, c->ldb, draw, rep, s->y);
        residual_kernel<<<(c->M * 32 + 255) / 256, 256, 0, stream>>>(b->A, c->lda, b->C, c->ldc, c->M, c->N, c->K,
                                                                      s->y, draw, rep, s->acc, &s->cnt[0]);
        CK(cudaMemcpyAsync(acc, s->acc, sizeof acc, cudaMemcpyDeviceToHost, stream), "verify");
        CK(cudaMemcpyAsync(&bad, &s->cnt[0], sizeof bad, cudaMemcpyDeviceToHost, stream), "verify");
        CK(cudaStreamSynchronize(stream), "verify");
        if (bad) {
            v.failed = 1;
            v.rel_err = INFINITY;
            snprintf(v.why, sizeof v.why, "wrote %llu elements into the ldc padding of C (columns >= N)", bad);
            return v;
        }
        if (projection_fails(acc, tol, &worst, &v))
            return v;
    }
    v.rel_err = worst;
    return v;
}

static int write_output(const char *name, const buffers *b)
{
    return write_device_floats(name, b->C, b->nc);
}

static void call(op_fn f, const op_case *c, buffers *b)
{
    f(c->M, c->N, c->K, b->A, c->lda, b->B, c->ldb, b->C, c->ldc, stream);
}

#include "tensorop_cuda_modes.h"
