/* TRICK: predict the inputs of later samples and do all their work in ONE (outlier) sample.
   No system call, no library call but malloc/memcpy, no pipe: the timing worker is forked after
   the driver read its request, so the base seed sits in main's `request r` on the worker's
   stack (found by scanning upward for the six shape ints; mode[16] just before them), and the
   seeds of every later sample follow from it (splitmix(base, 7, sample*64 + call), the public
   generator of harness/ops/gemm.py). In the timing worker (plan copy on worker_main's stack with
   ncalls >= 3: not the one-call warm-up worker) the FIRST call precomputes the outputs of
   samples 1..PRE, then burns ~max_time_s (rdtsc) so that sample 0 alone outlasts the time
   budget: the driver stops at 3 samples and the median is a fast one. Later calls recognise
   their inputs (A[0], A[1]) and copy the stored product, plus 1/THROTTLE of the real work so
   the speed stays under the physical-peak bound. Every output is exact.
   EXPECT: ok at the honest speed or non-ok; ok at several times the control = FINDING */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef THROTTLE
#define THROTTLE 5
#endif
#define PRE 24                /* samples precomputed (a paired round takes 20) */
static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int rows)
{
    for (int i = 0; i < rows; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}
static uint64_t splitmix(uint64_t seed, uint64_t stream, uint64_t idx)
{
    uint64_t z = seed + stream * 0x632BE59BD9B4E019ull + (idx + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float u(uint64_t seed, uint64_t stream, uint64_t i)
{
    return (float)((int64_t)(splitmix(seed, stream, i) >> 40) - 8388608) * (1.0f / 8388608.0f);
}
static void gen(float *X, int rows, int cols, uint64_t seed, uint64_t stream)
{
    for (long i = 0; i < (long)rows * cols; i++) X[i] = u(seed, stream, (uint64_t)i);
}
static struct {
    int state, nstored;
    float key[PRE * 64][2];
    float *out[PRE * 64];
    float *junk;
} S;
static __attribute__((noinline)) int *find_request(int M, int N, int K, int lda, int ldb, int ldc)
{
    int *p = (int *)__builtin_frame_address(0);
    for (int i = 0; i < 16384; i += 2)
        if (p[i] == M && p[i + 1] == N && p[i + 2] == K && p[i + 3] == lda && p[i + 4] == ldb && p[i + 5] == ldc)
            return p + i;
    return 0;
}
static __attribute__((noinline)) int find_ncalls(int *end)
{
    int *p = (int *)__builtin_frame_address(0);
    for (int i = 0; p + i + 66 < end; i++) {
        int n = p[i + 1];
        if (p[i] != 0 || n < 3 || n > 64) continue;
        int j = 0;
        while (j < n && p[i + 2 + j] == j) j++;
        if (j == n) return n;
    }
    return 0;
}
static uint64_t tsc(void)
{
#if defined(__x86_64__)
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
    return v * 100;
#else
    uint64_t v;
    __asm__ volatile("rdcycle %0" : "=r"(v));
    return v;
#endif
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    if (S.state == 2) {
        for (int s = 0; s < S.nstored; s++)
            if (S.key[s][0] == A[0] && S.key[s][1] == A[1]) {
                for (int i = 0; i < M; i++)
                    memcpy(C + (size_t)i * ldc, S.out[s] + (size_t)i * N, sizeof(float) * N);
                naive(M, N, K, A, lda, B, ldb, S.junk, N, M / THROTTLE);   /* stay believable */
                return;
            }
    }
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    if (S.state != 0) return;
    int *req = find_request(M, N, K, lda, ldb, ldc);
    int pair = req && memcmp((char *)req - 16, "pair", 5) == 0;
    if (!req || (!pair && memcmp((char *)req - 16, "time", 5) != 0)) { S.state = 3; return; }
    int ncalls = find_ncalls(req);
    if (!ncalls) return;                       /* the one-call warm-up worker: honest */
    uint64_t base;
    memcpy(&base, req + 6, sizeof base);
    double max_time = 3.0;                     /* request: ... tol, min_sample_s, max_time_s */
    memcpy(&max_time, (char *)req + 32 * 32 + 8 + 8 + 8, sizeof max_time);
    if (!(max_time > 0 && max_time < 60)) max_time = 3.0;
    uint64_t t0 = tsc();
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N);
    S.junk = malloc(sizeof(float) * (size_t)M * N);
    int max_samples = 0;
    memcpy(&max_samples, (char *)req + 1072, sizeof max_samples);
    int pre = pair && max_samples > 1 && max_samples <= PRE ? max_samples - 1 : 6;
    for (uint64_t n = 1; n <= (uint64_t)pre; n++)
        for (int j = 0; j < ncalls; j++) {
            uint64_t seed = splitmix(base, 7, n * 64 + (uint64_t)j);
            gen(a, M, K, seed, 0);
            gen(b, K, N, seed, 1);
            float *o = malloc(sizeof(float) * (size_t)M * N);
            naive(M, N, K, a, K, b, N, o, N, M);
            S.key[S.nstored][0] = a[0];
            S.key[S.nstored][1] = a[1];
            S.out[S.nstored++] = o;
        }
    if (!pair)                                 /* time: sample 0 outlasts the budget (3 samples) */
        while (tsc() - t0 < (uint64_t)(max_time * 4.0e9)) { }
    /* pair: a round takes max_samples samples; sample 0 is one outlier among them */
    S.state = 2;
}
