/* The load-to-use latency of this host's L2 and L3, in core cycles: what `memory: host` models the
 * validation device with (harness/measure/model/host_latency.py compiles and runs it once per host).
 *
 *   latency_probe L2_BYTES [L3_BYTES]   ->   one line: "ghz G l2 C [l3 C]"
 *
 * The clock comes from a chain of dependent 64-bit multiplies (3 cycles each on every x86-64 core
 * since Nehalem and Zen; `add reg, imm` chains do not work on Golden Cove, which folds them). Each
 * latency is a pointer chase over a random cycle of one pointer per 64-byte line in a buffer of the
 * given size (the caller picks a quarter of L2, and a few times L2 inside L3): every load waits for the
 * one before, so the time per load is the latency of the level the buffer lives in. Best of 5. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    long x = 3, n = 4000000;
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (long i = 0; i < n; i++)
            __asm__ volatile("imul %0,%0\n imul %0,%0\n imul %0,%0\n imul %0,%0\n"
                             "imul %0,%0\n imul %0,%0\n imul %0,%0\n imul %0,%0" : "+r"(x));
        double t = (now() - t0) / n / 24;
        best = t < best ? t : best;
    }
    return best;
#else
    return 0;   /* no clock probe for this architecture: the caller keeps the table's latencies */
#endif
}

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
    long steps = 2000000;
    double best = 1e9;
    void **p = &buf[order[0] * 8];
    for (int r = 0; r < 6; r++) {
        double t0 = now();
        for (long i = 0; i < steps; i++)
            p = (void **)*p;
        double t = (now() - t0) / steps;
        if (r > 0 && t < best)            /* the first pass warms the buffer into its level */
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
