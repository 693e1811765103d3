/* tensorop timing driver for CUDA GEMM (harness-owned, never LLM-written).
 *
 * The CUDA twin of gemm_driver.c, with the same contract: the request on standard input, ONE
 * JSON record on file descriptor 3, stdout/stderr only shown. Built by harness/cuda/build.py
 * with nvcc for the device's sm_XX and linked with the kernel's object, which provides
 * (harness/driver/tensorop_cuda.h; device pointers, work enqueued on `stream`):
 *   f32 (default):       void tensorop_gemm_f32_cuda(int M, int N, int K, const float *A, int lda,
 *                            const float *B, int ldb, float *C, int ldc, cudaStream_t stream);
 *   f16 (-DTENSOROP_F16): the same with const __half *A, *B (f32 accumulation and output).
 * With -DTENSOROP_PAIR a second kernel, <symbol>_b, is linked for paired timing.
 *
 * Trust (DESIGN.md): the kernel is hostile until shown otherwise.
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
 * Request lines (key=value), as gemm_driver.c:
 *   mode=check|time|pair
 *   case=M,N,K,lda,ldb,ldc,seed
 *   tol= warmup= min_sample_s= min_samples= max_samples= max_time_s= rel_ci= flush_bytes= max_sets= pick=
 * Exit status: 0 ok (the record says whether verification passed), 2 bad request, 3 no memory,
 * 4 cannot write an output, 5 no result channel, 6 CUDA error (record written).
 */
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
typedef void (*gemm_fn)(int, int, int, const in_t *, int, const in_t *, int, float *, int, cudaStream_t);

#define POISON_BITS 0x7FC0DEADu
#define MAX_SETS_LIMIT 64
#define CHANNEL_FD 3
#define MAX_CASES 32

static FILE *chan;
static cudaStream_t stream;

/* ---- errors ------------------------------------------------------------------------------ */
static void cuda_fail(const char *what, cudaError_t e, const char *mode)
{
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"%s\",\"verified\":false,\"cuda_error\":\"%s: %s (%s)\"}\n",
            mode, what, cudaGetErrorName(e), cudaGetErrorString(e));
    fflush(chan);
    fprintf(stderr, "tensorop driver: %s: %s\n", what, cudaGetErrorString(e));
    exit(6);
}
static const char *g_mode = "?";
#define CK(call, what) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) cuda_fail(what, e_, g_mode); } while (0)

/* ---- inputs (bit-identical to harness/ops/gemm.py) -------------------------------------- */
__host__ __device__ static inline uint64_t splitmix(uint64_t seed, uint64_t stream_, uint64_t idx)
{
    uint64_t z = seed + stream_ * 0x632BE59BD9B4E019ull + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__device__ static inline float uniform_pm1(uint64_t seed, uint64_t stream_, uint64_t idx)
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

__device__ static inline in_t to_in(float v)
{
#ifdef TENSOROP_F16
    return __float2half_rn(v);
#else
    return v;
#endif
}

__device__ static inline in_t pad_in(void)
{
#ifdef TENSOROP_F16
    return __ushort_as_half((unsigned short)PAD_IN_BITS);
#else
    return __uint_as_float(PAD_IN_BITS);
#endif
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
        size_t i = e / ld, j = e % ld;
        X[e] = j < (size_t)cols ? to_in(uniform_pm1(seed, stream_, (uint64_t)i * cols + j)) : pad_in();
    }
}

__global__ void poison_kernel(float *C, size_t n)
{
    float nan = __uint_as_float(POISON_BITS);
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x)
        C[e] = nan;
}

/* Order-independent digest of a buffer's bits (sum of mixed (index, bits) pairs). */
__global__ void digest_kernel(const in_t *X, size_t n, unsigned long long *out)
{
    unsigned long long h = 0;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
#ifdef TENSOROP_F16
        uint64_t bits = __half_as_ushort(X[e]);
#else
        uint64_t bits = __float_as_uint(X[e]);
#endif
        h += splitmix(bits, 3, e);
    }
    for (int o = 16; o > 0; o >>= 1)
        h += __shfl_down_sync(0xffffffffu, h, o);
    if ((threadIdx.x & 31) == 0)
        atomicAdd(out, h);
}

