/* tensorop CUDA timing driver: request, modes and main (harness-owned, never LLM-written).
 * Included by an op's CUDA driver after its part (see tensorop_cuda_driver.h for what that
 * part defines). The modes are the CPU drivers' (gemm_driver.c, driver_modes.h):
 *
 * Request lines (key=value):
 *   mode=check|time|pair
 *   case=<the op's case, ending with its seed>        (up to MAX_CASES; time and pair use the first)
 *   tol= warmup= min_sample_s= min_samples= max_samples= max_time_s= rel_ci= flush_bytes= max_sets= pick=
 *
 * check: one call per case on the case's seed, the output copied back to c<i>.bin.
 * time:  warm-up calls (each verified), then samples of `calls` calls on fresh inputs in
 *        rotating sets, timed with CUDA events after an L2 flush, every call verified on the
 *        device; the picked sample's output copied back to pick.bin.
 * pair:  (-DTENSOROP_PAIR) kernel A and kernel B interleaved on the same fresh inputs, A first
 *        on even samples and B first on odd ones; every call verified.
 */
#ifndef TENSOROP_CUDA_MODES_H
#define TENSOROP_CUDA_MODES_H

/* ---- request (as gemm_driver.c) ---------------------------------------------------------- */
#define TENSOROP_DRIVER_REQUEST
#define TENSOROP_DEFAULT_MIN_SAMPLE_S 0.001
#include "tensorop_driver_common.h"   /* request, read_request */

/* ---- modes ------------------------------------------------------------------------------- */
static int run_check(const request *r, scratch_t *s)
{
    for (int i = 0; i < r->ncases; i++) {
        const op_case *c = &r->cases[i];
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
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"" OP_NAME "\",\"mode\":\"check\",\"dtype\":\"" DTYPE "\",\"gpu\":%s,"
            "\"cases\":%d}\n", g_gpu, r->ncases);
    return 0;
}

typedef struct {
    buffers *sets;
    int nsets;
} pool;

static void make_pool(const op_case *c, int nsets, pool *p)
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
static int calls_per_sample(const request *r, const op_case *c, double t_call, int pools)
{
    size_t freeb = 0, total = 0;
    cudaMemGetInfo(&freeb, &total);
    double set_bytes = op_set_bytes(c);
    int by_mem = (int)(0.5 * (double)freeb / pools / (set_bytes > 1 ? set_bytes : 1));
    int want = t_call > 0 ? (int)ceil(r->min_sample_s / t_call) : r->max_sets;
    if (want > r->max_sets) want = r->max_sets;
    if (want > by_mem) want = by_mem;
    return want < 1 ? 1 : want;
}

/* Time `calls` calls of f on sets first.. of p (events on the stream), then verify each. */
static double timed_sample(op_fn f, const op_case *c, pool *p, int first, int calls, cudaEvent_t e0, cudaEvent_t e1)
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
    const op_case *c = &r->cases[0];
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
        if (out_of_time(r, start, n)) { stop = "max_time"; break; }
    }
    if (!picked) {
        buffers *b = &p.sets[((n - 1) * calls) % p.nsets];
        if (write_output("pick.bin", b) != 0) return 4;
        pick_seed = b->seed;
        pick = n - 1;
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"" OP_NAME "\",\"mode\":\"time\",\"dtype\":\"" DTYPE "\",\"gpu\":%s,"
            "\"verified\":true,"
            "\"timer\":\"cuda_event\",\"inner_loops\":%d,\"warmup\":%d,\"flushed\":%s,\"flush_bytes\":%zu,"
            "\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,\"freivalds_rel_err\":%.3e,\"calls\":%d,"
            "\"pick\":{\"sample\":%ld,\"seed\":%llu},\"samples\":[",
            g_gpu, calls, r->warmup, flush_len ? "true" : "false", flush_len, stop, wall, cpu, max_rel, n * calls, pick,
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
    const op_case *c = &r->cases[0];
    op_fn fn[2] = {KERNEL_SYMBOL, KERNEL_SYMBOL_B};
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
        if (out_of_time(r, start, n)) { stop = "max_time"; break; }
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"" OP_NAME "\",\"mode\":\"pair\",\"dtype\":\"" DTYPE "\",\"gpu\":%s,"
            "\"verified\":true,"
            "\"timer\":\"cuda_event\",\"inner_loops\":%d,\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,"
            "\"samples_a\":[", g_gpu, calls, stop, wall, cpu);
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", smp[0][i]);
    fprintf(chan, "],\"samples_b\":[");
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", smp[1][i]);
    fprintf(chan, "]}\n");
    return 0;
}
#endif

