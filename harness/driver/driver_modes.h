/* tensorop timing-driver core, part 2: buffers, request, modes check/time/profile/pair and main,
 * on top of the op's part (see driver_core.h). Timing and pairing run the kernel in a
 * seccomp-filtered worker process (tensorop_worker.h); the clock, the samples and the verification
 * stay in the driver. The protocol:
 *   mode=check|time|profile|pair, case=<op-specific>,<seed>, tol=, warmup=, min_sample_s=,
 *   min_samples=, max_samples=, max_time_s=, rel_ci=, flush_bytes=, max_sets=, pick=
 * Exit status: 0 ok (the record says whether verification passed), 2 bad request, 3 no memory,
 * 4 cannot write an output, 5 no result channel. */
#ifndef TENSOROP_DRIVER_MODES_H
#define TENSOROP_DRIVER_MODES_H

typedef struct {
    void *in[OP_NIN];
    size_t in_bytes[OP_NIN];
    void *out;
    size_t out_words;
    uint64_t seed, h[OP_NIN];
    int shared;
} buffers;

static void *shared_bytes(size_t n)
{
    void *p = shared_alloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "tensorop driver: out of shared memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

/* Private buffers (check, profile) or memory shared with the timing worker (time, pair). */
static void alloc_set_in(const op_case *c, buffers *b, int shared)
{
    op_sizes(c, b->in_bytes, &b->out_words);
    b->shared = shared;
    for (int i = 0; i < OP_NIN; i++)
        b->in[i] = shared ? shared_bytes(b->in_bytes[i]) : xalloc_bytes(b->in_bytes[i]);
    b->out = shared ? shared_bytes(b->out_words * 4) : xalloc_bytes(b->out_words * 4);
}

static void alloc_set(const op_case *c, buffers *b)
{
    alloc_set_in(c, b, 0);
}

static void fill_set(const op_case *c, buffers *b, uint64_t seed)
{
    b->seed = seed;
    op_fill(c, b->in, seed);
    poison_words(b->out, b->out_words);
    for (int i = 0; i < OP_NIN; i++)
        b->h[i] = digest_bytes(b->in[i], b->in_bytes[i]);
}

static void free_set(buffers *b)
{
    for (int i = 0; i < OP_NIN; i++)
        b->shared ? shared_free(b->in[i], b->in_bytes[i]) : free(b->in[i]);
    b->shared ? shared_free(b->out, b->out_words * 4) : free(b->out);
}

static void call(op_fn f, const op_case *c, buffers *b)
{
    op_call(f, c, b->in, b->out);
}

/* Inputs unchanged, then two randomized projections drawn now (after the call). */
static verdict verify_call(const op_case *c, const buffers *b, uint64_t draw, double tol, double *scratch)
{
    verdict v = {0, 0.0, ""};
    for (int i = 0; i < OP_NIN; i++)
        if (digest_bytes(b->in[i], b->in_bytes[i]) != b->h[i]) {
            v.failed = 1;
            v.rel_err = INFINITY;
            snprintf(v.why, sizeof v.why, "the kernel modified its input #%d (inputs are const)", i);
            return v;
        }
    double worst = 0.0;
    for (int rep = 0; rep < 2; rep++) {
        double rel = op_check(c, (void **)b->in, b->out, draw, rep, scratch);
        if (!(rel <= worst)) worst = rel;
        if (!(rel <= tol)) {
            v.failed = 1;
            v.rel_err = rel;
            if (isfinite(rel))
                snprintf(v.why, sizeof v.why, "relative error %.3e > %.1e (output wrong or incomplete)", rel, tol);
            else
                snprintf(v.why, sizeof v.why, "NaN or infinity in the output (elements not written, or garbage)");
            return v;
        }
    }
    v.rel_err = worst;
    return v;
}

#define TENSOROP_DRIVER_REQUEST
#include "tensorop_driver_common.h"   /* request, read_request */


static volatile unsigned char flush_sink;

static void flush_caches(unsigned char *buf, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += 64)
        buf[i] = (unsigned char)(buf[i] + 1);
    flush_sink = buf[bytes / 2];
}

