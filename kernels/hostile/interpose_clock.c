/* TRICK: interpose clock_gettime (plain global definition) so the timer advances 1 ns per read.
   EXPECT: rejected (definition other than the ABI function) */
#include <time.h>
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
int clock_gettime(clockid_t id, struct timespec *ts) { static long t; (void)id; ts->tv_sec = 0; ts->tv_nsec = ++t; return 0; }
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