__device__ static inline double sign_of(uint64_t draw, int rep, int j)
{
    return (splitmix(draw, 11 + rep, (uint64_t)j) >> 63) ? 1.0 : -1.0;
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
typedef struct {
    int M, N, K, lda, ldb, ldc;
    uint64_t seed;
} gemm_case;

typedef struct {
    in_t *A, *B;
    float *C;
    size_t na, nb, nc;
    uint64_t seed;
    unsigned long long ha, hb;
} buffers;

typedef struct {                 /* device scratch of the verifier */
    double *y, *acc;
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

static void alloc_set(const gemm_case *c, buffers *b)
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

static unsigned long long digest(const in_t *X, size_t n, scratch_t *s)
{
    unsigned long long h = 0;
    CK(cudaMemsetAsync(&s->cnt[1], 0, sizeof h, stream), "digest");
    digest_kernel<<<grid_for(n), 256, 0, stream>>>(X, n, &s->cnt[1]);
    CK(cudaMemcpyAsync(&h, &s->cnt[1], sizeof h, cudaMemcpyDeviceToHost, stream), "digest");
    CK(cudaStreamSynchronize(stream), "digest");
    return h;
}

static void fill_set(const gemm_case *c, buffers *b, uint64_t seed, scratch_t *s)
{
    b->seed = seed;
    fill_kernel<<<grid_for(b->na), 256, 0, stream>>>(b->A, c->M, c->K, c->lda, seed, 0);
    fill_kernel<<<grid_for(b->nb), 256, 0, stream>>>(b->B, c->K, c->N, c->ldb, seed, 1);
    poison_kernel<<<grid_for(b->nc), 256, 0, stream>>>(b->C, b->nc);
    CK(cudaGetLastError(), "filling the inputs");
    b->ha = digest(b->A, b->na, s);
    b->hb = digest(b->B, b->nb, s);
}

/* ---- verification ------------------------------------------------------------------------ */
typedef struct {
    int failed;
    double rel_err;
    char why[200];
} verdict;

static verdict freivalds(const gemm_case *c, const buffers *b, uint64_t draw, double tol, scratch_t *s)
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
        double rel = acc[1] > 0 ? sqrt(acc[0] / acc[1]) : sqrt(acc[0]);
        if (!(rel <= worst)) worst = rel;
        if (!(rel <= tol)) {
            v.failed = 1;
            v.rel_err = rel;
            snprintf(v.why, sizeof v.why, "relative error %.3e > %.1e (output wrong or incomplete)", rel, tol);
            return v;
        }
    }
    v.rel_err = worst;
    return v;
}

/* ---- request (as gemm_driver.c) ---------------------------------------------------------- */
typedef struct {
    char mode[16];
    gemm_case cases[MAX_CASES];
    int ncases;
    double tol, min_sample_s, max_time_s, rel_ci;
    int warmup, min_samples, max_samples, max_sets;
    long pick;
    size_t flush_bytes;
} request;

static int parse_case(const char *s, gemm_case *c)
{
    unsigned long long seed;
    if (sscanf(s, "%d,%d,%d,%d,%d,%d,%llu", &c->M, &c->N, &c->K, &c->lda, &c->ldb, &c->ldc, &seed) != 7)
        return -1;
    c->seed = seed;
    if (c->M < 1 || c->N < 1 || c->K < 1 || c->lda < c->K || c->ldb < c->N || c->ldc < c->N)
        return -1;
    return 0;
}

static int read_request(request *r)
{
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = 0;
    memset(r, 0, sizeof *r);
    r->tol = 3e-5;
    r->warmup = 2;
    r->min_sample_s = 0.001;
    r->min_samples = 10;
    r->max_samples = 200;
    r->max_time_s = 5.0;
    r->rel_ci = 0.01;
    r->max_sets = 16;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        const char *k = line, *v = eq + 1;
        if (!strcmp(k, "mode")) snprintf(r->mode, sizeof r->mode, "%s", v);
        else if (!strcmp(k, "case")) {
            if (r->ncases >= MAX_CASES || parse_case(v, &r->cases[r->ncases]) != 0) {
                fprintf(stderr, "tensorop driver: bad case '%s'\n", v);
                return -1;
            }
            r->ncases++;
        }
        else if (!strcmp(k, "tol")) r->tol = atof(v);
        else if (!strcmp(k, "warmup")) r->warmup = atoi(v);
        else if (!strcmp(k, "min_sample_s")) r->min_sample_s = atof(v);
        else if (!strcmp(k, "min_samples")) r->min_samples = atoi(v);
        else if (!strcmp(k, "max_samples")) r->max_samples = atoi(v);
        else if (!strcmp(k, "max_time_s")) r->max_time_s = atof(v);
        else if (!strcmp(k, "rel_ci")) r->rel_ci = atof(v);
        else if (!strcmp(k, "flush_bytes")) r->flush_bytes = (size_t)atof(v);
        else if (!strcmp(k, "max_sets")) r->max_sets = atoi(v);
        else if (!strcmp(k, "pick")) r->pick = atol(v);
    }
    if (r->max_samples < 1) r->max_samples = 1;
    if (r->min_samples > r->max_samples) r->min_samples = r->max_samples;
    if (r->max_sets < 2) r->max_sets = 2;
    if (r->max_sets > MAX_SETS_LIMIT) r->max_sets = MAX_SETS_LIMIT;
    if (!r->mode[0] || r->ncases < 1) {
        fprintf(stderr, "tensorop driver: the request needs mode= and case=\n");
        return -1;
    }
    return 0;
}

