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
    void *ref[OP_NIN];      /* the driver's private copy of the inputs: what they must still be after
                               the call, and what the check reads (the kernel can write the shared
                               inputs, and rewrite them to match any public digest) */
    uint64_t seed;
    int shared;
} buffers;

/* A harness-owned library baseline (baselines/tensorop_lib.h) says which library path its calls
   took (routine, ISA, threads) through tensorop_lib_note; in a paired build the partner's is
   tensorop_lib_note_b. Weak: a kernel's build has neither (the object gate lets a kernel define no
   global but its ABI function). Printed into the record as "lib" and "lib_b", JSON-escaped. */
const char *tensorop_lib_note(void) __attribute__((weak));
const char *tensorop_lib_note_b(void) __attribute__((weak));
/* ... and sets its library up before the timing worker is forked (tensorop_lib_init, the partner's
   tensorop_lib_init_b; not in profile mode, where all of a kernel's work must be in the counted
   call): the task's thread count, libraries the library loads at run time (the worker may not open
   files), the ISA path it dispatched to. */
void tensorop_lib_init(int threads) __attribute__((weak));
void tensorop_lib_init_b(int threads) __attribute__((weak));

static void emit_lib_note(const char *key, const char *(*note)(void))
{
    const char *s = note ? note() : NULL;
    if (!s)
        return;
    fprintf(chan, ",\"%s\":\"", key);
    for (int i = 0; s[i] && i < 2048; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') fprintf(chan, "\\%c", ch);
        else if (ch < 0x20 || ch > 0x7e) fputc('?', chan);
        else fputc(ch, chan);
    }
    fputc('"', chan);
}

static void emit_lib_notes(void)
{
    emit_lib_note("lib", tensorop_lib_note);
    emit_lib_note("lib_b", tensorop_lib_note_b);
}

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
    for (int i = 0; i < OP_NIN; i++) {
        b->in[i] = shared ? shared_bytes(b->in_bytes[i]) : xalloc_bytes(b->in_bytes[i]);
        b->ref[i] = xalloc_bytes(b->in_bytes[i]);
    }
    b->out = shared ? shared_bytes(b->out_words * 4) : xalloc_bytes(b->out_words * 4);
}

static void alloc_set(const op_case *c, buffers *b)
{
    alloc_set_in(c, b, 0);
}

static void fill_set(const op_case *c, buffers *b, uint64_t seed)
{
    b->seed = seed;
    op_fill(c, b->ref, seed);             /* the private copy first: nothing else writes it */
    for (int i = 0; i < OP_NIN; i++)
        memcpy(b->in[i], b->ref[i], b->in_bytes[i]);
    poison_words(b->out, b->out_words);
}

static void free_set(buffers *b)
{
    for (int i = 0; i < OP_NIN; i++) {
        b->shared ? shared_free(b->in[i], b->in_bytes[i]) : free(b->in[i]);
        free(b->ref[i]);
    }
    b->shared ? shared_free(b->out, b->out_words * 4) : free(b->out);
}

static void call(op_fn f, const op_case *c, buffers *b)
{
    op_call(f, c, b->in, b->out);
}

/* Inputs unchanged (compared with the driver's private copy, word for word), then two randomized
   projections of the output against the private copy's, drawn now (after the call). */
