/* tensorop timing driver for GEMM f32 (harness-owned, never LLM-written).
 *
 * Compiled separately from the kernel and linked with it, so the kernel sees only the ABI:
 *   void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
 *                          const float *B, int ldb, float *C, int ldc);
 *
 * Inputs are generated here from a seed with a counter-based generator (splitmix64 of the
 * element's logical index), which harness/ops/gemm.py reproduces bit for bit in NumPy, so
 * only a seed travels to the device and only the output comes back.  Padding of A and B
 * (lda > K, ldb > N) is filled with NaN; all of C, padding included, is poisoned with a
 * NaN of a distinctive payload before the kernel runs.
 *
 *   gemm_driver check M,N,K,lda,ldb,ldc,seed [...]      one call per case, writes c<i>.bin
 *   gemm_driver time  M,N,K,lda,ldb,ldc,seed [key=value ...]
 *       one counted call (between tensorop_region_begin/end, for the QEMU insn counter),
 *       writes c0.bin, then warm-up calls, calibrates the inner-loop count so one sample lasts
 *       at least min_sample_s, and takes samples until the distribution-free 95% CI of the
 *       median is within rel_ci of the median, or max_samples / max_time_s is reached.
 *       keys: warmup min_sample_s min_samples max_samples max_time_s rel_ci flush_bytes
 *
 * Prints one JSON line on stdout.  Exit status 0 on success, 2 on bad usage, 3 on no memory.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc);

#define POISON_BITS 0x7FC0DEADu     /* C before the kernel runs: "never written" */
#define PAD_BITS 0x7FC0BEEFu        /* padding of A and B: a NaN with another payload, so a
                                       kernel that reads it and propagates it is not mistaken
                                       for one that never wrote C */

/* Marker functions: the QEMU plugin counts instructions executed between them. */
__attribute__((noinline, used)) void tensorop_region_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline, used)) void tensorop_region_end(void) { __asm__ volatile("" ::: "memory"); }

typedef struct {
    int M, N, K, lda, ldb, ldc;
    uint64_t seed;
} gemm_case;

static uint64_t splitmix(uint64_t seed, uint64_t stream, uint64_t idx)
{
    uint64_t z = seed + stream * 0x632BE59BD9B4E019ull + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float uniform_pm1(uint64_t seed, uint64_t stream, uint64_t idx)
{
    /* (k - 2^23) / 2^23 with k the top 24 bits: exact in float, in [-1, 1) */
    return (float)((int64_t)(splitmix(seed, stream, idx) >> 40) - 8388608) * (1.0f / 8388608.0f);
}

static float nan_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void *xalloc(size_t nfloats)
{
    void *p = NULL;
    size_t bytes = (nfloats ? nfloats : 1) * sizeof(float);
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0) {
        fprintf(stderr, "tensorop driver: out of memory (%zu bytes)\n", bytes);
        exit(3);
    }
    return p;
}

/* Fill rows x cols of a row-major matrix with leading dimension ld; padding gets NaN. */
static void fill(float *X, int rows, int cols, int ld, uint64_t seed, uint64_t stream)
{
    float nan = nan_bits(PAD_BITS);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++)
            X[(size_t)i * ld + j] = uniform_pm1(seed, stream, (uint64_t)i * cols + j);
        for (int j = cols; j < ld; j++)
            X[(size_t)i * ld + j] = nan;
    }
}

static void poison_all(float *X, size_t n)
{
    float nan = nan_bits(POISON_BITS);
    for (size_t i = 0; i < n; i++)
        X[i] = nan;
}

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

typedef struct {
    float *A, *B, *C;
    size_t nc;
} buffers;

static buffers setup(const gemm_case *c)
{
    buffers b;
    b.A = xalloc((size_t)c->M * c->lda);
    b.B = xalloc((size_t)c->K * c->ldb);
    b.nc = (size_t)c->M * c->ldc;
    b.C = xalloc(b.nc);
    fill(b.A, c->M, c->K, c->lda, c->seed, 0);
    fill(b.B, c->K, c->N, c->ldb, c->seed, 1);
    poison_all(b.C, b.nc);
    return b;
}

static int write_output(const char *name, const float *C, size_t n)
{
    FILE *f = fopen(name, "wb");
    if (!f || fwrite(C, sizeof(float), n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "tensorop driver: cannot write %s\n", name);
        return -1;
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Half-width of the distribution-free 95% CI of the median relative to the median, from the
   order statistics at ranks n/2 -+ 0.98 sqrt(n) (normal approximation of Binomial(n, 1/2)).
   harness/stats.py reports the exact binomial interval; this is only the stopping rule. */
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

static double opt(int argc, char **argv, const char *key, double dflt)
{
    size_t k = strlen(key);
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], key, k) == 0 && argv[i][k] == '=')
            return atof(argv[i] + k + 1);
    return dflt;
}

static volatile unsigned char flush_sink;

