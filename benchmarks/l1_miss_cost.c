/* What an L1 miss costs on this host, in core cycles: the evidence behind the cycle model's store
 * buffer and store misses (docs/CYCLE_MODEL.md, "Memory"). x86-64 only.
 *
 *   clang -O2 -march=haswell benchmarks/l1_miss_cost.c -o /tmp/l1_miss_cost && /tmp/l1_miss_cost
 *
 * The clock is harness/measure/model/cycle_clock.h's (a chain of dependent 64-bit multiplies).
 * Every figure is the best of 5 runs. Part 1 walks a 512 KiB array (in L2, beyond L1) at a stride:
 * one access per line, loads with four independent sums, stores of a constant. Part 2 walks columns
 * of a 256 x 256 float matrix (rows 1 KiB apart: every line of a column falls in 4 of L1's 64 sets,
 * so a column does not stay in L1), the inner loops of the validation set's naive_jki.c. */
#include <stdio.h>
#include <stdlib.h>

#define PR _Pragma("clang loop vectorize(disable) interleave(disable) unroll(disable)")

#include "../harness/measure/model/cycle_clock.h"

static float *X, *A, *C;
static volatile float sink;

__attribute__((noinline)) static void strided_store(long n, long st)
{
    PR for (long i = 0; i < n; i += st) X[i] = 1.0f;
}

__attribute__((noinline)) static void strided_load(long n, long st)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    PR for (long i = 0; i + 3 * st < n; i += 4 * st) {
        s0 += X[i];
        s1 += X[i + st];
        s2 += X[i + 2 * st];
        s3 += X[i + 3 * st];
    }
    sink = s0 + s1 + s2 + s3;
}

#define LD 256
/* the column walks: one call walks M rows of column k of A and/or column j of C */
__attribute__((noinline)) static void col_load(int M, int k, int j)
{
    float s0 = 0, s1 = 0;
    PR for (int i = 0; i < M; i += 2) {
        s0 += A[(long)i * LD + k];
        s1 += A[(long)(i + 1) * LD + k];
    }
    sink = s0 + s1 + j;
}

__attribute__((noinline)) static void col_load2(int M, int k, int j)
{
    float s0 = 0, s1 = 0;
    PR for (int i = 0; i < M; i++) {
        s0 += A[(long)i * LD + k];
        s1 += C[(long)i * LD + j];
    }
    sink = s0 + s1;
}

__attribute__((noinline)) static void col_store(int M, int k, int j)
{
    PR for (int i = 0; i < M; i++) C[(long)i * LD + j] = (float)k;
}

__attribute__((noinline)) static void col_rmw(int M, int k, int j)
{
    PR for (int i = 0; i < M; i++) C[(long)i * LD + j] += (float)k;
}

__attribute__((noinline)) static void col_jki(int M, int k, int j)
{
    PR for (int i = 0; i < M; i++) C[(long)i * LD + j] += A[(long)i * LD + k] * 1.5f;
}

int main(void)
{
    double cyc = seconds_per_cycle();
    printf("clock %.2f GHz (dependent imul chain)\n\n", 1 / cyc / 1e9);

    long bytes = 512 * 1024, n = bytes / 4;
    X = aligned_alloc(4096, bytes);
    for (long i = 0; i < n; i++) X[i] = 1;
    printf("%-10s %18s %18s\n", "stride", "load, cycles", "store, cycles");
    long strides[] = {16, 32, 64, 256, 1024};      /* floats: 64 B .. 4 KiB */
    for (int s = 0; s < 5; s++) {
        double per[2];
        for (int v = 0; v < 2; v++) {
            double best = 1e9;
            long reps = 256 * strides[s] / 16;
            for (int t = 0; t < 5; t++) {
                double t0 = now();
                for (long r = 0; r < reps; r++)
                    (v ? strided_store : strided_load)(n, strides[s]);
                double d = now() - t0;
                best = d < best ? d : best;
            }
            per[v] = best / (reps * (double)(n / strides[s])) / cyc;
        }
        printf("%6ld B   %18.2f %18.2f\n", strides[s] * 4, per[0], per[1]);
    }

    int M = 256;
    A = aligned_alloc(4096, (size_t)M * LD * 4);
    C = aligned_alloc(4096, (size_t)M * LD * 4);
    for (long i = 0; i < (long)M * LD; i++) {
        A[i] = i % 7;
        C[i] = i % 5;
    }
    struct { const char *name; void (*f)(int, int, int); } walks[] = {
        {"load A[i][k]", col_load}, {"load A[i][k], C[i][j]", col_load2}, {"store C[i][j]", col_store},
        {"C[i][j] += k", col_rmw}, {"C[i][j] += A[i][k] * b (jki)", col_jki}};
    printf("\ncolumn walks, rows 1 KiB apart, cycles per row:\n");
    for (int w = 0; w < 5; w++) {
        double best = 1e9;
        for (int t = 0; t < 5; t++) {
            double t0 = now();
            for (int j = 0; j < 64; j++)
                for (int k = 0; k < 256; k++)
                    walks[w].f(M, k, j);
            double d = now() - t0;
            best = d < best ? d : best;
        }
        printf("  %-32s %6.2f\n", walks[w].name, best / (64.0 * 256 * M) / cyc);
    }
    return 0;
}
