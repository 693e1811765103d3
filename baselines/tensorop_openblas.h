/* Shared by the OpenBLAS baselines (harness-owned, trusted): scipy-openblas32 exports the CBLAS
   interface with a scipy_ prefix. lib_setup (tensorop_lib.h) notes the library, the core type
   OpenBLAS chose (its ISA path) and its thread count (set by OPENBLAS_NUM_THREADS, devices.yaml
   env); OpenBLAS loads nothing at run time. */
#ifndef TENSOROP_OPENBLAS_H
#define TENSOROP_OPENBLAS_H

#include "tensorop_lib.h"

enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };
void scipy_cblas_sgemm(int order, int transa, int transb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void scipy_cblas_sgemv(int order, int trans, int M, int N, float alpha, const float *A, int lda,
                       const float *x, int incx, float beta, float *y, int incy);
char *scipy_openblas_get_corename(void);
int scipy_openblas_get_num_threads(void);

static void lib_setup(int threads)
{
    lib_add("library", "openblas 0.3.34");
    lib_add("threads", "%d", scipy_openblas_get_num_threads());
    lib_add("isa", "%s", scipy_openblas_get_corename());
    if (scipy_openblas_get_num_threads() > threads)
        lib_add("error", "OpenBLAS runs %d threads, the task allows %d (set OPENBLAS_NUM_THREADS in the device's env)",
                scipy_openblas_get_num_threads(), threads);
}

#endif