/* ---- utilities --------------------------------------------------------------------------- */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int write_output(const char *name, const buffers *b)
{
    float *h = (float *)malloc(b->nc * sizeof(float));
    if (!h) exit(3);
    CK(cudaMemcpy(h, b->C, b->nc * sizeof(float), cudaMemcpyDeviceToHost), "copying C back");
    FILE *f = fopen(name, "wb");
    int bad = !f || fwrite(h, sizeof(float), b->nc, f) != b->nc;
    if (f && fclose(f) != 0) bad = 1;
    free(h);
    if (bad) {
        fprintf(stderr, "tensorop driver: cannot write %s\n", name);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_ci_rel(const double *s, int n, double *scratch)
{
    memcpy(scratch, s, (size_t)n * sizeof(double));
    qsort(scratch, (size_t)n, sizeof(double), cmp_double);
    double med = (n % 2) ? scratch[n / 2] : 0.5 * (scratch[n / 2 - 1] + scratch[n / 2]);
    int lo = (int)floor(n / 2.0 - 0.98 * sqrt((double)n));
    int hi = (int)ceil(n / 2.0 + 0.98 * sqrt((double)n));
    if (lo < 0 || hi > n - 1 || med <= 0)
        return INFINITY;
    return 0.5 * (scratch[hi] - scratch[lo]) / med;
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
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"%s\",\"verified\":false,\"kernel\":\"%s\","
            "\"failed\":{\"sample\":%ld,\"call\":%d,\"seed\":%llu,\"rel_err\":%.6e,\"why\":\"%s\"}}\n",
            mode, kernel, sample, call, (unsigned long long)seed, v->rel_err, v->why);
}

static void call(gemm_fn f, const gemm_case *c, buffers *b)
{
    f(c->M, c->N, c->K, b->A, c->lda, b->B, c->ldb, b->C, c->ldc, stream);
}

/* Launch errors show at once, execution errors at the next synchronisation: both end the run. */
static void settle(const char *what)
{
    CK(cudaGetLastError(), what);
    CK(cudaStreamSynchronize(stream), what);
}

/* ---- modes ------------------------------------------------------------------------------- */
static int run_check(const request *r, scratch_t *s)
{
    for (int i = 0; i < r->ncases; i++) {
        const gemm_case *c = &r->cases[i];
        buffers b;
        alloc_set(c, &b);
        fill_set(c, &b, c->seed, s);
        call(KERNEL_SYMBOL, c, &b);
        settle("the kernel (check call)");
        char name[32];
        snprintf(name, sizeof name, "c%d.bin", i);
        if (write_output(name, &b) != 0)
            return 4;
        free_set(&b);
    }
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"check\",\"dtype\":\"" DTYPE "\",\"cases\":%d}\n", r->ncases);
    return 0;
}

typedef struct {
    buffers *sets;
    int nsets;
} pool;

static void make_pool(const gemm_case *c, int nsets, pool *p)
{
    p->nsets = nsets;
    p->sets = (buffers *)calloc((size_t)nsets, sizeof(buffers));
    if (!p->sets) exit(3);
    for (int i = 0; i < nsets; i++)
        alloc_set(c, &p->sets[i]);
}

static void free_pool(pool *p)
{
    for (int i = 0; i < p->nsets; i++)
        free_set(&p->sets[i]);
    free(p->sets);
}

/* Calls per sample: enough to last min_sample_s, at most max_sets, the sets within half the
   free device memory. */
static int calls_per_sample(const request *r, const gemm_case *c, double t_call, int pools)
{
    size_t freeb = 0, total = 0;
    cudaMemGetInfo(&freeb, &total);
    double set_bytes = (double)sizeof(in_t) * ((double)c->M * c->lda + (double)c->K * c->ldb) + 4.0 * c->M * c->ldc;
    int by_mem = (int)(0.5 * (double)freeb / pools / (set_bytes > 1 ? set_bytes : 1));
    int want = t_call > 0 ? (int)ceil(r->min_sample_s / t_call) : r->max_sets;
    if (want > r->max_sets) want = r->max_sets;
    if (want > by_mem) want = by_mem;
    return want < 1 ? 1 : want;
}

