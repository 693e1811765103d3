/* TRICK: interpose clock_gettime via __attribute__((alias)) of a static function and a .symver-free
   protected-visibility alias; the only C function with a global name is the ABI one.
   EXPECT: rejected */
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
static int fake_clock(clockid_t id, struct timespec *ts) { (void)id; ts->tv_sec = 0; ts->tv_nsec = 0; return 0; }
int clock_gettime(clockid_t, struct timespec *) __attribute__((alias("fake_clock")));
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) { naive(M, N, K, A, lda, B, ldb, C, ldc, M); }