#ifndef TENSOROP_DRIVER_NO_MAIN        /* tests compile the op's part on the host without main */
/* g_gpu: the device's name, SM, SM count, clocks and memory bus (the peak check's inputs; CUDA 13
   dropped the clock fields from cudaDeviceProp, so they come from cudaDeviceGetAttribute). */
static void describe_gpu(const cudaDeviceProp *prop)
{
    int sms = 0, clock_khz = 0, mem_khz = 0, bus = 0, drv = 0, rt = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
    cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, 0);
    cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, 0);
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    char name[sizeof prop->name + 1];
    size_t i = 0;
    for (; i < sizeof prop->name && prop->name[i]; i++)   /* JSON-safe: printable ASCII but quote/backslash */
        name[i] = (prop->name[i] >= 32 && prop->name[i] < 127 && prop->name[i] != '"' && prop->name[i] != '\\')
                  ? prop->name[i] : '?';
    name[i] = 0;
    snprintf(g_gpu, sizeof g_gpu, "{\"name\":\"%s\",\"cc\":\"%d.%d\",\"sms\":%d,\"clock_khz\":%d,"
             "\"mem_clock_khz\":%d,\"mem_bus_bits\":%d,\"l2_bytes\":%d,\"mem_bytes\":%zu,\"driver\":%d,\"runtime\":%d}",
             name, prop->major, prop->minor, sms, clock_khz, mem_khz, bus, prop->l2CacheSize, prop->totalGlobalMem,
             drv, rt);
}

int main(void)
{
    request r;
    int start = open_channel_and_request(&r);
    if (start)
        return start;
    g_mode = r.mode;
    int ndev = 0;
    cudaError_t de = cudaGetDeviceCount(&ndev);   /* no driver or no GPU: the machine's fault, said first */
    if (de == cudaSuccess && ndev < 1) de = cudaErrorNoDevice;
    if (de != cudaSuccess) cuda_fail("cudaGetDeviceCount", de, g_mode);
    CK(cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync), "cudaSetDeviceFlags");
    /* The legacy default stream, not a created one: work a kernel puts on any other stream it can
       reach without creating one (cudaStreamPerThread; stream creation fails the object gate) is
       ordered with it, so the events time that work too and settle() waits for it. */
    stream = cudaStreamLegacy;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    describe_gpu(&prop);
    flush_len = r.flush_bytes ? r.flush_bytes : 2 * (size_t)prop.l2CacheSize;
    flush_buf = (unsigned char *)dalloc(flush_len);
    scratch_t s;
    size_t ny = 1;
    for (int i = 0; i < r.ncases; i++) if (op_scratch_doubles(&r.cases[i]) > ny) ny = op_scratch_doubles(&r.cases[i]);
    s.y = (double *)dalloc(sizeof(double) * ny);
    s.acc = (double *)dalloc(2 * sizeof(double));
    s.cnt = (unsigned long long *)dalloc(2 * sizeof(unsigned long long));
    fprintf(stderr, "tensorop driver: %s (sm_%d%d, %d SMs, L2 %d KiB), " OP_NAME " " DTYPE "\n", prop.name,
            prop.major, prop.minor, prop.multiProcessorCount, prop.l2CacheSize / 1024);
    g_phase = "run";
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
    return close_channel(chan, rc);
}
#endif
#endif