static verdict verify_call(const op_case *c, const buffers *b, uint64_t draw, double tol, double *scratch)
{
    verdict v = {0, 0.0, ""};
    for (int i = 0; i < OP_NIN; i++)
        if (memcmp(b->in[i], b->ref[i], b->in_bytes[i]) != 0) {
            v.failed = 1;
            v.rel_err = INFINITY;
            snprintf(v.why, sizeof v.why, "the kernel modified its input #%d (inputs are const)", i);
            return v;
        }
    double worst = 0.0;
    for (int rep = 0; rep < 2; rep++) {
        double rel = op_check(c, (void **)b->ref, b->out, draw, rep, scratch);
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

/* A user's program calls a kernel again on the same buffers with a few inputs changed and the
   previous result still in C. A kernel that keeps results across calls (a memo keyed on pointers,
   sizes and a few sampled elements) then returns stale results: the reuse check catches it.
   Here: two 32-bit words of each input replaced by the words at the
   same places of a second fill of the same layout (so every element stays a valid value of its
   type and padding stays padding), at positions drawn from `seed` (fresh in the driver, after
   the previous call returned: the kernel's process cannot know them). Few on purpose: a memo keyed
   on k sampled elements escapes only when a changed word is one of them (about 2k/words per input;
   with one in 256 words changed, a memo sampling 8 of 4096 escaped about once in 16 checks), and a
   single changed word still moves its row or column of the result far beyond the tolerance.
   The driver's private copy follows (written from the second fill, not read back). */
static size_t perturb_inputs(const op_case *c, buffers *b, uint64_t seed)
{
    size_t in_bytes[OP_NIN], out_words, changed = 0;
    void *alt[OP_NIN];
    op_sizes(c, in_bytes, &out_words);
    for (int i = 0; i < OP_NIN; i++)
        alt[i] = xalloc_bytes(in_bytes[i]);
    op_fill(c, alt, seed);
    for (int i = 0; i < OP_NIN; i++) {
        size_t words = in_bytes[i] / 4, n = 2;
        uint32_t *dst = b->in[i], *ref = b->ref[i];
        const uint32_t *src = alt[i];
        for (size_t k = 0; words && k < n; k++) {
            size_t j = (size_t)(splitmix(seed, 101 + (uint64_t)i, k) % words);
            changed += ref[j] != src[j];
            dst[j] = ref[j] = src[j];
        }
        free(alt[i]);
    }
    return changed;
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

typedef struct {
    const request *r;
    buffers *sets;          /* one per case, shared with the worker */
} check_session;

static void check_calls(const worker_plan *p, void *arg)    /* runs in the worker */
{
    check_session *x = arg;
    if (p->which >= 0 && p->which < x->r->ncases)
        call(OP_KERNEL, &x->r->cases[p->which], &x->sets[p->which]);
}

static void emit_crash(const char *mode, const char *kernel, int status);
static double *alloc_scratch(const op_case *c);

/* The check run: every case's kernel call in the worker process (so the driver writing the outputs
   is never the kernel's process), each output written to c<i>.bin for the harness's full check;
   then the same call again on the same buffers with a few inputs changed (perturb_inputs), whose
   output the driver verifies itself: a kernel that keeps results across calls fails here. */
static int run_check(const request *r)
{
    FILE *out[MAX_CASES];
    for (int i = 0; i < r->ncases; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d.bin", i);
        if (!(out[i] = fopen(name, "wb"))) {
            fprintf(stderr, "tensorop driver: cannot write %s\n", name);
            return 4;
        }
    }
    buffers sets[MAX_CASES];
    for (int i = 0; i < r->ncases; i++) {
        alloc_set_in(&r->cases[i], &sets[i], 1);
        fill_set(&r->cases[i], &sets[i], r->cases[i].seed);
    }
    check_session x = {r, sets};
    worker w;
    if (worker_start(&w, check_calls, &x, NULL, 0) != 0) {
        fprintf(stderr, "tensorop driver: cannot start the worker\n");
        return 3;
    }
    for (int i = 0; i < r->ncases; i++) {
        const op_case *c = &r->cases[i];
        worker_plan plan = {i, 1, {0}};
        if (worker_sample(&w, &plan, now) < 0) {
            int st = 0;
            worker_stop(&w, &st);
            emit_crash("check", "a", st);
            return 0;
        }
        if (fwrite(sets[i].out, 4, sets[i].out_words, out[i]) != sets[i].out_words || fclose(out[i]) != 0) {
            fprintf(stderr, "tensorop driver: cannot write c%d.bin\n", i);
            return 4;
        }
        size_t changed = perturb_inputs(c, &sets[i], fresh_seed());
        if (worker_sample(&w, &plan, now) < 0) {
            int st = 0;
            worker_stop(&w, &st);
            emit_crash("check", "a", st);
            return 0;
        }
        double *scratch = alloc_scratch(c);
        verdict v = verify_call(c, &sets[i], fresh_seed(), r->tol, scratch);
        free(scratch);
        if (v.failed) {
            char why[sizeof v.why];
            snprintf(why, sizeof why, "%s", v.why);
            snprintf(v.why, sizeof v.why, "after %zu input words changed: %s", changed, why);
            emit_failure("check", "a", -2, i, sets[i].seed, &v);
            return 0;
        }
    }
    int st = 0, seccomp = w.seccomp;
    if (worker_stop(&w, &st) < 0 || WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0)) {
        emit_crash("check", "a", st);
        return 0;
    }
    for (int i = 0; i < r->ncases; i++)
        free_set(&sets[i]);
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"check\",\"cases\":%d,\"reuse\":true,"
            "\"seccomp\":%s", OP_NAME, r->ncases, seccomp ? "true" : "false");
    emit_lib_notes();
    fprintf(chan, "}\n");
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

/* noinline, in .tensorop_driver: the QEMU plugin accepts the region markers only when called from
   this function, identified by its address range in the linked program */
__attribute__((noinline, used)) TENSOROP_DRIVER_SECTION static int run_profile(const request *r)
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

/* ---- the timing session: one kernel per worker process, clock and verification here -------- */
typedef struct {
    const op_case *c;
    pool *pool;
    op_fn fn;
} session;

static void session_run(const worker_plan *p, void *arg)    /* runs in the worker */
{
    session *x = arg;
    pool *pl = x->pool;
    for (int j = 0; j < p->ncalls && j < WORKER_MAX_CALLS; j++)
        if (p->sets[j] >= 0 && p->sets[j] < pl->nsets)
            call(x->fn, x->c, &pl->sets[p->sets[j]]);
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

/* One kernel's worker and buffers. In a paired run each kernel has its own worker, which sees only
   its own buffers (the other kernel's are unmapped in it) and is stopped while the other runs. */
typedef struct {
    worker w;
    session ss;
    double handshake_s;
    int started;
    const char *label;       /* "a" or "b" in the records */
    int pausing;             /* paired: stop the worker between its samples */
} timing;

/* The memory of a pool (and of a worker's plan page), as regions another worker must not see. */
static int pool_regions(const pool *p, const worker *w, worker_region *out, int max)
{
    int n = 0;
    for (int i = 0; i < p->nsets; i++) {
        for (int k = 0; k < OP_NIN && n < max; k++)
            out[n++] = (worker_region){p->sets[i].in[k], p->sets[i].in_bytes[k]};
        if (n < max) out[n++] = (worker_region){p->sets[i].out, p->sets[i].out_words * 4};
    }
    if (w && w->plan && n < max) out[n++] = (worker_region){w->plan, sizeof(worker_plan)};
    return n;
}

static int timing_start(timing *t, const op_case *c, pool *pl, op_fn fn, const char *label,
                        const worker_region *forget, int nforget)
{
    t->ss.c = c;
    t->ss.pool = pl;
    t->ss.fn = fn;
    t->label = label;
    if (worker_start(&t->w, session_run, &t->ss, forget, nforget) != 0) {
        fprintf(stderr, "tensorop driver: cannot start the timing worker\n");
        return -1;
    }
    t->started = 1;
    t->handshake_s = handshake(&t->w);
    if (t->pausing && worker_pause(&t->w) != 0) {
        fprintf(stderr, "tensorop driver: cannot stop the timing worker\n");
        return -1;
    }
    return 0;
}

/* One round of the worker: the calls of `plan` timed from "go" to "done" (the worker resumed
   before and stopped after when pausing). Negative: the worker died or answered out of turn. */
static double run_worker(timing *t, const worker_plan *plan)
{
    worker_resume(&t->w);
    double d = worker_sample(&t->w, plan, now);
    if (d >= 0 && t->pausing && worker_pause(&t->w) != 0)
        d = -1.0;
    return d;
}

static void worker_died(timing *t, const char *mode)
{
    int st = 0;
    worker_stop(&t->w, &st);
    t->started = 0;
    emit_crash(mode, t->label, st);
}

/* One timed sample over `calls` sets starting at `first`, each set freshly filled (from `seeds`,
   drawn fresh for this sample) and verified after. Returns the seconds per call, or -1 with the
   record already written (a wrong output or a dead worker). */
static double timed_sample(timing *t, const request *r, long n, int first, int calls, const uint64_t *seeds,
                           unsigned char *fbuf, size_t flush_bytes, const char *mode, double *max_rel)
{
    const op_case *c = t->ss.c;
    pool *pl = t->ss.pool;
    worker_plan plan = {0, calls, {0}};
    for (int j = 0; j < calls; j++) {
        plan.sets[j] = (first + j) % pl->nsets;
        fill_set(c, &pl->sets[plan.sets[j]], seeds[j]);
    }
    if (flush_bytes) flush_caches(fbuf, flush_bytes);
    double d = run_worker(t, &plan);
    if (d < 0) {
        worker_died(t, mode);
        return -1.0;
    }
    for (int j = 0; j < calls; j++) {
        buffers *b = &pl->sets[plan.sets[j]];
        verdict v = verify_call(c, b, fresh_seed(), r->tol, pl->scratch);
        if (v.failed) {
            emit_failure(mode, t->label, n, j, b->seed, &v);
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

/* The reuse check on set `set` (which holds a verified call's inputs and output): a few inputs
   changed (perturb_inputs), the kernel called again on the same buffers with its previous result
   still in C, the output verified. 0 when it is right; -1 with the record written. Untimed. */
static int reuse_check(timing *t, const request *r, int set, const char *mode)
{
    const op_case *c = t->ss.c;
    buffers *b = &t->ss.pool->sets[set];
    size_t changed = perturb_inputs(c, b, fresh_seed());
    worker_plan plan = {0, 1, {set}};
    if (run_worker(t, &plan) < 0) {
        worker_died(t, mode);
        return -1;
    }
    verdict v = verify_call(c, b, fresh_seed(), r->tol, t->ss.pool->scratch);
    if (v.failed) {
        char why[sizeof v.why];
        snprintf(why, sizeof why, "%s", v.why);
        snprintf(v.why, sizeof v.why, "after %zu input words changed: %s", changed, why);
        emit_failure(mode, t->label, -2, 0, b->seed, &v);
        return -1;
    }
    return 0;
}

static double timing_stop(timing *t, int *crashed)
{
    int st = 0;
    double cpu = t->started ? worker_stop(&t->w, &st) : 0.0;
    t->started = 0;
    *crashed = (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0)) ? st : 0;
    return cpu;
}

/* The end of a timed run: the sampling and wall times, the CPU time (the workers' added once they
   are stopped), their seccomp state and handshake time; -1 when a worker crashed (the crash record
   is written and the run writes no other). */
typedef struct { double sampling, wall, cpu, handshake_s; int seccomp; } run_end;
static int end_timing(timing *ts, int nk, const char *mode, double start, double wall0, double cpu0, double cpu_w,
                      run_end *e)
{
    e->sampling = now() - start;
    e->seccomp = 1;
    e->handshake_s = 0.0;
    for (int k = 0; k < nk; k++) {
        int crashed = 0;
        e->seccomp &= ts[k].w.seccomp;
        if (ts[k].handshake_s > e->handshake_s) e->handshake_s = ts[k].handshake_s;
        cpu_w += timing_stop(&ts[k], &crashed);
        if (crashed) { emit_crash(mode, ts[k].label, crashed); return -1; }
    }
    e->wall = now() - wall0;
    e->cpu = cpu_seconds() - cpu0 + cpu_w;
    return 0;
}

static void draw_seeds(uint64_t *seeds, int n)
{
    for (int j = 0; j < n; j++)
        seeds[j] = fresh_seed();
}

/* Warm-up (verified, discarded; the first call of each kernel followed by its reuse check) and
   calibration; returns calls per sample, 0 on failure (the record written). */
static int warm_up(timing *ts, int nk, const request *r, const char *mode)
{
    double t_call = 0;
    uint64_t seed[1];
    for (int i = 0; i < (r->warmup > 0 ? r->warmup : 1); i++)
        for (int k = 0; k < nk; k++) {
            draw_seeds(seed, 1);
            double d = timed_sample(&ts[k], r, -1 - i, i % 2, 1, seed, NULL, 0, mode, NULL);
            if (d < 0) return 0;
            if ((k == 0 && i == 0) || d < t_call) t_call = d;
            if (i == 0 && reuse_check(&ts[k], r, 0, mode) != 0) return 0;
        }
    return calls_per_sample(r, ts[0].ss.c, t_call);
}

static int run_time(const request *r)
{
    const op_case *c = &r->cases[0];
    pool p;
    timing t = {0};
    int crashed = 0;
    double wall0 = now(), cpu0 = cpu_seconds(), cpu_w = 0;
    make_pool(c, 2, &p);
    if (timing_start(&t, c, &p, OP_KERNEL, "a", NULL, 0) != 0) return 3;
    int calls = warm_up(&t, 1, r, "time");
    if (!calls) return 0;
    if (calls > 2) {                       /* more sets: a new worker that sees them */
        cpu_w += timing_stop(&t, &crashed);
        free_pool(&p);
        make_pool(c, calls, &p);
        if (timing_start(&t, c, &p, OP_KERNEL, "a", NULL, 0) != 0) return 3;
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
    /* the sample checked in full, drawn here, after the last worker was forked: the request's pick=
       sits in the worker's copy of this process's memory (red team 9 read it off the stack) */
    long pick = (long)((fresh_seed() ^ (uint64_t)r->pick) % (uint64_t)r->max_samples);
    uint64_t seeds[WORKER_MAX_CALLS];
    while (n < r->max_samples) {
        int first = (n * calls) % p.nsets;
        draw_seeds(seeds, calls);
        double d = timed_sample(&t, r, n, first, calls, seeds, fbuf, flush_bytes, "time", &max_rel);
        if (d < 0) return 0;
        if (n == pick || (!picked && n + 1 == r->max_samples)) {
            /* one of the sample's calls, drawn now: the kernel cannot know which output is read */
            buffers *b = &p.sets[(first + (int)(fresh_seed() % (uint64_t)calls)) % p.nsets];
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
        buffers *b = &p.sets[((n - 1) * calls + (int)(fresh_seed() % (uint64_t)calls)) % p.nsets];
        if (write_output("pick.bin", b->out, b->out_words * 4) != 0) return 4;
        pick_seed = b->seed;
        pick = n - 1;
    }
    double sampled = now() - start;
    /* and once more after the timed samples: a kernel that starts keeping state late is caught too */
    if (reuse_check(&t, r, ((n - 1) * calls + calls - 1) % p.nsets, "time") != 0) return 0;   /* the last call's set */
    run_end e;
    if (end_timing(&t, 1, "time", start, wall0, cpu0, cpu_w, &e) != 0) return 0;
    e.sampling = sampled;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"time\",\"verified\":true,\"inner_loops\":%d,"
            "\"warmup\":%d,\"flushed\":%s,\"stop\":\"%s\",\"sampling_s\":%.6f,\"wall_s\":%.6f,\"cpu_s\":%.6f,"
            "\"handshake_s\":%.3e,\"seccomp\":%s,\"freivalds_rel_err\":%.3e,\"calls\":%d,\"reuse\":true,"
            "\"pick\":{\"sample\":%ld,\"seed\":%llu},\"samples\":[",
            OP_NAME, calls, r->warmup, flush_bytes ? "true" : "false", stop, e.sampling, e.wall, e.cpu, e.handshake_s,
            e.seccomp ? "true" : "false", max_rel, n * calls, pick, (unsigned long long)pick_seed);
    for (int i = 0; i < n; i++)
        fprintf(chan, "%s%.9e", i ? "," : "", s[i]);
    fprintf(chan, "]");
    emit_lib_notes();
    fprintf(chan, "}\n");
    return 0;
}

#ifdef TENSOROP_PAIR
/* Two workers, one per kernel: B's worker is forked after A's pool exists and unmaps it (and A's
   plan page) before running any kernel code; A's worker was forked before B's pool existed. */
static int start_pair(timing t[2], const op_case *c, pool p[2], int calls)
{
    worker_region forget[4 * (MAX_SETS_LIMIT + 1) * (OP_NIN + 1)];
    make_pool(c, calls, &p[0]);
    t[0].pausing = t[1].pausing = 1;
    if (timing_start(&t[0], c, &p[0], OP_KERNEL, "a", NULL, 0) != 0) return -1;
    make_pool(c, calls, &p[1]);
    int n = pool_regions(&p[0], &t[0].w, forget, (int)(sizeof forget / sizeof forget[0]));
    if (timing_start(&t[1], c, &p[1], OP_KERNEL_B, "b", forget, n) != 0) return -1;
    return 0;
}

/* Paired, interleaved timing of kernel A (OP_KERNEL) and kernel B (OP_KERNEL_B), each in its own
   worker: each sample times both on the same fresh inputs (the same seeds), A first on even
   samples and B first on odd ones; every call is verified. */
static int run_pair(const request *r)
{
    const op_case *c = &r->cases[0];
    pool p[2];
    timing t[2] = {{0}, {0}};
    int crashed = 0;
    double wall0 = now(), cpu0 = cpu_seconds(), cpu_w = 0;
    if (start_pair(t, c, p, 2) != 0) return 3;
    int calls = warm_up(t, 2, r, "pair");
    if (!calls) return 0;
    if (calls > 2) {
        for (int k = 0; k < 2; k++) { cpu_w += timing_stop(&t[k], &crashed); free_pool(&p[k]); }
        if (start_pair(t, c, p, calls) != 0) return 3;
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
            double d = timed_sample(&t[k], r, n, 0, calls, seeds, NULL, 0, "pair", NULL);
            if (d < 0) return 0;
            s[k][n] = d;
        }
        n++;
        if (out_of_time(r, start, n)) { stop = "max_time"; break; }
    }
    double sampled = now() - start;
    for (int k = 0; k < 2; k++)                 /* on the set of each kernel's last call */
        if (reuse_check(&t[k], r, (calls - 1) % p[k].nsets, "pair") != 0) return 0;
    run_end e;
    if (end_timing(t, 2, "pair", start, wall0, cpu0, cpu_w, &e) != 0) return 0;
    e.sampling = sampled;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"pair\",\"verified\":true,\"inner_loops\":%d,"
            "\"stop\":\"%s\",\"sampling_s\":%.6f,\"wall_s\":%.6f,\"cpu_s\":%.6f,\"handshake_s\":%.3e,"
            "\"seccomp\":%s,\"workers\":2,\"reuse\":true,\"samples_a\":[", OP_NAME, calls, stop, e.sampling, e.wall,
            e.cpu, e.handshake_s, e.seccomp ? "true" : "false");
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", s[0][i]);
    fprintf(chan, "],\"samples_b\":[");
    for (int i = 0; i < n; i++) fprintf(chan, "%s%.9e", i ? "," : "", s[1][i]);
    fprintf(chan, "]");
    emit_lib_notes();
    fprintf(chan, "}\n");
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
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);   /* no worker reads or writes this process (tensorop_worker.h) */
    allow_amx_tiles();
    request r;
    int start = open_channel_and_request(&r);
    if (start)
        return start;
    tensorop_threads = r.threads;
    if (strcmp(r.mode, "profile")) {
        if (tensorop_lib_init) tensorop_lib_init(r.threads);
        if (tensorop_lib_init_b) tensorop_lib_init_b(r.threads);
    }
    int rc;
    if (!strcmp(r.mode, "check")) rc = run_check(&r);
    else if (!strcmp(r.mode, "time")) rc = run_time(&r);
    else if (!strcmp(r.mode, "profile")) {
        /* after the counted call nothing runs but the driver's own code: no exit handlers, no
           destructors (a kernel that registered one with __cxa_atexit ran code after the count) */
        rc = close_channel(chan, run_profile(&r));
        fflush(NULL);
        _exit(rc);
    }
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
