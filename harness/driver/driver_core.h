/* tensorop timing-driver core (harness-owned, never LLM-written): the plumbing every operator's
 * driver shares. An op's driver (e.g. conv2d_driver.c) is
 *
 *     #include "driver_core.h"      utilities: inputs, poison, verdicts, clocks
 *     ... the op's part ...          case type, parsing, sizes, input fill, call, randomized check
 *     #include "driver_modes.h"     request, modes check/time/profile/pair, main
 *
 * The op's part defines (all static):
 *   OP_NAME, OP_NIN (number of input arrays), OP_KERNEL and OP_KERNEL_B (the ABI function and,
 *   in TENSOROP_PAIR builds, its renamed partner), typedef op_fn, typedef op_case (with a
 *   `uint64_t seed` member) and:
 *     int    op_parse_case(const char *s, op_case *c)          0 when valid
 *     void   op_sizes(const op_case *c, size_t in_bytes[], size_t *out_words)
 *     void   op_fill(const op_case *c, void *in[], uint64_t seed)   inputs (padding included)
 *     void   op_call(op_fn f, const op_case *c, void *in[], void *out)
 *     size_t op_scratch_doubles(const op_case *c)
 *     double op_check(const op_case *c, void *in[], const void *out, uint64_t draw, int rep,
 *                     double *scratch)   relative error of one randomized projection (NaN sticks)
 *
 * Trust (docs/THREAT_MODEL.md) is the same as gemm_driver.c's: the request on stdin, ONE JSON record on
 * fd 3, outputs poisoned with NaN before every call, fresh inputs per call in rotating buffer
 * sets, every timed call verified here (inputs unchanged, op_check twice with vectors drawn
 * after the call), one harness-chosen sample written to pick.bin for the full NumPy check.
 */
#ifndef TENSOROP_DRIVER_CORE_H
#define TENSOROP_DRIVER_CORE_H
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

#include "tensorop_worker.h"
#include "tensorop_driver_common.h"   /* verdict, clocks, median CI; MAX_SETS_LIMIT, MAX_CASES */

#define POISON_BITS 0x7FC0DEADu     /* outputs before the kernel runs: "never written" */
#define PAD_BITS 0x7FC0BEEFu        /* padding of inputs */
#define CHANNEL_FD 3

/* The counting markers and the profiling function that calls them live in a section of their own
 * (.tensorop_driver), which no kernel object may have (the object gate's `sections` rule): the
 * harness reads their addresses from the linked program and the QEMU plugin accepts a marker only
 * at that address, called from that function (docs/THREAT_MODEL.md). */
#define TENSOROP_DRIVER_SECTION __attribute__((section(".tensorop_driver")))
__attribute__((noinline, used)) TENSOROP_DRIVER_SECTION static void tensorop_region_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline, used)) TENSOROP_DRIVER_SECTION static void tensorop_region_end(void) { __asm__ volatile("" ::: "memory"); }

static FILE *chan;

static uint64_t splitmix(uint64_t seed, uint64_t stream, uint64_t idx)
{
    uint64_t z = seed + stream * 0x632BE59BD9B4E019ull + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* float in [-1, 1) with 23 random bits (harness/ops/inputs.py: uniform) */
static inline float uniform_pm1(uint64_t seed, uint64_t stream, uint64_t idx)
{
    return (float)((int64_t)(splitmix(seed, stream, idx) >> 40) - 8388608) * (1.0f / 8388608.0f);
}

/* +-1 from the top bit: the randomized checks' projection vectors */
static double sign_pm1(uint64_t draw, uint64_t stream, uint64_t idx)
{
    return (splitmix(draw, stream, idx) >> 63) ? 1.0 : -1.0;
}

/* The seed of one timed call's inputs: drawn fresh in the driver (the kernel's worker process
   cannot predict it from anything it holds), and reported for the harness's check of the picked
   sample. Falls back to the clock mixed through splitmix where getrandom is unavailable. */
static uint64_t fresh_seed(void)
{
    uint64_t s = 0;
#if defined(SYS_getrandom)
    if (syscall(SYS_getrandom, &s, sizeof s, 0) == (long)sizeof s)
        return s;
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    static uint64_t n;
    return splitmix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30), 13, n++);
}

static inline float nan_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void *xalloc_bytes(size_t bytes)
{
    void *p = NULL;
    if (!bytes) bytes = 1;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0) {
        fprintf(stderr, "tensorop driver: out of memory (%zu bytes)\n", bytes);
        exit(3);
    }
    return p;
}

static void poison_words(void *X, size_t nwords)
{
    uint32_t *w = X;
    for (size_t i = 0; i < nwords; i++)
        w[i] = POISON_BITS;
}

static int write_output(const char *name, const void *X, size_t nbytes)
{
    FILE *f = fopen(name, "wb");
    if (!f || fwrite(X, 1, nbytes, f) != nbytes || fclose(f) != 0) {
        fprintf(stderr, "tensorop driver: cannot write %s\n", name);
        return -1;
    }
    return 0;
}
#endif