static void emit_failure(const char *mode, const char *kernel, long sample, int callno, uint64_t seed,
                         const verdict *v)
{
    char err[32];
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"%s\",\"verified\":false,\"kernel\":\"%s\","
            "\"failed\":{\"sample\":%ld,\"call\":%d,\"seed\":%llu,\"rel_err\":%s,\"why\":\"%s\"}}\n",
            OP_NAME, mode, kernel, sample, callno, (unsigned long long)seed, json_double(v->rel_err, err), v->why);
}

static int run_check(const request *r)
{
    /* every output file is opened first; then only writing what is open is allowed */
    FILE *out[MAX_CASES];
    for (int i = 0; i < r->ncases; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d.bin", i);
        if (!(out[i] = fopen(name, "wb"))) {
            fprintf(stderr, "tensorop driver: cannot write %s\n", name);
            return 4;
        }
    }
    int seccomp = worker_seccomp();
    for (int i = 0; i < r->ncases; i++) {
        const op_case *c = &r->cases[i];
        buffers b;
        alloc_set(c, &b);
        fill_set(c, &b, c->seed);
        call(OP_KERNEL, c, &b);
        if (fwrite(b.out, 4, b.out_words, out[i]) != b.out_words || fclose(out[i]) != 0) {
            fprintf(stderr, "tensorop driver: cannot write c%d.bin\n", i);
            return 4;
        }
        free_set(&b);
    }
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"check\",\"cases\":%d,\"seccomp\":%s}\n",
            OP_NAME, r->ncases, seccomp ? "true" : "false");
    return 0;
}

static double *alloc_scratch(const op_case *c)
{
    double *s = malloc(sizeof(double) * (op_scratch_doubles(c) + 1));
    if (!s) {
        fprintf(stderr, "tensorop driver: out of memory\n");
        exit(3);
    }
    return s;
}

/* noinline: the QEMU plugin accepts the region markers only when called from this function */
__attribute__((noinline)) static int run_profile(const request *r)
{
    const op_case *c = &r->cases[0];
    buffers b;
    alloc_set(c, &b);
    fill_set(c, &b, c->seed);
    double *scratch = alloc_scratch(c);
    tensorop_region_begin();
    call(OP_KERNEL, c, &b);
    tensorop_region_end();
    if (write_output("pick.bin", b.out, b.out_words * 4) != 0)
        return 4;
    verdict v = verify_call(c, &b, c->seed ^ 0x5EEDull, r->tol, scratch);
    if (v.failed) {
        emit_failure("profile", "a", 0, 0, c->seed, &v);
        return 0;
    }
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"profile\",\"verified\":true,\"calls\":1,"
            "\"pick\":{\"sample\":0,\"seed\":%llu},\"freivalds_rel_err\":%.3e}\n",
            OP_NAME, (unsigned long long)c->seed, v.rel_err);
    return 0;
}

typedef struct {
    buffers *sets;
    int nsets;
    double *scratch;
} pool;

static void make_pool(const op_case *c, int nsets, pool *p)
{
    p->nsets = nsets;
    p->sets = calloc((size_t)nsets, sizeof(buffers));
    if (!p->sets) {
        fprintf(stderr, "tensorop driver: out of memory\n");
        exit(3);
    }
    p->scratch = alloc_scratch(c);
    for (int i = 0; i < nsets; i++)
        alloc_set_in(c, &p->sets[i], 1);
}

static void free_pool(pool *p)
{
    for (int i = 0; i < p->nsets; i++)
        free_set(&p->sets[i]);
    free(p->sets);
    free(p->scratch);
}

/* How many calls (each on its own input set) one sample holds: enough to last min_sample_s,
   at most max_sets, and the sets within a memory budget. */
static int calls_per_sample(const request *r, const op_case *c, double t_call)
{
    size_t in_bytes[OP_NIN], out_words;
    op_sizes(c, in_bytes, &out_words);
    double set_bytes = 4.0 * (double)out_words;
    for (int i = 0; i < OP_NIN; i++)
        set_bytes += (double)in_bytes[i];
    int by_mem = (int)(256.0 * 1024 * 1024 / (set_bytes > 1 ? set_bytes : 1));
    int want = t_call > 0 ? (int)ceil(r->min_sample_s / t_call) : r->max_sets;
    if (want > r->max_sets) want = r->max_sets;
    if (want > by_mem) want = by_mem;
    if (want > WORKER_MAX_CALLS) want = WORKER_MAX_CALLS;
    return want < 1 ? 1 : want;
}

