/* tensorop timing-driver core, part 2: buffers, request, modes check/time/profile/pair and main,
 * on top of the op's part (see driver_core.h). Same protocol as gemm_driver.c:
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
} buffers;

static void alloc_set(const op_case *c, buffers *b)
{
    op_sizes(c, b->in_bytes, &b->out_words);
    for (int i = 0; i < OP_NIN; i++)
        b->in[i] = xalloc_bytes(b->in_bytes[i]);
    b->out = xalloc_bytes(b->out_words * 4);
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
        free(b->in[i]);
    free(b->out);
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
            snprintf(v.why, sizeof v.why, "relative error %.3e > %.1e (output wrong or incomplete)", rel, tol);
            return v;
        }
    }
    v.rel_err = worst;
    return v;
}

#define MAX_CASES 32
typedef struct {
    char mode[16];
    op_case cases[MAX_CASES];
    int ncases;
    double tol, min_sample_s, max_time_s, rel_ci;
    int warmup, min_samples, max_samples, max_sets;
    long pick;
    size_t flush_bytes;
} request;

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
            if (r->ncases >= MAX_CASES || op_parse_case(v, &r->cases[r->ncases]) != 0) {
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
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"%s\",\"verified\":false,\"kernel\":\"%s\","
            "\"failed\":{\"sample\":%ld,\"call\":%d,\"seed\":%llu,\"rel_err\":%.6e,\"why\":\"%s\"}}\n",  /* rel_err: a JSON number (NaN/inf -> 1e308) */
            OP_NAME, mode, kernel, sample, callno, (unsigned long long)seed, isfinite(v->rel_err) ? v->rel_err : 1e308, v->why);
}

static int run_check(const request *r)
{
    for (int i = 0; i < r->ncases; i++) {
        const op_case *c = &r->cases[i];
        buffers b;
        alloc_set(c, &b);
        fill_set(c, &b, c->seed);
        call(OP_KERNEL, c, &b);
        char name[32];
        snprintf(name, sizeof name, "c%d.bin", i);
        if (write_output(name, b.out, b.out_words * 4) != 0)
            return 4;
        free_set(&b);
    }
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"check\",\"cases\":%d}\n", OP_NAME, r->ncases);
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

static int run_profile(const request *r)
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
        alloc_set(c, &p->sets[i]);
}

static void free_pool(pool *p)
{
    for (int i = 0; i < p->nsets; i++)
        free_set(&p->sets[i]);
    free(p->sets);
    free(p->scratch);
}

static int calls_per_sample(const request *r, const buffers *b, double t_call)
{
    double set_bytes = 4.0 * (double)b->out_words;
    for (int i = 0; i < OP_NIN; i++)
        set_bytes += (double)b->in_bytes[i];
    int by_mem = (int)(256.0 * 1024 * 1024 / (set_bytes > 1 ? set_bytes : 1));
    int want = t_call > 0 ? (int)ceil(r->min_sample_s / t_call) : r->max_sets;
    if (want > r->max_sets) want = r->max_sets;
    if (want > by_mem) want = by_mem;
    return want < 1 ? 1 : want;
}

static int run_time(const request *r)
{
    const op_case *c = &r->cases[0];
    pool p;
    verdict v;
    make_pool(c, 2, &p);
    double t_call = 0;
    for (int i = 0; i < (r->warmup > 0 ? r->warmup : 1); i++) {
        buffers *b = &p.sets[i % 2];
        fill_set(c, b, sample_seed(c->seed, 1000000 + i, 0));
        double t0 = now();
        call(OP_KERNEL, c, b);
        t_call = now() - t0;
        v = verify_call(c, b, b->seed ^ 0xC0FFEEull, r->tol, p.scratch);
        if (v.failed) {
            emit_failure("time", "a", -1, i, b->seed, &v);
            return 0;
        }
    }
    int calls = calls_per_sample(r, &p.sets[0], t_call);
    if (calls > 2) {
        free_pool(&p);
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
    double *scr = malloc(sizeof(double) * (size_t)r->max_samples);
    if (!s || !scr) return 3;
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
            call(OP_KERNEL, c, &p.sets[(first + j) % p.nsets]);
        double t = now() - t0;
        for (int j = 0; j < calls; j++) {
            buffers *b = &p.sets[(first + j) % p.nsets];
            v = verify_call(c, b, b->seed ^ 0xC0FFEEull, r->tol, p.scratch);
            if (v.failed) {
                emit_failure("time", "a", n, j, b->seed, &v);
                return 0;
            }
            if (v.rel_err > max_rel) max_rel = v.rel_err;
        }
        if (n == pick || (!picked && n + 1 == r->max_samples)) {
            buffers *b = &p.sets[first];
            if (write_output("pick.bin", b->out, b->out_words * 4) != 0) return 4;
            picked = 1;
            pick_seed = b->seed;
            pick = n;
        }
        s[n++] = t / calls;
        if (n >= r->min_samples && median_ci_rel(s, n, scr) <= r->rel_ci) { stop = "ci"; break; }
        if (now() - start >= r->max_time_s && n >= (r->min_samples < 3 ? r->min_samples : 3)) { stop = "max_time"; break; }
    }
    if (!picked) {
        buffers *b = &p.sets[((n - 1) * calls) % p.nsets];
        if (write_output("pick.bin", b->out, b->out_words * 4) != 0) return 4;
        pick_seed = b->seed;
        pick = n - 1;
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"time\",\"verified\":true,\"inner_loops\":%d,"
            "\"warmup\":%d,\"flushed\":%s,\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,"
            "\"freivalds_rel_err\":%.3e,\"calls\":%d,\"pick\":{\"sample\":%ld,\"seed\":%llu},\"samples\":[",
            OP_NAME, calls, r->warmup, flush_bytes ? "true" : "false", stop, wall, cpu, max_rel, n * calls, pick,
            (unsigned long long)pick_seed);
    for (int i = 0; i < n; i++)
        fprintf(chan, "%s%.9e", i ? "," : "", s[i]);
    fprintf(chan, "]}\n");
    return 0;
}

#ifdef TENSOROP_PAIR
static int run_pair(const request *r)
{
    const op_case *c = &r->cases[0];
    op_fn fn[2] = {OP_KERNEL, OP_KERNEL_B};
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
            v = verify_call(c, b, b->seed ^ 0xC0FFEEull, r->tol, p[k].scratch);
            if (v.failed) { emit_failure("pair", label[k], -1, i, b->seed, &v); return 0; }
        }
    }
    int calls = calls_per_sample(r, &p[0].sets[0], t_call);
    if (calls > 2)
        for (int k = 0; k < 2; k++) {
            free_pool(&p[k]);
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
                v = verify_call(c, b, b->seed ^ 0xC0FFEEull, r->tol, p[k].scratch);
                if (v.failed) { emit_failure("pair", label[k], n, j, b->seed, &v); return 0; }
            }
        }
        n++;
        if (now() - start >= r->max_time_s && n >= (r->min_samples < 3 ? r->min_samples : 3)) { stop = "max_time"; break; }
    }
    double wall = now() - start, cpu = cpu_seconds() - cpu0;
    fprintf(chan, "{\"tensorop\":\"driver\",\"op\":\"%s\",\"mode\":\"pair\",\"verified\":true,\"inner_loops\":%d,"
            "\"stop\":\"%s\",\"sampling_s\":%.6f,\"cpu_s\":%.6f,\"samples_a\":[", OP_NAME, calls, stop, wall, cpu);
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
#endif
