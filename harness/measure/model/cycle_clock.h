/* The core clock of the cycle model's host probes (latency_probe.c here; the micro-benchmarks
 * benchmarks/l1_miss_cost.c and store_commit.c): wall time, and the seconds one core cycle takes,
 * measured by a chain of dependent 64-bit multiplies (3 cycles each on every x86-64 core since
 * Nehalem and Zen; `add reg, imm` chains do not work for this on Golden Cove, which folds them).
 * The best of 400 short runs: a busy machine (a parallel test run, a co-tenant) preempts some of
 * them, and only slows them. Elsewhere than x86-64 seconds_per_cycle() is 0: no clock probe. */
#ifndef TENSOROP_CYCLE_CLOCK_H
#define TENSOROP_CYCLE_CLOCK_H

#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double seconds_per_cycle(void)
{
#if defined(__x86_64__)
    long x = 3, n = 20000;           /* 1.4 million cycles a run: most runs finish in one time slice */
    double best = 1e9;
    for (int r = 0; r < 400; r++) {
        double t0 = now();
        for (long i = 0; i < n; i++)
            __asm__ volatile("imul %0,%0\n imul %0,%0\n imul %0,%0\n imul %0,%0\n"
                             "imul %0,%0\n imul %0,%0\n imul %0,%0\n imul %0,%0" : "+r"(x));
        double t = (now() - t0) / n / 24;
        best = t < best ? t : best;
    }
    return best;
#else
    return 0;
#endif
}

#endif
