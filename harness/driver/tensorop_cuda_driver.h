/* tensorop CUDA timing-driver core (harness-owned, never LLM-written): what every CUDA op's
 * driver shares. The CUDA twin of driver_core.h / driver_modes.h. An op's driver is
 *
 *     #include "tensorop_cuda_driver.h"   channel, errors, RNG, poison, digest, L2 flush, clocks,
 *                                         sample statistics, the verdict and failure record
 *     ... the op's part ...               case, buffers, fill, call, on-device check (below)
 *     #include "tensorop_cuda_modes.h"    request, modes check/time/pair, main
 *
 * The op's part defines (all static) before including tensorop_cuda_modes.h:
 *   OP_NAME, DTYPE (strings), KERNEL_SYMBOL and, with -DTENSOROP_PAIR, KERNEL_SYMBOL_B;
 *   typedef op_fn (the ABI function's pointer type);
 *   typedef op_case (one request case, with a `uint64_t seed` member) and typedef buffers (one
 *   input/output set on the device, with a `uint64_t seed` member), and:
 *     int     op_parse_case(const char *s, op_case *c)           0 when valid
 *     void    alloc_set(const op_case *c, buffers *b)            device memory of one set
 *     void    free_set(buffers *b)
 *     void    fill_set(const op_case *c, buffers *b, uint64_t seed, scratch_t *s)
 *                 inputs generated on the device from `seed`, padding/guards set, output
 *                 poisoned, digests of the inputs taken
 *     void    call(op_fn f, const op_case *c, buffers *b)        one call of the ABI function
 *     verdict freivalds(const op_case *c, const buffers *b, uint64_t draw, double tol, scratch_t *s)
 *                 inputs unchanged, padding/guards unwritten, randomized projection in double
 *     int     write_output(const char *name, const buffers *b)   the output, copied back
 *     double  op_set_bytes(const op_case *c)                     device bytes of one set
 *     size_t  op_scratch_doubles(const op_case *c)               doubles of scratch_t.y it needs
 *
 * Trust (docs/THREAT_MODEL.md) as in cuda_gemm_driver.cu's header comment: request on stdin, ONE JSON
 * record on fd 3, inputs generated on the device bit-identical to NumPy, outputs poisoned
 * before every call, fresh seeds per timed call in rotating sets, every timed call verified on
 * the device, one harness-chosen sample copied back, L2 flushed, CUDA events on the kernel's
 * stream. Exit status: 0 ok (the record says whether verification passed), 2 bad request,
 * 3 no memory, 4 cannot write an output, 5 no result channel, 6 CUDA error (record written).
 */
#ifndef TENSOROP_CUDA_DRIVER_H
#define TENSOROP_CUDA_DRIVER_H
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tensorop_driver_common.h"   /* verdict, clocks, median CI; MAX_SETS_LIMIT, MAX_CASES */

#define POISON_BITS 0x7FC0DEADu
#define CHANNEL_FD 3

static FILE *chan;
static cudaStream_t stream;
/* What cudaGetDeviceProperties says about the GPU (a JSON object, in every record: the harness's
   peak check) and the run's phase: "setup" until the device is ready (an error there is the
   machine's: no driver, no device), "run" once the modes start (an error there is the kernel's). */
static char g_gpu[512] = "null";
static const char *g_phase = "setup";

/* ---- errors ------------------------------------------------------------------------------ */
static void cuda_fail(const char *what, cudaError_t e, const char *mode)
{
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"%s\",\"verified\":false,\"phase\":\"%s\",\"gpu\":%s,"
            "\"cuda_error\":\"%s: %s (%s)\"}\n", mode, g_phase, g_gpu, what, cudaGetErrorName(e), cudaGetErrorString(e));
    fflush(chan);
    fprintf(stderr, "tensorop driver: %s: %s\n", what, cudaGetErrorString(e));
    exit(6);
}
static const char *g_mode = "?";
#define CK(call, what) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) cuda_fail(what, e_, g_mode); } while (0)

/* ---- inputs (bit-identical to harness/ops/inputs.py) ------------------------------------- */
/* Host and device share these: tests compile the host instantiation against NumPy. */
__host__ __device__ static inline uint64_t splitmix(uint64_t seed, uint64_t stream_, uint64_t idx)
{
    uint64_t z = seed + stream_ * 0x632BE59BD9B4E019ull + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* float in [-1, 1) with 23 random bits (harness/ops/inputs.py: uniform) */
__host__ __device__ static inline float uniform_pm1(uint64_t seed, uint64_t stream_, uint64_t idx)
{
    return (float)((int64_t)(splitmix(seed, stream_, idx) >> 40) - 8388608) * (1.0f / 8388608.0f);
}

/* A timed call's seed: drawn fresh (the kernel's host code runs in this process and could find
   the request's seed; a derived seed would let it predict every later sample's inputs). */
static uint64_t fresh_seed(void)
{
    uint64_t s = 0;
    if (syscall(SYS_getrandom, &s, sizeof s, 0) == (long)sizeof s)
        return s;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    static uint64_t n;
    return splitmix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30), 13, n++);
}

