/* How fast this host writes stores into L1: the evidence behind the cycle model's "L1 stores" term
 * (docs/CYCLE_MODEL.md, "Stores write L1 one line per cycle"). x86-64 with AVX2 only.
 *
 *   clang -O2 -march=haswell benchmarks/store_commit.c -o /tmp/store_commit && /tmp/store_commit
 *
 * Each loop step stores four 256-bit vectors; all data stays in L1 (four rows of C, 1 KiB apart,
 * 256 floats each, and 16 B rows). The clock is harness/measure/model/cycle_clock.h's (a chain
 * of dependent 64-bit multiplies), every figure the best of 7 runs. A core that writes two stores per cycle to any lines
 * would run the "four lines" loop in 2 cycles per step; Intel's cores since Ice Lake write two per
 * cycle only when both go to one line, so it takes 4 and more, and "two lines" 2. The last two
 * loops are ikj_tiled_i4's step (kernels/validation/heldout2): as clang compiles it (indexed
 * addresses) and with simple ones: both are bound by their four stores, where llvm-mca says 3.7. */
#include <stdio.h>
#include <stdlib.h>

#include "../harness/measure/model/cycle_clock.h"

#define LDC 256             /* floats: rows 1 KiB apart */
#define N 256               /* floats per row used: 32 steps of 8 */
#define SETUP "vbroadcastss (%[a]), %%ymm4\n vmovaps %%ymm4, %%ymm5\n vmovaps %%ymm4, %%ymm6\n vmovaps %%ymm4, %%ymm7\n"
#define CLOBBER "memory", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9"

/* four stores, one to each row: four lines per step */
static void four_lines(const float *b, float *c, long n, const float *a)
{
    __asm__ volatile(SETUP "1:\n"
        "vmovups (%[b]), %%ymm8\n vmulps %%ymm8, %%ymm4, %%ymm9\n vmovups %%ymm9, (%[c])\n"
        "vmulps %%ymm8, %%ymm5, %%ymm9\n vmovups %%ymm9, 1024(%[c])\n"
        "vmulps %%ymm8, %%ymm6, %%ymm9\n vmovups %%ymm9, 2048(%[c])\n"
        "vmulps %%ymm8, %%ymm7, %%ymm9\n vmovups %%ymm9, 3072(%[c])\n"
        "addq $32, %[b]\n addq $32, %[c]\n subq $8, %[n]\n jne 1b\n"
        : [b] "+r"(b), [c] "+r"(c), [n] "+r"(n) : [a] "r"(a) : CLOBBER);
}

/* four stores, two to each of two rows back to back: two lines per step */
static void two_lines(const float *b, float *c, long n, const float *a)
{
    __asm__ volatile(SETUP "1:\n"
        "vmovups (%[b]), %%ymm8\n vmulps %%ymm8, %%ymm4, %%ymm9\n vmovups %%ymm9, (%[c])\n"
        "vmulps %%ymm8, %%ymm5, %%ymm9\n vmovups %%ymm9, 32(%[c])\n"
        "vmulps %%ymm8, %%ymm6, %%ymm9\n vmovups %%ymm9, 1024(%[c])\n"
        "vmulps %%ymm8, %%ymm7, %%ymm9\n vmovups %%ymm9, 1056(%[c])\n"
        "addq $64, %[b]\n addq $64, %[c]\n subq $16, %[n]\n jne 1b\n"
        : [b] "+r"(b), [c] "+r"(c), [n] "+r"(n) : [a] "r"(a) : CLOBBER);
}

/* ikj_tiled_i4's step as clang -O3 -march=haswell compiles it: load B, then per row load C, FMA,
 * store C (rows at c, c + ldc, c + 2 ldc, c + 3 ldc through index registers) */