/* Time `calls` calls of f on sets first.. of p (events on the stream), then verify each. */
static double timed_sample(gemm_fn f, const gemm_case *c, pool *p, int first, int calls, cudaEvent_t e0, cudaEvent_t e1)
{
    flush_l2();
    CK(cudaEventRecord(e0, stream), "event");
    for (int j = 0; j < calls; j++)
        call(f, c, &p->sets[(first + j) % p->nsets]);
    CK(cudaEventRecord(e1, stream), "event");
    settle("the kernel (timed call)");
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1), "event");
    return 1e-3 * (double)ms;
}

static int run_time(const request *r, scratch_t *s)
{
    const gemm_case *c = &r->cases[0];
    pool p;
    verdict v;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0), "event");
    CK(cudaEventCreate(&e1), "event");
    make_pool(c, 2, &p);
    double t_call = 0;
    for (int i = 0; i < (r->warmup > 0 ? r->warmup : 1); i++) {
        fill_set(c, &p.sets[i % 2], fresh_seed(), s);
        t_call = timed_sample(KERNEL_SYMBOL, c, &p, i % 2, 1, e0, e1);
        buffers *b = &p.sets[i % 2];
        v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, s);
        if (v.failed) { emit_failure("time", "a", -1, i, b->seed, &v); return 0; }
    }
    int calls = calls_per_sample(r, c, t_call, 1);
    if (calls > 2) { free_pool(&p); make_pool(c, calls, &p); }
    double *smp = (double *)malloc(sizeof(double) * (size_t)r->max_samples);
    double *scr = (double *)malloc(sizeof(double) * (size_t)r->max_samples);
    if (!smp || !scr) return 3;
    int n = 0, picked = 0;
    const char *stop = "max_samples";
    double start = now(), cpu0 = cpu_seconds(), max_rel = 0.0;
    uint64_t pick_seed = 0;
    long pick = r->pick % r->max_samples;
    while (n < r->max_samples) {
        int first = (n * calls) % p.nsets;
        for (int j = 0; j < calls; j++)
            fill_set(c, &p.sets[(first + j) % p.nsets], fresh_seed(), s);
        double t = timed_sample(KERNEL_SYMBOL, c, &p, first, calls, e0, e1);
        for (int j = 0; j < calls; j++) {
            buffers *b = &p.sets[(first + j) % p.nsets];
            v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, s);
            if (v.failed) { emit_failure("time", "a", n, j, b->seed, &v); return 0; }
            if (v.rel_err > max_rel) max_rel = v.rel_err;
        }
        if (n == pick || (!picked && n + 1 == r->max_samples)) {
            buffers *b = &p.sets[first];
            if (write_output("pick.bin", b) != 0) return 4;
            picked = 1;
            pick_seed = b->seed;
            pick = n;
        }
        smp[n++] = t / calls;
        if (n >= r->min_samples && median_ci_rel(smp, n, scr) <= r->rel_ci) { stop = "ci"; break; }
        if (now() - start >= r->max_time_s && n >= (r->min_samples < 3 ? r->min_samples : 3)) { stop = "max_time"; break; }
    }
    if (!picked) {
        buffers *b = &p.sets[((n - 1) * calls) % p.nsets];
        if (write_output("pick.bin", b) != 0) return 4;
        pick_seed = b->seed;
        pick = n - 1;
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"time\",\"dtype\":\"" DTYPE "\",\"verified\":true,"
            "\"timer\":\"cuda_event\",\"inner_loops\":%d,\"warmup\":%d,\"flushed\":%s,\"flush_bytes\":%zu,"
            "\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,\"freivalds_rel_err\":%.3e,\"calls\":%d,"
            "\"pick\":{\"sample\":%ld,\"seed\":%llu},\"samples\":[",
            calls, r->warmup, flush_len ? "true" : "false", flush_len, stop, wall, cpu, max_rel, n * calls, pick,
            (unsigned long long)pick_seed);
    for (int i = 0; i < n; i++)
        fprintf(chan, "%s%.9e", i ? "," : "", smp[i]);
    fprintf(chan, "]}\n");
    return 0;
}

#ifdef TENSOROP_PAIR
/* Paired, interleaved timing of kernel A and kernel B on the same fresh inputs, A first on even
   samples and B first on odd ones; every call verified. */
