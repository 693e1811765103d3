/* BUG (by the rules): finds BLAS at run time to get around the symbol check. */
#include <dlfcn.h>
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    void *h = dlopen("libopenblas.so", RTLD_NOW);
    sgemm_fn f = (sgemm_fn)dlsym(h, "cblas" "_sgemm");
    f(101, 111, 111, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}