static void tiled_i4_indexed(const float *b, float *c, long n, const float *a)
{
    long l = LDC, l3 = 3 * LDC * 4;
    __asm__ volatile(SETUP "1:\n"
        "vmovups (%[b]), %%ymm8\n vmovups (%[c]), %%ymm9\n vfmadd231ps %%ymm8, %%ymm4, %%ymm9\n vmovups %%ymm9, (%[c])\n"
        "vmovups (%[c],%[l],4), %%ymm9\n vfmadd231ps %%ymm8, %%ymm5, %%ymm9\n vmovups %%ymm9, (%[c],%[l],4)\n"
        "vmovups (%[c],%[l],8), %%ymm9\n vfmadd231ps %%ymm8, %%ymm6, %%ymm9\n vmovups %%ymm9, (%[c],%[l],8)\n"
        "vfmadd213ps (%[c],%[l3]), %%ymm7, %%ymm8\n vmovups %%ymm8, (%[c],%[l3])\n"
        "addq $32, %[b]\n addq $32, %[c]\n addq $-8, %[n]\n jne 1b\n"
        : [b] "+r"(b), [c] "+r"(c), [n] "+r"(n) : [l] "r"(l), [l3] "r"(l3), [a] "r"(a) : CLOBBER);
}

/* the same step with simple addresses (one pointer per row) */
static void tiled_i4_simple(const float *b, float *c, long n, const float *a)
{
    float *c1 = c + LDC, *c2 = c + 2 * LDC, *c3 = c + 3 * LDC;
    __asm__ volatile(SETUP "1:\n"
        "vmovups (%[b]), %%ymm8\n vmovups (%[c]), %%ymm9\n vfmadd231ps %%ymm8, %%ymm4, %%ymm9\n vmovups %%ymm9, (%[c])\n"
        "vmovups (%[c1]), %%ymm9\n vfmadd231ps %%ymm8, %%ymm5, %%ymm9\n vmovups %%ymm9, (%[c1])\n"
        "vmovups (%[c2]), %%ymm9\n vfmadd231ps %%ymm8, %%ymm6, %%ymm9\n vmovups %%ymm9, (%[c2])\n"
        "vfmadd213ps (%[c3]), %%ymm7, %%ymm8\n vmovups %%ymm8, (%[c3])\n"
        "addq $32, %[b]\n addq $32, %[c]\n addq $32, %[c1]\n addq $32, %[c2]\n addq $32, %[c3]\n"
        "addq $-8, %[n]\n jne 1b\n"
        : [b] "+r"(b), [c] "+r"(c), [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [n] "+r"(n)
        : [a] "r"(a) : CLOBBER);
}

typedef void (*step_fn)(const float *, float *, long, const float *);

int main(void)
{
    float *b = aligned_alloc(4096, 16 * LDC * 4), *c = aligned_alloc(4096, 4 * LDC * 4), a = 1e-6f;
    for (long i = 0; i < 16 * LDC; i++)
        b[i] = 1e-3f;
    for (long i = 0; i < 4 * LDC; i++)
        c[i] = 0.0f;
    double spc = seconds_per_cycle();
    step_fn f[] = {four_lines, two_lines, tiled_i4_indexed, tiled_i4_simple};
    const char *name[] = {"4 stores, 4 lines", "4 stores, 2 lines", "ikj_tiled_i4 step (clang)",
                          "ikj_tiled_i4 step, simple addresses"};
    /* steps of four stores per call: N / 8 for the one-vector-per-row loops, N / 16 for two_lines */
    double steps[] = {N / 8, N / 16, N / 8, N / 8};
    long reps = 2000000;
    printf("clock %.2f GHz\n", 1e-9 / spc);
    for (int v = 0; v < 4; v++) {
        double best = 1e9;
        for (int r = 0; r < 7; r++) {
            double t0 = now();
            for (long rep = 0; rep < reps; rep++)
                f[v](b + (rep & 15) * LDC, c, N, &a);
            double t = now() - t0;
            best = t < best ? t : best;
        }
        printf("%-38s %.2f cycles per step of 4 stores\n", name[v], best / spc / (reps * steps[v]));
    }
    return 0;
}