static int run_pair(const request *r, scratch_t *s)
{
    const gemm_case *c = &r->cases[0];
    gemm_fn fn[2] = {KERNEL_SYMBOL, KERNEL_SYMBOL_B};
    const char *label[2] = {"a", "b"};
    pool p[2];
    verdict v;
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0), "event");
    CK(cudaEventCreate(&e1), "event");
    double t_call = 0;
    make_pool(c, 2, &p[0]);
    make_pool(c, 2, &p[1]);
    for (int i = 0; i < (r->warmup > 0 ? r->warmup : 1); i++)
        for (int k = 0; k < 2; k++) {
            buffers *b = &p[k].sets[i % 2];
            fill_set(c, b, fresh_seed(), s);
            double t = timed_sample(fn[k], c, &p[k], i % 2, 1, e0, e1);
            if (k == 0 || t < t_call) t_call = t;
            v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, s);
            if (v.failed) { emit_failure("pair", label[k], -1, i, b->seed, &v); return 0; }
        }
    int calls = calls_per_sample(r, c, t_call, 2);
    if (calls > 2)
        for (int k = 0; k < 2; k++) { free_pool(&p[k]); make_pool(c, calls, &p[k]); }
    double *smp[2] = {(double *)malloc(sizeof(double) * (size_t)r->max_samples),
                      (double *)malloc(sizeof(double) * (size_t)r->max_samples)};
    if (!smp[0] || !smp[1]) return 3;
    int n = 0;
    double start = now(), cpu0 = cpu_seconds();
    const char *stop = "max_samples";
    uint64_t seeds[MAX_SETS_LIMIT];
    while (n < r->max_samples) {
        for (int j = 0; j < calls; j++)      /* the same fresh inputs for both kernels of the sample */
            seeds[j] = fresh_seed();
        for (int o = 0; o < 2; o++) {
            int k = (n % 2 == 0) ? o : 1 - o;
            for (int j = 0; j < calls; j++)
                fill_set(c, &p[k].sets[j], seeds[j], s);
            smp[k][n] = timed_sample(fn[k], c, &p[k], 0, calls, e0, e1) / calls;
            for (int j = 0; j < calls; j++) {
                buffers *b = &p[k].sets[j];
                v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, s);
                if (v.failed) { emit_failure("pair", label[k], n, j, b->seed, &v); return 0; }
            }
        }
        n++;
        if (now() - start >= r->max_time_s && n >= (r->min_samples < 3 ? r->min_samples : 3)) { stop = "max_time"; break; }
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"pair\",\"dtype\":\"" DTYPE "\",\"verified\":true,"
            "\"timer\":\"cuda_event\",\"inner_loops\":%d,\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,"
            "\"samples_a\":[", calls, stop, wall, cpu);
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", smp[0][i]);
    fprintf(chan, "],\"samples_b\":[");
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", smp[1][i]);
    fprintf(chan, "]}\n");
    return 0;
}
#endif

int main(void)
{
    chan = fdopen(CHANNEL_FD, "w");
    if (!chan) {
        fprintf(stderr, "tensorop driver: no result channel on fd %d (run it through tensorop)\n", CHANNEL_FD);
        return 5;
    }
    request r;
    if (read_request(&r) != 0)
        return 2;
    g_mode = r.mode;
    CK(cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync), "cudaSetDeviceFlags");
    CK(cudaStreamCreate(&stream), "cudaStreamCreate");
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    flush_len = r.flush_bytes ? r.flush_bytes : 2 * (size_t)prop.l2CacheSize;
    flush_buf = (unsigned char *)dalloc(flush_len);
    scratch_t s;
    int maxk = 1;
    for (int i = 0; i < r.ncases; i++) if (r.cases[i].K > maxk) maxk = r.cases[i].K;
    s.y = (double *)dalloc(sizeof(double) * (size_t)maxk);
    s.acc = (double *)dalloc(2 * sizeof(double));
    s.cnt = (unsigned long long *)dalloc(2 * sizeof(unsigned long long));
    fprintf(stderr, "tensorop driver: %s (sm_%d%d, %d SMs, L2 %d KiB), " DTYPE "\n", prop.name, prop.major,
            prop.minor, prop.multiProcessorCount, prop.l2CacheSize / 1024);
    int rc;
    if (!strcmp(r.mode, "check")) rc = run_check(&r, &s);
    else if (!strcmp(r.mode, "time")) rc = run_time(&r, &s);
#ifdef TENSOROP_PAIR
    else if (!strcmp(r.mode, "pair")) rc = run_pair(&r, &s);
#endif
    else {
        fprintf(stderr, "tensorop driver: unknown mode '%s' (a CUDA device has check, time and pair)\n", r.mode);
        return 2;
    }
    if (fflush(chan) != 0) {
        fprintf(stderr, "tensorop driver: cannot write the result channel\n");
        return 4;
    }
    return rc;
}