/* ---- the timing session: kernels in the worker process, clock and verification here ------ */
typedef struct {
    const op_case *c;
    pool *pools;
    op_fn fn[2];
    int nk;
} session;

static void session_run(const worker_plan *p, void *arg)    /* runs in the worker */
{
    session *x = arg;
    if (p->which < 0 || p->which >= x->nk)
        return;
    pool *pl = &x->pools[p->which];
    for (int j = 0; j < p->ncalls && j < WORKER_MAX_CALLS; j++)
        if (p->sets[j] >= 0 && p->sets[j] < pl->nsets)
            call(x->fn[p->which], x->c, &pl->sets[p->sets[j]]);
}

static void emit_crash(const char *mode, const char *kernel, int status)
{
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"%s\",\"verified\":false,\"kernel\":\"%s\","
            "\"crash\":{\"signal\":%d,\"exit\":%d}}\n", OP_NAME, mode, kernel, sig, code);
}

/* The fastest of 15 empty round trips to the worker: subtracted from every sample (every sample
   holds one round trip; the bias is the round trip's jitter above its floor, a few microseconds
   against samples of >= 2 ms; timed_sample caps it for samples not much longer than it). */
static double handshake(worker *w)
{
    double t[15];
    worker_plan empty = {0, 0, {0}};
    int n = 0;
    for (int i = 0; i < 15; i++) {
        double d = worker_sample(w, &empty, now);
        if (d >= 0) t[n++] = d;
    }
    if (!n) return 0.0;
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[0];
}

typedef struct {
    worker w;
    session ss;
    double handshake_s;
    int started;
} timing;

static int timing_start(timing *t, const op_case *c, pool *pools, int nk, op_fn a, op_fn b)
{
    t->ss.c = c;
    t->ss.pools = pools;
    t->ss.fn[0] = a;
    t->ss.fn[1] = b;
    t->ss.nk = nk;
    if (worker_start(&t->w, session_run, &t->ss) != 0) {
        fprintf(stderr, "tensorop driver: cannot start the timing worker\n");
        return -1;
    }
    t->started = 1;
    t->handshake_s = handshake(&t->w);
    return 0;
}

/* One timed sample of kernel `k` over `calls` sets starting at `first`, each set freshly filled
   (from `seeds`, drawn fresh for this sample) and verified after. Returns the seconds per call, or
   -1 with the record already written (a wrong output or a dead worker). */
static double timed_sample(timing *t, const request *r, int k, long n, int first, int calls, const uint64_t *seeds,
                           unsigned char *fbuf, size_t flush_bytes, const char *mode, double *max_rel)
{
    const op_case *c = t->ss.c;
    pool *pl = &t->ss.pools[k];
    worker_plan plan = {k, calls, {0}};
    for (int j = 0; j < calls; j++) {
        plan.sets[j] = (first + j) % pl->nsets;
        fill_set(c, &pl->sets[plan.sets[j]], seeds[j]);
    }
    if (flush_bytes) flush_caches(fbuf, flush_bytes);
    double d = worker_sample(&t->w, &plan, now);
    const char *label = k ? "b" : "a";
    if (d < 0) {
        int st = 0;
        worker_stop(&t->w, &st);
        t->started = 0;
        emit_crash(mode, label, st);
        return -1.0;
    }
    for (int j = 0; j < calls; j++) {
        buffers *b = &pl->sets[plan.sets[j]];
        verdict v = verify_call(c, b, b->seed ^ 0xC0FFEEull, r->tol, pl->scratch);
        if (v.failed) {
            emit_failure(mode, label, n, j, b->seed, &v);
            return -1.0;
        }
        if (max_rel && v.rel_err > *max_rel) *max_rel = v.rel_err;
    }
    /* A sample of a tiny kernel is a few dozen microseconds (calls are bounded by the input sets),
       as short as the round trip itself: on a loaded machine the floor measured at the start can
       exceed this sample's own round trip. Never subtract more than half the sample, so such a
       sample cannot come out near zero (an "impossibly fast" kernel that is only noise). */
    d -= t->handshake_s < 0.5 * d ? t->handshake_s : 0.5 * d;
    return d / calls;
}

