/* tensorop timing driver for GEMM f32 (harness-owned, never LLM-written).
 *
 * Compiled separately from the kernel and linked with it, so the kernel sees only the ABI:
 *   void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
 *                          const float *B, int ldb, float *C, int ldc);
 * (with -DTENSOROP_PAIR a second kernel, tensorop_gemm_f32_b, is linked for paired timing).
 *
 * Trust (DESIGN.md): the kernel is hostile until shown otherwise.
 *  - The request comes on standard input, read after the kernel is loaded; nothing of it is on
 *    the command line. The result is ONE JSON record written to file descriptor 3 (the private
 *    channel the harness opened); stdout/stderr are only shown, never parsed.
 *  - Inputs are generated here from seeds with a counter-based generator (splitmix64 of the
 *    element's logical index) that harness/ops/gemm.py reproduces bit for bit in NumPy.
 *    Padding of A and B (lda > K, ldb > N) holds a NaN; C, padding included, is poisoned with a
 *    NaN of another payload before every call.
 *  - Timed calls are verified calls: every sample uses fresh inputs (new seeds) in rotating
 *    buffer sets (at least two, one set per call of a sample, so no call repeats the inputs of
 *    another), every call's output is checked with a Freivalds projection against the float64
 *    product (rel. error of C x against A (B x), two random +-1 vectors drawn after the call),
 *    and A and B are checked unchanged after every sample. One sample chosen by the harness
 *    (`pick`) is written to pick.bin for the full NumPy gate. Memoising, skipping calls, clock
 *    tricks and clobbered inputs show up as a failed call, reported with its sample and call.
 *  - CPU time over wall time of the timed phase is reported, so extra threads are seen.
 *
 * Request lines (key=value):
 *   mode=check|time|profile|pair
 *   case=M,N,K,lda,ldb,ldc,seed        (check: one line per case; others: the shape and base seed)
 *   tol=<rel. error bound for the in-driver Freivalds check>
 *   warmup= min_sample_s= min_samples= max_samples= max_time_s= rel_ci= flush_bytes= max_sets= pick=
 * Modes:
 *   check    one call per case, writes c<i>.bin (the full gate runs in NumPy)
 *   time     calibrated, verified samples of one kernel
 *   profile  exactly one verified call between the region markers (QEMU plugin), writes pick.bin
 *   pair     (TENSOROP_PAIR builds) samples of kernel A and kernel B interleaved, alternating
 *            which goes first, on the same fresh inputs
 * Exit status: 0 ok (the record says whether verification passed), 2 bad request, 3 no memory,
 * 4 cannot write an output, 5 no result channel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float *C, int ldc);
#ifdef TENSOROP_PAIR
void tensorop_gemm_f32_b(int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, float *C, int ldc);
#endif

typedef void (*gemm_fn)(int, int, int, const float *, int, const float *, int, float *, int);

#define POISON_BITS 0x7FC0DEADu     /* C before the kernel runs: "never written" */
#define PAD_BITS 0x7FC0BEEFu        /* padding of A and B */
#define MAX_SETS_LIMIT 64
#define CHANNEL_FD 3

/* Marker functions: the QEMU plugin counts and profiles what runs between them. Local
   symbols (static) so no kernel object can reference or redefine them. */
__attribute__((noinline, used)) static void tensorop_region_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline, used)) static void tensorop_region_end(void) { __asm__ volatile("" ::: "memory"); }

typedef struct {
    int M, N, K, lda, ldb, ldc;
    uint64_t seed;
} gemm_case;

static FILE *chan;

