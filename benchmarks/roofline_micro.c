#define _GNU_SOURCE
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static double best_fma(long iters) {
    __m512 a[16], b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]),
                         "+v"(a[6]), "+v"(a[7]));
    }
    double t = now() - t0;
    __m512 s = a[0];
    for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
    float out[16]; _mm512_storeu_ps(out, s);
    if (out[0] == 12345.f) puts("");
    return iters * 16.0 * 32.0 / t / 1e9;     /* GFLOP/s: 16 FMAs x 16 lanes x 2 */
}
static double best_read(const float *x, size_t n) {
    double t0 = now();
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(x + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(x + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(x + i + 48));
    }
    double t = now() - t0;
    float out[16]; _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    if (out[0] == 12345.f) puts("");
    return n * 4.0 / t / 1e9;                  /* GB/s */
}
int main(void) {
    double fma = 0, bw = 0, l2 = 0;
    for (int r = 0; r < 7; r++) { double g = best_fma(20000000); if (g > fma) fma = g; }
    size_t n = (size_t)64 << 20;               /* 256 MiB: DRAM */
    float *x = aligned_alloc(64, n * 4);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    for (int r = 0; r < 5; r++) { double g = best_read(x, n); if (g > bw) bw = g; }
    size_t m = (size_t)256 << 10;              /* 1 MiB: L2 */
    for (int r = 0; r < 200; r++) { double g = best_read(x, m); if (g > l2) l2 = g; }
    char buf[200];
    int len = snprintf(buf, sizeof buf, "{\"peak_gflops\": %.2f, \"dram_gbs\": %.2f, \"l2_gbs\": %.2f}\n", fma, bw, l2);
    if (write(3, buf, (size_t)len) < 0) puts(buf);
    return 0;
}