static double timing_stop(timing *t, int *crashed)
{
    int st = 0;
    double cpu = t->started ? worker_stop(&t->w, &st) : 0.0;
    t->started = 0;
    *crashed = (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0)) ? st : 0;
    return cpu;
}

/* The end of a timed run: the sampling and wall times, the CPU time (the worker's added once it
   is stopped), its seccomp state and handshake time; -1 when the worker crashed (the crash record
   is written and the run writes no other). */
typedef struct { double sampling, wall, cpu, handshake_s; int seccomp; } run_end;
static int end_timing(timing *t, const char *mode, double start, double wall0, double cpu0, double cpu_w, run_end *e)
{
    int crashed = 0;
    e->sampling = now() - start;
    e->seccomp = t->w.seccomp;
    e->handshake_s = t->handshake_s;
    cpu_w += timing_stop(t, &crashed);
    if (crashed) { emit_crash(mode, "a", crashed); return -1; }
    e->wall = now() - wall0;
    e->cpu = cpu_seconds() - cpu0 + cpu_w;
    return 0;
}

/* Warm-up (verified, discarded) and calibration; returns calls per sample, 0 on failure. */
static void draw_seeds(uint64_t *seeds, int n)
{
    for (int j = 0; j < n; j++)
        seeds[j] = fresh_seed();
}

static int warm_up(timing *t, const request *r, int nk, const char *mode)
{
    double t_call = 0;
    uint64_t seed[1];
    for (int i = 0; i < (r->warmup > 0 ? r->warmup : 1); i++)
        for (int k = 0; k < nk; k++) {
            draw_seeds(seed, 1);
            double d = timed_sample(t, r, k, -1 - i, i % 2, 1, seed, NULL, 0, mode, NULL);
            if (d < 0) return 0;
            if ((k == 0 && i == 0) || d < t_call) t_call = d;
        }
    return calls_per_sample(r, t->ss.c, t_call);
}

static int run_time(const request *r)
{
    const op_case *c = &r->cases[0];
    pool p;
    timing t = {0};
    int crashed = 0;
    double wall0 = now(), cpu0 = cpu_seconds(), cpu_w = 0;
    make_pool(c, 2, &p);
    if (timing_start(&t, c, &p, 1, OP_KERNEL, NULL) != 0) return 3;
    int calls = warm_up(&t, r, 1, "time");
    if (!calls) return 0;
    if (calls > 2) {                       /* more sets: a new worker that sees them */
        cpu_w += timing_stop(&t, &crashed);
        free_pool(&p);
        make_pool(c, calls, &p);
        if (timing_start(&t, c, &p, 1, OP_KERNEL, NULL) != 0) return 3;
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
    double start = now(), max_rel = 0.0;
    uint64_t pick_seed = 0;
    long pick = r->pick % r->max_samples;
    uint64_t seeds[WORKER_MAX_CALLS];
    while (n < r->max_samples) {
        int first = (n * calls) % p.nsets;
        draw_seeds(seeds, calls);
        double d = timed_sample(&t, r, 0, n, first, calls, seeds, fbuf, flush_bytes, "time", &max_rel);
        if (d < 0) return 0;
        if (n == pick || (!picked && n + 1 == r->max_samples)) {
            buffers *b = &p.sets[first];
            if (write_output("pick.bin", b->out, b->out_words * 4) != 0) return 4;
            picked = 1;
            pick_seed = b->seed;
            pick = n;
        }
        s[n++] = d;
        if (n >= r->min_samples && median_ci_rel(s, n, scratch) <= r->rel_ci) { stop = "ci"; break; }
        if (out_of_time(r, start, n)) { stop = "max_time"; break; }
    }
    if (!picked) {   /* stopped before the chosen sample: the last one is checked instead */
        buffers *b = &p.sets[((n - 1) * calls) % p.nsets];
        if (write_output("pick.bin", b->out, b->out_words * 4) != 0) return 4;
        pick_seed = b->seed;
        pick = n - 1;
    }
    run_end e;
    if (end_timing(&t, "time", start, wall0, cpu0, cpu_w, &e) != 0) return 0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"time\",\"verified\":true,\"inner_loops\":%d,"
            "\"warmup\":%d,\"flushed\":%s,\"stop\":\"%s\",\"sampling_s\":%.6f,\"wall_s\":%.6f,\"cpu_s\":%.6f,"
            "\"handshake_s\":%.3e,\"seccomp\":%s,\"freivalds_rel_err\":%.3e,\"calls\":%d,"
            "\"pick\":{\"sample\":%ld,\"seed\":%llu},\"samples\":[",
            OP_NAME, calls, r->warmup, flush_bytes ? "true" : "false", stop, e.sampling, e.wall, e.cpu, e.handshake_s,
            e.seccomp ? "true" : "false", max_rel, n * calls, pick, (unsigned long long)pick_seed);
    for (int i = 0; i < n; i++)
        fprintf(chan, "%s%.9e", i ? "," : "", s[i]);
    fprintf(chan, "]}\n");
    return 0;
}

