/* OpenBLAS baseline for GEMM i8 (harness-owned; the only kernels allowed to call BLAS): the
   scipy-openblas build of OpenBLAS 0.3.34 has no i8 GEMM, so this is what its user runs: widen A
   and B to f32 (into buffers kept between calls), then SGEMM.
   SGEMM is exact on integers while every partial sum stays below 2^24; the check says when not. */
#include <stdlib.h>
#include <stdint.h>

enum { CblasRowMajor = 101, CblasNoTrans = 111 };
void scipy_cblas_sgemm(int order, int transa, int transb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

static float *grow(float **buf, size_t *have, size_t n)
{
    if (n > *have) {
        free(*buf);
        *buf = malloc(n * sizeof(float));
        *have = *buf ? n : 0;
    }
    return *buf;
}

void tensorop_gemm_i8(int M, int N, int K, const int8_t *A, int lda,
                      const int8_t *B, int ldb, int32_t *C, int ldc)
{
    static float *wa, *wb, *wc; static size_t na, nb, nc;
    float *a = grow(&wa, &na, (size_t)M * K), *b = grow(&wb, &nb, (size_t)K * N);
    float *c = grow(&wc, &nc, (size_t)M * N);
    if (!a || !b || !c) return;
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) a[(size_t)i * K + k] = (float)(A[(size_t)i * lda + k]);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) b[(size_t)k * N + j] = (float)(B[(size_t)k * ldb + j]);
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = (int32_t)c[(size_t)i * N + j];
}