__global__ void poison_kernel(float *C, size_t n)
{
    float nan = __uint_as_float(POISON_BITS);
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        C[e] = nan;
}

__device__ static inline uint64_t bits_of(float v) { return __float_as_uint(v); }
__device__ static inline uint64_t bits_of(__half v) { return __half_as_ushort(v); }

/* Order-independent digest of a buffer's bits (sum of mixed (index, bits) pairs). */
template <typename T>
__global__ void digest_kernel(const T *X, size_t n, unsigned long long *out)
{
    unsigned long long h = 0;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        h += splitmix(bits_of(X[e]), 3, e);
    for (int o = 16; o > 0; o >>= 1)
        h += __shfl_down_sync(0xffffffffu, h, o);
    if ((threadIdx.x & 31) == 0)
        atomicAdd(out, h);
}

/* +-1 from the top bit: the randomized checks' projection vectors */
__device__ static inline double sign_of(uint64_t draw, int rep, uint64_t j)
{
    return (splitmix(draw, 11 + rep, j) >> 63) ? 1.0 : -1.0;
}

/* ---- device memory ----------------------------------------------------------------------- */
typedef struct {                 /* device scratch of the verifier */
    double *y, *acc;             /* y: op_scratch_doubles(case); acc: 2 */
    unsigned long long *cnt;     /* [0] padding writes, [1] digest */
} scratch_t;

static int grid_for(size_t n)
{
    size_t g = (n + 255) / 256;
    return (int)(g < 1 ? 1 : g > 65535 ? 65535 : g);
}

static void *dalloc(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        fprintf(stderr, "tensorop driver: out of device memory (%zu bytes)\n", bytes);
        exit(3);
    }
    return p;
}

template <typename T>
static unsigned long long digest(const T *X, size_t n, scratch_t *s)
{
    unsigned long long h = 0;
    CK(cudaMemsetAsync(&s->cnt[1], 0, sizeof h, stream), "digest");
    digest_kernel<<<grid_for(n), 256, 0, stream>>>(X, n, &s->cnt[1]);
    CK(cudaMemcpyAsync(&h, &s->cnt[1], sizeof h, cudaMemcpyDeviceToHost, stream), "digest");
    CK(cudaStreamSynchronize(stream), "digest");
    return h;
}


/* One Freivalds projection judged: acc = (||C x - ref||^2, ||ref||^2). Returns 1 with v filled when
   the relative error exceeds tol (NaN included); *worst keeps the largest error seen. */
static int projection_fails(const double acc[2], double tol, double *worst, verdict *v)
{
    double rel = acc[1] > 0 ? sqrt(acc[0] / acc[1]) : sqrt(acc[0]);
    if (!(rel <= *worst)) *worst = rel;
    if (rel <= tol)
        return 0;
    v->failed = 1;
    v->rel_err = rel;
    snprintf(v->why, sizeof v->why, "relative error %.3e > %.1e (output wrong or incomplete)", rel, tol);
    return 1;
}

/* n floats of device memory to the file `name` (the output the harness checks with NumPy) */
static int write_device_floats(const char *name, const float *dev, size_t n)
{
    float *h = (float *)malloc(n * sizeof(float) + 1);
    if (!h) exit(3);
    CK(cudaMemcpy(h, dev, n * sizeof(float), cudaMemcpyDeviceToHost), "copying the output back");
    FILE *f = fopen(name, "wb");
    int bad = !f || fwrite(h, sizeof(float), n, f) != n;
    if (f && fclose(f) != 0) bad = 1;
    free(h);
    if (bad) {
        fprintf(stderr, "tensorop driver: cannot write %s\n", name);
        return -1;
    }
    return 0;
}


/* The L2 flush: write a buffer larger than L2 (memset goes through L2 and evicts it). */
static unsigned char *flush_buf;
static size_t flush_len;

static void flush_l2(void)
{
    if (flush_len)
        CK(cudaMemsetAsync(flush_buf, (int)(now() * 1000) & 0xff, flush_len, stream), "flushing L2");
}

static void emit_failure(const char *mode, const char *kernel, long sample, int call, uint64_t seed, const verdict *v)
{
    char err[32];
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"%s\",\"verified\":false,\"gpu\":%s,\"kernel\":\"%s\","
            "\"failed\":{\"sample\":%ld,\"call\":%d,\"seed\":%llu,\"rel_err\":%s,\"why\":\"%s\"}}\n",
            mode, g_gpu, kernel, sample, call, (unsigned long long)seed, json_double(v->rel_err, err), v->why);
}

/* Launch errors show at once, execution errors at the next synchronisation: both end the run. */
static void settle(const char *what)
{
    CK(cudaGetLastError(), what);
    CK(cudaStreamSynchronize(stream), what);
}

#endif
