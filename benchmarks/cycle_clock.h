/* The clock of the cycle-cost micro-benchmarks (l1_miss_cost.c, store_commit.c): wall time and the
 * seconds one core cycle takes, measured by a chain of dependent 64-bit multiplies (3 cycles each on
 * every Intel core since Nehalem; `add reg, imm` chains do not work for this on Golden Cove, which
 * folds them). x86-64 only; include it from the benchmark's own directory. */
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
    long x = 3, n = 20000000;
    double t0 = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("imul %0,%0\n imul %0,%0\n imul %0,%0\n imul %0,%0\n"
                         "imul %0,%0\n imul %0,%0\n imul %0,%0\n imul %0,%0" : "+r"(x));
    return (now() - t0) / n / 24;
}

#endif
