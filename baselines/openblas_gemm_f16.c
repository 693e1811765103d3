/* OpenBLAS baseline for GEMM f16 (harness-owned; the only kernels allowed to call BLAS): the
   scipy-openblas build of OpenBLAS 0.3.34 has no f16 GEMM, so this is what its user runs: widen A
   and B to f32 (into buffers kept between calls), then SGEMM. */
#include <stdlib.h>
#include "tensorop_lowp.h"

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

void tensorop_gemm_f16(int M, int N, int K, const uint16_t *A, int lda,
                      const uint16_t *B, int ldb, float *C, int ldc)
{
    static float *wa, *wb; static size_t na, nb;
    float *a = grow(&wa, &na, (size_t)M * K), *b = grow(&wb, &nb, (size_t)K * N);
    if (!a || !b) return;
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) a[(size_t)i * K + k] = tensorop_f16_to_f32(A[(size_t)i * lda + k]);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) b[(size_t)k * N + j] = tensorop_f16_to_f32(B[(size_t)k * ldb + j]);
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, C, ldc);
}
