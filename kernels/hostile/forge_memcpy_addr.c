/* TRICK: take &memcpy, add an offset, call through it (a libc gadget). EXPECT: rejected */
#include <string.h>
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
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    void *(*volatile f)(void *, const void *, size_t) = memcpy;
    char *p = (char *)f + 0;
    naive(M, N, K, A, lda, B, ldb, C, ldc, M);
    ((void *(*)(void *, const void *, size_t))p)(C, C, 4);
}