#ifdef TENSOROP_PAIR
/* Paired, interleaved timing of kernel A (OP_KERNEL) and kernel B (OP_KERNEL_B): each sample
   times both on the same fresh inputs (the same seeds), A first on even samples and B first on
   odd ones; every call is verified. */
static int run_pair(const request *r)
{
    const op_case *c = &r->cases[0];
    pool p[2];
    timing t = {0};
    int crashed = 0;
    double wall0 = now(), cpu0 = cpu_seconds(), cpu_w = 0;
    make_pool(c, 2, &p[0]);
    make_pool(c, 2, &p[1]);
    if (timing_start(&t, c, p, 2, OP_KERNEL, OP_KERNEL_B) != 0) return 3;
    int calls = warm_up(&t, r, 2, "pair");
    if (!calls) return 0;
    if (calls > 2) {
        cpu_w += timing_stop(&t, &crashed);
        for (int k = 0; k < 2; k++) { free_pool(&p[k]); make_pool(c, calls, &p[k]); }
        if (timing_start(&t, c, p, 2, OP_KERNEL, OP_KERNEL_B) != 0) return 3;
    }
    double *s[2] = {malloc(sizeof(double) * (size_t)r->max_samples), malloc(sizeof(double) * (size_t)r->max_samples)};
    if (!s[0] || !s[1]) return 3;
    int n = 0;
    double start = now();
    const char *stop = "max_samples";
    uint64_t seeds[WORKER_MAX_CALLS];
    while (n < r->max_samples) {
        draw_seeds(seeds, calls);         /* the same fresh inputs for both kernels of the sample */
        for (int o = 0; o < 2; o++) {
            int k = (n % 2 == 0) ? o : 1 - o;
            double d = timed_sample(&t, r, k, n, 0, calls, seeds, NULL, 0, "pair", NULL);
            if (d < 0) return 0;
            s[k][n] = d;
        }
        n++;
        if (out_of_time(r, start, n)) { stop = "max_time"; break; }
    }
    run_end e;
    if (end_timing(&t, "pair", start, wall0, cpu0, cpu_w, &e) != 0) return 0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"pair\",\"verified\":true,\"inner_loops\":%d,"
            "\"stop\":\"%s\",\"sampling_s\":%.6f,\"wall_s\":%.6f,\"cpu_s\":%.6f,\"handshake_s\":%.3e,"
            "\"seccomp\":%s,\"samples_a\":[", OP_NAME, calls, stop, e.sampling, e.wall, e.cpu, e.handshake_s,
            e.seccomp ? "true" : "false");
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", s[0][i]);
    fprintf(chan, "],\"samples_b\":[");
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", s[1][i]);
    fprintf(chan, "]}\n");
    return 0;
}
#endif

/* Intel AMX: tile data needs a per-process permission (arch_prctl ARCH_REQ_XCOMP_PERM for
   XFEATURE_XTILEDATA), inherited by the timing worker. The kernel may make no system call, so the
   driver asks for it; where the CPU has no AMX the request fails and nothing changes. */
static void allow_amx_tiles(void)
{
#if defined(__x86_64__) && defined(SYS_arch_prctl)
    syscall(SYS_arch_prctl, 0x1023, 18);
#endif
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);     /* a dead worker is a record, not a dead driver */
    allow_amx_tiles();
    request r;
    int start = open_channel_and_request(&r);
    if (start)
        return start;
    tensorop_threads = r.threads;
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
    return close_channel(chan, rc);
}
#endif
