/* TRICK: object gate corner: a WEAK undefined reference to clock_gettime, called only if it
   resolved (a weak undefined symbol is 0 when absent, so the link never fails).
   EXPECT: rejected (references clock_gettime) */
#include <time.h>
extern int clock_gettime(clockid_t, struct timespec *) __attribute__((weak));
static void naive(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(long)i * lda + k];
            const float *b = B + (long)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    struct timespec ts;
    if (clock_gettime) clock_gettime(CLOCK_MONOTONIC, &ts);
    naive(M, N, K, A, lda, B, ldb, C, ldc);
}
