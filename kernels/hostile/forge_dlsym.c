/* TRICK: look up "write" with dlsym(RTLD_DEFAULT) and print a forged result. EXPECT: rejected */
#define _GNU_SOURCE
#include <dlfcn.h>
void tensorop_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc)
{
    long (*w)(int, const void *, unsigned long) = (long (*)(int, const void *, unsigned long))dlsym(RTLD_DEFAULT, "write");
    (void)M; (void)N; (void)K; (void)A; (void)lda; (void)B; (void)ldb; (void)C; (void)ldc;
    if (w) w(1, "{\"status\": \"ok\"}\n", 17);
}
