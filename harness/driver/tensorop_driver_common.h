/* What every tensorop timing driver shares, CPU (driver_core.h, driver_modes.h) and CUDA
 * (tensorop_cuda_driver.h, tensorop_cuda_modes.h): plain C that gcc, clang and nvcc all compile.
 *
 *   verdict, now(), cpu_seconds(), median_ci_rel()      included by the drivers' core headers
 *   request, read_request()                              with TENSOROP_DRIVER_REQUEST defined, after the
 *                                                        op's op_case and op_parse_case (the modes headers)
 *
 * Request lines (key=value): mode=, case= (the op's), tol= warmup= min_sample_s= min_samples=
 * max_samples= max_time_s= rel_ci= flush_bytes= max_sets= pick= threads=.
 */
#ifndef TENSOROP_DRIVER_COMMON_H
#define TENSOROP_DRIVER_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_SETS_LIMIT 64           /* input sets one sample may rotate through */
#define MAX_CASES 32

typedef struct {
    int failed;
    double rel_err;
    char why[200];
} verdict;

/* A double as a JSON value in buf (at least 32 bytes): JSON has no NaN or infinity, so null. */
static const char *json_double(double v, char *buf)
{
    if (isfinite(v)) snprintf(buf, 32, "%.6e", v);
    else snprintf(buf, 32, "null");
    return buf;
}

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Half the width of the median's distribution-free 95% interval, relative to the median. */
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

/* The run's exit status once the result channel is flushed (4: it cannot be written). */
static int close_channel(FILE *ch, int rc)
{
    if (fflush(ch) != 0) {
        fprintf(stderr, "tensorop driver: cannot write the result channel\n");
        return 4;
    }
    return rc;
}

#endif /* TENSOROP_DRIVER_COMMON_H */

/* ---- the request (needs the op's op_case and op_parse_case) -------------------------------- */
#if defined(TENSOROP_DRIVER_REQUEST) && !defined(TENSOROP_DRIVER_REQUEST_DONE)
#define TENSOROP_DRIVER_REQUEST_DONE

#ifndef TENSOROP_DEFAULT_MIN_SAMPLE_S
#define TENSOROP_DEFAULT_MIN_SAMPLE_S 0.002
#endif

typedef struct {
    char mode[16];
    op_case cases[MAX_CASES];
    int ncases;
    double tol, min_sample_s, max_time_s, rel_ci;
    int warmup, min_samples, max_samples, max_sets, threads;
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
    r->min_sample_s = TENSOROP_DEFAULT_MIN_SAMPLE_S;
    r->min_samples = 10;
    r->max_samples = 200;
    r->max_time_s = 5.0;
    r->rel_ci = 0.01;
    r->max_sets = 16;
    r->threads = 1;
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
        else if (!strcmp(k, "threads")) r->threads = atoi(v) > 1 ? atoi(v) : 1;
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

/* The sampling budget is spent: max_time_s passed and at least min(min_samples, 3) samples taken. */
static int out_of_time(const request *r, double start, int n)
{
    return now() - start >= r->max_time_s && n >= (r->min_samples < 3 ? r->min_samples : 3);
}

/* A driver's start: the result channel (fd CHANNEL_FD, opened by the harness before the run) into
   the driver's `chan`, then the request from stdin. 0 when both are there, else the driver's exit
   status: 5 no result channel, 2 a bad request. */
static int open_channel_and_request(request *r)
{
    chan = fdopen(CHANNEL_FD, "w");
    if (!chan) {
        fprintf(stderr, "tensorop driver: no result channel on fd %d (run it through tensorop)\n", CHANNEL_FD);
        return 5;
    }
    return read_request(r) != 0 ? 2 : 0;
}
#endif