/* ---- inputs (bit-identical to harness/ops/gemm.py) -------------------------------------- */
static uint64_t splitmix(uint64_t seed, uint64_t stream, uint64_t idx)
{
    uint64_t z = seed + stream * 0x632BE59BD9B4E019ull + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float uniform_pm1(uint64_t seed, uint64_t stream, uint64_t idx)
{
    return (float)((int64_t)(splitmix(seed, stream, idx) >> 40) - 8388608) * (1.0f / 8388608.0f);
}

/* The seed of call `call` of sample `sample` (harness/ops/gemm.py: sample_seed). */
static uint64_t sample_seed(uint64_t base, uint64_t sample, uint64_t call)
{
    return splitmix(base, 7, sample * MAX_SETS_LIMIT + call);
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

static uint64_t digest(const float *X, size_t n)
{
    const uint32_t *w = (const uint32_t *)X;
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ w[i]) * 0x100000001B3ull + (h >> 29);
    return h;
}

typedef struct {
    float *A, *B, *C;
    size_t na, nb, nc;
    uint64_t seed, ha, hb;
} buffers;

static void alloc_set(const gemm_case *c, buffers *b)
{
    b->na = (size_t)c->M * c->lda;
    b->nb = (size_t)c->K * c->ldb;
    b->nc = (size_t)c->M * c->ldc;
    b->A = xalloc(b->na);
    b->B = xalloc(b->nb);
    b->C = xalloc(b->nc);
}

static void fill_set(const gemm_case *c, buffers *b, uint64_t seed)
{
    b->seed = seed;
    fill(b->A, c->M, c->K, c->lda, seed, 0);
    fill(b->B, c->K, c->N, c->ldb, seed, 1);
    poison_all(b->C, b->nc);
    b->ha = digest(b->A, b->na);
    b->hb = digest(b->B, b->nb);
}

static void free_set(buffers *b)
{
    free(b->A);
    free(b->B);
    free(b->C);
}

/* ---- verification ------------------------------------------------------------------------ */
typedef struct {
    int failed;
    double rel_err;
    char why[200];
} verdict;

/* Relative error of C x against A (B x) in double, for random +-1 vectors x drawn now (after
   the call). For a random sign vector, ||(C - AB) x|| estimates ||C - AB||_F, so the figure
   tracks the gate's relative Frobenius error; NaN anywhere in C fails. */
static verdict freivalds(const gemm_case *c, const buffers *b, uint64_t draw, double tol,
                         double *x, double *y)
{
    verdict v = {0, 0.0, ""};
    if (digest(b->A, b->na) != b->ha || digest(b->B, b->nb) != b->hb) {
        v.failed = 1;
        v.rel_err = INFINITY;
        snprintf(v.why, sizeof v.why, "the kernel modified its input %s (A and B are const)",
                 digest(b->A, b->na) != b->ha ? "A" : "B");
        return v;
    }
    double worst = 0.0;
    if (c->M <= 2) {
        /* One or two rows: the projection's denominator is one or two squared Gaussians, so
           its ratio has Cauchy-like tails and fails correct kernels now and then. The exact
           relative Frobenius error costs M*K*N here, no more than Freivalds' B x (K*N). */
        double num = 0.0, den = 0.0;
        for (int i = 0; i < c->M; i++) {
            const float *arow = b->A + (size_t)i * c->lda;
            const float *crow = b->C + (size_t)i * c->ldc;
            for (int j = 0; j < c->N; j++) x[j] = 0.0;
            for (int k = 0; k < c->K; k++) {
                const float *brow = b->B + (size_t)k * c->ldb;
                const double a = arow[k];
                for (int j = 0; j < c->N; j++)
                    x[j] += a * (double)brow[j];
            }
            for (int j = 0; j < c->N; j++) {
                const double d = (double)crow[j] - x[j];
                num += d * d;
                den += x[j] * x[j];
            }
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        v.rel_err = rel;
        if (!(rel <= tol)) {
            v.failed = 1;
            snprintf(v.why, sizeof v.why, "relative error %.3e > %.1e (output wrong or incomplete)", rel, tol);
        }
        return v;
    }
    for (int rep = 0; rep < 2; rep++) {
        for (int j = 0; j < c->N; j++)
            x[j] = (splitmix(draw, 11 + rep, (uint64_t)j) >> 63) ? 1.0 : -1.0;
        for (int k = 0; k < c->K; k++) {          /* y = B x */
            const float *row = b->B + (size_t)k * c->ldb;
            double s = 0.0;
            for (int j = 0; j < c->N; j++)
                s += (double)row[j] * x[j];
            y[k] = s;
        }
        double num = 0.0, den = 0.0;
        for (int i = 0; i < c->M; i++) {          /* (C x - A y)_i */
            const float *arow = b->A + (size_t)i * c->lda;
            const float *crow = b->C + (size_t)i * c->ldc;
            double ay = 0.0, cx = 0.0;
            for (int k = 0; k < c->K; k++)
                ay += (double)arow[k] * y[k];
            for (int j = 0; j < c->N; j++)
                cx += (double)crow[j] * x[j];
            num += (cx - ay) * (cx - ay);
            den += ay * ay;
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        if (!(rel <= worst)) worst = rel;   /* NaN sticks */
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

/* ---- request ----------------------------------------------------------------------------- */
#define MAX_CASES 32
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
    r->pick = 0;
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

static int write_output(const char *name, const float *C, size_t n)
{
    FILE *f = fopen(name, "wb");
    if (!f || fwrite(C, sizeof(float), n, f) != n || fclose(f) != 0) {
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

/* Stopping rule only (harness/stats.py reports the exact interval): half-width of the
   distribution-free 95% CI of the median relative to the median, normal approximation. */
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

static volatile unsigned char flush_sink;

static void flush_caches(unsigned char *buf, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += 64)
        buf[i] = (unsigned char)(buf[i] + 1);
    flush_sink = buf[bytes / 2];
}

static void emit_failure(const char *mode, const char *kernel, long sample, int call, uint64_t seed,
                         const verdict *v)
{
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"%s\",\"verified\":false,\"kernel\":\"%s\","
            "\"failed\":{\"sample\":%ld,\"call\":%d,\"seed\":%llu,\"rel_err\":%.6e,\"why\":\"%s\"}}\n",
            mode, kernel, sample, call, (unsigned long long)seed, v->rel_err, v->why);
}

static void call(gemm_fn f, const gemm_case *c, buffers *b)
{
    f(c->M, c->N, c->K, b->A, c->lda, b->B, c->ldb, b->C, c->ldc);
}

/* ---- modes ------------------------------------------------------------------------------- */
static int run_check(const request *r)
{
    for (int i = 0; i < r->ncases; i++) {
        const gemm_case *c = &r->cases[i];
        buffers b;
        alloc_set(c, &b);
        fill_set(c, &b, c->seed);
        call(tensorop_gemm_f32, c, &b);
        char name[32];
        snprintf(name, sizeof name, "c%d.bin", i);
        if (write_output(name, b.C, b.nc) != 0)
            return 4;
        free_set(&b);
    }
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"check\",\"cases\":%d}\n", r->ncases);
    return 0;
}

static int run_profile(const request *r)
{
    const gemm_case *c = &r->cases[0];
    buffers b;
    alloc_set(c, &b);
    fill_set(c, &b, c->seed);
    double *x = malloc(sizeof(double) * (size_t)c->N), *y = malloc(sizeof(double) * (size_t)c->K);
    if (!x || !y) return 3;
    tensorop_region_begin();
    call(tensorop_gemm_f32, c, &b);
    tensorop_region_end();
    if (write_output("pick.bin", b.C, b.nc) != 0)
        return 4;
    verdict v = freivalds(c, &b, c->seed ^ 0x5EEDull, r->tol, x, y);
    if (v.failed) {
        emit_failure("profile", "a", 0, 0, c->seed, &v);
        return 0;
    }
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"profile\",\"verified\":true,\"calls\":1,"
            "\"pick\":{\"sample\":0,\"seed\":%llu},\"freivalds_rel_err\":%.3e}\n",
            (unsigned long long)c->seed, v.rel_err);
    return 0;
}

typedef struct {
    buffers *sets;
    int nsets;
    double *x, *y;
} pool;

static void make_pool(const gemm_case *c, int nsets, pool *p)
{
    p->nsets = nsets;
    p->sets = calloc((size_t)nsets, sizeof(buffers));
    p->x = malloc(sizeof(double) * (size_t)c->N);
    p->y = malloc(sizeof(double) * (size_t)c->K);
    if (!p->sets || !p->x || !p->y) {
        fprintf(stderr, "tensorop driver: out of memory\n");
        exit(3);
    }
    for (int i = 0; i < nsets; i++)
        alloc_set(c, &p->sets[i]);
}

/* How many calls (each on its own input set) one sample holds: enough to last min_sample_s,
   at most max_sets, and the sets within a memory budget. */
static int calls_per_sample(const request *r, const gemm_case *c, double t_call)
{
    double set_bytes = 4.0 * ((double)c->M * c->lda + (double)c->K * c->ldb + (double)c->M * c->ldc);
    int by_mem = (int)(256.0 * 1024 * 1024 / (set_bytes > 1 ? set_bytes : 1));
    int want = t_call > 0 ? (int)ceil(r->min_sample_s / t_call) : r->max_sets;
    if (want > r->max_sets) want = r->max_sets;
    if (want > by_mem) want = by_mem;
    return want < 1 ? 1 : want;
}

static int run_time(const request *r)
{
    const gemm_case *c = &r->cases[0];
    pool p;
    verdict v;
    /* warm-up and a first estimate of one call, on verified calls (sample index -1) */
    make_pool(c, 2, &p);
    double t_call = 0;
    for (int i = 0; i < (r->warmup > 0 ? r->warmup : 1); i++) {
        buffers *b = &p.sets[i % 2];
        fill_set(c, b, sample_seed(c->seed, 1000000 + i, 0));
        double t0 = now();
        call(tensorop_gemm_f32, c, b);
        t_call = now() - t0;
        v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, p.x, p.y);
        if (v.failed) {
            emit_failure("time", "a", -1, i, b->seed, &v);
            return 0;
        }
    }
    int calls = calls_per_sample(r, c, t_call);
    if (calls > 2) {
        for (int i = 0; i < 2; i++) free_set(&p.sets[i]);
        free(p.sets); free(p.x); free(p.y);
        make_pool(c, calls, &p);
    }
    unsigned char *fbuf = NULL;
    size_t flush_bytes = r->flush_bytes;
    if (flush_bytes) {
        fbuf = malloc(flush_bytes);
        if (!fbuf) flush_bytes = 0;
        else memset(fbuf, 1, flush_bytes);
    }
    double *s = malloc(sizeof(double) * (size_t)r->max_samples);
    double *scratch = malloc(sizeof(double) * (size_t)r->max_samples);
    if (!s || !scratch) return 3;
    int n = 0, picked = 0;
    const char *stop = "max_samples";
    double start = now(), cpu0 = cpu_seconds(), max_rel = 0.0;
    uint64_t pick_seed = 0;
    long pick = r->pick % r->max_samples;
    while (n < r->max_samples) {
        int first = (n * calls) % p.nsets;
        for (int j = 0; j < calls; j++)
            fill_set(c, &p.sets[(first + j) % p.nsets], sample_seed(c->seed, (uint64_t)n, (uint64_t)j));
        if (flush_bytes) flush_caches(fbuf, flush_bytes);
        double t0 = now();
        for (int j = 0; j < calls; j++)
            call(tensorop_gemm_f32, c, &p.sets[(first + j) % p.nsets]);
        double t = now() - t0;
        for (int j = 0; j < calls; j++) {
            buffers *b = &p.sets[(first + j) % p.nsets];
            v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, p.x, p.y);
            if (v.failed) {
                emit_failure("time", "a", n, j, b->seed, &v);
                return 0;
            }
            if (v.rel_err > max_rel) max_rel = v.rel_err;
        }
        if (n == pick || (!picked && n + 1 == r->max_samples)) {
            buffers *b = &p.sets[first];
            if (write_output("pick.bin", b->C, b->nc) != 0) return 4;
            picked = 1;
            pick_seed = b->seed;
            pick = n;
        }
        s[n++] = t / calls;
        if (n >= r->min_samples && median_ci_rel(s, n, scratch) <= r->rel_ci) { stop = "ci"; break; }
        if (now() - start >= r->max_time_s && n >= (r->min_samples < 3 ? r->min_samples : 3)) { stop = "max_time"; break; }
    }
    if (!picked) {   /* stopped before the chosen sample: the last one is checked instead */
        buffers *b = &p.sets[((n - 1) * calls) % p.nsets];
        if (write_output("pick.bin", b->C, b->nc) != 0) return 4;
        pick_seed = b->seed;
        pick = n - 1;
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"time\",\"verified\":true,\"inner_loops\":%d,"
            "\"warmup\":%d,\"flushed\":%s,\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,"
            "\"freivalds_rel_err\":%.3e,\"calls\":%d,\"pick\":{\"sample\":%ld,\"seed\":%llu},\"samples\":[",
            calls, r->warmup, flush_bytes ? "true" : "false", stop, wall, cpu, max_rel, n * calls, pick,
            (unsigned long long)pick_seed);
    for (int i = 0; i < n; i++)
        fprintf(chan, "%s%.9e", i ? "," : "", s[i]);
    fprintf(chan, "]}\n");
    return 0;
}

#ifdef TENSOROP_PAIR
/* Paired, interleaved timing of kernel A (tensorop_gemm_f32) and kernel B
   (tensorop_gemm_f32_b): each sample times both on the same fresh inputs, A first on even
   samples and B first on odd ones; every call is verified. */
static int run_pair(const request *r)
{
    const gemm_case *c = &r->cases[0];
    gemm_fn fn[2] = {tensorop_gemm_f32, tensorop_gemm_f32_b};
    const char *label[2] = {"a", "b"};
    pool p[2];
    verdict v;
    double t_call = 0;
    make_pool(c, 2, &p[0]);
    make_pool(c, 2, &p[1]);
    for (int i = 0; i < (r->warmup > 0 ? r->warmup : 1); i++) {
        for (int k = 0; k < 2; k++) {
            buffers *b = &p[k].sets[i % 2];
            fill_set(c, b, sample_seed(c->seed, 1000000 + i, 0));
            double t0 = now();
            call(fn[k], c, b);
            double t = now() - t0;
            if (k == 0 || t < t_call) t_call = t;
            v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, p[k].x, p[k].y);
            if (v.failed) { emit_failure("pair", label[k], -1, i, b->seed, &v); return 0; }
        }
    }
    int calls = calls_per_sample(r, c, t_call);
    if (calls > 2)
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < 2; i++) free_set(&p[k].sets[i]);
            free(p[k].sets); free(p[k].x); free(p[k].y);
            make_pool(c, calls, &p[k]);
        }
    double *s[2] = {malloc(sizeof(double) * (size_t)r->max_samples), malloc(sizeof(double) * (size_t)r->max_samples)};
    if (!s[0] || !s[1]) return 3;
    int n = 0;
    double start = now(), cpu0 = cpu_seconds();
    const char *stop = "max_samples";
    while (n < r->max_samples) {
        for (int o = 0; o < 2; o++) {
            int k = (n % 2 == 0) ? o : 1 - o;
            for (int j = 0; j < calls; j++)
                fill_set(c, &p[k].sets[j], sample_seed(c->seed, (uint64_t)n, (uint64_t)j));
            double t0 = now();
            for (int j = 0; j < calls; j++)
                call(fn[k], c, &p[k].sets[j]);
            s[k][n] = (now() - t0) / calls;
            for (int j = 0; j < calls; j++) {
                buffers *b = &p[k].sets[j];
                v = freivalds(c, b, b->seed ^ 0xC0FFEEull, r->tol, p[k].x, p[k].y);
                if (v.failed) { emit_failure("pair", label[k], n, j, b->seed, &v); return 0; }
            }
        }
        n++;
        if (now() - start >= r->max_time_s && n >= (r->min_samples < 3 ? r->min_samples : 3)) { stop = "max_time"; break; }
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"mode\":\"pair\",\"verified\":true,\"inner_loops\":%d,"
            "\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,\"samples_a\":[", calls, stop, wall, cpu);
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", s[0][i]);
    fprintf(chan, "],\"samples_b\":[");
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", s[1][i]);
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
    int rc;
    if (!strcmp(r.mode, "check")) rc = run_check(&r);
    else if (!strcmp(r.mode, "time")) rc = run_time(&r);
    else if (!strcmp(r.mode, "profile")) rc = run_profile(&r);
#ifdef TENSOROP_PAIR
    else if (!strcmp(r.mode, "pair")) rc = run_pair(&r);
#endif
    else {
        fprintf(stderr, "tensorop driver: unknown mode '%s'\n", r.mode);
        return 2;
    }
    if (fflush(chan) != 0) {
        fprintf(stderr, "tensorop driver: cannot write the result channel\n");
        return 4;
    }
    return rc;
}