static void flush_caches(unsigned char *buf, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += 64)
        buf[i] = (unsigned char)(buf[i] + 1);
    flush_sink = buf[bytes / 2];
}

static int run_check(int ncases, char **cases)
{
    for (int i = 0; i < ncases; i++) {
        gemm_case c;
        if (parse_case(cases[i], &c) != 0) {
            fprintf(stderr, "tensorop driver: bad case '%s'\n", cases[i]);
            return 2;
        }
        buffers b = setup(&c);
        tensorop_gemm_f32(c.M, c.N, c.K, b.A, c.lda, b.B, c.ldb, b.C, c.ldc);
        char name[32];
        snprintf(name, sizeof name, "c%d.bin", i);
        if (write_output(name, b.C, b.nc) != 0)
            return 4;
        free(b.A);
        free(b.B);
        free(b.C);
    }
    printf("{\"mode\":\"check\",\"cases\":%d}\n", ncases);
    return 0;
}

static int run_time(const char *spec, int argc, char **argv)
{
    gemm_case c;
    if (parse_case(spec, &c) != 0) {
        fprintf(stderr, "tensorop driver: bad case '%s'\n", spec);
        return 2;
    }
    int warmup = (int)opt(argc, argv, "warmup", 2);
    double min_sample_s = opt(argc, argv, "min_sample_s", 0.01);
    int min_samples = (int)opt(argc, argv, "min_samples", 10);
    int max_samples = (int)opt(argc, argv, "max_samples", 200);
    double max_time_s = opt(argc, argv, "max_time_s", 5.0);
    double rel_ci = opt(argc, argv, "rel_ci", 0.01);
    size_t flush_bytes = (size_t)opt(argc, argv, "flush_bytes", 0);
    if (max_samples < 1) max_samples = 1;
    if (min_samples > max_samples) min_samples = max_samples;

    buffers b = setup(&c);
    tensorop_region_begin();
    tensorop_gemm_f32(c.M, c.N, c.K, b.A, c.lda, b.B, c.ldb, b.C, c.ldc);
    tensorop_region_end();
    if (write_output("c0.bin", b.C, b.nc) != 0)
        return 4;

    for (int i = 0; i < warmup; i++)
        tensorop_gemm_f32(c.M, c.N, c.K, b.A, c.lda, b.B, c.ldb, b.C, c.ldc);

    /* Calibrate: grow the inner loop until one sample lasts at least min_sample_s. */
    long inner = 1;
    for (;;) {
        double t0 = now();
        for (long r = 0; r < inner; r++)
            tensorop_gemm_f32(c.M, c.N, c.K, b.A, c.lda, b.B, c.ldb, b.C, c.ldc);
        double t = now() - t0;
        if (t >= min_sample_s || inner >= (1L << 30))
            break;
        double grow = t > 0 ? 1.2 * min_sample_s / t : 16.0;
        long next = (long)ceil((double)inner * (grow < 2.0 ? 2.0 : (grow > 16.0 ? 16.0 : grow)));
        inner = next > inner ? next : inner + 1;
    }

    unsigned char *fbuf = NULL;
    if (flush_bytes) {
        fbuf = malloc(flush_bytes);
        if (!fbuf) flush_bytes = 0;
        else memset(fbuf, 1, flush_bytes);
    }
    double *s = malloc(sizeof(double) * (size_t)max_samples);
    double *scratch = malloc(sizeof(double) * (size_t)max_samples);
    if (!s || !scratch) {
        fprintf(stderr, "tensorop driver: out of memory\n");
        return 3;
    }
    int n = 0;
    const char *stop = "max_samples";
    double start = now();
    while (n < max_samples) {
        if (flush_bytes) flush_caches(fbuf, flush_bytes);
        double t0 = now();
        for (long r = 0; r < inner; r++)
            tensorop_gemm_f32(c.M, c.N, c.K, b.A, c.lda, b.B, c.ldb, b.C, c.ldc);
        s[n++] = (now() - t0) / (double)inner;
        if (n >= min_samples && median_ci_rel(s, n, scratch) <= rel_ci) { stop = "ci"; break; }
        if (now() - start >= max_time_s && (n >= min_samples || n >= 3)) { stop = "max_time"; break; }
    }
    double sampling = now() - start;

    printf("{\"mode\":\"time\",\"inner_loops\":%ld,\"warmup\":%d,\"flushed\":%s,\"stop\":\"%s\","
           "\"sampling_s\":%.6f,\"samples\":[", inner, warmup, flush_bytes ? "true" : "false", stop, sampling);
    for (int i = 0; i < n; i++)
        printf("%s%.9e", i ? "," : "", s[i]);
    printf("]}\n");
    free(s); free(scratch); free(fbuf);
    free(b.A); free(b.B); free(b.C);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "check") == 0)
        return run_check(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "time") == 0)
        return run_time(argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: %s check M,N,K,lda,ldb,ldc,seed [...] | time M,N,K,lda,ldb,ldc,seed [key=value ...]\n", argv[0]);
    return 2;
}
