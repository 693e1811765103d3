/* The load-to-use latency of this host's L2 and L3, in core cycles: what `memory: host` models the
 * validation device with (harness/measure/model/host_latency.py compiles and runs it once per host).
 *
 *   latency_probe L2_BYTES [L3_BYTES]   ->   one line: "ghz G l2 C [l3 C]"
 *
 * The clock is cycle_clock.h's (a chain of dependent 64-bit multiplies). Each
 * latency is a pointer chase over a random cycle of one pointer per 64-byte line in a buffer of the
 * given size (the caller picks a quarter of L2, and a few times L2 inside L3): every load waits for the
 * one before, so the time per load is the latency of the level the buffer lives in. Best of 300
 * short runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "cycle_clock.h"     /* now(), seconds_per_cycle(): 0 where there is no clock probe */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* seconds per load of a dependent chase through `bytes` of lines in random order */
static double chase(size_t bytes)
{
    size_t n = bytes / 64;
    void **buf = aligned_alloc(64, n * 64);
    size_t *order = malloc(n * sizeof *order);
    if (!buf || !order || n < 2) {
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = next_random() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        buf[order[i] * 8] = &buf[order[(i + 1) % n] * 8];
    long steps = 20000;
    double best = 1e9;
    void **p = &buf[order[0] * 8];
    for (size_t i = 0; i < 2 * n; i++)    /* warm the buffer into its level */
        p = (void **)*p;
    for (int r = 0; r < 300; r++) {       /* short runs, the best: preemption only slows a run */
        double t0 = now();
        for (long i = 0; i < steps; i++)
            p = (void **)*p;
        double t = (now() - t0) / steps;
        if (t < best)
            best = t;
    }
    if (p == NULL)
        puts("");
    free(order);
    free(buf);
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: latency_probe L2_BYTES [L3_BYTES]\n");
        return 2;
    }
    double spc = seconds_per_cycle();
    if (spc <= 0) {
        return 3;
    }
    printf("ghz %.3f", 1e-9 / spc);
    printf(" l2 %.1f", chase(strtoull(argv[1], NULL, 10)) / spc);
    if (argc > 2)
        printf(" l3 %.1f", chase(strtoull(argv[2], NULL, 10)) / spc);
    printf("\n");
    return 0;
}
