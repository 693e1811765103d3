/* OpenBLAS baseline for GEMM f16, bf16 and i8 (harness-owned; the only kernels allowed to call
   BLAS; the harness defines TENSOROP_GEMM_F16, _BF16 or _I8 above this file). The scipy-openblas
   build of OpenBLAS 0.3.34 has no SHGEMM/SBGEMM or integer GEMM, so this is what its user runs:
   widen A and B to f32 (into buffers kept between calls), then SGEMM. For int8, SGEMM is exact
   while every partial sum stays below 2^24 (the exact check says when not) and C is converted. */
#include <stdlib.h>
#include "tensorop_lowp.h"

typedef tensorop_in_t in_t;      /* the dtype's types, TENSOROP_GEMM_FN and tensorop_widen */
typedef tensorop_out_t out_t;
#define FN TENSOROP_GEMM_FN

#include "tensorop_openblas.h"

static float *grow(float **buf, size_t *have, size_t n)
{
    if (n > *have) {
        free(*buf);
        *buf = malloc(n * sizeof(float));
        *have = *buf ? n : 0;
    }
    return *buf;
}

void FN(int M, int N, int K, const in_t *A, int lda, const in_t *B, int ldb, out_t *C, int ldc)
{
    static float *wa, *wb, *wc;
    static size_t na, nb, nc;
    float *a = grow(&wa, &na, (size_t)M * K), *b = grow(&wb, &nb, (size_t)K * N);
    if (!a || !b)
        return;
    lib_routine("widen+sgemm");
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) a[(size_t)i * K + k] = (float)tensorop_widen(A[(size_t)i * lda + k]);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) b[(size_t)k * N + j] = (float)tensorop_widen(B[(size_t)k * ldb + j]);
#if defined(TENSOROP_GEMM_I8)
    float *c = grow(&wc, &nc, (size_t)M * N);
    if (!c)
        return;
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    /* not vectorised: qemu-riscv64 7.2 aborts translating the vfcvt.rtz.x.f.v clang emits for a
       vector float -> int32 conversion (the emulated rv64 devices); M*N conversions against M*N*K
       multiply-adds cost nothing measurable on any device */
    for (int i = 0; i < M; i++)
#if defined(__clang__)
#pragma clang loop vectorize(disable) interleave(disable)
#endif
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = (int32_t)c[(size_t)i * N + j];
#else
    (void)wc; (void)nc;
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, C, ldc);
#endif
}
